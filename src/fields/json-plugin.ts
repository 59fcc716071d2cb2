// The json plugin's fields (json.* and their jevt.* aliases), as falcosecurity/plugins
// json v0.7.4 computes them from the event data.
import { STR, TYPE_MASK, compactRaw, stringOf, F_VAL_ESC } from '../events/nodes.js';
import type { EventView, Extractor } from '../events/view.js';
import { cString, asString } from './json-values.js';
import { type FieldDef, type FieldArg, type BuildContext, NO_ARG, KEY_ARG, TIME_EQUALS } from './types.js';

/** The event data as the plugin holds it: compact JSON text. */
export function eventText(ev: EventView): string {
  return compactRaw(ev.t.buf, ev.t.vs[ev.root], ev.t.ve[ev.root]);
}

/** A JSON pointer split into member keys, as the plugin does it (no validation). */
export function pointerKeys(pointer: string): Buffer[] {
  const p = pointer.startsWith('/') ? pointer.slice(1) : pointer;
  return p.split('/').map((k) => Buffer.from(k.replaceAll('~1', '/').replaceAll('~0', '~'), 'utf8'));
}

function pointerStrings(pointer: string): string[] {
  return pointerKeys(pointer).map((k) => k.toString('utf8'));
}

function valueField(arg: FieldArg, ctx: BuildContext): Extractor {
  if (arg.key.length === 0) return (ev) => eventText(ev);
  const path = pointerKeys(arg.key);
  const slot = ctx.plan.slot(pointerStrings(arg.key));
  return (ev) => {
    const t = ev.t;
    const n = ev.pathNode(slot, path);
    if (n === -1) return undefined;
    const sym = ev.pathSymbol(slot);
    if (sym >= 0) return ev.symbols[sym];
    if ((t.kind[n] & TYPE_MASK) === STR) {
      const s = stringOf(t, n);
      return (t.kind[n] & F_VAL_ESC) !== 0 ? cString(s) : s;
    }
    return asString(t, n);
  };
}

/** Go's json.Indent(dst, src, "", "  ") over compact JSON text. */
export function goIndent(src: string): string {
  let out = '';
  let depth = 0;
  let needIndent = false;
  let inStr = false;
  const nl = (d: number): string => '\n' + '  '.repeat(d);
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (inStr) {
      out += c;
      if (c === '\\') { out += src[++i]; continue; }
      if (c === '"') inStr = false;
      continue;
    }
    if (c === ' ' || c === '\n' || c === '\t' || c === '\r') continue;
    if (needIndent && c !== '}' && c !== ']') {
      needIndent = false;
      depth++;
      out += nl(depth);
    }
    switch (c) {
      case '"': inStr = true; out += c; break;
      case '{': case '[': needIndent = true; out += c; break;
      case ',': out += c + nl(depth); break;
      case ':': out += ': '; break;
      case '}': case ']':
        if (needIndent) needIndent = false;
        else { depth--; out += nl(depth); }
        out += c;
        break;
      default: out += c;
    }
  }
  return out;
}

/**
 * Whether Go's JSON scanner accepts every escape of a JSON text: only \" \\ \/ \b \f \n
 * \r \t and \u with 4 hex digits. The plugin's parser lets others through (an unknown
 * escape stays as written), but json.Indent then fails, and jevt.obj has no value.
 */
function goEscapesValid(s: string): boolean {
  for (let i = s.indexOf('\\'); i >= 0; i = s.indexOf('\\', i)) {
    const c = s[i + 1];
    if (c === 'u') {
      if (!/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) return false;
      i += 6;
    } else if (c !== undefined && '"\\/bfnrt'.includes(c)) {
      i += 2;
    } else {
      return false;
    }
  }
  return true;
}

const objField = (): Extractor => (ev) => {
  const text = eventText(ev);
  return goEscapesValid(text) ? goIndent(text) : undefined;
};
const rawtimeField = (): Extractor => (ev) => ev.timeText();

/**
 * `jevt.rawtime = value` (as in Falco's k8s_audit_never_true macro) by numbers: for
 * usual times the text is the seconds then 9 digits of nanoseconds, so a value of any
 * other shape cannot equal it.
 */
function rawtimeIs(value: string): (ev: EventView) => boolean {
  const usual = /^[1-9][0-9]{9,}$/.test(value);
  const sec = usual ? Number(value.slice(0, -9)) : NaN;
  const nsec = usual ? Number(value.slice(-9)) : NaN;
  const p = (ev: EventView): boolean => {
    const s = ev.sec;
    if (s > 0 && s < 9_000_000_000) return s === sec && ev.nsec === nsec;
    return ev.timeText() === value;
  };
  TIME_EQUALS.set(p, { sec, nsec });
  return p;
}

function defs(prefix: string, alias: boolean): FieldDef[] {
  const d = (what: string): string => (alias ? `Alias for json.${what}, provided for backwards compatibility.` : '');
  return [
    { name: `${prefix}.value`, type: 'string', list: false, arg: KEY_ARG, build: valueField,
      symbolSlot: (arg, ctx) => (arg.key.length === 0 ? -1 : ctx.plan.slot(pointerStrings(arg.key))),
      desc: d('value') || 'Extracts a value from a JSON-encoded input. Syntax is json.value[<json pointer>], where <json pointer> is a json pointer (see https://datatracker.ietf.org/doc/html/rfc6901)' },
    { name: `${prefix}.obj`, type: 'string', list: false, arg: NO_ARG, build: objField,
      desc: d('obj') || 'The full json message as a text string.' },
    // The plugin formats evt.Timestamp() for every event it could parse, and every
    // event reaching a rule was parsed.
    { name: `${prefix}.rawtime`, type: 'string', list: false, arg: NO_ARG, build: rawtimeField, always: true, textIs: rawtimeIs,
      desc: d('rawtime') || 'The time of the event, identical to evt.rawtime.' },
  ];
}

export const JSON_FIELDS: FieldDef[] = [...defs('json', false), ...defs('jevt', true)];
