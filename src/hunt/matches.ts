// The events of one input that satisfy the hunt, in the input's order, pulled a chunk
// at a time (so inputs can be merged in time order holding one chunk's matches each);
// and the merge of several such streams by stageTimestamp.
import { framedChunks, openInput, type Input, type Progress } from '../ingest/file-input.js';
import type { Alert, DocumentResult, Processor } from '../engine/processor.js';
import { describeIssue, evaluateChunk } from '../engine/frames.js';
import { inWindow, type TimeWindow } from './window.js';
import type { HuntInput } from './inputs.js';

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

/**
 * Merges streams each in time order into one in time order; equal times keep the order
 * of the inputs, then of each input. Holds one match per stream.
 */
export async function* mergeByTime(streams: AsyncGenerator<HuntMatch>[]): AsyncGenerator<HuntMatch> {
  const heads: (HuntMatch | undefined)[] = [];
  for (const s of streams) heads.push((await s.next()).value ?? undefined);
  for (;;) {
    let best = -1;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h === undefined) continue;
      // Strictly earlier wins; on a tie the earlier input (lower i) was found first.
      if (best < 0 || h.ts < heads[best]!.ts) best = i;
    }
    if (best < 0) return;
    yield heads[best]!;
    const next = await streams[best].next();
    heads[best] = next.done ? undefined : next.value;
  }
}
