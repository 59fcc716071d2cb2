// The native (simdjson) backend: same node table as the TypeScript parser. On invalid
// input it defers to the TypeScript parser, so both report identical errors.
import type { NodeTable } from '../events/nodes.js';
import { type FieldPlan, type Rows, KIND_SLOT } from '../events/plan.js';
import type { NativeAddon } from '../native/loader.js';
import { jsBackend, type JsonBackend, type PreparedPlan } from './backend.js';
import type { EncodedPrefilter } from '../rules/prefilter.js';

export function nativeBackend(addon: NativeAddon): JsonBackend {
  // By plan, or by prefilter (a plan serves one ruleset, a prefilter one ruleset's rules).
  const prepared = new WeakMap<object, PreparedPlan>();
  return {
    name: `native (simdjson ${addon.simdjsonVersion}, ${addon.implementation()})`,
    parse(t: NodeTable, buf: Buffer, start: number, end: number): number {
      t.reset(buf);
      for (;;) {
        const r = addon.parse(buf, start, end, t.mem, t.capacity);
        if (r > 0) {
          t.size = r;
          return 0;
        }
        if (r === 0) return jsBackend.parse(t, buf, start, end);
        t.allocate(t.capacity * 2);
      }
    },
    preparePlan(plan: FieldPlan, prefilter?: EncodedPrefilter): PreparedPlan | undefined {
      if (plan.everything) return undefined;
      const key = prefilter ?? plan;
      let p = prepared.get(key);
      if (p === undefined) {
        const { program, strings, symbols } = plan.encode();
        p = {
          handle: prefilter ? addon.compilePlan(program, strings, prefilter.program, prefilter.pool) : addon.compilePlan(program, strings),
          prefilter: prefilter !== undefined,
          slotCount: plan.slotCount,
          symbols,
          recorded: Uint8Array.from(plan.recorded, (b) => (b ? 1 : 0)),
          auditSlot: plan.findSlot(['auditID']),
          eventSym: plan.recorded[KIND_SLOT] ? plan.symbolOf(KIND_SLOT, 'Event') : -1,
        };
        prepared.set(key, p);
      }
      return p;
    },
    parsePlanned(t: NodeTable, buf: Buffer, start: number, end: number, plan: PreparedPlan, rows: Rows): number {
      t.reset(buf);
      for (;;) {
        const r = addon.parse(buf, start, end, t.mem, t.capacity, plan.handle, rows.data, rows.cap, plan.slotCount);
        if (r > 0) {
          t.size = r;
          return 0;
        }
        if (r === 0) {
          rows.data[0] = 0;
          return jsBackend.parse(t, buf, start, end);
        }
        if (r === -1) t.allocate(Math.max(t.capacity * 2, rows.data[1]));
        else rows.grow(Math.max(rows.cap * 2, rows.data[2]));
      }
    },
    parseBatch(t: NodeTable, buf: Buffer, ranges: Uint32Array, from: number, count: number, plan: PreparedPlan, rows: Rows, roots: Int32Array,
      items: boolean, maxEventSize: number): number {
      t.reset(buf);
      // The addon marks -2 roots only for a plan compiled with a prefilter.
      const done = addon.parseBatch(buf, ranges, from, count, t.mem, t.capacity, plan.handle, rows.data, rows.cap, plan.slotCount, roots, items ? 1 : 0, maxEventSize, plan.eventSym);
      t.size = rows.data[3];
      return done;
    },
  };
}
