/**
 * Correctly signed request bodies that Bolt 5 mishandles when nothing checks them first (issue
 * 14 item 1): shared by receiver-guard.test.ts (in-process) and bad-body-process.test.ts (the
 * bot in its own process).
 */
const FORM = 'application/x-www-form-urlencoded';
const JSON_TYPE = 'application/json';
export const form = (fields: Record<string, string>): string => new URLSearchParams(fields).toString();

/** Signed bodies Bolt 5 would mishandle: [name, content type, body, expected code]. */
export const BAD_BODIES: Array<[string, string, string, number]> = [
  ['form payload=null', FORM, form({ payload: 'null' }), 1101],
  ['form payload=123', FORM, form({ payload: '123' }), 1101],
  ['form payload=[]', FORM, form({ payload: '[]' }), 1101],
  ['form payload="x"', FORM, form({ payload: '"x"' }), 1101],
  ['form payload that is not JSON', FORM, form({ payload: '{not json' }), 1100],
  ['form with a repeated field', FORM, 'command=%2Fopsgate&text=help&text=sync&user_id=UALICE', 1100],
  ['JSON body null', JSON_TYPE, 'null', 1101],
  ['JSON body []', JSON_TYPE, '[]', 1101],
  ['JSON body "x"', JSON_TYPE, '"x"', 1101],
  ['JSON body 123', JSON_TYPE, '123', 1101],
  ['JSON body that is not JSON', JSON_TYPE, '{"type":', 1100],
  ['event callback with event null', JSON_TYPE, JSON.stringify({ type: 'event_callback', team_id: 'T0TEST', event: null }), 1101],
  ['event whose user is null', JSON_TYPE, JSON.stringify({ type: 'event_callback', team_id: 'T0TEST', event: { type: 'app_home_opened', user: null } }), 1101],
  ['event callback with authorizations [null]', JSON_TYPE, JSON.stringify({ type: 'event_callback', authorizations: [null], event: { type: 'app_home_opened', user: 'UALICE' } }), 1101],
  ['block_actions whose channel is null', FORM, form({ payload: JSON.stringify({ type: 'block_actions', user: { id: 'UALICE' }, actions: [{ action_id: 'x' }], channel: null }) }), 1101],
  ['block_actions whose actions are [null]', FORM, form({ payload: JSON.stringify({ type: 'block_actions', user: { id: 'UALICE' }, team: { id: 'T0TEST' }, actions: [null] }) }), 1101],
  ['block_actions whose user is a string', FORM, form({ payload: JSON.stringify({ type: 'block_actions', user: 'UALICE', team: null, actions: [] }) }), 1101],
  ['view_submission whose view is null', FORM, form({ payload: JSON.stringify({ type: 'view_submission', user: { id: 'UALICE' }, team: { id: 'T0TEST' }, view: null }) }), 1101],
];
