/** Slash command names, action ids and callback ids, shared by listeners and blocks/. */
export const Commands = {
  opsgate: '/opsgate',
  access: '/access',
  ticket: '/ticket',
  run: '/run',
  jobs: '/jobs',
} as const;

export const Actions = {
  homeRefresh: 'home_refresh',
  accessApprove: 'access_approve',
  accessReject: 'access_reject',
  accessHosts: 'access_hosts',
  accessExtend: 'access_extend',
  accessRevoke: 'access_revoke',
  accessHostHistory: 'access_host_history',
  ticketPickEnv: 'ticket_pick_env',
  ticketPickCategory: 'ticket_pick_category',
  ticketPick: 'ticket_pick',
  /** External select of a long script-choice list; the option name follows after a colon. */
  ticketChoices: 'ticket_choices',
  ticketApprove: 'ticket_approve',
  ticketApproveWithComment: 'ticket_approve_comment',
  ticketReject: 'ticket_reject',
  ticketChangeToReject: 'ticket_change_to_reject',
  ticketRun: 'ticket_run',
  ticketRevoke: 'ticket_revoke',
  ticketShow: 'ticket_show',
  /** The full log as a file in the clicker's DM. */
  ticketFullLog: 'ticket_full_log',
  jobShow: 'job_show',
  jobTerm: 'job_term',
  jobKill: 'job_kill',
} as const;

export const Views = {
  accessRequest: 'access_request',
  accessReject: 'access_reject_reason',
  ticketPicker: 'ticket_picker',
  ticketForm: 'ticket_form',
  ticketApproveComment: 'ticket_approve_comment',
  ticketReject: 'ticket_reject_reason',
} as const;

/** Block ids of the ticket form (options are `opt:<name>`) and the decision modals. */
export const TicketBlocks = {
  optionPrefix: 'opt:',
  runDate: 'run_date',
  runTime: 'run_time',
  flags: 'flags',
  reason: 'reason',
  comment: 'comment',
} as const;

/** Block ids of the access request modal, where submitted values are found. */
export const AccessModalBlocks = {
  hosts: 'hosts',
  role: 'role',
  days: 'days',
  reason: 'reason',
  rejectReason: 'reject_reason',
} as const;
