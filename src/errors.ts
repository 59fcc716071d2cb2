// One catalog of error codes. Rules-loading codes keep Falco's names so that people who
// know Falco's messages recognise them.
import type { Loc } from './rules/yaml-source.js';

export const ErrorCode = {
  USAGE: 'ERR_USAGE',
  CONFIG: 'ERR_CONFIG',
  IO: 'ERR_IO',
  // serve
  NATIVE_UNAVAILABLE: 'ERR_NATIVE_UNAVAILABLE',
  LISTEN: 'ERR_LISTEN',
  // outputs.spool_dir
  SPOOL: 'ERR_SPOOL',
  // sources (followed files)
  CHECKPOINT: 'ERR_CHECKPOINT',
  SOURCE: 'ERR_SOURCE',
  // rules
  YAML_PARSE: 'LOAD_ERR_YAML_PARSE',
  YAML_VALIDATE: 'LOAD_ERR_YAML_VALIDATE',
  VALIDATE: 'LOAD_ERR_VALIDATE',
  COMPILE_CONDITION: 'LOAD_ERR_COMPILE_CONDITION',
  COMPILE_OUTPUT: 'LOAD_ERR_COMPILE_OUTPUT',
  // input events
  INPUT_JSON: 'ERR_INPUT_JSON',
  INPUT_NOT_AUDIT: 'ERR_INPUT_NOT_AUDIT_EVENT',
  INPUT_TIMESTAMP: 'ERR_INPUT_TIMESTAMP',
  INPUT_TOO_LARGE: 'ERR_INPUT_TOO_LARGE',
  // audit policies (peregrine policy)
  POLICY: 'ERR_POLICY',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export function formatLoc(loc: Loc | undefined): string {
  return loc ? `${loc.file}:${loc.line}:${loc.col}` : '';
}

export class PeregrineError extends Error {
  constructor(readonly code: ErrorCodeValue, message: string, readonly loc?: Loc) {
    super(message);
  }

  /** `file:line:col: CODE: message` */
  describe(): string {
    const where = formatLoc(this.loc);
    return `${where ? where + ': ' : ''}${this.code}: ${this.message}`;
  }
}

export interface Warning {
  code: string;
  message: string;
  loc?: Loc;
}

export function describeWarning(w: Warning): string {
  const where = formatLoc(w.loc);
  return `${where ? where + ': ' : ''}warning ${w.code}: ${w.message}`;
}
