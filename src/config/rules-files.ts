// Locating and reading rules files: explicit paths (files or directories), or the
// bundled default ruleset.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { ErrorCode, PeregrineError } from '../errors.js';
import type { RuleFile } from '../rules/ruleset.js';

/** The rules/ folder shipped with the package. */
export const BUNDLED_RULES_DIR = fileURLToPath(new URL('../../rules/', import.meta.url));

function yamlFilesIn(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
}

/** Expands directories (their *.yaml in name order) and reads every file. */
export function readRuleFiles(paths: readonly string[]): RuleFile[] {
  const files: string[] = [];
  for (const p of paths) {
    // '' would be the current directory.
    if (p.trim() === '') throw new PeregrineError(ErrorCode.IO, 'a rules path is empty');
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      throw new PeregrineError(ErrorCode.IO, `cannot read rules file '${p}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (st.isDirectory()) files.push(...yamlFilesIn(p));
    else files.push(p);
  }
  // One empty directory beside others is fine (an optional ConfigMap); nothing at all is not.
  if (files.length === 0 && paths.length > 0) throw new PeregrineError(ErrorCode.IO, `no rules files (*.yaml, *.yml) in ${paths.join(', ')}`);
  return files.map((f) => {
    try {
      return { name: f, text: readFileSync(f, 'utf8') };
    } catch (e) {
      throw new PeregrineError(ErrorCode.IO, `cannot read rules file '${f}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  });
}

export function defaultRulePaths(): string[] {
  return [resolve(BUNDLED_RULES_DIR)];
}
