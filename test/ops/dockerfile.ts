// A small reader of this repository's Dockerfile and .dockerignore, enough to check the
// image recipe without a Docker engine: stages, their WORKDIR, ENV and COPY
// instructions, and where each file of the runtime image comes from.
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';

export interface Instruction {
  op: string;
  args: string;
  /** JSON (exec) form, when the arguments are a JSON array. */
  exec?: string[];
}

export interface Copy {
  from?: string;
  sources: string[];
  dest: string;
}

export interface Stage {
  name: string;
  image: string;
  workdir: string;
  env: Record<string, string>;
  copies: Copy[];
  instructions: Instruction[];
}

export interface Dockerfile {
  args: Record<string, string>;
  stages: Stage[];
  stage(name: string): Stage;
}

export function parseDockerfile(text: string): Dockerfile {
  const logical: string[] = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd();
    if (cur === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) continue;
    if (line.trimStart().startsWith('#')) continue; // comment inside a continuation
    if (line.endsWith('\\')) {
      cur += line.slice(0, -1) + ' ';
      continue;
    }
    logical.push((cur + line).trim());
    cur = '';
  }
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const l of logical) {
    const m = /^(\w+)\s+([\s\S]*)$/.exec(l);
    if (!m) throw new Error(`Dockerfile: cannot read "${l}"`);
    const op = m[1].toUpperCase();
    const rest = m[2].trim();
    let exec: string[] | undefined;
    if (rest.startsWith('[')) exec = JSON.parse(rest) as string[];
    const ins: Instruction = { op, args: rest, exec };
    const st = stages[stages.length - 1];
    if (op === 'ARG' && !st) {
      const [k, v] = rest.split('=');
      args[k] = v ?? '';
      continue;
    }
    if (op === 'FROM') {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)!;
      const image = f[1].replace(/\$\{(\w+)\}/g, (_, k: string) => args[k] ?? '');
      stages.push({ name: f[2] ?? String(stages.length), image, workdir: '/', env: {}, copies: [], instructions: [ins] });
      continue;
    }
    if (!st) throw new Error(`Dockerfile: ${op} before FROM`);
    st.instructions.push(ins);
    if (op === 'WORKDIR') st.workdir = posix.resolve(st.workdir, rest);
    if (op === 'ENV') for (const kv of rest.matchAll(/(\w+)=("[^"]*"|\S+)/g)) st.env[kv[1]] = kv[2].replace(/^"|"$/g, '');
    if (op === 'COPY') {
      const words = rest.split(/\s+/);
      const flags = words.filter((w) => w.startsWith('--'));
      const paths = words.filter((w) => !w.startsWith('--'));
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
      st.copies.push({ from, sources: paths.slice(0, -1), dest: paths[paths.length - 1] });
    }
  }
  return {
    args,
    stages,
    stage(name) {
      const s = stages.find((x) => x.name === name);
      if (!s) throw new Error(`Dockerfile: no stage ${name}`);
      return s;
    },
  };
}

/** .dockerignore with Docker's rule: the last matching pattern wins; a pattern matches a path or a parent of it. */
export function dockerIgnored(patterns: string[], path: string): boolean {
  const parts = path.replace(/\/$/, '').split('/');
  let ignored = false;
  for (const raw of patterns) {
    const neg = raw.startsWith('!');
    const pat = (neg ? raw.slice(1) : raw).replace(/\/$/, '');
    const re = new RegExp('^' + pat.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*') + '$');
    for (let i = 1; i <= parts.length; i++) {
      if (re.test(parts.slice(0, i).join('/'))) {
        ignored = !neg;
        break;
      }
    }
  }
  return ignored;
}

export function readDockerignore(root: string): string[] {
  return readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** Absolute path in a stage for a COPY destination. */
export function destIn(stage: Stage, dest: string): string {
  return posix.resolve(stage.workdir, dest);
}
