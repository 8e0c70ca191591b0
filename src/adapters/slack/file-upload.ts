/**
 * Files into a Slack DM with Slack's current upload flow: files.getUploadURLExternal (name and
 * length) -> the bytes POSTed to the URL it returns -> files.completeUploadExternal (shares the
 * file in the channel). Done by hand rather than with WebClient.filesUploadV2, because that
 * reads a stream whole into one Buffer before sending it (file-upload.js getFileDataAsStream);
 * here the body is piped with its Content-Length, so a 50 MB log passes through a few chunks
 * at a time.
 *
 * The upload URL comes from Slack's answer; it is used only on Slack's files host (or the
 * configured SLACK_API_URL's origin, for a sandbox or the tests' fake), so the bot cannot be
 * made to send a log anywhere else, and the bot token is not sent with it (the URL is signed).
 */
import http from 'node:http';
import https from 'node:https';
import { pipeline } from 'node:stream/promises';
import type { WebClient } from '@slack/web-api';
import type { FileToUser, LogFile } from '../../services/tickets/full-log.js';

export const SLACK_FILES_ORIGIN = 'https://files.slack.com';
const UPLOAD_TIMEOUT_MS = 10 * 60_000;

export function slackFileUploader(client: WebClient, apiUrl: string | undefined): FileToUser {
  const allowed = [SLACK_FILES_ORIGIN];
  if (apiUrl) allowed.push(new URL(apiUrl).origin);
  return {
    async sendToUser(slackUserId, file) {
      const im = await client.conversations.open({ users: slackUserId });
      const channel = im.channel?.id;
      if (!channel) throw new Error('conversations.open returned no channel');
      const target = await client.files.getUploadURLExternal({ filename: file.filename, length: file.bytes });
      if (!target.upload_url || !target.file_id) throw new Error('files.getUploadURLExternal returned no upload_url');
      const url = new URL(target.upload_url);
      if (!allowed.includes(url.origin)) throw new Error(`the upload URL is not on Slack's files host (${url.origin})`);
      await postBody(url, file);
      await client.files.completeUploadExternal({ files: [{ id: target.file_id, title: file.title }], channel_id: channel, initial_comment: file.comment });
    },
  };
}

/** POSTs the body with its length; resolves once the server answered 200. */
async function postBody(url: URL, file: LogFile): Promise<void> {
  const lib = url.protocol === 'https:' ? https : http;
  const req = lib.request(url, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(file.bytes) },
    timeout: UPLOAD_TIMEOUT_MS,
  });
  const answered = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`the upload URL answered HTTP ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('the upload timed out')));
    req.on('error', reject);
  });
  // A failing body (the store) or a failing request each end the other.
  await Promise.all([pipeline(file.body, req), answered]);
}
