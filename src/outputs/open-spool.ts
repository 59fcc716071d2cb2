// Whether `peregrine serve` spools, said once at start (cli/serve.ts).
import type { ServeConfig } from '../config/schema.js';
import { Spool } from './spool.js';
import type { OutputTarget } from './target.js';

/**
 * The spool for the network outputs among `targets` when outputs.spool_dir is set;
 * otherwise undefined, and the start says what that means for acknowledged alerts.
 */
export async function openSpool(cfg: ServeConfig, targets: OutputTarget[], log: (msg: string) => void): Promise<Spool | undefined> {
  const network = targets.filter((t) => t.network).map((t) => t.name);
  const dir = cfg.outputs.spoolDir;
  if (network.length === 0) {
    if (dir !== undefined) log(`outputs.spool_dir is set but no network output is configured: ${dir} is not used`);
    return undefined;
  }
  if (dir === undefined) {
    log(`outputs.spool_dir is not set: alerts acknowledged for the ${network.join(', ')} output are held in memory only until delivered `
      + '(lost if the process is killed while the receiver is down); set outputs.spool_dir to keep them on disk');
    return undefined;
  }
  const spool = await Spool.open({ dir, maxBytes: cfg.outputs.spoolMaxBytes, outputs: network, log });
  const left = Math.max(...spool.cursors.map((c) => c.behind));
  log(`spool ${dir}: alerts for ${network.join(', ')} are durable there before acknowledgement (outputs.spool_max_bytes ${cfg.outputs.spoolMaxBytes})`
    + (left > 0 ? `; ${left} alerts from before this start not yet delivered: sent first` : ''));
  return spool;
}
