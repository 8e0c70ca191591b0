/** `/opsgate token create | list | revoke`: a new token shown once, the list, a revocation. */
import type { TokenInfo } from '../src/services/api-tokens.js';
import { code, context, esc, header, rowsToSections, section, type Message } from './kit.js';

const day = (d: Date | null): string => (d ? d.toISOString().slice(0, 16).replace('T', ' ') + ' UTC' : 'never');

function state(t: TokenInfo, now: number): string {
  if (t.revoked) return `revoked ${day(t.revokedAt)}${t.revokeReason && t.revokeReason !== 'revoked' ? ` (${esc(t.revokeReason)})` : ''}`;
  if (t.expiresAt.getTime() <= now) return `expired ${day(t.expiresAt)}`;
  return `expires ${day(t.expiresAt)}`;
}

/** The token itself, once: the message is ephemeral and the token is stored only as a hash. */
export function tokenCreatedMessage(r: { token: string; info: TokenInfo }): Message {
  const t = r.info;
  const lines = [
    `:key: Token ${code(t.tokenId)} *${esc(t.name)}* (scope ${code(t.scope)}, expires ${day(t.expiresAt)}):`,
    '```' + r.token + '```',
    'Copy it now: it is shown only this once and opsgate keeps only its hash. Use it as `Authorization: Bearer <token>` on `/api/v1/`.',
  ];
  return { text: `API token ${t.tokenId} created (shown once)`, blocks: [section(lines.join('\n')), context(`Revoke it with /opsgate token revoke ${t.tokenId}.`)] };
}

export function tokenListMessage(tokens: TokenInfo[], all: boolean, now: number): Message {
  if (tokens.length === 0) return { text: 'No API tokens', blocks: [section(all ? 'Nobody has an API token.' : 'You have no API tokens. Make one with `/opsgate token create <name> [expires:30d] [scope:read|write]`.')] };
  const rows = tokens.map((t) => `${code(t.tokenId)} *${esc(t.name)}*${all ? ` · ${code(t.owner)}` : ''} · ${code(t.scope)} · ${state(t, now)} · last used ${day(t.lastUsedAt)}`);
  return { text: `${tokens.length} API tokens`, blocks: [header(all ? 'API tokens (everyone)' : 'Your API tokens'), ...rowsToSections(rows, 15)] };
}

export function tokenRevokedMessage(r: { info: TokenInfo; changed: boolean }): Message {
  const text = r.changed ? `:white_check_mark: Token ${code(r.info.tokenId)} (${esc(r.info.name)}) revoked; it is refused from now on.` : `Token ${code(r.info.tokenId)} was already revoked; nothing changed.`;
  return { text, blocks: [section(text)] };
}
