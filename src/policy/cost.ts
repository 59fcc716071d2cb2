// `peregrine policy cost`: a sample audit log, recorded at a high level, replayed as
// kube-apiserver would have written it under each policy. Events at None and omitted
// stages go; bodies the level does not keep go; managed fields go where the policy omits
// them; the level field says the new level. What is kept of an event is its bytes as
// they were (no re-encoding: escapes stay escapes, key order and spacing stay), so the
// re-levelled log can be scanned to compare alerts, and an EventList stays an EventList.
import type { JsonBackend, PreparedPlan } from '../engine/backend.js';
import { ARR, NodeTable, OBJ, STR, TYPE_MASK, getMember, stringOf } from '../events/nodes.js';
import { FieldPlan, Rows } from '../events/plan.js';
import { type AuditConfig, type Level, type Policy, type RequestAttributes, type ResourceAttributes, LEVELS, levelRank } from './model.js';
import { evaluatePolicy } from './evaluate.js';

const k = (s: string): Buffer => Buffer.from(s);
const K = {
  kind: k('kind'), items: k('items'), level: k('level'), stage: k('stage'), verb: k('verb'), user: k('user'), username: k('username'),
  groups: k('groups'), objectRef: k('objectRef'), namespace: k('namespace'), apiGroup: k('apiGroup'), resource: k('resource'),
  subresource: k('subresource'), name: k('name'), requestURI: k('requestURI'), requestObject: k('requestObject'),
  responseObject: k('responseObject'), metadata: k('metadata'), managedFields: k('managedFields'), rows: k('rows'), object: k('object'),
};

/** The parts of an event the replay reads, and nothing else (the native extractor skips the rest). */
export function costPlan(): FieldPlan {
  const plan = new FieldPlan();
  for (const p of [['level'], ['stage'], ['verb'], ['requestURI'], ['objectRef'], ['user', 'username'], ['user', 'groups']]) plan.need(p);
  for (const body of ['requestObject', 'responseObject']) {
    plan.need([body], false);
    plan.need([body, 'kind']);
    plan.need([body, 'metadata', 'managedFields'], false);
    plan.need([body, 'items', 'metadata', 'managedFields'], false);
    plan.need([body, 'rows', 'object', 'metadata', 'managedFields'], false);
  }
  return plan;
}

export interface Tally {
  events: number;
  bytes: number;
}

const tally = (): Tally => ({ events: 0, bytes: 0 });

/** What one policy makes of the sample. */
export class PolicyCost {
  /** Events and bytes kept (each event's own JSON text, as written). */
  readonly kept = tally();
  /** Bytes of the re-levelled log (documents, their wrappers and newlines). */
  fileBytes = 0;
  readonly byLevel = new Map<Level, Tally>(LEVELS.map((l) => [l, tally()]));
  readonly byResource = new Map<string, Tally>();
  /** Events dropped because their stage is omitted. */
  omittedStage = 0;
  /** Events the policy logs at a higher level than the sample holds (their bodies are missing). */
  underRecorded = 0;

  constructor(readonly policy: Policy) {}
}

/** The sample itself. */
export class SampleCost {
  documents = 0;
  readonly events = tally();
  /** Bytes of the documents read (with a newline each). */
  fileBytes = 0;
  readonly byLevel = new Map<string, Tally>();
  readonly byResource = new Map<string, Tally>();
}

function add(m: Map<string, Tally>, key: string, bytes: number): void {
  let t = m.get(key);
  if (t === undefined) m.set(key, (t = tally()));
  t.events++;
  t.bytes += bytes;
}

/** An edit of a document's bytes: [start, end) replaced by `text` (deleted when empty). */
interface Edit {
  start: number;
  end: number;
  text: string;
}

const WS = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/** End of a node's value (strings end at their closing quote in the table). */
function valueEnd(t: NodeTable, n: number): number {
  return (t.kind[n] & TYPE_MASK) === STR ? t.ve[n] + 1 : t.ve[n];
}

/** Start of a node's value text (strings start after their opening quote in the table). */
function valueStart(t: NodeTable, n: number): number {
  return (t.kind[n] & TYPE_MASK) === STR ? t.vs[n] - 1 : t.vs[n];
}

/**
 * Deletes child `c` of a container: an object member (key included) or an array
 * element, with the comma that separates it from a neighbour, so the rest stays valid
 * JSON. Deletions of one document are merged by `apply`.
 */
function deletion(t: NodeTable, member: boolean, c: number): Edit {
  const buf = t.buf;
  const start = member ? t.ks[c] - 1 : valueStart(t, c);
  const end = valueEnd(t, c);
  let p = start - 1;
  while (p >= 0 && WS(buf[p])) p--;
  if (buf[p] === 0x2c) return { start: p, end, text: '' };
  // The first child: it takes the comma after it instead.
  let q = end;
  while (q < buf.length && WS(buf[q])) q++;
  if (buf[q] === 0x2c) {
    q++;
    while (q < buf.length && WS(buf[q])) q++;
    return { start, end: q, text: '' };
  }
  return { start, end, text: '' };
}

/**
 * The document's bytes with the edits applied, as slices of the original. Deletions are
 * sorted; one whose leading comma an earlier deletion (of the first child) already took
 * takes the comma after it instead.
 */
function apply(t: NodeTable, start: number, end: number, edits: Edit[], out: Buffer[]): number {
  edits.sort((a, b) => a.start - b.start || b.end - a.end);
  const buf = t.buf;
  let pos = start;
  let size = 0;
  for (const e0 of edits) {
    let e = e0;
    if (e.end <= pos && e.start < pos) continue; // inside an earlier deletion
    if (e.start < pos) {
      // Its comma went with the previous deletion: drop the one after it.
      let q = e.end;
      while (q < end && WS(buf[q])) q++;
      if (buf[q] === 0x2c) {
        q++;
        while (q < end && WS(buf[q])) q++;
      }
      e = { start: pos, end: q, text: e.text };
    }
    if (e.start > pos) {
      out.push(buf.subarray(pos, e.start));
      size += e.start - pos;
    }
    if (e.text) {
      const b = Buffer.from(e.text);
      out.push(b);
      size += b.length;
    }
    pos = e.end;
  }
  if (pos < end) {
    out.push(buf.subarray(pos, end));
    size += end - pos;
  }
  return size;
}

const str = (t: NodeTable, n: number): string => (n !== -1 && (t.kind[n] & TYPE_MASK) === STR ? stringOf(t, n) : '');

/** Events of a document (Event, EventList, or arrays of those), with how each is deleted. */
interface EventRef {
  node: number;
  /** The container holding it (-1: the event is the document) and whether that is an object member. */
  parent: number;
}

/** Replays documents under several policies; one instance per input stream. */
export class Releveller {
  private readonly t = new NodeTable(4096);
  private readonly plan: PreparedPlan | undefined;
  private readonly rows: Rows | undefined;
  readonly sample = new SampleCost();
  readonly costs: PolicyCost[];
  private readonly events: EventRef[] = [];
  private readonly edits: Edit[][];

  constructor(readonly policies: Policy[], private readonly backend: JsonBackend) {
    this.plan = backend.preparePlan?.(costPlan());
    this.rows = this.plan ? new Rows(this.plan.slotCount) : undefined;
    this.costs = policies.map((p) => new PolicyCost(p));
    this.edits = policies.map(() => []);
  }

  /**
   * One framed document: `emit(i, parts)` receives, for each policy i, the document as
   * re-levelled (slices of `buf`, valid until the next call), or nothing when none of its
   * events is kept. Throws JsonInputError for invalid JSON; returns false for documents
   * that are not audit events.
   */
  document(buf: Buffer, start: number, end: number, emit: (i: number, parts: Buffer[], size: number) => void): boolean {
    const t = this.t;
    const root = this.plan ? this.backend.parsePlanned!(t, buf, start, end, this.plan, this.rows!) : this.backend.parse(t, buf, start, end);
    this.events.length = 0;
    if (!this.collect(root, -1)) return false;
    const s = this.sample;
    s.documents++;
    s.fileBytes += end - start + 1;
    for (const e of this.edits) e.length = 0;
    const keptIn = this.policies.map(() => 0);
    for (const ev of this.events) {
      const n = ev.node;
      const size = valueEnd(t, n) - valueStart(t, n);
      const attrs = attributesOf(t, n);
      const bucket = bucketOf(attrs.resource, attrs.path);
      const had = recordedLevel(t, n);
      s.events.events++;
      s.events.bytes += size;
      add(s.byLevel, had ?? '(none)', size);
      add(s.byResource, bucket, size);
      const stage = str(t, getMember(t, n, K.stage));
      for (let i = 0; i < this.policies.length; i++) {
        const cfg = evaluatePolicy(this.policies[i], attrs);
        const cost = this.costs[i];
        const edits = this.edits[i];
        if (cfg.level === 'None' || cfg.omitStages.has(stage as never)) {
          if (cfg.level !== 'None') cost.omittedStage++;
          cost.byLevel.get('None')!.events++;
          edits.push(deletion(t, false, n));
          continue;
        }
        const before = edits.length;
        const level = this.relevel(n, had, cfg, attrs.verb, edits);
        if (had !== undefined && levelRank(had) < levelRank(cfg.level)) cost.underRecorded++;
        let kept = size;
        for (let j = before; j < edits.length; j++) kept += Buffer.byteLength(edits[j].text) - (edits[j].end - edits[j].start);
        cost.kept.events++;
        cost.kept.bytes += kept;
        const l = cost.byLevel.get(level)!;
        l.events++;
        l.bytes += kept;
        add(cost.byResource, bucket, kept);
        keptIn[i]++;
      }
    }
    for (let i = 0; i < this.policies.length; i++) {
      if (keptIn[i] === 0) continue;
      const parts: Buffer[] = [];
      // A document that is one event: its deletion never applies (it had events kept).
      const size = apply(t, start, end, this.edits[i], parts);
      this.costs[i].fileBytes += size + 1;
      emit(i, parts, size);
    }
    return true;
  }

  /** The edits that log event `n` at the policy's level (never above what it has); returns that level. */
  private relevel(n: number, had: Level | undefined, cfg: AuditConfig, verb: string, edits: Edit[]): Level {
    const t = this.t;
    const level = had !== undefined && levelRank(had) < levelRank(cfg.level) ? had : cfg.level;
    const lv = getMember(t, n, K.level);
    if (lv !== -1 && (t.kind[lv] & TYPE_MASK) === STR && had !== level) edits.push({ start: t.vs[lv] - 1, end: t.ve[lv] + 1, text: `"${level}"` });
    const req = getMember(t, n, K.requestObject);
    const resp = getMember(t, n, K.responseObject);
    if (req !== -1 && levelRank(level) < levelRank('Request')) edits.push(deletion(t, true, req));
    else if (req !== -1 && cfg.omitManagedFields && verb !== 'patch') this.stripManaged(req, edits);
    if (resp !== -1 && levelRank(level) < levelRank('RequestResponse')) edits.push(deletion(t, true, resp));
    else if (resp !== -1 && cfg.omitManagedFields) this.stripManaged(resp, edits);
    return level;
  }

  /** metadata.managedFields of an object, of each item of a list, of each row of a Table. */
  private stripManaged(o: number, edits: Edit[]): void {
    const t = this.t;
    if ((t.kind[o] & TYPE_MASK) !== OBJ) return;
    const one = (x: number): void => {
      if (x === -1 || (t.kind[x] & TYPE_MASK) !== OBJ) return;
      const md = getMember(t, x, K.metadata);
      if (md === -1 || (t.kind[md] & TYPE_MASK) !== OBJ) return;
      const mf = getMember(t, md, K.managedFields);
      if (mf !== -1) edits.push(deletion(t, true, mf));
    };
    one(o);
    const items = getMember(t, o, K.items);
    if (items !== -1 && (t.kind[items] & TYPE_MASK) === ARR) for (let c = t.first[items]; c !== -1; c = t.next[c]) one(c);
    if (str(t, getMember(t, o, K.kind)) === 'Table') {
      const rows = getMember(t, o, K.rows);
      if (rows !== -1 && (t.kind[rows] & TYPE_MASK) === ARR) {
        for (let c = t.first[rows]; c !== -1; c = t.next[c]) if ((t.kind[c] & TYPE_MASK) === OBJ) one(getMember(t, c, K.object));
      }
    }
  }

  /** Events of a document as the k8saudit plugin finds them (see events/audit.ts). */
  private collect(n: number, parent: number): boolean {
    const t = this.t;
    const type = t.kind[n] & TYPE_MASK;
    if (type === ARR) {
      for (let c = t.first[n]; c !== -1; c = t.next[c]) if (!this.collect(c, n)) return false;
      return true;
    }
    if (type !== OBJ) return false;
    const kind = str(t, getMember(t, n, K.kind));
    if (kind === 'EventList') {
      const items = getMember(t, n, K.items);
      if (items === -1 || (t.kind[items] & TYPE_MASK) !== ARR) return false;
      for (let c = t.first[items]; c !== -1; c = t.next[c]) this.events.push({ node: c, parent: items });
      return true;
    }
    if (kind === 'Event') {
      this.events.push({ node: n, parent });
      return true;
    }
    return false;
  }
}

function recordedLevel(t: NodeTable, n: number): Level | undefined {
  const l = str(t, getMember(t, n, K.level));
  return (LEVELS as readonly string[]).includes(l) ? (l as Level) : undefined;
}

/** The attributes of an event in a node table (as attributesOfEvent does for objects). */
export function attributesOf(t: NodeTable, n: number): RequestAttributes {
  const user = getMember(t, n, K.user);
  const groups: string[] = [];
  let username = '';
  if (user !== -1 && (t.kind[user] & TYPE_MASK) === OBJ) {
    username = str(t, getMember(t, user, K.username));
    const g = getMember(t, user, K.groups);
    if (g !== -1 && (t.kind[g] & TYPE_MASK) === ARR) {
      for (let c = t.first[g]; c !== -1; c = t.next[c]) if ((t.kind[c] & TYPE_MASK) === STR) groups.push(stringOf(t, c));
    }
  }
  const ref = getMember(t, n, K.objectRef);
  let resource: ResourceAttributes | undefined;
  if (ref !== -1 && (t.kind[ref] & TYPE_MASK) === OBJ) {
    resource = {
      namespace: str(t, getMember(t, ref, K.namespace)), apiGroup: str(t, getMember(t, ref, K.apiGroup)),
      resource: str(t, getMember(t, ref, K.resource)), subresource: str(t, getMember(t, ref, K.subresource)),
      name: str(t, getMember(t, ref, K.name)),
    };
  }
  const uri = str(t, getMember(t, n, K.requestURI));
  const q = uri.indexOf('?');
  return { user: username, groups, verb: str(t, getMember(t, n, K.verb)), resource, path: q < 0 ? uri : uri.slice(0, q) };
}

/** The row of the per-resource table an event counts in. */
export function bucketOf(r: ResourceAttributes | undefined, path: string): string {
  if (r === undefined) return path === '' ? '(no URI)' : '(non-resource URLs)';
  const res = r.subresource ? `${r.resource}/${r.subresource}` : r.resource || '(no resource)';
  return r.apiGroup ? `${res}.${r.apiGroup}` : res;
}
