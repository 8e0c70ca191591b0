/**
 * Requests exactly as Slack sends them to an app, signed as Slack signs them: the builders the
 * local workspace delivers with (src/workspace/slack-requests.ts), under the names the tests use.
 */
export { signature, SlackRequester, type PostOptions, type SlackResponse, type SlackUserRef } from '../../src/workspace/slack-requests.js';
