#!/usr/bin/env node
// Peregrine command line: dispatches to one module per command.
import { PeregrineError, ErrorCode } from '../errors.js';
import { loadWithoutOptimizer } from '../rules/jit.js';

const USAGE = `Usage: peregrine <command> [options]

Commands:
  serve            run the authenticated multi-cluster webhook (the main job)
  scan FILE...     evaluate audit log files offline, print Falco JSON alerts
  hunt --where C FILE|DIR...
                   the events that satisfy a condition, in time order across files
  rules check F... validate rules files
  rules fields     list the supported fields
  policy check|generate|cost
                   audit Policy advisor: does a policy feed the rules, the
                   smallest policy that does, what a policy costs on a sample log

Run 'peregrine <command> --help' for the options of a command.`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  // The offline commands print to a reader that may stop early (| head): that ends the
  // command quietly, as SIGPIPE ends other tools. serve's stdout output retries instead.
  if (cmd !== 'serve') {
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  switch (cmd) {
    case 'scan': {
      const { parseScanArgs, runScan, SCAN_USAGE } = await loadWithoutOptimizer(() => import('./scan.js'));
      const opts = parseScanArgs(rest);
      if (opts === 'help') {
        process.stdout.write(SCAN_USAGE + '\n');
        return 0;
      }
      return runScan(opts);
    }
    case 'hunt': {
      const { parseHuntArgs, runHunt, HUNT_USAGE } = await loadWithoutOptimizer(() => import('./hunt.js'));
      const opts = parseHuntArgs(rest);
      if (opts === 'help') {
        process.stdout.write(HUNT_USAGE + '\n');
        return 0;
      }
      return runHunt(opts);
    }
    case 'rules': {
      const { runRules } = await loadWithoutOptimizer(() => import('./rules.js'));
      return runRules(rest);
    }
    case 'policy': {
      const { runPolicy } = await loadWithoutOptimizer(() => import('./policy.js'));
      return runPolicy(rest);
    }
    case 'serve': {
      const { runServe } = await import('./serve.js');
      return runServe(rest);
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE + '\n');
      return cmd === undefined ? 2 : 0;
    default:
      throw new PeregrineError(ErrorCode.USAGE, `unknown command '${cmd}'\n\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof PeregrineError) {
      process.stderr.write(`peregrine: ${e.describe()}\n`);
      process.exitCode = 2;
    } else if (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`peregrine: ${ErrorCode.USAGE}: ${e.message}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`peregrine: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = 70;
    }
  },
);
