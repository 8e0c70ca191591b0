/**
 * Signal requests across bot instances, one way for module jobs and ticket runs: the request is
 * pushed onto the job's document by whichever instance took the click (`newSignalRequest`), and
 * the instance running the job sends it (`applyPendingSignals`) and writes when, by which
 * instance and to which hosts. A request is sent once per instance even when the heartbeat and
 * the click read it at the same time (the `applied` set), and once at all because only the
 * instance holding the running job sends anything.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.js';
import type { SignalRequest } from '../../models/signal-request.js';

/** Where applied requests are written: the job's model, filtered to the one document. */
export interface SignalStore {
  updateOne(filter: Record<string, unknown>, update: Record<string, unknown>): PromiseLike<unknown>;
}

export interface ApplyDeps {
  model: SignalStore;
  clock: Clock;
  /** This instance, written as `appliedBy`. */
  instanceId: string;
}

/** A request as it is pushed: applied fields left to the instance that sends it. */
export function newSignalRequest(signal: string, by: string, at: Date): Pick<SignalRequest, 'requestId' | 'signal' | 'by' | 'at'> {
  return { requestId: randomBytes(6).toString('hex'), signal, by, at };
}

/**
 * Sends each request of `requests` not applied yet through `send` (which returns the hosts it
 * reached, none when nothing ran any more) and records it on the document `filter` names.
 * Returns what was sent, in order.
 */
export async function applyPendingSignals(
  deps: ApplyDeps,
  filter: Record<string, unknown>,
  requests: readonly SignalRequest[],
  applied: Set<string>,
  send: (req: SignalRequest) => string[] | Promise<string[]>,
): Promise<Array<{ request: SignalRequest; hosts: string[] }>> {
  const out: Array<{ request: SignalRequest; hosts: string[] }> = [];
  for (const req of requests) {
    if (req.appliedAt || applied.has(req.requestId)) continue;
    applied.add(req.requestId);
    const hosts = await send(req);
    await deps.model.updateOne({ ...filter, 'signals.requestId': req.requestId }, { $set: { 'signals.$.appliedAt': deps.clock.now(), 'signals.$.appliedBy': deps.instanceId, 'signals.$.hosts': hosts } });
    out.push({ request: req, hosts });
  }
  return out;
}
