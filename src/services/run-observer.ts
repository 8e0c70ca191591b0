/**
 * What the domain tells the metrics about work it finished, without knowing about Prometheus
 * (src/adapters/metrics.ts implements it). Outcomes are a closed set: they become label values.
 */
export type RunKind = 'ticket' | 'module';
export type RunOutcome = 'succeeded' | 'failed' | 'revoked' | 'interrupted';

export interface RunObserver {
  runEnded(kind: RunKind, outcome: RunOutcome, seconds: number): void;
}

export interface ProvisioningObserver {
  /** A grant's line removed at its expiry, `seconds` after the expiry time. */
  expiryRemoved(latenessSeconds: number): void;
  /** A provisioning task that failed this attempt (it is retried, or gives up at its last). */
  taskFailed(type: 'add' | 'delete'): void;
}
