// The worker side of the pool (a piscina task function): evaluate the events of one
// task and write their alerts into this worker's ring. Runs synchronously start to
// end, so a rules swap (a task with a new generation) happens between tasks: every
// event is evaluated exactly once, by exactly one ruleset.
import { threadId, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Processor, type Alert } from '../engine/processor.js';
import { chooseBackend } from '../engine/select-backend.js';
import { Ruleset, type RuleFile, type RulesetOptions } from '../rules/ruleset.js';
import { HOSTNAME } from '../fields/event.js';
import { ErrorCode } from '../errors.js';
import { RingWriter, claimRing } from './ring.js';
import { C, SharedCounters } from '../metrics/shared.js';
import { ID_FLAG, MAX_ISSUE_DETAILS, OVERFLOW_FLAG, type EvalResult, type EvalTask, type EventIssueReport, type SplitResult, type SplitTask, type WorkerInit } from './task.js';
import { BodySplitter, SplitError, TooManyEvents, nativeSplit } from '../ingest/split.js';
import { unwrapFrames, type NativeUnwrap } from '../ingest/ldp/unwrap.js';
import { chooseNative } from '../native/loader.js';
import { DedupTable } from './dedup.js';

const init = workerData as WorkerInit;
const ringIndex = claimRing(init.rings, threadId);
if (ringIndex < 0) throw new Error('peregrine worker: no free alert ring (more workers than rings)');
const ring = new RingWriter(init.rings[ringIndex]);
const counters = new SharedCounters(init.metrics);
const backend = chooseBackend().backend;
// LDP frames are unwrapped by the addon when the JSON backend is the addon too.
const nativeAddon = chooseNative().addon;
// Its payloads go to one buffer reused by every task (never longer than the frames).
let unwrapped = Buffer.alloc(0);
const nativeUnwrap: NativeUnwrap | undefined = nativeAddon === undefined ? undefined : (b, r, n, st) => {
  if (unwrapped.length < b.length) unwrapped = Buffer.allocUnsafe(Math.max(b.length, 2 * unwrapped.length));
  return unwrapped.subarray(0, nativeAddon.unwrapLdp(b, r, n, st, 3, unwrapped));
};

let gen = -1;
let processor: Processor | undefined;

// The task being evaluated, read by onAlert (one closure for all tasks: no allocation per task).
let curBatch = 0;
let curSeq = 0;
let curAlerts = 0;
let overflow: string[] = [];

function onAlert(a: Alert): void {
  curAlerts++;
  const meta = { tag: curBatch, seq: curSeq, kind: a.rule.index, gen, time: Number(a.ts / 1000n) / 1000 };
  // An alert's id travels after its text (batch.ts splits them).
  const text = a.id === undefined ? a.json : a.json + a.id;
  if (a.id !== undefined) meta.seq |= ID_FLAG;
  if (ring.fits(Buffer.byteLength(text))) {
    ring.write(meta, text);
  } else {
    // Rare: an alert bigger than half the ring goes back with the task result; the ring
    // keeps its place in the order.
    meta.seq |= OVERFLOW_FLAG;
    ring.write(meta, String(overflow.length));
    overflow.push(text);
  }
}

function loadRules(task: EvalTask): void {
  const { files, options } = JSON.parse(Buffer.from(task.rules).toString('utf8')) as { files: RuleFile[]; options: Partial<RulesetOptions> };
  // The main thread compiled the same files first; this cannot fail unless they differ.
  const rs = Ruleset.compile(files, options);
  if (processor === undefined) {
    processor = new Processor(rs, { format: { hostname: HOSTNAME, timeIso8601: init.timeIso8601 }, backend, maxEventSize: init.maxEventBytes });
  } else {
    processor.setRuleset(rs);
  }
  gen = task.rulesGen;
  counters.add(C.RULE_COMPILES, 1);
}

export default function evaluate(task: EvalTask): EvalResult {
  const startedAt = performance.timeOrigin + performance.now();
  counters.add(C.BUSY, 1);
  try {
    if (task.rulesGen !== gen) loadRules(task);
    const p = processor!;
    const buf = Buffer.from(task.body);
    const ranges = task.ranges;
    const n = ranges.length >>> 1;
    curBatch = task.batch;
    curSeq = task.seq;
    curAlerts = 0;
    overflow = [];
    const issues: EventIssueReport[] = [];
    let issueCount = 0;
    const issueCodes: Record<string, number> = {};
    let events = 0;
    let fatal: EventIssueReport | undefined;
    let timestampIssues = 0;
    let tooLarge = 0;
    let items = 0;
    const waitedBefore = ring.waitedMs;
    const documents = task.documents === true || task.ldp !== undefined;
    let input: Buffer = buf;
    let docs = ranges;
    let count = n;
    let emit = onAlert;
    let frameOf: Uint32Array | undefined;
    let ldp: EvalResult['ldp'];
    if (task.ldp !== undefined) {
      // Frames → payloads (one buffer), whose alerts are held per event for the dedup.
      const u = unwrapFrames(buf, ranges, n, nativeUnwrap);
      input = u.buf;
      docs = u.ranges;
      count = u.count;
      frameOf = u.frameOf;
      ldp = { skipped: u.skipped, repeats: 0, dedupFull: 0 };
      held.length = 0;
      emit = hold;
      p.rawEvents = true;
    }
    try {
      p.processBatch(input, docs, count, !documents, emit, (d, r) => {
        const i = frameOf === undefined ? d : frameOf[d];
        items++;
        events += r.events;
        if (r.issues.length === 0) return true;
        for (const is of r.issues) {
          const rep = { code: is.code, message: documents && is.item >= 0 ? `item ${is.item}: ${is.message}` : is.message, item: task.firstItem + i };
          if (is.code === ErrorCode.INPUT_JSON && !documents) {
            fatal = rep;
            break;
          }
          if (is.code === ErrorCode.INPUT_TIMESTAMP) timestampIssues++;
          else if (is.code === ErrorCode.INPUT_TOO_LARGE) tooLarge++;
          else if (is.code === ErrorCode.INPUT_JSON) counters.add(C.ISSUE_JSON, 1);
          issueCount++;
          issueCodes[rep.code] = (issueCodes[rep.code] ?? 0) + 1;
          if (documents || issues.length < MAX_ISSUE_DETAILS) issues.push(rep);
        }
        // No point evaluating the rest: the request is rejected and its alerts discarded.
        return fatal === undefined;
      }, task.cluster);
      if (ldp !== undefined) releaseHeld(dedupOf(task.ldp!.dedup), ldp);
    } finally {
      p.rawEvents = false;
      held.length = 0;
    }
    const evalSeconds = (performance.timeOrigin + performance.now() - startedAt) / 1000;
    counters.add(C.TASKS, 1);
    counters.add(C.ITEMS, items);
    counters.add(C.EVENTS, events);
    counters.add(C.ALERTS, curAlerts);
    counters.add(C.ISSUE_TIMESTAMP, timestampIssues);
    counters.add(C.ISSUE_TOO_LARGE, tooLarge);
    if (fatal) counters.add(C.ISSUE_JSON, 1);
    counters.add(C.RING_WAIT_MS, ring.waitedMs - waitedBefore);
    counters.evalTime.observe(evalSeconds);
    const res: EvalResult = { ring: ringIndex, events, alerts: curAlerts, issues, issueCount, issueCodes, overflow, startedAt, evalSeconds };
    if (ldp !== undefined) res.ldp = ldp;
    if (fatal) res.fatal = fatal;
    return res;
  } finally {
    counters.add(C.BUSY, -1);
  }
}

let splitter: BodySplitter | undefined;

/** Splits a large webhook body into its event ranges (piscina task `split`). */
export function split(task: SplitTask): SplitResult {
  if (splitter === undefined || splitter.maxEvents !== task.maxEvents) splitter = new BodySplitter(nativeSplit(), task.maxEvents);
  try {
    const count = splitter.split(Buffer.from(task.body, 0, task.len), 0, task.len);
    return { ok: true, count, ranges: splitter.ranges.slice(0, 2 * count) };
  } catch (e) {
    if (!(e instanceof SplitError)) throw e;
    return { ok: false, message: e.message, offset: e.offset, tooMany: e instanceof TooManyEvents };
  }
}

// ---- LDP frames (task.ldp)

const held: Alert[] = [];
function hold(a: Alert): void {
  held.push(a);
}

let dedupSab: SharedArrayBuffer | undefined;
let dedupTable: DedupTable | undefined;
function dedupOf(sab: SharedArrayBuffer): DedupTable {
  if (sab !== dedupSab) {
    dedupSab = sab;
    dedupTable = new DedupTable(sab);
  }
  return dedupTable!;
}

/** The held alerts, event by event (one `raw` string per event), but those of repeats. */
function releaseHeld(table: DedupTable, counts: NonNullable<EvalResult['ldp']>): void {
  let i = 0;
  while (i < held.length) {
    const raw = held[i].raw;
    let j = i + 1;
    while (j < held.length && held[j].raw === raw) j++;
    let verdict = 'first';
    const key = raw === undefined ? undefined : eventKey(raw);
    if (key !== undefined) verdict = table.check(key.auditID, key.stage);
    if (verdict === 'repeat') counts.repeats++;
    else {
      if (verdict === 'full') counts.dedupFull++;
      for (let k = i; k < j; k++) onAlert(held[k]);
    }
    i = j;
  }
  held.length = 0;
}

/** (auditID, stage) of an event that alerted, when both are strings. */
function eventKey(raw: string): { auditID: string; stage: string } | undefined {
  try {
    const ev = JSON.parse(raw) as { auditID?: unknown; stage?: unknown };
    return typeof ev.auditID === 'string' && typeof ev.stage === 'string' ? { auditID: ev.auditID, stage: ev.stage } : undefined;
  } catch {
    return undefined;
  }
}
