// Splits an input byte stream into JSON documents: one per line for JSON-lines input,
// or whole (pretty-printed, possibly concatenated) documents. Parsing and validation
// happen later; framing only finds boundaries and line numbers, so a broken line
// costs that line and nothing else.

/**
 * The documents found so far, in order: frame k is bytes [ranges[2k], ranges[2k+1]) of
 * bufs[k], starting on 1-based line lines[k]. Consecutive frames of one chunk share its
 * buffer, and their ranges are laid out as a batch parser takes them. Arrays are reused
 * from one chunk to the next: nothing is allocated per line.
 */
export class Frames {
  count = 0;
  bufs: Buffer[] = [];
  ranges = new Uint32Array(2048);
  lines = new Float64Array(1024);

  add(buf: Buffer, start: number, end: number, line: number): void {
    const k = this.count;
    if (k === this.lines.length) {
      const ranges = new Uint32Array(4 * k);
      ranges.set(this.ranges);
      this.ranges = ranges;
      const lines = new Float64Array(2 * k);
      lines.set(this.lines);
      this.lines = lines;
    }
    this.bufs.push(buf);
    this.ranges[2 * k] = start;
    this.ranges[2 * k + 1] = end;
    this.lines[k] = line;
    this.count = k + 1;
  }

  clear(): void {
    this.bufs.length = 0;
    this.count = 0;
  }
}

export interface FrameIssue {
  line: number;
  message: string;
}

/** Largest document accepted (a JSON line or a whole document). */
export const DEFAULT_MAX_DOCUMENT = 256 * 1024 * 1024;

type Mode = 'detect' | 'lines' | 'document';

export class Framer {
  private mode: Mode = 'detect';
  private parts: Buffer[] = [];
  private partsLen = 0;
  /** Line number of the first byte of `parts`. */
  private partsLine = 1;
  private line = 1;
  // document-mode scanner state
  private depth = 0;
  private inStr = false;
  private esc = false;
  private inScalar = false;
  private started = false;
  private skipping = false;
  private tooLong = false;

  constructor(private readonly maxDocument = DEFAULT_MAX_DOCUMENT) {}

  /**
   * Frames of `chunk` point into it; anything kept for later (a document or line that
   * goes on in the next chunk) is copied, so the caller may reuse the chunk's memory
   * once it has consumed the frames.
   */
  push(chunk: Buffer, frames: Frames, issues: FrameIssue[]): void {
    if (this.mode === 'detect') {
      this.parts.push(Buffer.from(chunk));
      this.partsLen += chunk.length;
      const all = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
      const mode = detectMode(all, false);
      if (mode === undefined && all.length < 4 * 1024 * 1024) return;
      this.mode = mode ?? 'lines';
      this.parts = [];
      this.partsLen = 0;
      this.feed(all, frames, issues);
      return;
    }
    this.feed(chunk, frames, issues);
  }

  finish(frames: Frames, issues: FrameIssue[]): void {
    if (this.mode === 'detect') {
      const all = Buffer.concat(this.parts);
      this.parts = [];
      this.partsLen = 0;
      this.mode = detectMode(all, true) ?? 'lines';
      this.feed(all, frames, issues);
    }
    if (this.mode === 'lines') {
      this.flushLine(frames, issues, this.line);
    } else if (this.started) {
      if (this.inScalar && this.depth === 0) {
        this.emitDoc(frames, issues, this.partsLen);
      } else {
        issues.push({ line: this.partsLine, message: 'unexpected end of input: the JSON document starting here is not complete' });
      }
    }
    this.parts = [];
    this.partsLen = 0;
  }

  private feed(chunk: Buffer, frames: Frames, issues: FrameIssue[]): void {
    if (this.mode === 'lines') this.feedLines(chunk, frames, issues);
    else this.feedDocument(chunk, frames, issues);
  }

  private feedLines(chunk: Buffer, frames: Frames, issues: FrameIssue[]): void {
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(10, from);
      if (nl < 0) break;
      if (this.partsLen === 0 && !this.tooLong) {
        // The whole line is in this chunk: frame it in place (frames of one chunk share
        // its buffer, so they can be parsed in one batch).
        if (nl - from > this.maxDocument) {
          issues.push({ line: this.line, message: `line longer than ${this.maxDocument} bytes, skipped` });
        } else {
          let s = from;
          // Lines start with '{' or '[': the loop usually ends at once.
          while (s < nl) {
            const c = chunk[s];
            if (c !== 0x20 && c !== 0x0d && c !== 0x09) break;
            s++;
          }
          if (s < nl) frames.add(chunk, s, nl, this.line);
        }
      } else {
        this.append(chunk.subarray(from, nl), issues);
        this.flushLine(frames, issues, this.line);
      }
      this.line++;
      from = nl + 1;
    }
    if (from < chunk.length) this.append(Buffer.from(chunk.subarray(from)), issues);
  }

  private append(b: Buffer, issues: FrameIssue[]): void {
    if (b.length === 0 || this.tooLong) return;
    if (this.partsLen + b.length > this.maxDocument) {
      issues.push({ line: this.line, message: `line longer than ${this.maxDocument} bytes, skipped` });
      this.tooLong = true;
      this.parts = [];
      this.partsLen = 0;
      return;
    }
    this.parts.push(b);
    this.partsLen += b.length;
  }

  private flushLine(frames: Frames, _issues: FrameIssue[], line: number): void {
    if (this.tooLong) {
      this.tooLong = false;
      return;
    }
    if (this.partsLen === 0) return;
    const buf = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, this.partsLen);
    this.parts = [];
    this.partsLen = 0;
    let s = 0;
    while (s < buf.length && isWs(buf[s])) s++;
    if (s === buf.length) return;
    frames.add(buf, s, buf.length, line);
  }

  private feedDocument(chunk: Buffer, frames: Frames, issues: FrameIssue[]): void {
    let i = 0;
    let segStart = 0;
    const n = chunk.length;
    while (i < n) {
      const c = chunk[i];
      if (this.skipping) {
        // Resynchronise after a broken document: next line starting with { or [.
        if (c === 10) {
          this.line++;
          const next = chunk[i + 1];
          if (next === 0x7b || next === 0x5b) this.skipping = false;
        }
        i++;
        segStart = i;
        continue;
      }
      if (!this.started) {
        if (c === 10) { this.line++; i++; segStart = i; continue; }
        if (isWs(c)) { i++; segStart = i; continue; }
        this.started = true;
        this.partsLine = this.line;
        segStart = i;
        if (c === 0x7b || c === 0x5b) {
          this.depth = 1;
        } else if (c === 0x7d || c === 0x5d) {
          issues.push({ line: this.line, message: `unexpected '${String.fromCharCode(c)}' outside of any JSON document` });
          this.started = false;
          this.skipping = true;
          i++;
          continue;
        } else {
          this.inScalar = true;
          this.inStr = c === 0x22;
        }
        i++;
        continue;
      }
      if (this.inScalar && this.depth === 0 && !this.inStr) {
        if (isWs(c) || c === 0x7b || c === 0x5b || c === 0x22) {
          this.appendDoc(chunk.subarray(segStart, i), issues);
          this.emitDoc(frames, issues, this.partsLen);
          segStart = i;
          continue;
        }
        i++;
        continue;
      }
      if (c === 10) this.line++;
      if (this.inStr) {
        if (this.esc) this.esc = false;
        else if (c === 0x5c) this.esc = true;
        else if (c === 0x22) {
          this.inStr = false;
          if (this.inScalar && this.depth === 0) {
            i++;
            this.appendDoc(chunk.subarray(segStart, i), issues);
            this.emitDoc(frames, issues, this.partsLen);
            segStart = i;
            continue;
          }
        }
        i++;
        continue;
      }
      if (c === 0x22) this.inStr = true;
      else if (c === 0x7b || c === 0x5b) this.depth++;
      else if (c === 0x7d || c === 0x5d) {
        this.depth--;
        if (this.depth === 0) {
          i++;
          this.appendDoc(chunk.subarray(segStart, i), issues);
          this.emitDoc(frames, issues, this.partsLen);
          segStart = i;
          continue;
        }
      }
      i++;
    }
    if (this.started && segStart < n) this.appendDoc(Buffer.from(chunk.subarray(segStart, n)), issues);
  }

  private appendDoc(b: Buffer, issues: FrameIssue[]): void {
    if (this.partsLen + b.length > this.maxDocument) {
      issues.push({ line: this.partsLine, message: `JSON document longer than ${this.maxDocument} bytes, skipped` });
      this.reset();
      this.skipping = true;
      return;
    }
    if (b.length > 0) {
      this.parts.push(b);
      this.partsLen += b.length;
    }
  }

  private emitDoc(frames: Frames, _issues: FrameIssue[], len: number): void {
    if (this.started && len > 0) {
      const buf = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts, len);
      frames.add(buf, 0, buf.length, this.partsLine);
    }
    this.reset();
  }

  private reset(): void {
    this.parts = [];
    this.partsLen = 0;
    this.depth = 0;
    this.inStr = false;
    this.esc = false;
    this.inScalar = false;
    this.started = false;
  }
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/**
 * JSON lines when the first document ends on its first line, or when the line after
 * an incomplete first line starts a new document at column 0. Undefined: need more.
 */
function detectMode(buf: Buffer, atEnd: boolean): Mode | undefined {
  let i = 0;
  while (i < buf.length && isWs(buf[i])) i++;
  if (i >= buf.length) return atEnd ? 'lines' : undefined;
  const lineEnd = buf.indexOf(10, i);
  const first = buf.subarray(i, lineEnd < 0 ? buf.length : lineEnd);
  if (lineEnd < 0 && !atEnd) return undefined;
  const trimmed = first.toString('latin1').trim();
  if (trimmed === '{' || trimmed === '[') return 'document';
  if (balanced(first)) return 'lines';
  if (lineEnd < 0) return 'lines';
  // First line is incomplete: pretty-printed document, or a broken JSON line?
  let j = lineEnd + 1;
  while (j < buf.length && (buf[j] === 10 || buf[j] === 13)) j++;
  if (j >= buf.length) return atEnd ? 'lines' : undefined;
  const c = buf[j];
  return c === 0x7b || c === 0x5b ? 'lines' : 'document';
}

function balanced(line: Buffer): boolean {
  let depth = 0;
  let inStr = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (inStr) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inStr = false;
      continue;
    }
    if (c === 0x22) inStr = true;
    else if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return depth <= 0 && !inStr;
}
