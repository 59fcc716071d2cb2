// npm runs `prepare` after every `npm ci` / `npm install` in this directory. With the
// dev dependencies installed it builds the TypeScript (dist/). A production install
// (`npm ci --omit=dev`, as in the Dockerfile's prod-deps stage) has no compiler: it
// skips the build and says so; dist/ then comes from a build stage. The native addon
// is built by the `install` script either way (its build needs only regular deps).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

try {
  createRequire(import.meta.url).resolve('typescript/package.json');
} catch {
  process.stderr.write('peregrine: no TypeScript compiler (production install): not building dist/\n');
  process.exit(0);
}
const r = spawnSync('npm', ['run', 'build'], { stdio: 'inherit' });
process.exit(r.status ?? 1);
