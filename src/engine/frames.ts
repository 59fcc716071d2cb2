// Evaluating what the framer cut from a file (scan, hunt): the frames of one chunk share
// its buffer and go to the processor as one batch.
import type { Frames } from '../ingest/framing.js';
import type { Alert, DocumentIssue, DocumentResult, Processor } from './processor.js';

/**
 * Evaluates the frames that share the buffer of frame `i`; returns the index of the
 * first frame of the next buffer. `onDocument` gets each frame's line and result.
 */
export function evaluateChunk(
  processor: Processor, frames: Frames, i: number, onAlert: (a: Alert) => void, onDocument: (line: number, res: DocumentResult) => void,
): number {
  const buf = frames.bufs[i];
  let j = i + 1;
  while (j < frames.count && frames.bufs[j] === buf) j++;
  processor.processBatch(buf, frames.ranges.subarray(2 * i, 2 * j), j - i, false, onAlert, (k, res) => onDocument(frames.lines[i + k], res));
  return j;
}

/** An issue as it is reported after `file:line: `. */
export function describeIssue(is: DocumentIssue): string {
  return is.item >= 0 ? `item ${is.item}: ${is.message}` : is.message;
}
