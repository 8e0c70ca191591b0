/**
 * The access service's view of hosts' key files (HostKeysPort) over the SSH gateway: builds
 * the grant's line, maps inventory hosts to SSH targets and the gateway's results to
 * ok / unreachable / failed.
 */
import type { Host } from '../../models/inventory.js';
import { asAppError } from '../../errors.js';
import { buildKeyLine } from '../../services/access/authorized-keys.js';
import type { HostKeysPort, HostListResult, HostOpResult, KeyLineOnHost } from '../../services/access/ports.js';
import type { SshTarget } from '../exec/types.js';
import type { HostKeysGateway, HostKeysResult } from './host-keys.js';

function toOp<T>(r: HostKeysResult<T>): HostOpResult {
  if (r.status === 'ok') return { ok: true };
  return { ok: false, unreachable: r.status === 'unreachable', message: r.message };
}

export function hostKeysPort(gateway: HostKeysGateway, toTarget: (host: Host) => SshTarget): HostKeysPort {
  return {
    async add(host, accounts, grant) {
      let line: string;
      try {
        line = buildKeyLine({ publicKey: grant.publicKey, grantId: grant.grantId, expiresAt: grant.expiresAt });
      } catch (err) {
        return { ok: false, unreachable: false, message: asAppError(err).message };
      }
      return toOp(await gateway.add(toTarget(host), { accounts, line, grantId: grant.grantId }));
    },
    async remove(host, accounts, grantId) {
      return toOp(await gateway.remove(toTarget(host), { accounts, grantId }));
    },
    async list(host, accounts): Promise<HostListResult> {
      const r = await gateway.list(toTarget(host), accounts);
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
