// Loads the native extractor (build/Release/peregrine_json.node) if it was built.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCode, PeregrineError } from '../errors.js';

export interface NativeAddon {
  /**
   * Fills the node table; >0 node count, 0 invalid JSON, -1 table too small, -2 rows too
   * few (with a plan: rows[1] / rows[2] say how many are needed).
   */
  parse(buf: Uint8Array, start: number, end: number, table: ArrayBuffer, capacity: number,
    plan?: unknown, rows?: Int32Array, rowCap?: number, slotsPerRow?: number): number;
  /** With a prefilter (see rules/prefilter.ts), parses also write its verdict per row. */
  compilePlan(program: Int32Array, strings: Uint8Array, prefilter?: Int32Array, pool?: Uint8Array): unknown;
  /** With items, maxEventSize and eventSym, prefiltered plain events get the root -2. */
  parseBatch(buf: Uint8Array, ranges: Uint32Array, from: number, count: number, table: ArrayBuffer, capacity: number,
    plan: unknown, rows: Int32Array, rowCap: number, slotsPerRow: number, roots: Int32Array,
    items?: number, maxEventSize?: number, eventSym?: number): number;
  /** Event ranges of a webhook body (see src/ingest/split.ts): count, or -1 to defer. */
  splitBody(buf: Uint8Array, start: number, end: number, ranges: Uint32Array): number;
  /**
   * LDP frames (see src/ingest/ldp/unwrap.ts): the payloads of the frames it unwrapped,
   * one after the other; status[i] 0 (its length in status[count + i]), a skip reason
   * 1-4, or -1 for unwrap.ts to decide. `tiers` (tests, benches): 1 the one-pass path only, 2 the DOM only, 3 both.
   */
  unwrapLdp(buf: Uint8Array, ranges: Uint32Array, count: number, status: Int32Array, tiers?: number): Buffer;
  /** The same written into `into` (at least as long as the frames): the bytes written. */
  unwrapLdp(buf: Uint8Array, ranges: Uint32Array, count: number, status: Int32Array, tiers: number, into: Uint8Array): number;
  /** The first whitespace outside strings in [start, end), or -1 (see compactRaw in events/nodes.ts). */
  whitespaceScan(buf: Uint8Array, start: number, end: number): number;
  implementation(): string;
  simdjsonVersion: string;
}

export const ADDON_PATH = fileURLToPath(new URL('../../build/Release/peregrine_json.node', import.meta.url));

let cached: NativeAddon | null | undefined;
let loadError: string | undefined;

/** The addon, or undefined (with `nativeLoadError()` saying why). */
export function loadNative(): NativeAddon | undefined {
  if (cached !== undefined) return cached ?? undefined;
  if (!existsSync(ADDON_PATH)) {
    loadError = `native extractor not built (${ADDON_PATH} missing; run npm run build:native)`;
    cached = null;
    return undefined;
  }
  try {
    cached = createRequire(import.meta.url)(ADDON_PATH) as NativeAddon;
  } catch (e) {
    loadError = `native extractor failed to load: ${(e as Error).message}`;
    cached = null;
  }
  return cached ?? undefined;
}

export function nativeLoadError(): string | undefined {
  return loadError;
}

/**
 * The addon to use, or why not: PEREGRINE_NATIVE=0 turns it off, and PEREGRINE_NATIVE=1
 * makes its absence an error (ERR_NATIVE_UNAVAILABLE) instead of a fallback.
 */
export function chooseNative(env: NodeJS.ProcessEnv = process.env): { addon?: NativeAddon; reason?: string } {
  if (env.PEREGRINE_NATIVE === '0') return { reason: 'PEREGRINE_NATIVE=0' };
  const addon = loadNative();
  if (addon !== undefined) return { addon };
  if (env.PEREGRINE_NATIVE === '1') throw new PeregrineError(ErrorCode.NATIVE_UNAVAILABLE, `PEREGRINE_NATIVE=1 but ${nativeLoadError()}`);
  return { reason: nativeLoadError() };
}
