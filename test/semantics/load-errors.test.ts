// Load errors say where: file:line:col for bad YAML, unknown fields (conditions, macros,
// outputs), undefined macros and condition syntax errors, including inside multi-line
// `>` conditions and conditions appended from another file.
import { describe, expect, it } from 'vitest';
import { ev, scan } from './lib.js';

interface Case {
  what: string;
  files: string[];
  /** file index (1-based), line, col, code, message part */
  at: [number, number, number, string, string];
}

const rule = (cond: string, out = 'o'): string =>
  `- rule: R\n  desc: d\n  condition: ${cond}\n  output: ${out}\n  priority: WARNING\n  source: k8s_audit\n`;

const CASES: Case[] = [
  {
    what: 'a null list item (yaml-cpp: a Null node, not a scalar)',
    files: ['- list: l\n  items: [bob, ~]\n'],
    at: [1, 2, 16, 'LOAD_ERR_YAML_VALIDATE', 'sequence value is not scalar'],
  },
  {
    what: 'a null tag',
    files: [rule('ka.verb = create') + '  tags: [a, null]\n'],
    at: [1, 7, 13, 'LOAD_ERR_YAML_VALIDATE', 'sequence value is not scalar'],
  },
  {
    what: 'an exception with empty fields',
    files: [rule('ka.verb = create') + '  exceptions:\n  - name: e\n    fields: []\n    values: []\n'],
    at: [1, 8, 5, 'LOAD_ERR_VALIDATE', 'Rule exception item must have fields property with a list of fields'],
  },
  {
    what: 'a null exception value beside others: "in (alice, )" does not parse, in Falco either',
    files: [rule('ka.verb = create') + '  exceptions:\n  - name: e\n    fields: ka.user.name\n    values: [alice, ~]\n'],
    at: [1, 8, 5, 'LOAD_ERR_COMPILE_CONDITION', 'expected a string value'],
  },
  {
    what: 'a capture_duration that is not an unsigned integer',
    files: [rule('ka.verb = create') + '  capture_duration: abc\n'],
    at: [1, 7, 21, 'LOAD_ERR_YAML_VALIDATE', "Can't decode YAML scalar value"],
  },
  {
    what: 'bad YAML (indentation)',
    files: ['- rule: R\n  desc: d\n   condition: ka.verb = create\n'],
    at: [1, 3, 13, 'LOAD_ERR_YAML_PARSE', 'bad indentation of a mapping entry'],
  },
  {
    what: 'bad YAML (unclosed quote)',
    files: ['- list: l\n  items: [a, "b]\n- rule: R\n'],
    at: [1, 4, 1, 'LOAD_ERR_YAML_PARSE', 'unexpected end of the stream within a double quoted scalar'],
  },
  {
    what: 'not a list of items',
    files: ['rule: R\n'],
    at: [1, 1, 1, 'LOAD_ERR_YAML_VALIDATE', 'Rules content is not yaml array of objects'],
  },
  {
    what: 'unknown field in a one-line condition',
    files: [rule('ka.verb = create and ka.nosuch = x')],
    at: [1, 3, 35, 'LOAD_ERR_COMPILE_CONDITION', "unknown field 'ka.nosuch'"],
  },
  {
    what: 'unknown field inside a multi-line > condition',
    files: [rule('>\n    ka.verb = create and\n    (ka.user.name = alice or\n     ka.nosuch.field = x)')],
    at: [1, 6, 6, 'LOAD_ERR_COMPILE_CONDITION', "unknown field 'ka.nosuch.field'"],
  },
  {
    what: 'unknown field inside a macro: points into the macro body',
    files: ['- macro: m\n  condition: >\n    ka.verb = create and\n    ka.bogus.field exists\n' + rule('ka.user.name = x or m')],
    at: [1, 4, 5, 'LOAD_ERR_COMPILE_CONDITION', "unknown field 'ka.bogus.field'"],
  },
  {
    what: 'unknown field in the output: points at the %',
    files: [rule('ka.verb = create', '"user=%ka.user.name x=%ka.nosuch y"')],
    at: [1, 4, 33, 'LOAD_ERR_COMPILE_OUTPUT', "unknown filter: unknown field 'ka.nosuch' (at '%ka.nosuch')"],
  },
  {
    what: 'unknown field in a multi-line output',
    files: [rule('ka.verb = create', '>\n    user=%ka.user.name\n    x=%ka.nosuch')],
    at: [1, 6, 7, 'LOAD_ERR_COMPILE_OUTPUT', "unknown field 'ka.nosuch'"],
  },
  {
    what: 'undefined macro in a rule',
    files: [rule('>\n    ka.verb = create\n    and not my_macro')],
    at: [1, 5, 13, 'LOAD_ERR_VALIDATE', "Undefined macro 'my_macro' used in filter."],
  },
  {
    what: 'undefined macro in a macro',
    files: ['- macro: m1\n  condition: >\n    ka.verb = create\n    and m_missing\n' + rule('m1')],
    at: [1, 4, 9, 'LOAD_ERR_VALIDATE', "Undefined macro 'm_missing' used in filter."],
  },
  {
    what: 'syntax error on one line',
    files: [rule('ka.verb = create and (ka.user.name = alice')],
    at: [1, 3, 55, 'LOAD_ERR_COMPILE_CONDITION', "expected a ')' token"],
  },
  {
    what: 'syntax error inside a multi-line > condition',
    files: [rule('>\n    ka.verb = create and\n    ka.user.name = alice and\n    ka.target.namespace = (default')],
    at: [1, 6, 27, 'LOAD_ERR_COMPILE_CONDITION', 'expected a string value or a field with a valid transformer'],
  },
  {
    what: 'syntax error in a condition appended from another file',
    files: [rule('ka.verb = create'), '- rule: R\n  condition: >\n    and ka.user.name\n    = = bob\n  override:\n    condition: append\n'],
    at: [2, 4, 7, 'LOAD_ERR_COMPILE_CONDITION', 'expected a string value or a field with a valid transformer'],
  },
  {
    what: 'syntax error in a quoted condition',
    files: [rule('"ka.verb = create and ka.user.name in (\\"a\\" \\"b\\")"')],
    at: [1, 3, 59, 'LOAD_ERR_COMPILE_CONDITION', "expected a ')' token"],
  },
  {
    what: 'syntax error after a substituted list (positions survive the substitution)',
    files: ['- list: long_list\n  items: [aaaaaaaaaa, bbbbbbbbbb, cccccccccc]\n' + rule('ka.user.name in (long_list) and ka.verb = = x')],
    at: [1, 5, 56, 'LOAD_ERR_COMPILE_CONDITION', 'expected a string value or a field with a valid transformer'],
  },
  {
    what: 'unknown field in an exception (points at the exception)',
    files: [rule('ka.verb = create') + '  exceptions:\n  - name: e\n    fields: [ka.nosuch]\n    values: [[x]]\n'],
    at: [1, 8, 5, 'LOAD_ERR_VALIDATE', "'ka.nosuch' is not a supported filter field"],
  },
  {
    what: 'invalid priority',
    files: ['- rule: R\n  desc: d\n  condition: ka.verb = create\n  output: o\n  priority: Warn\n  source: k8s_audit\n'],
    at: [1, 5, 13, 'LOAD_ERR_YAML_VALIDATE', 'Invalid priority'],
  },
];

describe('load errors are located (file:line:col) and stop the load (exit 2)', () => {
  for (const c of CASES) {
    it.concurrent(c.what, async () => {
      const run = await scan({ rules: c.files, events: [ev()] });
      const [file, line, col, code, msg] = c.at;
      expect(run.status).toBe(2);
      expect(run.stdout).toBe('');
      const first = run.stderr.split('\n')[0];
      expect(first).toContain(`peregrine: ${run.ruleFiles[file - 1]}:${line}:${col}: ${code}: `);
      expect(first).toContain(msg);
    });
  }
});
