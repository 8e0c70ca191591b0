/**
 * The access service's view of hosts' key files (HostKeysPort) over the SSH gateway: builds
 * the grant's line, maps inventory hosts to SSH targets and the gateway's results to
 * ok / unreachable / failed.
 */
import type { Host } from '../../models/inventory.js';
import { asAppError } from '../../errors.js';
import { buildKeyLine, isValidGrantId } from '../../services/access/authorized-keys.js';
import { isPublicKeyError, parsePublicKey } from '../../services/ssh-public-key.js';
import type { HostKeysPort, HostListResult, HostOpResult, KeyLineOnHost, SessionsEnded } from '../../services/access/ports.js';
import type { SshTarget } from '../exec/types.js';
import { MAX_GRANTS_PER_REMOVE, type HostKeysGateway, type HostKeysResult } from './host-keys.js';

/** A refusal before any SSH (bad account, id or line) is a failed operation, not a crash of the worker. */
async function guarded<T>(work: () => Promise<T>, onError: (message: string) => T): Promise<T> {
  try {
    return await work();
  } catch (err) {
    return onError(asAppError(err).message);
  }
}

function toOp<T>(r: HostKeysResult<T>): HostOpResult {
  if (r.status === 'ok') return { ok: true };
  return { ok: false, unreachable: r.status === 'unreachable', message: r.message };
}

/** A removal's result, with what it did to live connections. */
function toRemoval<T extends { sessions: SessionsEnded }>(r: HostKeysResult<T>): HostOpResult {
  return r.status === 'ok' ? { ok: true, sessions: r.value.sessions } : toOp(r);
}

/**
 * @param gatewayFor the gateway for a host's authorized_keys location (hosts may differ)
 */
export function hostKeysPort(gatewayFor: (host: Host) => HostKeysGateway, toTarget: (host: Host) => SshTarget): HostKeysPort {
  return {
    async add(host, accounts, grant) {
      let line: string;
      try {
        line = buildKeyLine({ publicKey: grant.publicKey, grantId: grant.grantId, expiresAt: grant.expiresAt });
      } catch (err) {
        return { ok: false, unreachable: false, message: asAppError(err).message };
      }
      return guarded(
        async () => toOp(await gatewayFor(host).add(toTarget(host), { accounts, line, grantId: grant.grantId })),
        (message) => ({ ok: false, unreachable: false, message }),
      );
    },
    async remove(host, accounts, grantId, publicKey) {
      return guarded(
        async () => toRemoval(await gatewayFor(host).remove(toTarget(host), { accounts, grantId, publicKey })),
        (message) => ({ ok: false, unreachable: false, message }),
      );
    },
    async removeMany(host, grants) {
      const results = new Map<string, HostOpResult>();
      // A grant id the gateway would refuse fails alone instead of taking its whole call down.
      const usable = grants.filter((g) => {
        if (isValidGrantId(g.grantId)) return true;
        results.set(g.grantId, { ok: false, unreachable: false, message: `"${String(g.grantId).slice(0, 40)}" is not a grant id` });
        return false;
      });
      // One call per chunk; chunks of one host run one after the other (they share its lock anyway).
      for (let i = 0; i < usable.length; i += MAX_GRANTS_PER_REMOVE) {
        // A stored key the gateway would refuse must not block the removal: the line's own key is used then.
        const chunk = usable.slice(i, i + MAX_GRANTS_PER_REMOVE).map((g) => ({ ...g, publicKey: g.publicKey && !isPublicKeyError(parsePublicKey(g.publicKey)) ? g.publicKey : undefined }));
        const r = await guarded(
          async () => toRemoval(await gatewayFor(host).removeMany(toTarget(host), { grants: chunk })),
          (message) => ({ ok: false, unreachable: false, message }),
        );
        for (const g of chunk) results.set(g.grantId, r);
      }
      return results;
    },
    async list(host, accounts): Promise<HostListResult> {
      const r = await guarded(
        () => gatewayFor(host).list(toTarget(host), accounts),
        (message) => ({ host: host.name, status: 'failed' as const, message }),
      );
      if (r.status !== 'ok') return { ok: false, unreachable: r.status === 'unreachable', message: r.message };
      const lines: KeyLineOnHost[] = [];
      for (const a of r.value.accounts) {
        for (const g of a.grants) lines.push({ account: a.account, grantId: g.grantId, expiresAt: g.expiresAt });
        // Hand-edited opsgate lines count too: reconcile removes them unless a valid grant stands behind them.
        for (const m of a.malformed) lines.push({ account: a.account, grantId: m.grantId, expiresAt: null });
      }
      return { ok: true, lines };
    },
  };
}
