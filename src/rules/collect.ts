// Stage 1 of the rules pipeline: read rules files (YAML with positions) and collect
// lists, macros and rules across files, applying append/override/redefinition the way
// Falco's rule_loader reader and collector do (falco 0.44.1, userspace/engine).
import { ErrorCode, PeregrineError, type Warning } from '../errors.js';
import { findField } from '../fields/registry.js';
import { parsePriority } from './priority.js';
import { SourceText } from './source-text.js';
import { type Loc, type YNode, YamlError, isNull, locOf, member, parseYaml } from './yaml-source.js';

export const ENGINE_VERSION: Version = [0, 62, 0];
/** Plugin versions this engine implements (same field semantics as these releases). */
export const PLUGIN_VERSIONS: Record<string, Version> = { k8saudit: [0, 18, 0], json: [0, 7, 4] };
export const K8S_AUDIT_SOURCE = 'k8s_audit';
const SYSCALL_SOURCE = 'syscall';

export type Version = [number, number, number];

export interface ExceptionEntry {
  isList: boolean;
  item: string;
  items: ExceptionEntry[];
}

export interface ExceptionInfo {
  name: string;
  fields?: ExceptionEntry;
  comps?: ExceptionEntry;
  values: ExceptionEntry[];
  node: YNode;
}

export interface ListInfo {
  name: string;
  items: string[];
  index: number;
  visibility: number;
  node: YNode;
}

export interface MacroInfo {
  name: string;
  cond: SourceText;
  index: number;
  visibility: number;
  node: YNode;
}

export interface RuleInfo {
  name: string;
  cond: SourceText;
  output: string;
  /** `output` with where each character came from (for error locations). */
  outputText: SourceText;
  outputNode: YNode;
  desc: string;
  priority: number;
  source: string;
  enabled: boolean;
  tags: Set<string>;
  exceptions: ExceptionInfo[];
  warnEvttypes: boolean;
  skipIfUnknownFilter: boolean;
  index: number;
  visibility: number;
  node: YNode;
  unknownSource: boolean;
}

interface RuleUpdate {
  name: string;
  source?: string;
  cond?: SourceText;
  output?: SourceText;
  desc?: string;
  tags?: Set<string>;
  exceptions?: ExceptionInfo[];
  priority?: number;
  enabled?: boolean;
  warnEvttypes?: boolean;
  skipIfUnknownFilter?: boolean;
  node: YNode;
}

const fail = (code: typeof ErrorCode[keyof typeof ErrorCode], msg: string, at: YNode | Loc): never => {
  throw new PeregrineError(code, msg, 'kind' in at ? locOf(at) : at);
};
const yamlFail = (msg: string, at: YNode): never => fail(ErrorCode.YAML_VALIDATE, msg, at);
const validateFail = (msg: string, at: YNode): never => fail(ErrorCode.VALIDATE, msg, at);

/** yaml-cpp's bool conversion. */
function decodeBool(s: string): boolean | undefined {
  const flexible = s === s.toLowerCase() || s === s.toUpperCase() || (s[0] === s[0].toUpperCase() && s.slice(1) === s.slice(1).toLowerCase());
  if (!flexible) return undefined;
  const l = s.toLowerCase();
  if (l === 'y' || l === 'yes' || l === 'true' || l === 'on') return true;
  if (l === 'n' || l === 'no' || l === 'false' || l === 'off') return false;
  return undefined;
}

function parseVersion(s: string): Version | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(s.trim());
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

function versionAtLeast(have: Version, want: Version): boolean {
  for (let i = 0; i < 3; i++) if (have[i] !== want[i]) return have[i] > want[i];
  return true;
}

export function versionCompatible(have: Version, want: Version): boolean {
  return have[0] === want[0] && versionAtLeast(have, want);
}

export function versionString(v: Version): string {
  return v.join('.');
}

interface DecodeOpts {
  optional?: boolean;
  canBeEmpty?: boolean;
}

/** decode_val_generic: returns the scalar text, or undefined when optional and absent/empty. */
function decodeScalar(item: YNode, key: string, opts: DecodeOpts = {}): string | undefined {
  const val = member(item, key);
  if (val === undefined) {
    if (opts.optional) return undefined;
    return yamlFail(`Item has no mapping for key '${key}'`, item);
  }
  if (isNull(val)) {
    if (opts.canBeEmpty) return undefined;
    return yamlFail(`Mapping for key '${key}' is empty`, item);
  }
  if (val.kind !== 'scalar') return yamlFail(`Value for key '${key}' is not a scalar value`, val);
  if (val.value === '') {
    if (opts.canBeEmpty) return undefined;
    return yamlFail(`Value for key '${key}' must be non-empty`, val);
  }
  return val.value!;
}

function decodeBoolKey(item: YNode, key: string, optional: boolean): boolean | undefined {
  const s = decodeScalar(item, key, { optional });
  if (s === undefined) return undefined;
  const b = decodeBool(s);
  if (b === undefined) return yamlFail(`Can't decode YAML scalar value for key '${key}': expected a boolean, found '${s}'`, member(item, key)!);
  return b;
}

function decodeSeq(item: YNode, key: string, optional: boolean): string[] | undefined {
  const val = member(item, key);
  if (val === undefined) {
    if (optional) return undefined;
    return yamlFail(`Item has no mapping for key '${key}'`, item);
  }
  if (val.kind !== 'sequence') return yamlFail(`Value for key '${key}' is not a sequence`, val);
  return val.items.map((v) => {
    // A plain ~, null or empty item is a Null node for yaml-cpp, not a scalar.
    if (v.kind !== 'scalar' || v.value === null) return yamlFail('sequence value is not scalar', v);
    return v.value;
  });
}

/**
 * yaml-cpp's convert<uint32_t>: the number in C++ stream syntax with the base from its
 * prefix (0x hex, 0 or 0o octal), an optional '+', trailing blanks allowed, no '-'.
 */
function decodeUint32Key(item: YNode, key: string): void {
  const s = decodeScalar(item, key, { optional: true });
  if (s === undefined) return;
  const m = /^\+?(?:0[xX]([0-9a-fA-F]+)|0[oO]?([0-7]*)|([1-9][0-9]*))[ \t\n\r\f\v]*$/.exec(s);
  const n = m === null ? NaN : m[1] !== undefined ? parseInt(m[1], 16) : m[2] !== undefined ? (m[2] === '' ? 0 : parseInt(m[2], 8)) : Number(m[3]);
  if (!(n <= 0xffffffff)) yamlFail(`Can't decode YAML scalar value for key '${key}': expected an unsigned 32-bit integer, found '${s}'`, member(item, key)!);
}

function decodeTags(item: YNode): Set<string> | undefined {
  const t = decodeSeq(item, 'tags', true);
  return t === undefined ? undefined : new Set(t);
}

function decodeExceptionEntry(val: YNode): ExceptionEntry {
  const e: ExceptionEntry = { isList: false, item: '', items: [] };
  // A Null node (plain ~, null or empty) is neither scalar nor sequence for yaml-cpp: the
  // entry stays an empty item, as the reader leaves it.
  if (val.kind === 'scalar' && val.value !== null) {
    if (val.value === '') return yamlFail('Value must be non-empty', val);
    e.item = val.value;
  } else if (val.kind === 'sequence') {
    e.isList = true;
    for (const v of val.items) e.items.push(decodeExceptionEntry(v));
  }
  return e;
}

/** rule_exception_info::entry::is_valid: a non-empty list or a non-empty item. */
function validEntry(e: ExceptionEntry): ExceptionEntry | undefined {
  return (e.isList ? e.items.length > 0 : e.item !== '') ? e : undefined;
}

function readExceptions(item: YNode, warnings: Warning[], append: boolean): ExceptionInfo[] | undefined {
  const exs = member(item, 'exceptions');
  if (exs === undefined || isNull(exs)) return undefined;
  if (exs.kind !== 'sequence') return yamlFail('Rule exceptions must be a sequence', exs);
  const out: ExceptionInfo[] = [];
  for (const ex of exs.items) {
    if (ex.kind !== 'mapping') return yamlFail('Rule exception must be a mapping', ex);
    const name = decodeScalar(ex, 'name')!;
    if (out.some((o) => o.name === name)) {
      warnings.push({ code: 'LOAD_EXCEPTION_NAME_NOT_UNIQUE', message: `Multiple definitions of exception '${name}' in the same rule`, loc: locOf(ex) });
    }
    const info: ExceptionInfo = { name, values: [], node: ex };
    const fields = member(ex, 'fields');
    if (fields === undefined) {
      if (!append) return yamlFail("Item has no mapping for key 'fields'", ex);
    } else {
      // An empty list or item counts as no fields (the collector then says so).
      info.fields = validEntry(decodeExceptionEntry(fields));
    }
    const comps = member(ex, 'comps');
    // Empty comps are no comps: `=` for each field (or `in`) by default.
    if (comps !== undefined) info.comps = validEntry(decodeExceptionEntry(comps));
    const vals = member(ex, 'values');
    if (vals !== undefined) {
      if (vals.kind !== 'sequence') return yamlFail('Rule exception values must be a sequence', vals);
      for (const v of vals.items) info.values.push(decodeExceptionEntry(v));
    } else if (append) {
      warnings.push({ code: 'LOAD_APPEND_NO_VALUES', message: 'Overriding/appending exception with no values', loc: locOf(ex) });
    }
    out.push(info);
  }
  return out;
}

function warnUnknownKeys(item: YNode, expected: Set<string>, warnings: Warning[]): void {
  for (const [k] of item.pairs) {
    const key = k.value ?? '';
    if (!expected.has(key)) warnings.push({ code: 'LOAD_UNKNOWN_KEY', message: `Unknown key '${key}'. The key will be ignored.`, loc: locOf(k) });
  }
}

function decodeOverrides(item: YNode, canAppend: Set<string>, canReplace: Set<string>): { append: Set<string>; replace: Set<string> } {
  const res = { append: new Set<string>(), replace: new Set<string>() };
  const val = member(item, 'override');
  if (val === undefined) return res;
  if (val.kind !== 'mapping') return yamlFail("'override' must be a mapping of keys to 'append' or 'replace'", val);
  for (const [k, v] of val.pairs) {
    const key = k.value ?? '';
    const op = v.value ?? '';
    if (op === 'append') {
      if (!canAppend.has(key)) yamlFail(`Key '${key}' cannot be appended to, use 'replace' instead`, k);
      res.append.add(key);
    } else if (op === 'replace') {
      if (!canReplace.has(key)) yamlFail(`Key '${key}' cannot be replaced`, k);
      res.replace.add(key);
    } else {
      const allowed = [canAppend.has(key) ? 'append' : '', canReplace.has(key) ? 'replace' : ''].filter(Boolean).join(', ');
      yamlFail(`Invalid override operation for key '${key}': '${op}'. Allowed values are: ${allowed || '(none)'}`, v);
    }
  }
  return res;
}

const WARNING_APPEND = "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";
const WARNING_ENABLED = "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace').";
const ERROR_OVERRIDE_APPEND = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead.";

const RGX_IDENTIFIER = /^[a-zA-Z]+[a-zA-Z0-9_]*$/;
const RGX_BARESTR = /^[^()"' \t\n\v\f\r=,]+$/;

/** Everything collected from the rules files loaded so far. */
export class RuleCollector {
  lists = new Map<string, ListInfo>();
  macros = new Map<string, MacroInfo>();
  rules = new Map<string, RuleInfo>();
  requiredEngineVersion: Version = [0, 0, 0];
  requiredPlugins: Array<Array<{ name: string; version: string }>> = [];
  warnings: Warning[] = [];
  /** Loaded files, for reloads and reports. */
  files: string[] = [];
  private nextIndex = 0;

  /** Reads one rules file's text into the collection. */
  load(file: string, text: string): void {
    let docs: YNode[];
    try {
      docs = parseYaml(file, text);
    } catch (e) {
      if (e instanceof YamlError) throw new PeregrineError(ErrorCode.YAML_PARSE, e.message, e.loc);
      throw e;
    }
    this.files.push(file);
    for (const doc of docs) {
      if (isNull(doc)) continue;
      if (doc.kind !== 'sequence') {
        yamlFail(doc.kind === 'mapping' ? 'Rules content is not yaml array of objects' : 'Rules content is not yaml', doc);
      }
      for (const item of doc.items) {
        if (isNull(item)) continue;
        this.readItem(item);
      }
    }
  }

  private readItem(item: YNode): void {
    if (item.kind !== 'mapping') yamlFail('Unexpected element type. Each element should be a yaml associative array.', item);
    if (member(item, 'required_engine_version') !== undefined) this.readEngineVersion(item);
    else if (member(item, 'required_plugin_versions') !== undefined) this.readPluginVersions(item);
    else if (member(item, 'list') !== undefined) this.readList(item);
    else if (member(item, 'macro') !== undefined) this.readMacro(item);
    else if (member(item, 'rule') !== undefined) this.readRule(item);
    else this.warnings.push({ code: 'LOAD_UNKNOWN_ITEM', message: 'Unknown top level item', loc: locOf(item) });
  }

  private readEngineVersion(item: YNode): void {
    const s = decodeScalar(item, 'required_engine_version')!;
    let v: Version | undefined;
    if (/^\d+$/.test(s)) v = [0, Number(s), 0];
    else v = parseVersion(s);
    if (v === undefined) yamlFail(`Unable to parse engine version '${s}' as a semver string. Expected "x.y.z" semver format.`, item);
    if (!versionCompatible(ENGINE_VERSION, v!)) {
      validateFail(`Rules require engine version ${versionString(v!)}, but engine version is ${versionString(ENGINE_VERSION)}`, item);
    }
    if (!versionAtLeast(this.requiredEngineVersion, v!)) this.requiredEngineVersion = v!;
    warnUnknownKeys(item, new Set(['required_engine_version']), this.warnings);
  }

  private readPluginVersions(item: YNode): void {
    const seq = member(item, 'required_plugin_versions')!;
    if (seq.kind !== 'sequence') yamlFail('Value of required_plugin_versions must be a sequence', seq);
    for (const plugin of seq.items) {
      if (plugin.kind !== 'mapping') yamlFail('Plugin version must be a mapping', plugin);
      const alts = [{ name: decodeScalar(plugin, 'name')!, version: decodeScalar(plugin, 'version')! }];
      const alternatives = member(plugin, 'alternatives');
      if (alternatives !== undefined) {
        if (alternatives.kind !== 'sequence') yamlFail('Value of plugin version alternatives must be a sequence', alternatives);
        for (const a of alternatives.items) {
          if (a.kind !== 'mapping') yamlFail('Plugin version alternative must be a mapping', a);
          alts.push({ name: decodeScalar(a, 'name')!, version: decodeScalar(a, 'version')! });
        }
      }
      const names = new Set<string>();
      for (const a of alts) {
        if (parseVersion(a.version) === undefined) validateFail(`Invalid required version '${a.version}' for plugin '${a.name}'`, plugin);
        if (names.has(a.name)) validateFail(`Defined multiple alternative version requirements for plugin '${a.name}'`, plugin);
        names.add(a.name);
      }
      this.requiredPlugins.push(alts);
      // Falco refuses rules whose plugin requirements no loaded plugin satisfies.
      const ok = alts.some((a) => {
        const have = PLUGIN_VERSIONS[a.name];
        return have !== undefined && versionCompatible(have, parseVersion(a.version)!);
      });
      if (!ok) {
        const known = alts.find((a) => PLUGIN_VERSIONS[a.name] !== undefined);
        if (known) {
          validateFail(`Plugin '${known.name}' version '${versionString(PLUGIN_VERSIONS[known.name])}' is not compatible with required plugin version '${known.version}'`, plugin);
        }
        this.warnings.push({ code: 'LOAD_UNKNOWN_PLUGIN', message: `Rules require plugin '${alts[0].name}', which Peregrine does not implement; rules that use its fields will fail to load`, loc: locOf(plugin) });
      }
    }
    warnUnknownKeys(item, new Set(['required_plugin_versions']), this.warnings);
  }

  private readList(item: YNode): void {
    const name = decodeScalar(item, 'list')!;
    if (!RGX_BARESTR.test(name)) {
      this.warnings.push({ code: 'LOAD_INVALID_LIST_NAME', message: 'List has an invalid name. List names should match a regular expression: ([^()"\'[:space:]=,]+)', loc: locOf(item) });
    }
    const items = decodeSeq(item, 'items', false)!;
    const append = decodeBoolKey(item, 'append', true) ?? false;
    if (append) this.warnings.push({ code: 'LOAD_DEPRECATED_ITEM', message: WARNING_APPEND, loc: locOf(item) });
    const ov = decodeOverrides(item, new Set(['items']), new Set(['items']));
    if (append && (ov.append.size > 0 || ov.replace.size > 0)) yamlFail(ERROR_OVERRIDE_APPEND, item);
    if (append || ov.append.has('items')) {
      const prev = this.lists.get(name);
      if (!prev) validateFail('List has \'append\' key or an append override but no list by that name already exists', item);
      prev!.items.push(...items);
      prev!.visibility = this.nextIndex++;
    } else {
      this.define(this.lists, { name, items, index: 0, visibility: 0, node: item });
    }
    warnUnknownKeys(item, new Set(['list', 'items', 'append', 'override']), this.warnings);
  }

  private readMacro(item: YNode): void {
    const name = decodeScalar(item, 'macro')!;
    if (!RGX_IDENTIFIER.test(name)) {
      this.warnings.push({ code: 'LOAD_INVALID_MACRO_NAME', message: 'Macro has an invalid name. Macro names should match a regular expression: ([a-zA-Z]+[a-zA-Z0-9_]*)', loc: locOf(item) });
    }
    decodeScalar(item, 'condition');
    const cond = SourceText.of(member(item, 'condition')!);
    const append = decodeBoolKey(item, 'append', true) ?? false;
    if (append) this.warnings.push({ code: 'LOAD_DEPRECATED_ITEM', message: WARNING_APPEND, loc: locOf(item) });
    const ov = decodeOverrides(item, new Set(['condition']), new Set(['condition']));
    if (append && (ov.append.size > 0 || ov.replace.size > 0)) yamlFail(ERROR_OVERRIDE_APPEND, item);
    if (append || ov.append.has('condition')) {
      const prev = this.macros.get(name);
      if (!prev) validateFail('Macro has \'append\' key or an append override but no macro by that name already exists', item);
      prev!.cond = prev!.cond.concat(SourceText.at(' ', item), cond);
      prev!.visibility = this.nextIndex++;
    } else {
      this.define(this.macros, { name, cond, index: 0, visibility: 0, node: item });
    }
    warnUnknownKeys(item, new Set(['macro', 'condition', 'append', 'override']), this.warnings);
  }

  private define<T extends { name: string; index: number; visibility: number }>(map: Map<string, T>, info: T): void {
    const id = this.nextIndex++;
    const prev = map.get(info.name);
    info.index = prev ? prev.index : id;
    info.visibility = id;
    // Redefinition keeps the first definition's slot (and thus its evaluation order).
    map.set(info.name, info);
  }

  private readRule(item: YNode): void {
    const name = decodeScalar(item, 'rule')!;
    const source = decodeScalar(item, 'source', { optional: true, canBeEmpty: true }) ?? '';
    const hasAppendFlag = decodeBoolKey(item, 'append', true) ?? false;
    if (hasAppendFlag) this.warnings.push({ code: 'LOAD_DEPRECATED_ITEM', message: WARNING_APPEND, loc: locOf(item) });
    const canAppend = new Set(['condition', 'output', 'desc', 'tags', 'exceptions']);
    const canReplace = new Set(['condition', 'output', 'desc', 'priority', 'capture', 'capture_duration', 'tags', 'exceptions',
      'enabled', 'warn_evttypes', 'skip-if-unknown-filter']);
    const ov = decodeOverrides(item, canAppend, canReplace);
    const hasOverrides = ov.append.size > 0 || ov.replace.size > 0;
    if (hasAppendFlag && hasOverrides) yamlFail(ERROR_OVERRIDE_APPEND, item);

    if (hasOverrides) {
      const expected = new Set<string>();
      for (const k of [...canAppend, ...canReplace]) if (member(item, k) !== undefined) expected.add(k);
      const take = (set: Set<string>, what: string, k: string): boolean => {
        if (!set.has(k)) return false;
        if (!expected.has(k)) validateFail(`An ${what} override for '${k}' was specified but '${k}' is not defined`, item);
        expected.delete(k);
        return true;
      };
      if (ov.append.size > 0) {
        const u: RuleUpdate = { name, node: item };
        if (take(ov.append, 'append', 'condition')) {
          u.source = source;
          decodeScalar(item, 'condition');
          u.cond = SourceText.of(member(item, 'condition')!);
        }
        if (take(ov.append, 'append', 'exceptions')) u.exceptions = readExceptions(item, this.warnings, true) ?? [];
        if (take(ov.append, 'append', 'output')) u.output = this.outputOf(item);
        if (take(ov.append, 'append', 'desc')) u.desc = decodeScalar(item, 'desc');
        if (take(ov.append, 'append', 'tags')) u.tags = decodeTags(item) ?? new Set();
        this.appendRule(u);
      }
      if (ov.replace.size > 0) {
        const u: RuleUpdate = { name, node: item };
        if (take(ov.replace, 'replace', 'condition')) {
          u.source = source;
          decodeScalar(item, 'condition');
          u.cond = SourceText.of(member(item, 'condition')!);
        }
        if (take(ov.replace, 'replace', 'exceptions')) u.exceptions = readExceptions(item, this.warnings, false) ?? [];
        if (take(ov.replace, 'replace', 'output')) u.output = this.outputOf(item);
        if (take(ov.replace, 'replace', 'desc')) u.desc = decodeScalar(item, 'desc');
        if (take(ov.replace, 'replace', 'tags')) u.tags = decodeTags(item) ?? new Set();
        if (take(ov.replace, 'replace', 'priority')) {
          const p = parsePriority(decodeScalar(item, 'priority')!);
          if (p === undefined) yamlFail('Invalid priority', member(item, 'priority')!);
          u.priority = p;
        }
        if (take(ov.replace, 'replace', 'capture')) decodeBoolKey(item, 'capture', false);
        if (take(ov.replace, 'replace', 'capture_duration')) decodeUint32Key(item, 'capture_duration');
        if (take(ov.replace, 'replace', 'enabled')) u.enabled = decodeBoolKey(item, 'enabled', false);
        if (take(ov.replace, 'replace', 'warn_evttypes')) u.warnEvttypes = decodeBoolKey(item, 'warn_evttypes', false);
        if (take(ov.replace, 'replace', 'skip-if-unknown-filter')) u.skipIfUnknownFilter = decodeBoolKey(item, 'skip-if-unknown-filter', false);
        this.replaceRule(u);
      }
      for (const k of expected) {
        validateFail(`Unexpected key '${k}': no corresponding entry under 'override' is defined.`, member(item, k)!);
      }
    } else if (hasAppendFlag) {
      const u: RuleUpdate = { name, source, node: item };
      if (member(item, 'condition') !== undefined) {
        decodeScalar(item, 'condition');
        u.cond = SourceText.of(member(item, 'condition')!);
      }
      if (member(item, 'exceptions') !== undefined) u.exceptions = readExceptions(item, this.warnings, true) ?? [];
      this.appendRule(u);
    } else if (member(item, 'condition') === undefined && member(item, 'output') === undefined
      && member(item, 'desc') === undefined && member(item, 'priority') === undefined) {
      const enabled = decodeBoolKey(item, 'enabled', false)!;
      this.warnings.push({ code: 'LOAD_DEPRECATED_ITEM', message: WARNING_ENABLED, loc: locOf(item) });
      const prev = this.rules.get(name);
      if (!prev) validateFail("Rule has 'enabled' key but no rule by that name already exists", item);
      prev!.enabled = enabled;
    } else {
      decodeScalar(item, 'condition');
      const condNode = member(item, 'condition')!;
      // Only a full definition trims the output (rule_loader_reader.cpp); appends and
      // replacements are taken as written.
      const output = this.outputOf(item).trimBlanks();
      const desc = decodeScalar(item, 'desc')!;
      const prio = decodeScalar(item, 'priority')!;
      const priority = parsePriority(prio);
      if (priority === undefined) yamlFail('Invalid priority', member(item, 'priority')!);
      const info: RuleInfo = {
        name,
        cond: SourceText.of(condNode),
        output: output.text,
        outputText: output,
        outputNode: member(item, 'output')!,
        desc,
        priority: priority!,
        source: decodeScalar(item, 'source', { optional: true }) ?? SYSCALL_SOURCE,
        enabled: decodeBoolKey(item, 'enabled', true) ?? true,
        tags: decodeTags(item) ?? new Set(),
        exceptions: readExceptions(item, this.warnings, false) ?? [],
        warnEvttypes: decodeBoolKey(item, 'warn_evttypes', true) ?? true,
        skipIfUnknownFilter: decodeBoolKey(item, 'skip-if-unknown-filter', true) ?? false,
        index: 0,
        visibility: 0,
        node: item,
        unknownSource: false,
      };
      decodeBoolKey(item, 'capture', true);
      decodeUint32Key(item, 'capture_duration');
      this.defineRule(info);
    }
    warnUnknownKeys(item, new Set(['rule', 'condition', 'output', 'desc', 'priority', 'source', 'enabled', 'capture',
      'capture_duration', 'warn_evttypes', 'skip-if-unknown-filter', 'tags', 'exceptions', 'override', 'append']), this.warnings);
  }

  private outputOf(item: YNode): SourceText {
    decodeScalar(item, 'output');
    return SourceText.of(member(item, 'output')!);
  }

  private findPrevRule(name: string, source: string | undefined, at: YNode): RuleInfo | undefined {
    const prev = this.rules.get(name);
    if (prev && prev.source !== '' && source !== undefined && source !== '' && prev.source !== source) {
      validateFail('Rule has been re-defined with a different source', at);
    }
    return prev;
  }

  private defineRule(info: RuleInfo): void {
    this.findPrevRule(info.name, info.source, info.node);
    if (info.source !== K8S_AUDIT_SOURCE) {
      info.unknownSource = true;
      this.warnings.push({ code: 'LOAD_UNKNOWN_SOURCE', message: `Unknown source ${info.source}, skipping (Peregrine evaluates only k8s_audit rules)`, loc: locOf(info.node) });
    }
    for (const ex of info.exceptions) {
      if (ex.fields === undefined) validateFail('Rule exception item must have fields property with a list of fields', ex.node);
      validateException(ex, info.unknownSource);
    }
    this.define(this.rules, info);
  }

  private appendRule(u: RuleUpdate): void {
    const prev = this.findPrevRule(u.name, u.source, u.node);
    if (!prev) {
      validateFail("Rule has 'append' key or an append override but no rule by that name already exists", u.node);
    }
    const p = prev!;
    if (u.cond === undefined && u.exceptions === undefined && u.output === undefined && u.desc === undefined && u.tags === undefined) {
      validateFail('Appended rule must have exceptions or condition property', u.node);
    }
    if (u.cond !== undefined && u.cond.text !== '') p.cond = p.cond.concat(SourceText.at(' ', u.node), u.cond);
    if (u.output !== undefined && u.output.text !== '') {
      p.outputText = p.outputText.concat(SourceText.at(' ', u.node), u.output);
      p.output = p.outputText.text;
    }
    if (u.desc !== undefined && u.desc !== '') p.desc += ' ' + u.desc;
    if (u.tags !== undefined) for (const t of u.tags) p.tags.add(t);
    if (u.exceptions !== undefined) {
      for (const ex of u.exceptions) {
        const prevEx = p.exceptions.find((e) => e.name === ex.name);
        if (prevEx === undefined) {
          if (ex.fields === undefined) validateFail('Rule exception must have fields property with a list of fields', ex.node);
          if (ex.values.length === 0) validateFail('Rule exception must have values property with a list of values', ex.node);
          validateException(ex, p.unknownSource);
          p.exceptions.push(ex);
        } else {
          if (ex.fields !== undefined) validateFail('Can not append exception fields to existing exception, only values', ex.node);
          if (ex.comps !== undefined) validateFail('Can not append exception comps to existing exception, only values', ex.node);
          prevEx.values.push(...ex.values);
        }
      }
    }
    p.visibility = this.nextIndex++;
  }

  private replaceRule(u: RuleUpdate): void {
    const prev = this.findPrevRule(u.name, u.source, u.node);
    if (!prev) validateFail('An replace override was specified but no rule by that name already exists', u.node);
    const p = prev!;
    if (u.cond !== undefined) p.cond = u.cond;
    if (u.output !== undefined) {
      p.outputText = u.output;
      p.output = u.output.text;
    }
    if (u.desc !== undefined) p.desc = u.desc;
    if (u.tags !== undefined) p.tags = u.tags;
    if (u.exceptions !== undefined) {
      // Falco's selective_replace takes the new exceptions without validate_exception_info,
      // so comps are not defaulted: without them its condition text is broken (single
      // field) or its loader reads past the comps (tuple). Refuse instead of guessing.
      for (const ex of u.exceptions) {
        if (ex.fields === undefined) validateFail('Rule exception must have fields property with a list of fields', ex.node);
        const fields = ex.fields!;
        if (ex.comps === undefined || ex.comps.isList !== fields.isList || (fields.isList && ex.comps.items.length !== fields.items.length)) {
          validateFail(`Replaced exception '${ex.name}' must give comps matching its fields (Falco does not default them on replace)`, ex.node);
        }
      }
      p.exceptions = u.exceptions;
    }
    if (u.priority !== undefined) p.priority = u.priority;
    if (u.enabled !== undefined) p.enabled = u.enabled;
    if (u.warnEvttypes !== undefined) p.warnEvttypes = u.warnEvttypes;
    if (u.skipIfUnknownFilter !== undefined) p.skipIfUnknownFilter = u.skipIfUnknownFilter;
    p.visibility = this.nextIndex++;
  }
}

// Operators an exception `comps` entry may use (libsinsp's parser operators).
const OPERATORS = new Set(['exists', '<=', '<', '>=', '>', '==', '=', '!=', 'glob', 'iglob', 'contains', 'icontains',
  'bcontains', 'startswith', 'bstartswith', 'endswith', 'regex', 'intersects', 'in', 'pmatch']);
const MODIFIABLE = new Set(['=', '==', '!=', 'contains', 'icontains', 'bcontains', 'startswith', 'bstartswith', 'endswith', 'glob', 'iglob', 'regex']);

export function isOperatorWithModifier(op: string): boolean {
  const sp = op.indexOf(' ');
  if (sp < 0) return false;
  const base = op.slice(0, sp);
  const mod = op.slice(sp + 1);
  return MODIFIABLE.has(base) && (mod === 'oneof' || mod === 'anyof' || mod === 'allof');
}

function normalizeComp(s: string): string {
  return s.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
}

/** falco_source::is_valid_lhs_field; transformer forms are checked when compiled. */
function isValidLhsField(f: string): boolean {
  if (f.includes('(')) return true;
  const br = f.indexOf('[');
  return findField(br < 0 ? f : f.slice(0, br)) !== undefined;
}

/** validate_exception_info */
function validateException(ex: ExceptionInfo, unknownSource: boolean): void {
  const fields = ex.fields!;
  if (fields.isList) {
    if (ex.comps === undefined) {
      ex.comps = { isList: true, item: '', items: fields.items.map(() => ({ isList: false, item: '=', items: [] })) };
    }
    if (fields.items.length !== ex.comps.items.length) validateFail('Fields and comps lists must have equal length', ex.node);
    for (const c of ex.comps.items) {
      c.item = normalizeComp(c.item);
      if (!OPERATORS.has(c.item) && !isOperatorWithModifier(c.item)) validateFail(`'${c.item}' is not a supported comparison operator`, ex.node);
    }
    if (!unknownSource) {
      for (const f of fields.items) if (!isValidLhsField(f.item)) validateFail(`'${f.item}' is not a supported filter field`, ex.node);
    }
  } else {
    if (ex.comps === undefined) ex.comps = { isList: false, item: 'in', items: [] };
    if (ex.comps.isList) validateFail('Fields and comps must both be strings', ex.node);
    ex.comps.item = normalizeComp(ex.comps.item);
    const c = ex.comps.item;
    if (c !== 'in' && c !== 'pmatch' && c !== 'intersects' && !isOperatorWithModifier(c)) {
      validateFail('When fields is a single value, comps must be one of (in, pmatch, intersects) or a modifier operator (e.g. startswith oneof)', ex.node);
    }
    if (!unknownSource && !isValidLhsField(fields.item)) validateFail(`'${fields.item}' is not a supported filter field`, ex.node);
  }
}

export function readRulesText(collector: RuleCollector, file: string, text: string): void {
  collector.load(file, text);
}

export type { Loc };
