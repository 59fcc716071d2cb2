// Where a followed file source is: one small JSON file per source in its state
// directory, replaced atomically (written beside, fsynced, renamed over, directory
// fsynced), so a crash leaves the old checkpoint or the new one, never half of one.
//
// A position names a file by identity, not by name, because names move under the
// follower (audit.log becomes audit-<time>.log, then audit-<time>.log.gz): the device
// and inode it had, and a fingerprint (SHA-256 of its first `fpLen` bytes, up to
// FINGERPRINT_BYTES) that tells a reused inode from the same file and still matches
// after the file was gzipped (the fingerprint is of the uncompressed bytes). The offset
// is in uncompressed bytes, at the start of a line; `line` is that line's number.
import { createHash } from 'node:crypto';
import { mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ErrorCode, PeregrineError } from '../errors.js';

/** Bytes of a file's beginning its fingerprint covers (fewer while the file is shorter). */
export const FINGERPRINT_BYTES = 1024;
export const CHECKPOINT_VERSION = 1;

export interface FileIdentity {
  dev: bigint;
  ino: bigint;
  /** How many bytes the fingerprint covers (0: an empty file; identity is then dev and inode). */
  fpLen: number;
  /** SHA-256 (hex) of the first fpLen bytes. */
  fp: string;
}

export interface Checkpoint {
  /** The followed path (the live file's name), as configured. */
  source: string;
  file: FileIdentity & {
    /** Its name when the checkpoint was written (the live name, or a backup's). */
    name: string;
    /** The rotation time in a backup's name (ms since the epoch), when it was opened as a backup. */
    rotatedAtMs?: number;
    /**
     * When it was opened as the live file: a time it was still live (its rotation, if it
     * has happened since, is later), so the backups rotated after it can be told apart.
     */
    liveSinceMs?: number;
  };
  /** Uncompressed byte offset of the next line to read. */
  offset: number;
  /** 1-based number of that line. */
  line: number;
  savedAtMs: number;
}

export function fingerprint(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const KEYS = ['version', 'source', 'file', 'offset', 'line', 'saved_at_ms'];
const FILE_KEYS = ['dev', 'ino', 'fp_len', 'fp', 'name', 'rotated_at_ms', 'live_since_ms'];

export function encodeCheckpoint(c: Checkpoint): string {
  const file: Record<string, unknown> = { dev: String(c.file.dev), ino: String(c.file.ino), fp_len: c.file.fpLen, fp: c.file.fp, name: c.file.name };
  if (c.file.rotatedAtMs !== undefined) file.rotated_at_ms = c.file.rotatedAtMs;
  if (c.file.liveSinceMs !== undefined) file.live_since_ms = c.file.liveSinceMs;
  return JSON.stringify({ version: CHECKPOINT_VERSION, source: c.source, file, offset: c.offset, line: c.line, saved_at_ms: c.savedAtMs }) + '\n';
}

function bad(where: string, why: string): PeregrineError {
  return new PeregrineError(ErrorCode.CHECKPOINT, `${where}: not a valid checkpoint (${why}); remove it to start over as start_at says`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function count(v: unknown, key: string, where: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) throw bad(where, `${key} must be an integer from 0 to ${max}`);
  return v;
}

function bigId(v: unknown, key: string, where: string): bigint {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(v) || BigInt(v) > 0xffffffffffffffffn) throw bad(where, `${key} must be a decimal 64-bit integer in a string`);
  return BigInt(v);
}

/**
 * Parses and checks a checkpoint file's text; `where` names it in errors. Anything
 * that is not exactly what encodeCheckpoint writes, for `source`, is an error
 * (ERR_CHECKPOINT): a position one cannot trust must not be used silently.
 */
export function parseCheckpoint(text: string, source: string, where: string): Checkpoint {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad(where, `invalid JSON: ${(e as Error).message}`);
  }
  if (!isObj(doc)) throw bad(where, 'expected a JSON object');
  for (const k of Object.keys(doc)) if (!KEYS.includes(k)) throw bad(where, `unknown key ${JSON.stringify(k).slice(0, 40)}`);
  if (doc.version !== CHECKPOINT_VERSION) throw bad(where, `version must be ${CHECKPOINT_VERSION}`);
  if (typeof doc.source !== 'string') throw bad(where, 'source must be a string');
  if (doc.source !== source) throw new PeregrineError(ErrorCode.CHECKPOINT, `${where}: is the checkpoint of ${JSON.stringify(doc.source)}, not of ${JSON.stringify(source)}; use another state_dir or remove it`);
  const f = doc.file;
  if (!isObj(f)) throw bad(where, 'file must be an object');
  for (const k of Object.keys(f)) if (!FILE_KEYS.includes(k)) throw bad(where, `unknown key file.${JSON.stringify(k).slice(0, 40)}`);
  const fpLen = count(f.fp_len, 'file.fp_len', where, FINGERPRINT_BYTES);
  if (typeof f.fp !== 'string' || !/^[0-9a-f]{64}$/.test(f.fp)) throw bad(where, 'file.fp must be 64 lowercase hex digits');
  if (typeof f.name !== 'string' || f.name.length === 0 || f.name.length > 4096 || f.name.includes('\0')) throw bad(where, 'file.name must be a file name');
  const offset = count(doc.offset, 'offset', where);
  const line = count(doc.line, 'line', where);
  if (line < 1) throw bad(where, 'line must be at least 1');
  const cp: Checkpoint = {
    source,
    file: { dev: bigId(f.dev, 'file.dev', where), ino: bigId(f.ino, 'file.ino', where), fpLen, fp: f.fp, name: f.name },
    offset,
    line,
    savedAtMs: count(doc.saved_at_ms, 'saved_at_ms', where),
  };
  if (f.rotated_at_ms !== undefined) cp.file.rotatedAtMs = count(f.rotated_at_ms, 'file.rotated_at_ms', where);
  if (f.live_since_ms !== undefined) cp.file.liveSinceMs = count(f.live_since_ms, 'file.live_since_ms', where);
  if ((cp.file.rotatedAtMs === undefined) === (cp.file.liveSinceMs === undefined)) throw bad(where, 'file needs exactly one of rotated_at_ms and live_since_ms');
  return cp;
}

/** A checkpoint file name for a followed path: readable, and unique per path. */
export function checkpointFileName(source: string): string {
  const base = source.replace(/^.*\//, '').replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  return `${base}.${fingerprint(Buffer.from(source)).slice(0, 12)}.checkpoint.json`;
}

/**
 * mkdir -p, mode 0700. Not fs.mkdir's `recursive`: where a parent exists but the
 * directory cannot be made in it (under /proc, say) that retries ENOENT forever.
 */
async function makeDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { mode: 0o700 });
    return;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      if ((await stat(dir)).isDirectory()) return;
      throw Object.assign(new Error(`${dir} exists and is not a directory`), { code: 'ENOTDIR' });
    }
    if (code !== 'ENOENT' || dirname(dir) === dir) throw e;
  }
  await makeDir(dirname(dir));
  await mkdir(dir, { mode: 0o700 });
}

export class CheckpointStore {
  readonly path: string;
  private readonly tmp: string;
  private dirReady = false;

  constructor(readonly stateDir: string, readonly source: string) {
    this.path = join(stateDir, checkpointFileName(source));
    this.tmp = `${this.path}.tmp`;
  }

  /** Creates the state directory (mode 0700) if it is missing. */
  async prepare(): Promise<void> {
    if (this.dirReady) return;
    await makeDir(this.stateDir);
    this.dirReady = true;
  }

  /** The saved position, or undefined when there is none yet. */
  async load(): Promise<Checkpoint | undefined> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new PeregrineError(ErrorCode.CHECKPOINT, `cannot read ${this.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    return parseCheckpoint(text, this.source, this.path);
  }

  /** Replaces the checkpoint atomically and durably. */
  async save(c: Checkpoint): Promise<void> {
    await this.prepare();
    const fh = await open(this.tmp, 'w', 0o600);
    try {
      await fh.writeFile(encodeCheckpoint(c));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(this.tmp, this.path);
    const dir = await open(this.stateDir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}
