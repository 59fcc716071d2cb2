// One webhook request from split to verdict: its events cut into tasks, the tasks run
// on the pool, and the alerts they write held until the request's fate is known.
//
// Why hold: a request is all-or-nothing. If any of its events turns out to be
// malformed JSON (found by the worker that parses it), the request is answered 400
// and none of its alerts may reach an output, even those of tasks that already
// finished. So ring records are collected per request and per task as they are
// drained; when every task has succeeded they are released to the outputs in task
// order (= event order) and only then is the request acknowledged. A failed,
// aborted or crashed request's held alerts are discarded, never output: the
// apiserver was not told 200, so it retries and they come back once.
//
// Memory: held alerts are bounded by the requests in flight (limits.max_inflight_bytes
// of bodies, and each event yields at most one alert per enabled rule).
import type { RingRecord } from './ring.js';
import { ALERT_ID_LENGTH } from '../outputs/alert-id.js';
import type { EvalPool } from './pool.js';
import type { RulesState, RuleMeta } from './rules.js';
import { ID_FLAG, MAX_ISSUE_DETAILS, OVERFLOW_FLAG, type EvalResult, type EvalTask, type EventIssueReport } from './task.js';

export interface ReleasedAlert {
  json: Buffer;
  rule: RuleMeta;
  cluster: string;
  /** Event time (stageTimestamp), ms since the epoch. */
  eventTimeMs: number;
  /** The alert's stable id, ALERT_ID_LENGTH bytes of text (RulesetOptions.alertIds), else undefined. */
  id: Buffer | undefined;
}

interface Held {
  json: Buffer | undefined;
  overflow: number;
  rule: number;
  gen: number;
  time: number;
  /** The record's text ends with the alert's id (ID_FLAG). */
  id: boolean;
}

class Batch {
  readonly held: Held[][];
  constructor(readonly id: number, tasks: number) {
    this.held = Array.from({ length: tasks }, () => []);
  }
}

export interface RunOptions {
  /** The ranges are whole documents, not the items of one body (EvalTask.documents). */
  documents?: boolean;
  /** The ranges are LDP frames (EvalTask.ldp); implies documents. */
  ldp?: { dedup: SharedArrayBuffer };
  /** Event bytes per task (default limits.task_bytes). */
  taskBytes?: number;
}

export type BatchOutcome =
  | { ok: true; events: number; alerts: number; issues: EventIssueReport[]; issueCount: number; issueCodes: Record<string, number>; ldp?: EvalResult['ldp'] }
  | { ok: false; status: 400 | 500; reason: 'malformed' | 'internal' | 'aborted'; message: string };

export interface BatchHooks {
  /** Per finished task (metrics): queue wait, the result. */
  onTaskDone(queueWaitSeconds: number, res: EvalResult): void;
  /** Alerts of requests that were rejected, aborted or failed (counted, by design not output). */
  onDiscarded(n: number): void;
}

export class BatchRunner {
  private readonly batches = new Map<number, Batch>();
  private nextId = 1;

  constructor(
    private readonly pool: EvalPool,
    private readonly rules: RulesState,
    private readonly taskBytes: number,
    private readonly hooks: BatchHooks,
  ) {}

  /** The pool's ring consumer: file each record under its request and task. */
  readonly onRecord = (rec: RingRecord): void => {
    const b = this.batches.get(rec.tag);
    if (b === undefined) {
      // Its request already failed: discarding is the point.
      this.hooks.onDiscarded(1);
      return;
    }
    const overflow = (rec.seq & OVERFLOW_FLAG) !== 0;
    const seq = rec.seq & ~(OVERFLOW_FLAG | ID_FLAG);
    // Copy out of the ring: the space is reused as soon as drain() returns.
    b.held[seq].push({
      json: overflow ? undefined : Buffer.from(rec.payload),
      overflow: overflow ? Number(rec.payload.toString('latin1')) : -1,
      rule: rec.kind,
      gen: rec.gen,
      time: rec.time,
      id: (rec.seq & ID_FLAG) !== 0,
    });
  };

  get inFlight(): number {
    return this.batches.size;
  }

  /**
   * Evaluates the `count` events at `ranges` in `body`; releases their alerts to `sink`
   * and resolves ok, or discards them and resolves with the reason. `aborted()` is
   * asked just before release (the client went away: not acknowledged, not output).
   * `opts.documents` (or `opts.ldp`): the ranges are whole documents (EvalTask.documents): a bad
   * line is an issue of its own, every issue is returned, and the outcome is ok.
   * `taskBytes`: the size of this batch's tasks (limits.task_bytes by default).
   */
  async run(
    body: SharedArrayBuffer, ranges: Uint32Array, count: number, cluster: string | undefined, clusterLabel: string,
    sink: (a: ReleasedAlert) => void, aborted: () => boolean, opts: RunOptions = {},
  ): Promise<BatchOutcome> {
    const documents = opts.documents === true || opts.ldp !== undefined;
    const taskBytes = opts.taskBytes ?? this.taskBytes;
    const gen = this.rules.current;
    // Cut into tasks of about taskBytes each, in event order.
    const bounds: number[] = [0];
    let acc = 0;
    for (let i = 0; i < count; i++) {
      acc += ranges[2 * i + 1] - ranges[2 * i];
      if (acc >= taskBytes && i + 1 < count) {
        bounds.push(i + 1);
        acc = 0;
      }
    }
    bounds.push(count);
    const nTasks = count === 0 ? 0 : bounds.length - 1;
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    const batch = new Batch(id, nTasks);
    this.batches.set(id, batch);
    const tasks: Promise<EvalResult>[] = [];
    for (let t = 0; t < nTasks; t++) {
      const task: EvalTask = {
        batch: id,
        seq: t,
        body,
        ranges: ranges.slice(2 * bounds[t], 2 * bounds[t + 1]),
        firstItem: bounds[t],
        cluster,
        ...(documents ? { documents } : {}),
        ...(opts.ldp ? { ldp: opts.ldp } : {}),
        rulesGen: gen.gen,
        rules: gen.sab,
        queuedAt: this.pool.now(),
      };
      tasks.push(this.pool.run(task).then((res) => {
        this.hooks.onTaskDone(Math.max(0, res.startedAt - task.queuedAt) / 1000, res);
        return res;
      }));
    }
    const settled = await Promise.allSettled(tasks);
    this.batches.delete(id);
    const heldCount = batch.held.reduce((n, h) => n + h.length, 0);

    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      this.hooks.onDiscarded(heldCount);
      return { ok: false, status: 500, reason: 'internal', message: `evaluation failed: ${(failed.reason as Error)?.message ?? String(failed.reason)}` };
    }
    const results = settled.map((s) => (s as PromiseFulfilledResult<EvalResult>).value);
    const fatal = results.find((r) => r.fatal !== undefined)?.fatal;
    if (fatal) {
      this.hooks.onDiscarded(heldCount);
      return { ok: false, status: 400, reason: 'malformed', message: `event ${fatal.item}: ${fatal.message}` };
    }
    if (aborted()) {
      this.hooks.onDiscarded(heldCount);
      return { ok: false, status: 500, reason: 'aborted', message: 'client went away before the acknowledgement' };
    }
    let events = 0;
    let alerts = 0;
    let issueCount = 0;
    const issueCodes: Record<string, number> = {};
    const issues: EventIssueReport[] = [];
    const ldp = opts.ldp ? { skipped: {} as Record<string, number>, repeats: 0, dedupFull: 0 } : undefined;
    for (let t = 0; t < nTasks; t++) {
      const res = results[t];
      if (ldp && res.ldp) {
        for (const [k, v] of Object.entries(res.ldp.skipped)) ldp.skipped[k] = (ldp.skipped[k] ?? 0) + v;
        ldp.repeats += res.ldp.repeats;
        ldp.dedupFull += res.ldp.dedupFull;
      }
      events += res.events;
      issueCount += res.issueCount;
      for (const [code, n] of Object.entries(res.issueCodes)) issueCodes[code] = (issueCodes[code] ?? 0) + n;
      for (const is of res.issues) if (documents || issues.length < MAX_ISSUE_DETAILS) issues.push(is);
      for (const h of batch.held[t]) {
        const meta = this.rules.meta(h.gen)?.rules.get(h.rule) ?? { name: `rule#${h.rule}`, priority: 'Unknown' };
        const text = h.json ?? Buffer.from(res.overflow[h.overflow]);
        const cut = h.id ? text.length - ALERT_ID_LENGTH : text.length;
        sink({ json: text.subarray(0, cut), rule: meta, cluster: clusterLabel, eventTimeMs: h.time, id: h.id ? text.subarray(cut) : undefined });
        alerts++;
      }
    }
    return { ok: true, events, alerts, issues, issueCount, issueCodes, ...(ldp ? { ldp } : {}) };
  }
}
