// Rewrites one generated section of load-tests/README.md, between
// `<!-- NAME:results:begin -->` and `<!-- NAME:results:end -->`.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './proc.mjs';

export function updateReadmeSection(name, md) {
  const file = join(ROOT, 'load-tests/README.md');
  const text = readFileSync(file, 'utf8');
  const begin = `<!-- ${name}:results:begin -->`;
  const end = `<!-- ${name}:results:end -->`;
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${file}: markers ${begin} … ${end} not found`);
  writeFileSync(file, text.slice(0, a + begin.length) + '\n' + md + '\n' + text.slice(b));
  console.log(`\nupdated ${file}`);
}
