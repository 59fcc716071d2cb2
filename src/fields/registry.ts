// Field lookup and argument validation, with libsinsp's rules for plugin fields.
import { K8SAUDIT_FIELDS } from './k8saudit.js';
import { JSON_FIELDS } from './json-plugin.js';
import { EVENT_FIELDS } from './event.js';
import type { FieldArg, FieldDef } from './types.js';

export const ALL_FIELDS: readonly FieldDef[] = [...EVENT_FIELDS, ...K8SAUDIT_FIELDS, ...JSON_FIELDS];

const BY_NAME = new Map<string, FieldDef>(ALL_FIELDS.map((f) => [f.name, f]));

export function findField(name: string): FieldDef | undefined {
  return BY_NAME.get(name);
}

export class FieldError extends Error {}

/**
 * Resolves `name` with an optional argument the way libsinsp does: the field string
 * is rebuilt as `name[arg]`, cut at the first blank and at the first `]`.
 */
export function resolveField(name: string, rawArg: string | undefined): { def: FieldDef; arg: FieldArg } {
  const def = BY_NAME.get(name);
  if (def === undefined) throw new FieldError(`unknown field '${name}'`);
  const arg: FieldArg = { present: false, key: '', index: -1 };
  // Error texts are libsinsp's (plugin_filtercheck.cpp), naming the field string as written.
  if (rawArg === undefined) {
    if (def.arg.required) throw new FieldError(`filter '${name}': ${name} requires an argument but none provided`);
    return { def, arg };
  }
  const full = `${name}[${rawArg}]`;
  const blank = full.indexOf(' ');
  const val = blank >= 0 ? full.slice(0, blank) : full;
  const inner = val.slice(name.length + 1);
  if (inner.length === 0) throw new FieldError(`filter '${val}': ${name} terminates with incomplete argument brackets`);
  const close = inner.indexOf(']');
  if (close < 0) throw new FieldError(`filter '${val}': ${name} has unbalanced argument brackets`);
  const argstr = inner.slice(0, close);
  if (!def.arg.allowed) {
    throw new FieldError(`filter '${val}': ${name} does not allow nor require an argument but one is provided: ${argstr}`);
  }
  arg.present = true;
  arg.key = argstr;
  if (def.arg.index) {
    let msg = '';
    if (argstr.length === 0 || (argstr.length > 1 && argstr[0] === '0')) msg = ' has an invalid index argument starting with 0: ';
    if (!/^[0-9]*$/.test(argstr)) msg = ' has an invalid index argument not composed only by digits: ';
    if (msg === '' && (argstr.length > 20 || BigInt(argstr) > 0xffffffffffffffffn)) msg = ' has an invalid index argument not representable on 64 bit: ';
    if (msg !== '') {
      if (!def.arg.key) throw new FieldError(`filter ${val} ${name}${msg}${argstr}`);
    } else {
      // Indexes beyond any array simply select nothing. The plugin takes the index as a Go
      // int (extract.go, int(req.ArgIndex())): 2^64-1 becomes -1, its "no index".
      arg.index = BigInt(argstr) === 0xffffffffffffffffn ? -1 : Math.min(Number(argstr), Number.MAX_SAFE_INTEGER);
    }
  }
  return { def, arg };
}
