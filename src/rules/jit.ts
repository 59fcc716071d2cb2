// Loading and compiling rules is run-once work (YAML, the condition lexer, the rule
// index) whose loops are hot enough for V8 to optimize them with TurboFan, on threads
// of its own: measured on Falco's rules, that costs more CPU (about 90 ms) than the
// loading itself. The optimizing compiler is switched off while rules compile and on
// again after, so it only works on the per-event path.
import { setFlagsFromString } from 'node:v8';

// Anyone who chose JIT flags themselves keeps them.
const USER_JIT_FLAGS = /^--(no-)?(opt|turbofan|jitless|max-opt|always-opt|maglev)\b/;
const enabled = !process.execArgv.some((a) => USER_JIT_FLAGS.test(a))
  && !(process.env.NODE_OPTIONS ?? '').split(/\s+/).some((a) => USER_JIT_FLAGS.test(a));

let depth = 0;

/**
 * Runs `fn` with V8's optimizing compiler off (nested calls allowed). V8's flags are per
 * process: call it on the main thread only, while no worker evaluates events, so that
 * no other thread is ever left without TurboFan.
 */
export function withoutOptimizer<T>(fn: () => T): T {
  if (!enabled) return fn();
  if (depth++ === 0) setFlagsFromString('--no-turbofan');
  try {
    return fn();
  } finally {
    if (--depth === 0) setFlagsFromString('--turbofan');
  }
}
