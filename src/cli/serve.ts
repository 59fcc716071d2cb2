// `peregrine serve` — placeholder until the ingest server lands.
import { ErrorCode, PeregrineError } from '../errors.js';

export async function runServe(_argv: string[]): Promise<number> {
  throw new PeregrineError(ErrorCode.USAGE, 'serve is not implemented yet');
}
