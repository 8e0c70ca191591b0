/**
 * What the access service needs from the outside world, as interfaces: the hosts' key files
 * (over SSH), and telling people (Slack DMs, mail). Implementations live in adapters/ and
 * notify/; tests may hand in their own.
 */
import type { AccessRequest, Grant, HostApplication } from '../../models/access.js';
import type { ApprovalLevel, MessageRef } from '../../models/approval.js';
import type { Host } from '../../models/inventory.js';
import type { Person } from '../../models/person.js';

/**
 * Live connections a revocation found on the host (sshd's connections of the touched accounts):
 * ended (logged in with a revoked key, or not attributable: fail closed) and kept.
 */
export interface SessionsEnded {
  ended: number;
  endedUnattributed: number;
  kept: number;
  /** Processes an ended connection had detached (setsid, nohup) that still named its login, killed. */
  strays: number;
  /** Per grant id: connections ended because they logged in with its key. */
  endedByGrant: Record<string, number>;
}

/** `sessions` comes with removals: what the host's revocation did to live connections. */
export type HostOpResult = { ok: true; sessions?: SessionsEnded } | { ok: false; unreachable: boolean; message: string };

export interface KeyLineOnHost {
  account: string;
  grantId: string;
  expiresAt: Date | null;
}

export type HostListResult = { ok: true; lines: KeyLineOnHost[] } | { ok: false; unreachable: boolean; message: string };

export interface HostKeysPort {
  /** Writes (or rewrites) the grant's line for each account; idempotent. */
  add(host: Host, accounts: string[], grant: { grantId: string; publicKey: string; expiresAt: Date }): Promise<HostOpResult>;
  /** Removes exactly that grant's line from each account, and ends the live connections of its key. */
  remove(host: Host, accounts: string[], grantId: string, publicKey?: string): Promise<HostOpResult>;
  /**
   * Removes several grants' lines from one host, each from its own accounts, in as few SSH
   * calls as the gateway allows (one per 200 grants); the outcome per grant id. A call that
   * fails fails only the grants it carried. Live connections that logged in with a removed key
   * (the grant's `publicKey`, or the removed line's) are ended; one result per call, shared by
   * the grants it carried.
   */
  removeMany(host: Host, grants: Array<{ grantId: string; accounts: string[]; publicKey?: string }>): Promise<Map<string, HostOpResult>>;
  /** opsgate's lines on the host, per account. */
  list(host: Host, accounts: string[]): Promise<HostListResult>;
}

/** A request with the people it names, for messages. */
export interface RequestDetails {
  request: AccessRequest;
  requester: Person;
  /** Everyone named in the flow (approvers and deciders), by personId. */
  people: Record<string, Person>;
  applications: HostApplication[];
}

export interface DriftReport {
  at: Date;
  hostsChecked: number;
  unreachable: string[];
  /** Lines found on hosts with no valid grant behind them: removed. */
  removed: Array<{ host: string; account: string; grantId: string }>;
  /** Valid grants whose line is missing from the host. */
  missing: Array<{ host: string; account: string; grantId: string; personId: string }>;
}

export interface AccessNotifier {
  /** DMs (with Approve / Reject) and mails each approver of the level now waiting. */
  askApprovers(details: RequestDetails, level: ApprovalLevel, approvers: Person[]): Promise<MessageRef[]>;
  /** Rewrites every copy of the approval DM to show the decisions so far. */
  updateApprovalMessages(details: RequestDetails): Promise<void>;
  /** Tells the requester what was decided at a level. */
  tellRequester(details: RequestDetails, level: ApprovalLevel): Promise<void>;
  granted(grant: Grant, holder: Person): Promise<void>;
  provisioningFailed(grant: Grant, holder: Person, error: string): Promise<void>;
  /** Access removed: at expiry, early revoke or by reconcile. */
  revoked(grant: Grant, holder: Person): Promise<void>;
  reminder(grant: Grant, holder: Person, hoursLeft: number): Promise<void>;
  drift(report: DriftReport): Promise<void>;
}
