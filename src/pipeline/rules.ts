// The rules in force, by generation. A reload reads and compiles the files here first
// (the check); only a ruleset that compiled becomes the next generation, handed to the
// workers with the tasks that use it (task.ts: RulesBundle). A broken file leaves the
// current generation running and the error is reported.
import { statSync, watch, type FSWatcher } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { defaultRulePaths, readRuleFiles } from '../config/rules-files.js';
import { Ruleset, type RulesetOptions } from '../rules/ruleset.js';
import { withoutOptimizer } from '../rules/jit.js';
import { PeregrineError, describeWarning } from '../errors.js';
import type { RulesBundle } from './task.js';

export interface RuleMeta {
  name: string;
  priority: string;
}

export interface Generation extends RulesBundle {
  ruleset: Ruleset;
  /** By CompiledRule.index (what alert records carry). */
  rules: Map<number, RuleMeta>;
}

export interface RulesSpec {
  files: string[];
  options: Partial<RulesetOptions>;
}

/** The symlink kubelet's atomic writer swaps when a ConfigMap volume changes. */
const ATOMIC_WRITER_LINK = '..data';

export class RulesState {
  current: Generation;
  private readonly gens = new Map<number, Generation>();
  private nextGen = 1;
  private watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | undefined;

  /** Throws PeregrineError when the initial rules do not load. */
  constructor(private readonly spec: RulesSpec, private readonly log: (msg: string) => void) {
    // Before any worker runs, so the optimizing compiler can be off meanwhile.
    this.current = withoutOptimizer(() => this.build());
    this.gens.set(this.current.gen, this.current);
  }

  private paths(): string[] {
    return this.spec.files.length > 0 ? this.spec.files : defaultRulePaths();
  }

  private build(): Generation {
    const files = readRuleFiles(this.paths());
    const ruleset = Ruleset.compile(files, this.spec.options);
    const gen = this.nextGen++;
    const json = Buffer.from(JSON.stringify({ files, options: this.spec.options }));
    const sab = new SharedArrayBuffer(json.length);
    Buffer.from(sab).set(json);
    const rules = new Map<number, RuleMeta>();
    for (const r of ruleset.allRules) rules.set(r.index, { name: r.name, priority: r.priorityName });
    return { gen, sab, ruleset, rules };
  }

  /** Rules metadata of a generation (kept while alerts of it may still arrive). */
  meta(gen: number): Generation | undefined {
    return this.gens.get(gen);
  }

  /**
   * Compiles the files again; on success the new generation is current for every task
   * submitted from now on. Returns the error message on failure (old rules kept).
   */
  reload(reason: string): string | undefined {
    try {
      const g = this.build();
      for (const w of g.ruleset.warnings) this.log(describeWarning(w));
      this.current = g;
      this.gens.set(g.gen, g);
      // Alerts carry their generation; keep a few old ones for tasks still running.
      for (const k of this.gens.keys()) if (k < g.gen - 4) this.gens.delete(k);
      this.log(`rules reloaded (${reason}): generation ${g.gen}, ${g.ruleset.rules.length} rules enabled`);
      return undefined;
    } catch (e) {
      const msg = e instanceof PeregrineError ? e.describe() : (e as Error).message;
      this.log(`rules reload (${reason}) failed, keeping generation ${this.current.gen}: ${msg}`);
      return msg;
    }
  }

  /**
   * Reloads when a rules file (or a *.yaml in a rules directory) changes. Editors often
   * replace a file (rename), which ends a watch on the file itself: watching the
   * directory catches both writes and replacements. A Kubernetes ConfigMap or Secret
   * volume changes by swapping its `..data` symlink, not the files named in it.
   */
  watch(onReload: (err: string | undefined) => void): void {
    // directory → which names in it matter (undefined = every *.yaml / *.yml)
    const dirs = new Map<string, Set<string> | undefined>();
    for (const p of this.paths()) {
      const abs = resolve(p);
      let isDir = false;
      try {
        isDir = statSync(abs).isDirectory();
      } catch {
        // reported by the next reload
      }
      if (isDir) dirs.set(abs, undefined);
      else if (!dirs.has(dirname(abs)) || dirs.get(dirname(abs)) !== undefined) {
        const set = dirs.get(dirname(abs)) ?? new Set<string>();
        set.add(basename(abs));
        dirs.set(dirname(abs), set);
      }
    }
    for (const [d, names] of dirs) {
      try {
        const w = watch(d, { persistent: false }, (_ev, file) => {
          if (file === null) return;
          const f = file.toString();
          if (f !== ATOMIC_WRITER_LINK && (names ? !names.has(f) : !/\.ya?ml$/.test(f))) return;
          clearTimeout(this.debounce);
          this.debounce = setTimeout(() => onReload(this.reload(`file changed: ${join(d, f)}`)), 150);
        });
        this.watchers.push(w);
      } catch (e) {
        this.log(`cannot watch ${d} for rules changes: ${(e as Error).message}`);
      }
    }
  }

  close(): void {
    clearTimeout(this.debounce);
    for (const w of this.watchers) w.close();
    this.watchers = [];
  }
}
