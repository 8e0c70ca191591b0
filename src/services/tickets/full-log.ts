/**
 * A ticket's full log as a file in the requester's DM (the "Full log" button, `/ticket log`).
 * The same people as for `/ticket show` may have it. The log is read from the chunked store a
 * few chunks at a time and handed to the uploader as a stream of known length, so a 50 MB log
 * is never held whole in memory. The stored text is already redacted.
 */
import type { Readable } from 'node:stream';
import { AppError, ErrorCode } from '../../errors.js';
import type { TicketDetails } from './ports.js';

/** The log as it stands, or null when it is empty (TicketLogStore.snapshot). */
export interface TicketLogSnapshots {
  snapshot(ticketId: string): Promise<{ bytes: number; body: Readable } | null>;
}

export interface LogFile {
  filename: string;
  title: string;
  /** Exact length of `body` in bytes. */
  bytes: number;
  body: Readable;
  /** The message that goes with the file. */
  comment: string;
}

/** Puts a file into a Slack user's DM (src/adapters/slack/file-upload.ts). */
export interface FileToUser {
  sendToUser(slackUserId: string, file: LogFile): Promise<void>;
}

/**
 * Sends the stored log `logId` as a file to the user; null when the log is empty. The stream is
 * closed whatever the upload did. Shared by the ticket's full log and a module run's host output.
 */
export async function sendStoredLog(
  deps: { logs: TicketLogSnapshots; files: FileToUser },
  slackUserId: string,
  logId: string,
  file: Omit<LogFile, 'bytes' | 'body'>,
): Promise<{ bytes: number } | null> {
  const snap = await deps.logs.snapshot(logId);
  if (!snap) return null;
  try {
    await deps.files.sendToUser(slackUserId, { ...file, bytes: snap.bytes, body: snap.body });
  } finally {
    snap.body.destroy();
  }
  return { bytes: snap.bytes };
}

export interface TicketFullLogDeps {
  /** Throws 1201 / 1202 when the person may not see the ticket (TicketService.viewable). */
  viewable: (slackUserId: string, ticketId: string) => Promise<TicketDetails>;
  /** Null when the app's log sink is not the chunked store (some tests). */
  logs: TicketLogSnapshots | null;
  files: FileToUser;
}

export type FullLogOutcome = { kind: 'empty'; ticketId: string } | { kind: 'sent'; ticketId: string; filename: string; bytes: number };

export class TicketFullLog {
  constructor(private readonly deps: TicketFullLogDeps) {}

  async send(slackUserId: string, ticketId: string): Promise<FullLogOutcome> {
    const d = await this.deps.viewable(slackUserId, ticketId);
    if (!this.deps.logs) throw new AppError(ErrorCode.NotImplemented, 'full logs are not kept by this bot (no log store)');
    const t = d.ticket;
    const filename = `${t.ticketId}.log`;
    const sent = await sendStoredLog({ logs: this.deps.logs, files: this.deps.files }, slackUserId, t.ticketId, {
      filename,
      title: `${t.ticketId} ${t.template.name} (${t.env}) — ${t.state}`,
      comment: `Full log of ticket ${t.ticketId} (${t.template.name}, ${t.env}, ${t.state}).`,
    });
    return sent ? { kind: 'sent', ticketId: t.ticketId, filename, bytes: sent.bytes } : { kind: 'empty', ticketId: t.ticketId };
  }
}
