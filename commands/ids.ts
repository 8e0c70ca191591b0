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
  /** The /run form: the module select, the host picker (searched), and the target's other inputs. */
  runModule: 'run_module',
  runHosts: 'run_hosts',
  runTarget: 'run_target',
  /** The per-host view of a job: open it (final channel message), page it, a host's output as a file. */
  jobHosts: 'job_hosts',
  jobHostsPage: 'job_hosts_page',
  jobHostFile: 'job_host_file',
  /** Every host's output of a job in one file (the final message of a large run). */
  jobOutputAll: 'job_output_all',
  /** A module run waiting for approval: the approver's Approve, and Reject (opens the reason form). */
  runApprove: 'run_approve',
  runReject: 'run_reject',
} as const;

export const Views = {
  accessRequest: 'access_request',
  accessReject: 'access_reject_reason',
  ticketPicker: 'ticket_picker',
  ticketForm: 'ticket_form',
  ticketApproveComment: 'ticket_approve_comment',
  ticketReject: 'ticket_reject_reason',
  runForm: 'run_form',
  jobHosts: 'job_hosts',
  runReject: 'run_reject_reason',
} as const;

/** Block ids of the /run form (a parameter's input is `param:<name>`). */
export const RunBlocks = {
  module: 'run_module',
  hosts: 'run_hosts',
  project: 'run_project',
  app: 'run_app',
  env: 'run_env',
  label: 'run_label',
  count: 'run_count',
  paramPrefix: 'param:',
  /** The reason input of a run's Reject form. */
  rejectReason: 'run_reject_reason',
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
