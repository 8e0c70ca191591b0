/**
 * The tests' fake Slack Web API: the workspace's own implementation of Slack's side
 * (src/workspace/slack-api.ts), under the names the tests use.
 */
export { METHOD_SCOPES, SlackApi as FakeSlack, type RecordedCall, type Upload as FakeUpload, type WorkspaceUser as FakeUser } from '../../src/workspace/slack-api.js';
