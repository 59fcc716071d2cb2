// The events of one input that satisfy the hunt, in the input's order, pulled a chunk
// at a time (so inputs can be merged in time order holding one chunk's matches each);
// and the merge of several such streams by stageTimestamp.
import { framedChunks, openInput, type Input, type Progress } from '../ingest/file-input.js';
import type { Alert, DocumentResult, Processor } from '../engine/processor.js';
import { describeIssue, evaluateChunk } from '../engine/frames.js';
import { inWindow, type TimeWindow } from './window.js';
import { SLACK_NS, type HuntInput } from './inputs.js';

export interface HuntMatch {
  /** stageTimestamp, ns. */
  ts: bigint;
  /** The hunt rule's alert: its output_fields hold the values to print. */
  json: string;
  /** The event as written, when asked for (raw output). */
  raw: string | undefined;
  /** Position of the input among all inputs, and of the match within it (ties). */
  input: number;
  seq: number;
}

export interface StreamContext {
  processor: Processor;
  window: TimeWindow;
  progress: Progress;
  /** A problem with the input (file:line: reason); `error` when the input could not be read. */
  report: (msg: string, error: boolean) => void;
}

/** The matches of one input, in its order. */
export async function* inputMatches(input: HuntInput, index: number, ctx: StreamContext): AsyncGenerator<HuntMatch> {
  let source: Input;
  try {
    source = await openInput(input.path);
  } catch (e) {
    ctx.report(`${input.label}: ${(e as Error).message}`, true);
    return;
  }
  const pending: HuntMatch[] = [];
  let seq = 0;
  const onAlert = (a: Alert): void => {
    if (inWindow(ctx.window, a.ts)) pending.push({ ts: a.ts, json: a.json, raw: a.raw, input: index, seq: seq++ });
  };
  const onDocument = (line: number, res: DocumentResult): void => {
    ctx.progress.events += res.events;
    for (const is of res.issues) ctx.report(`${input.label}:${line}: ${describeIssue(is)}`, false);
  };
  // Line 0 is the input's own failure (a read error); others are lines of it.
  const report = (line: number, msg: string): void =>
    line === 0 ? ctx.report(`${input.label}: ${msg}`, true) : ctx.report(`${input.label}:${line}: ${msg}`, false);
  for await (const frames of framedChunks(source, ctx.progress, report)) {
    for (let i = 0; i < frames.count;) i = evaluateChunk(ctx.processor, frames, i, onAlert, onDocument);
    // The chunk's matches go before the next read: the reader's buffer is reused.
    while (pending.length > 0) yield* pending.splice(0, pending.length);
  }
}

/** An input's matches, opened only when the merge needs them. */
export interface LazyMatches {
  /** The input's first event time, if known: nothing of it is needed before then (less SLACK_NS). */
  start: bigint | undefined;
  open(): AsyncGenerator<HuntMatch>;
}

/**
 * Merges streams each in time order into one in time order; equal times keep the order
 * of the inputs, then of each input. Holds one match per open stream, and opens an
 * input only once the merge reaches its first event's time: rotated backups, disjoint
 * in time, are then read one or two at a time rather than all at once (a descriptor
 * and a read buffer each; an apiserver keeping every backup leaves thousands).
 */
export async function* mergeByTime(inputs: LazyMatches[]): AsyncGenerator<HuntMatch> {
  const n = inputs.length;
  // By start, unknown first (they may begin anywhere), then by position.
  const order = inputs.map((_, i) => i).sort((a, b) => {
    const sa = inputs[a].start;
    const sb = inputs[b].start;
    if (sa !== sb) {
      if (sa === undefined) return -1;
      if (sb === undefined) return 1;
      return sa < sb ? -1 : 1;
    }
    return a - b;
  });
  let unopened = 0;
  const streams: (AsyncGenerator<HuntMatch> | undefined)[] = new Array(n);
  const heads: (HuntMatch | undefined)[] = new Array(n);
  /** Opens the inputs that may hold a match at or before `t` (all of them, without t); true if any. */
  const openUpTo = async (t: bigint | undefined): Promise<boolean> => {
    let opened = false;
    while (unopened < n) {
      const i = order[unopened];
      const s = inputs[i].start;
      // A file's lines are in time order only to within SLACK_NS.
      if (t !== undefined && s !== undefined && s - SLACK_NS > t) break;
      unopened++;
      const g = inputs[i].open();
      const first = await g.next();
      streams[i] = first.done ? undefined : g;
      heads[i] = first.done ? undefined : first.value;
      opened = true;
    }
    return opened;
  };
  for (;;) {
    let best = -1;
    for (let i = 0; i < n; i++) {
      const h = heads[i];
      if (h === undefined) continue;
      // Strictly earlier wins; on a tie the earlier input (lower i) was found first.
      if (best < 0 || h.ts < heads[best]!.ts) best = i;
    }
    if (best < 0) {
      if (unopened === n) return;
      // Nothing open holds a match: the next input by start.
      await openUpTo(inputs[order[unopened]].start);
      continue;
    }
    // An unopened input starting at or before this match may hold an earlier one.
    if (await openUpTo(heads[best]!.ts)) continue;
    yield heads[best]!;
    const next = await streams[best]!.next();
    heads[best] = next.done ? undefined : next.value;
    if (next.done) streams[best] = undefined;
  }
}
