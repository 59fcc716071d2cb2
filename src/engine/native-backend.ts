// The native (simdjson) backend: same node table as the TypeScript parser. On invalid
// input it defers to the TypeScript parser, so both report identical errors.
import type { NodeTable } from '../events/nodes.js';
import type { NativeAddon } from '../native/loader.js';
import { jsBackend, type JsonBackend } from './backend.js';

export function nativeBackend(addon: NativeAddon): JsonBackend {
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
        t.allocate(Math.max(-r, t.capacity * 2));
      }
    },
  };
}
