/** Slash command names, action ids and callback ids, shared by listeners and blocks/. */
export const Commands = {
  opsgate: '/opsgate',
  access: '/access',
} as const;

export const Actions = {
  homeRefresh: 'home_refresh',
  accessApprove: 'access_approve',
  accessReject: 'access_reject',
  accessHosts: 'access_hosts',
  accessExtend: 'access_extend',
  accessRevoke: 'access_revoke',
  accessHostHistory: 'access_host_history',
} as const;

export const Views = {
  accessRequest: 'access_request',
  accessReject: 'access_reject_reason',
} as const;

/** Block ids of the access request modal, where submitted values are found. */
export const AccessModalBlocks = {
  hosts: 'hosts',
  role: 'role',
  days: 'days',
  reason: 'reason',
  rejectReason: 'reject_reason',
} as const;
