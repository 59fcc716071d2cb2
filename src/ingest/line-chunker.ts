// Cuts a followed file's bytes into lines, in place, in the SharedArrayBuffer chunks
// the workers read: a chunk's complete lines become its frames (ranges laid out as
// the batch parser takes them, with their line numbers: framing.ts's Frames), and the
// incomplete line at its end is carried to the start of the next chunk before more is
// read after it. So every line is in one chunk, evaluated whole, and nothing is
// allocated per line.
//
// Why not framing.ts's Framer: it copies a line that spans two reads into a buffer of
// its own (the workers need it in shared memory, with the rest of its chunk), it
// guesses between JSON lines and pretty-printed documents (an audit log is JSON lines,
// always), and it does not track the byte offsets a checkpoint needs.
//
// A line longer than `maxLine` is not kept: its bytes are skipped up to its newline and
// it is reported (the processor would refuse such an event anyway). A last line
// without its newline is held until the newline comes; `endOfFile()` says no more will
// (a rotated file), and it is cut as it is.
import { Frames } from './framing.js';

export class Chunk {
  readonly buf: Buffer;
  readonly frames = new Frames();
  /** File offset just after the chunk's last complete line, and the number of the line after it. */
  endOffset = 0;
  endLine = 1;

  constructor(readonly sab: SharedArrayBuffer) {
    this.buf = Buffer.from(sab);
  }

  get size(): number {
    return this.buf.length;
  }
}

export interface LineIssue {
  line: number;
  /** File offset of the line's first byte. */
  offset: number;
  reason: 'too_long';
  message: string;
}

export class LineChunker {
  private chunk: Chunk | undefined;
  /** Bytes of the chunk in use: complete lines, then the incomplete one from lineStart. */
  private fill = 0;
  /** Start, in the chunk, of the line not complete yet. */
  private lineStart = 0;
  /** File offset of that line's first byte: where reading would start over. */
  private cut = 0;
  /** File offset of the next byte to read. */
  private readPos = 0;
  /** Number of the line that starts at `cut`. */
  private lineNo = 1;
  /** Inside a line longer than maxLine: its bytes are dropped up to its newline. */
  private skipping = false;
  private skipped = 0;
  /** Where the carried line is, in the chunk given back by detach(). */
  private carryFrom: Chunk | undefined;
  private carryStart = 0;
  private carryLen = 0;

  constructor(private readonly maxLine: number) {}

  /** File offset just after the last complete line: where reading would start over. */
  get cutOffset(): number {
    return this.cut;
  }

  /** Number of the next line (the one starting at cutOffset). */
  get line(): number {
    return this.lineNo;
  }

  /** File offset of the next byte to be read. */
  get readOffset(): number {
    return this.readPos;
  }

  /** Bytes read past cutOffset (an incomplete line held, or a long one being skipped). */
  get pending(): number {
    return this.readPos - this.cut;
  }

  get attached(): boolean {
    return this.chunk !== undefined;
  }

  /** Positions at `offset`, line `line`, dropping anything held (a new file, a truncation). */
  reset(offset: number, line: number): void {
    this.cut = offset;
    this.readPos = offset;
    this.lineNo = line;
    this.fill = 0;
    this.lineStart = 0;
    this.skipping = false;
    this.skipped = 0;
    this.carryFrom = undefined;
    this.carryLen = 0;
    if (this.chunk) {
      this.chunk.frames.clear();
      this.chunk.endOffset = offset;
      this.chunk.endLine = line;
    }
  }

  /** Starts filling `chunk`, beginning with the line carried from the previous one. */
  attach(chunk: Chunk): void {
    chunk.frames.clear();
    if (this.carryFrom !== undefined && this.carryLen > 0) {
      // TypedArray.set copies correctly even when both are the same buffer.
      chunk.buf.set(this.carryFrom.buf.subarray(this.carryStart, this.carryStart + this.carryLen), 0);
    }
    this.carryFrom = undefined;
    this.fill = this.carryLen;
    this.lineStart = 0;
    this.carryLen = 0;
    chunk.endOffset = this.cut;
    chunk.endLine = this.lineNo;
    this.chunk = chunk;
  }

  /** Where the next read goes: chunk.buf[readAt, readAt + readLen). */
  get readAt(): number {
    return this.fill;
  }

  get readLen(): number {
    return this.chunk!.size - this.fill;
  }

  /** `n` bytes were read into chunk.buf at readAt: cut the complete lines among them. */
  consumed(n: number, issues: LineIssue[]): void {
    const chunk = this.chunk!;
    const buf = chunk.buf;
    const frames = chunk.frames;
    const fill0 = this.fill;
    const pos0 = this.readPos;
    const end = fill0 + n;
    let from = fill0;
    for (;;) {
      let nl = buf.indexOf(10, from);
      if (nl >= end) nl = -1;
      if (nl < 0) break;
      if (this.skipping) {
        // The long line ends here; nothing of it is in the chunk.
        issues.push(this.tooLong(this.skipped + (nl - fill0), this.cut));
        this.skipping = false;
        this.skipped = 0;
      } else {
        let s = this.lineStart;
        while (s < nl) {
          const c = buf[s];
          if (c !== 0x20 && c !== 0x0d && c !== 0x09) break;
          s++;
        }
        if (s < nl) {
          if (nl - this.lineStart > this.maxLine) issues.push(this.tooLong(nl - this.lineStart, this.cut));
          else frames.add(buf, s, nl, this.lineNo);
        }
      }
      this.lineNo++;
      this.lineStart = nl + 1;
      this.cut = pos0 + (nl + 1 - fill0);
      from = nl + 1;
    }
    this.readPos = pos0 + n;
    if (this.skipping) {
      // Still inside the long line: drop what was read of it.
      this.skipped += n;
      this.fill = this.lineStart;
    } else if (end - this.lineStart > this.maxLine) {
      this.skipping = true;
      this.skipped = end - this.lineStart;
      this.fill = this.lineStart;
    } else {
      this.fill = end;
    }
    if (frames.count === 0 && this.lineStart > 0) {
      // Nothing to evaluate (blank or skipped lines only): make room where we are.
      buf.copyWithin(0, this.lineStart, this.fill);
      this.fill -= this.lineStart;
      this.lineStart = 0;
    }
    chunk.endOffset = this.cut;
    chunk.endLine = this.lineNo;
  }

  private tooLong(len: number, offset: number): LineIssue {
    return { line: this.lineNo, offset, reason: 'too_long', message: `line of ${len} bytes is longer than limits.max_event_bytes (${this.maxLine}): not evaluated` };
  }

  /**
   * No more bytes will come (a rotated file): the held line, if any, is cut as it is
   * (it must fit in the attached chunk: attach one first when `pending` > 0).
   */
  endOfFile(issues: LineIssue[]): void {
    if (this.skipping) {
      issues.push(this.tooLong(this.skipped, this.cut));
      this.skipping = false;
      this.skipped = 0;
    } else if (this.pending > 0) {
      // The held line is in the chunk (attach() copies it over): the caller attaches first.
      if (this.chunk === undefined) throw new Error('LineChunker.endOfFile: a held line needs an attached chunk');
      const buf = this.chunk.buf;
      let s = this.lineStart;
      while (s < this.fill && (buf[s] === 0x20 || buf[s] === 0x0d || buf[s] === 0x09)) s++;
      if (s < this.fill) this.chunk.frames.add(buf, s, this.fill, this.lineNo);
      this.lineStart = this.fill;
    } else {
      return;
    }
    this.lineNo++;
    this.cut = this.readPos;
    if (this.chunk) {
      this.chunk.endOffset = this.cut;
      this.chunk.endLine = this.lineNo;
    }
  }

  /** Has the attached chunk complete lines to evaluate? */
  get ready(): boolean {
    return this.chunk !== undefined && this.chunk.frames.count > 0;
  }

  /**
   * Gives back the attached chunk: its frames are its complete lines (endOffset and
   * endLine say where they end); its incomplete last line is carried into the next
   * attach(), so the chunk's buffer must stay as it is until then (workers only read it).
   */
  detach(): Chunk {
    const chunk = this.chunk!;
    this.chunk = undefined;
    this.carryFrom = chunk;
    this.carryStart = this.lineStart;
    this.carryLen = this.fill - this.lineStart;
    this.fill = 0;
    this.lineStart = 0;
    return chunk;
  }
}
