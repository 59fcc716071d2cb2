// Preloaded (node --import) into a process under measurement: at exit, writes its
// peak RSS and CPU time (process.resourceUsage, every thread) to $PEREGRINE_USAGE_FILE.
import { writeFileSync } from 'node:fs';

const file = process.env.PEREGRINE_USAGE_FILE;
if (file) {
  process.on('exit', () => {
    const u = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ maxRss: u.maxRSS * 1024, cpuSeconds: (u.userCPUTime + u.systemCPUTime) / 1e6 }));
  });
}
