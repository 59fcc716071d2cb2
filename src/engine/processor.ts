// Evaluates JSON documents (an Event, an EventList, or an array of them; or single
// EventList items): parse → split into events → run the ruleset → format alerts. One
// instance per thread; it owns its node table and event view and reuses them. Batches
// of documents from one buffer go to the native extractor in one call.
import { NodeTable, STR, getPath, stringOf, typeOf } from '../events/nodes.js';
import { EventView } from '../events/view.js';
import { EventCollector, DEFAULT_MAX_EVENT_SIZE, TIME_PARSED } from '../events/audit.js';
import type { EventTime } from '../events/time.js';
import { ErrorCode, type ErrorCodeValue } from '../errors.js';
import type { CompiledRule, Ruleset } from '../rules/ruleset.js';
import { AlertFormatter, type AlertFormatOptions } from '../outputs/falco-alert.js';
import { type JsonBackend, jsBackend, JsonInputError, type PreparedPlan } from './backend.js';
import { KIND_SLOT, Rows, STAGE_TIMESTAMP_SLOT } from '../events/plan.js';
import { alertIdName, alertIdOf } from '../outputs/alert-id.js';

/** What an alert's id is derived from, besides the rule (outputs/alert-id.ts). */
const ID_PATHS = [['auditID'], ['stage'], ['annotations', 'cluster_name']];
const ID_KEYS = ID_PATHS.map((p) => p.map((k) => Buffer.from(k)));

export interface Alert {
  rule: CompiledRule;
  /** Falco JSON, one line. */
  json: string;
  /** The output text (`<time>: <Priority> <message>`). */
  text: string;
  /** Event time, ns. */
  ts: bigint;
  /** The event's JSON as written (ProcessorOptions.rawEvents), else undefined. */
  raw: string | undefined;
  /** The alert's stable id (RulesetOptions.alertIds, outputs/alert-id.ts), else undefined. */
  id?: string;
}

export interface DocumentIssue {
  code: ErrorCodeValue;
  message: string;
  /** Item index within the document, -1 for the document itself. */
  item: number;
}

export interface DocumentResult {
  events: number;
  alerts: number;
  issues: DocumentIssue[];
}

export interface ProcessorOptions {
  format: AlertFormatOptions;
  maxEventSize?: number;
  backend?: JsonBackend;
  /** Let the native extractor skip events no rule can match (default true; tests turn it off). */
  prefilter?: boolean;
  /** Give each alert its event's JSON text as written (`hunt --format raw`). */
  rawEvents?: boolean;
}

const BATCH_DOCS = 64;

const NO_ISSUES = Object.freeze([]) as unknown as DocumentIssue[];

/** Row r's stageTimestamp as the extractor parsed it, into `out`; false when it did not. */
function parsedTime(rows: Rows, r: number, out: EventTime): boolean {
  const tb = rows.timeBase(r);
  const data = rows.data;
  if (data[tb] < 0) return false;
  out.sec = data[tb + 1] * 86400 + data[tb + 2];
  out.nsec = data[tb];
  return true;
}

/** The first row from `r` on whose node is not before `root` (rows are in document order). */
function rowFrom(rows: Rows, r: number, root: number): number {
  const count = rows.count;
  while (r < count && rows.rowNode(r) < root) r++;
  return r;
}

export class Processor {
  private table = new NodeTable(4096);
  /** For the error message of a document the batch parser rejected. */
  private scratch = new NodeTable(64);
  private view: EventView;
  private collector = new EventCollector();
  private matched: CompiledRule[] = [];
  private formatter: AlertFormatter;
  private eventNum = 0;
  private plan: PreparedPlan | undefined;
  private rows: Rows | undefined;
  private roots = new Int32Array(256);
  private batchRanges = new Uint32Array(512);
  private growTable = false;
  private growRows = false;
  /** The result of every plain one-event document of a batch (see processBatch). */
  private readonly oneEvent: DocumentResult = { events: 1, alerts: 0, issues: NO_ISSUES };
  private readonly time: EventTime = { sec: 0, nsec: 0 };
  /** Cursors into the rows of the current parse: event roots come in document order. */
  private stageRow = 0;
  private evalRow = 0;
  private readonly stageTimeOf = (root: number, out: EventTime): number => {
    const rows = this.rows!;
    const r = (this.stageRow = rowFrom(rows, this.stageRow, root));
    if (r >= rows.count || rows.rowNode(r) !== root) return -2;
    if (parsedTime(rows, r, out)) return TIME_PARSED;
    return rows.data[rows.slotBase(r) + STAGE_TIMESTAMP_SLOT];
  };
  readonly backend: JsonBackend;
  /** Events the extractor's prefilter spared the rules (no rule could match them). */
  prefiltered = 0;

  /** See ProcessorOptions.rawEvents; a worker turns it on for the tasks that need it. */
  rawEvents: boolean;

  constructor(private ruleset: Ruleset, private readonly opts: ProcessorOptions) {
    this.rawEvents = opts.rawEvents === true;
    this.backend = opts.backend ?? jsBackend;
    this.maxEventSize = opts.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE;
    this.view = this.newView(ruleset);
    this.formatter = new AlertFormatter(opts.format);
  }

  private newView(ruleset: Ruleset): EventView {
    const view = new EventView(this.table, ruleset.slots.count);
    // Alert ids read these of alerting events: the extractor must keep them.
    if (ruleset.options.alertIds === true) for (const p of ID_PATHS) ruleset.slots.plan.need(p);
    this.plan = this.backend.preparePlan?.(ruleset.slots.plan, this.opts.prefilter === false ? undefined : ruleset.prefilter);
    this.rows = this.plan ? new Rows(this.plan.slotCount) : undefined;
    this.collector.stageTimeOf = undefined;
    if (this.plan) {
      view.recorded = this.plan.recorded;
      view.symbols = this.plan.symbols;
      view.auditSlot = this.plan.auditSlot;
      if (this.plan.recorded[STAGE_TIMESTAMP_SLOT] === 1) this.collector.stageTimeOf = this.stageTimeOf;
    }
    return view;
  }

  private readonly maxEventSize: number;

  /** Swaps the ruleset between documents (reload). */
  setRuleset(ruleset: Ruleset): void {
    this.ruleset = ruleset;
    this.view = this.newView(ruleset);
  }

  get rules(): Ruleset {
    return this.ruleset;
  }

  /**
   * Evaluates the document in buf[start, end). Alerts are handed to `onAlert` in event
   * order; problems are returned, never thrown.
   */
  process(buf: Buffer, start: number, end: number, onAlert: (a: Alert) => void, cluster?: string): DocumentResult {
    return this.single(buf, start, end, onAlert, cluster, false);
  }

  /**
   * Evaluates one event given as its own JSON object: an EventList item, accepted
   * whatever its `kind`, exactly as the plugin treats items of an EventList.
   */
  processItem(buf: Buffer, start: number, end: number, onAlert: (a: Alert) => void, cluster?: string): DocumentResult {
    return this.single(buf, start, end, onAlert, cluster, true);
  }

  /**
   * Evaluates `count` documents (or EventList items, when `items`) of one buffer, given
   * as [start, end) pairs in `ranges`, in order. `onResult(k, result)` follows each one;
   * returning false stops the batch there. A result may be reused for the next document:
   * read it in the callback, do not keep it.
   */
  processBatch(
    buf: Buffer, ranges: ArrayLike<number>, count: number, items: boolean,
    onAlert: (a: Alert) => void, onResult: (k: number, r: DocumentResult) => boolean | void, cluster?: string,
  ): void {
    const backend = this.backend;
    if (this.plan === undefined || backend.parseBatch === undefined) {
      for (let k = 0; k < count; k++) {
        const r = this.single(buf, ranges[2 * k], ranges[2 * k + 1], onAlert, cluster, items);
        if (onResult(k, r) === false) return;
      }
      return;
    }
    let rg: Uint32Array;
    if (ranges instanceof Uint32Array) {
      rg = ranges;
    } else {
      if (this.batchRanges.length < 2 * count) this.batchRanges = new Uint32Array(2 * count);
      rg = this.batchRanges;
      for (let i = 0; i < 2 * count; i++) rg[i] = ranges[i];
    }
    if (this.roots.length < count) this.roots = new Int32Array(count);
    const rows = this.rows!;
    let k = 0;
    while (k < count) {
      // A few dozen documents per call: their nodes are still in cache when evaluated.
      const take = Math.min(count - k, BATCH_DOCS);
      const done = backend.parseBatch(this.table, buf, rg, k, take, this.plan, rows, this.roots, items, this.maxEventSize);
      if (done < take) {
        // The table or the rows filled up: grow them so the next call takes more (the
        // rows and nodes of the documents done so far stay valid until then).
        const needNodes = rows.data[1];
        const needRows = rows.data[2];
        if (needNodes === 0 && needRows === 0 && done === 0) throw new Error('native batch parser made no progress');
        if (needNodes > 0 && done === 0) this.table.allocate(Math.max(this.table.capacity * 2, needNodes));
        if (needRows > 0 && done === 0) rows.grow(Math.max(rows.cap * 2, needRows));
        if (done === 0) continue;
        if (needNodes > 0) this.growTable = true;
        if (needRows > 0) this.growRows = true;
      }
      this.stageRow = 0;
      this.evalRow = 0;
      const one = this.oneEvent;
      for (let d = 0; d < done; d++) {
        const root = this.roots[d];
        const i = k + d;
        let r: DocumentResult;
        if (root === -2) {
          // One event that no rule can match (the extractor checked what plainEventRow does).
          one.alerts = this.prefilteredEvent();
          r = one;
        } else if (root === -1) {
          r = { events: 0, alerts: 0, issues: [this.jsonIssue(buf, rg[2 * i], rg[2 * i + 1])] };
        } else {
          const row = this.plainEventRow(root, items);
          if (row >= 0) {
            one.alerts = this.evaluateEvent(root, this.time.sec, this.time.nsec, rows, row, onAlert, cluster);
            r = one;
          } else {
            r = this.evaluate(root, onAlert, cluster, items);
          }
        }
        if (onResult(i, r) === false) return;
      }
      k += done;
      // Grown only now: the documents just evaluated referenced the old table and rows.
      if (this.growTable) {
        this.table.allocate(this.table.capacity * 2);
        this.growTable = false;
      }
      if (this.growRows) {
        rows.grow(rows.cap * 2);
        this.growRows = false;
      }
    }
  }

  /** The TypeScript parser's error for a document the native extractor rejected. */
  private jsonIssue(buf: Buffer, start: number, end: number): DocumentIssue {
    try {
      jsBackend.parse(this.scratch, buf, start, end);
    } catch (e) {
      if (e instanceof JsonInputError) return { code: ErrorCode.INPUT_JSON, message: e.message, item: -1 };
      throw e;
    }
    throw new Error('native extractor rejected a document the TypeScript parser accepts');
  }

  private single(buf: Buffer, start: number, end: number, onAlert: (a: Alert) => void, cluster: string | undefined, item: boolean): DocumentResult {
    let root: number;
    try {
      root = this.plan && this.backend.parsePlanned
        ? this.backend.parsePlanned(this.table, buf, start, end, this.plan, this.rows!)
        : this.backend.parse(this.table, buf, start, end);
    } catch (e) {
      if (e instanceof JsonInputError) return { events: 0, alerts: 0, issues: [{ code: ErrorCode.INPUT_JSON, message: e.message, item: -1 }] };
      throw e;
    }
    this.stageRow = 0;
    this.evalRow = 0;
    return this.evaluate(root, onAlert, cluster, item);
  }

  /** Splits the parsed document at `root` into events and evaluates them. */
  private evaluate(root: number, onAlert: (a: Alert) => void, cluster: string | undefined, item: boolean): DocumentResult {
    const max = this.maxEventSize;
    const collector = this.collector;
    if (item) collector.collectItem(this.table, root, max);
    else collector.collect(this.table, root, max);
    let issues = NO_ISSUES;
    if (collector.issues.length > 0) {
      issues = [];
      for (const i of collector.issues) issues.push({ code: i.code, message: i.message, item: i.item });
    }
    let alerts = 0;
    const rows = this.plan ? this.rows : undefined;
    const rowCount = rows ? rows.count : 0;
    const events = collector.events;
    for (let k = 0; k < collector.count; k++) {
      const ev = events[k];
      let row = -1;
      if (rows !== undefined) {
        const r = (this.evalRow = rowFrom(rows, this.evalRow, ev.root));
        if (r < rowCount && rows.rowNode(r) === ev.root) row = r;
      }
      alerts += this.evaluateEvent(ev.root, ev.sec, ev.nsec, rows, row, onAlert, cluster);
    }
    return { events: collector.count, alerts, issues };
  }

  /** An event the prefilter found no rule can match: counted, numbered, no alert. */
  private prefilteredEvent(): number {
    ++this.eventNum;
    ++this.prefiltered;
    return 0;
  }

  /** Runs the rules on one event; returns how many alerts it raised. */
  private evaluateEvent(root: number, sec: number, nsec: number, rows: Rows | undefined, row: number, onAlert: (a: Alert) => void, cluster: string | undefined): number {
    // The extractor's prefilter: the first rule that may match (the rule count: none).
    let from = 0;
    if (row >= 0 && this.plan!.prefilter) {
      from = rows!.data[rows!.skipBase(row)];
      if (from >= this.ruleset.rules.length) return this.prefilteredEvent();
    }
    const view = this.view;
    view.load(this.table, root, sec, nsec, ++this.eventNum, cluster, rows, row);
    const matched = this.matched;
    const n = this.ruleset.match(view, matched, from);
    // One string for every alert of the event: who reads `raw` can tell events apart by it.
    const raw = n > 0 && this.rawEvents ? this.table.buf.toString('utf8', this.table.vs[root], this.table.ve[root]) : undefined;
    for (let i = 0; i < n; i++) {
      const rule = matched[i];
      const text = this.formatter.text(rule, view);
      const alert: Alert = { rule, text, json: this.formatter.json(rule, view, text), ts: view.time(), raw };
      if (this.ruleset.options.alertIds === true) alert.id = this.alertId(view, root, rule);
      onAlert(alert);
    }
    return n;
  }

  /** The stable id of `rule`'s alert on the event at `root` (outputs/alert-id.ts). */
  private alertId(view: EventView, root: number, rule: CompiledRule): string {
    const auditId = this.idText(root, 0);
    const cluster = view.cluster ?? this.idText(root, 2) ?? '';
    return alertIdOf(alertIdName(cluster, auditId, this.idText(root, 1) ?? '', rule.name, auditId === undefined ? view.timeText() : ''));
  }

  /** The string at ID_PATHS[i] of the event at `root`, if it is one. */
  private idText(root: number, i: number): string | undefined {
    const t = this.table;
    const n = getPath(t, root, ID_KEYS[i]);
    return n === -1 || typeOf(t, n) !== STR ? undefined : stringOf(t, n);
  }

  /**
   * The row of a document that is plainly one event, as the extractor saw it: the
   * document's own root row, `kind` the plain string Event (unless it is an item), the
   * time parsed (into this.time) and the size under the limit. Such a document needs no
   * collector (it would find exactly this event and no issue); -1 for anything else.
   */
  private plainEventRow(root: number, item: boolean): number {
    const rows = this.rows!;
    const r = (this.evalRow = rowFrom(rows, this.evalRow, root));
    if (r >= rows.count || rows.rowNode(r) !== root) return -1;
    const eventSym = this.plan!.eventSym;
    if (!item && (eventSym < 0 || rows.data[rows.symBase(r) + KIND_SLOT] !== eventSym)) return -1;
    const t = this.table;
    if (t.ve[root] - t.vs[root] > this.maxEventSize) return -1;
    return parsedTime(rows, r, this.time) ? r : -1;
  }
}
