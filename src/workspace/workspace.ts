/**
 * The local workspace: a small Slack of its own for running opsgate without a Slack app. It
 * plays Slack's side exactly as the tests' fake does (one implementation, slack-api.ts): the
 * bot's Web API calls land in its message store, and what a person does (a slash command, a
 * button, a modal's Submit, opening App Home) reaches the bot's `/slack/events` signed with the
 * signing secret the workspace generated, as Slack signs it. The bot cannot tell it is local.
 */
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import type { Logger } from '../logger.js';
import { loadDirectory } from '../services/directory/source.js';
import { BOT_USER, MessageStore, type Message, type OpenView } from './messages.js';
import { SlackApi, type RecordedCall, type WorkspaceUser } from './slack-api.js';
import { SlackRequester, type SlackResponse } from './slack-requests.js';

export interface Person {
  /** The directory id (`carol`), what the page acts as. */
  id: string;
  name: string;
  email: string;
  /** The Slack user id the workspace gave them (the directory's slackId when it has one). */
  slackId: string;
}

/** Where a response_url posts to: who used it, in which channel, for which message. */
interface ResponseTarget {
  user: string;
  channel: string;
  messageTs?: string;
}

export interface WorkspaceOptions {
  directorySource: string;
  catalogDir: string;
  adminChannel?: string;
  logger: Logger;
}

export interface SlashCommand {
  command: string;
  usageHint?: string;
  description?: string;
}

const MANIFEST = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../slack-app-manifest.yaml');

/** The manifest's slash commands: only these are delivered, as Slack knows no others for the app. */
function manifestCommands(): SlashCommand[] {
  const m = YAML.parse(fs.readFileSync(MANIFEST, 'utf8')) as { features?: { slash_commands?: Array<{ command: string; usage_hint?: string; description?: string }> } };
  return (m.features?.slash_commands ?? []).map((c) => ({ command: c.command, usageHint: c.usage_hint, description: c.description }));
}

/** Every `channel:` the catalog's YAML names (tickets' and modules' result channels). */
function catalogChannels(dir: string): string[] {
  const found = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if (k === 'channel' && typeof x === 'string') found.add(x);
        else walk(x);
      }
  };
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    if (!/\.ya?ml$/.test(f)) continue;
    try {
      walk(YAML.parse(fs.readFileSync(path.join(dir, f), 'utf8')));
    } catch {
      /* a broken catalog file is the catalog loader's to report */
    }
  }
  return [...found];
}

/** Elements whose value the person types or picks; a button's value is always the one the bot put in it. */
const INPUT_ELEMENTS = new Set(['plain_text_input', 'number_input', 'email_text_input', 'url_text_input']);

/** A block action as Slack sends it: the element's own ids and type, what the person picked. */
function actionOf(element: Record<string, unknown>, blockId: string, picked: Record<string, unknown>): { action_id: string; [field: string]: unknown } {
  const { value: typed, ...chosen } = picked;
  const type = String(element.type ?? 'button');
  const value = INPUT_ELEMENTS.has(type) ? typed : element.value;
  return { action_id: String(element.action_id), block_id: blockId, type, value: typeof value === 'string' ? value : undefined, ...chosen };
}

export class Workspace {
  readonly api = new SlackApi();
  readonly store = new MessageStore();
  readonly people: Person[] = [];
  readonly commands = manifestCommands();
  /** Generated per start: the bot verifies with it what the workspace signs. */
  readonly signingSecret = randomBytes(24).toString('hex');
  readonly botToken = `xoxb-local-${randomBytes(12).toString('hex')}`;
  private requester?: SlackRequester;
  private readonly responses = new Map<string, ResponseTarget>();
  private readonly triggers = new Map<string, string>();

  constructor(private readonly opts: WorkspaceOptions) {}

  async start(): Promise<this> {
    this.api.requiredToken = this.botToken;
    await this.api.start();
    this.api.listeners.add((c) => this.record(c));
    const records = await loadDirectory(this.opts.directorySource).catch((err: unknown) => {
      this.opts.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'local workspace: the directory could not be read; nobody to act as');
      return [];
    });
    for (const r of records) {
      const slackId = r.slackId ?? `U${r.id.toUpperCase().replace(/[^A-Z0-9]/g, '')}`;
      this.people.push({ id: r.id, name: r.name, email: r.email, slackId });
      const user: WorkspaceUser = { id: slackId, email: r.email, name: r.id, realName: r.name };
      this.api.addUser(user);
      this.store.addChannel({ id: `D${slackId}`, name: 'opsgate', dmOf: slackId });
    }
    for (const c of catalogChannels(this.opts.catalogDir)) this.store.addChannel(c.startsWith('#') ? { id: MessageStore.idForName(c), name: c.slice(1) } : { id: c, name: c });
    if (this.opts.adminChannel) this.store.addChannel({ id: this.opts.adminChannel, name: 'opsgate-admin' });
    return this;
  }

  /** The bot is up: deliveries go to its events endpoint from now on. */
  connectBot(eventsUrl: string): void {
    this.requester = new SlackRequester(eventsUrl, this.signingSecret, () => this.api.responseUrl());
  }

  async stop(): Promise<void> {
    await this.api.stop();
  }

  person(id: string): Person | undefined {
    return this.people.find((p) => p.id === id);
  }

  /** What one Web API call the bot made changes in the workspace (calls Slack refused change nothing). */
  private record(c: RecordedCall): void {
    const a = c.args;
    const reply = c.reply ?? {};
    if (reply.ok !== true) return;
    const text = typeof a.text === 'string' ? a.text : '';
    const blocks = Array.isArray(a.blocks) ? a.blocks : [];
    const asView = (): OpenView => {
      const v = reply.view as Record<string, unknown>;
      return { id: String(v.id), hash: String(v.hash), view: v };
    };
    switch (c.method) {
      case 'chat.postMessage':
        this.store.post({ channel: String(a.channel), ts: String(reply.ts), user: BOT_USER, text, blocks });
        break;
      case 'chat.update':
        this.store.update(String(a.channel), String(a.ts), { text, blocks: Array.isArray(a.blocks) ? a.blocks : undefined });
        break;
      case 'chat.postEphemeral':
        this.store.post({ channel: String(a.channel), ts: String(reply.message_ts), user: BOT_USER, text, blocks, ephemeralFor: String(a.user) });
        break;
      case 'views.open':
      case 'views.push': {
        const user = this.triggers.get(String(a.trigger_id));
        if (user) (c.method === 'views.open' ? this.store.openView(user, asView()) : this.store.pushView(user, asView()));
        break;
      }
      case 'views.update':
        this.store.updateView(asView());
        break;
      case 'views.publish':
        this.store.setHome(String(a.user_id), asView());
        break;
      case 'files.completeUploadExternal': {
        const files = (reply.files as Array<{ id: string; name: string; title?: string }>) ?? [];
        this.store.post({ channel: String(a.channel_id), ts: this.store.nextTs(), user: BOT_USER, text: typeof a.initial_comment === 'string' ? a.initial_comment : '', blocks: [], files });
        break;
      }
      case 'response_url':
        this.respond(this.responses.get(String(a.response_id)), a, text, blocks);
        break;
    }
  }

  /** A response_url post, as Slack treats it: replace or delete the original, else a new message (ephemeral unless in_channel). */
  private respond(to: ResponseTarget | undefined, a: Record<string, unknown>, text: string, blocks: unknown[]): void {
    if (!to) return;
    if (to.messageTs && (a.delete_original === true || a.delete_original === 'true')) return void this.store.remove(to.channel, to.messageTs);
    if (to.messageTs && (a.replace_original === true || a.replace_original === 'true')) return void this.store.update(to.channel, to.messageTs, { text, blocks });
    this.store.post({ channel: to.channel, ts: this.store.nextTs(), user: BOT_USER, text, blocks, ephemeralFor: a.response_type === 'in_channel' ? undefined : to.user });
  }

  private bot(): SlackRequester {
    if (!this.requester) throw new Error('the bot is not connected to the workspace yet');
    return this.requester;
  }

  private responseUrlFor(target: ResponseTarget): string {
    const id = randomBytes(8).toString('hex');
    this.responses.set(id, target);
    return this.api.responseUrl(id);
  }

  /** Remembers who the request's trigger id belongs to (views.open names only the trigger). */
  private async send(user: string, post: Promise<SlackResponse>): Promise<SlackResponse> {
    this.triggers.set(this.bot().lastTriggerId, user);
    return post;
  }

  /** A slash command typed in `channel`; an answer in the acknowledgement is shown as Slack shows it. */
  async command(p: Person, channel: string, command: string, text: string): Promise<SlackResponse> {
    const ch = this.store.channels.get(this.store.channelKey(channel))!;
    const responseUrl = this.responseUrlFor({ user: p.slackId, channel: ch.id });
    const res = await this.send(p.slackId, this.bot().command(command, text, { id: p.slackId, name: p.id }, { channel: ch.id, channelName: ch.dmOf ? 'directmessage' : ch.name, responseUrl }));
    this.showAck(p, ch.id, res);
    return res;
  }

  private showAck(p: Person, channel: string, res: SlackResponse): void {
    if (res.status !== 200 || res.text.trim() === '') return;
    let body: { text?: unknown; blocks?: unknown; response_type?: unknown };
    try {
      body = res.json() as typeof body;
    } catch {
      body = { text: res.text };
    }
    if (typeof body.text !== 'string' && !Array.isArray(body.blocks)) return;
    this.store.post({
      channel,
      ts: this.store.nextTs(),
      user: BOT_USER,
      text: typeof body.text === 'string' ? body.text : '',
      blocks: Array.isArray(body.blocks) ? body.blocks : [],
      ephemeralFor: body.response_type === 'in_channel' ? undefined : p.slackId,
    });
  }

  /** A click on a message's element: the element (and its value) is the one the message holds, never the page's. */
  async messageAction(p: Person, m: Message, element: Record<string, unknown>, blockId: string, picked: Record<string, unknown>): Promise<SlackResponse> {
    const responseUrl = this.responseUrlFor({ user: p.slackId, channel: m.channel, messageTs: m.ts });
    return this.send(
      p.slackId,
      this.bot().blockAction(
        { id: p.slackId, name: p.id },
        actionOf(element, blockId, picked),
        { channel: m.channel, message_ts: m.ts, responseUrl, isEphemeral: m.ephemeralFor !== undefined, message: { text: m.text, blocks: m.blocks, user: BOT_USER, bot_id: 'BBOT' } },
      ),
    );
  }

  /** A click inside a modal or App Home. */
  async viewAction(p: Person, v: OpenView, element: Record<string, unknown>, blockId: string, picked: Record<string, unknown>, values: Record<string, Record<string, unknown>>): Promise<SlackResponse> {
    return this.send(
      p.slackId,
      this.bot().blockAction(
        { id: p.slackId, name: p.id },
        actionOf(element, blockId, picked),
        { view: { ...v.view, id: v.id, hash: v.hash, state: { values } }, responseUrl: null },
      ),
    );
  }

  /** Submit on the top modal; the bot's answer decides what the person sees next, as in Slack. */
  async submit(p: Person, v: OpenView, values: Record<string, Record<string, unknown>>): Promise<{ status: number; errors?: Record<string, string> }> {
    const view = v.view as { callback_id?: string; private_metadata?: string; title?: unknown; blocks?: unknown[] };
    const res = await this.send(p.slackId, this.bot().viewSubmission({ id: p.slackId, name: p.id }, { id: v.id, hash: v.hash, callback_id: String(view.callback_id ?? ''), private_metadata: view.private_metadata, title: view.title, blocks: view.blocks, values }));
    if (res.status !== 200) return { status: res.status };
    let ack: { response_action?: string; errors?: Record<string, string>; view?: Record<string, unknown> } = {};
    if (res.text.trim() !== '') {
      try {
        ack = res.json() as typeof ack;
      } catch {
        ack = {};
      }
    }
    const fresh = (): OpenView => ({ id: `VL${randomBytes(5).toString('hex').toUpperCase()}`, hash: `hl${randomBytes(4).toString('hex')}`, view: ack.view ?? {} });
    switch (ack.response_action) {
      case 'errors':
        this.store.setErrors(p.slackId, v.id, ack.errors ?? {});
        return { status: 200, errors: ack.errors ?? {} };
      case 'update':
        this.store.updateView({ ...fresh(), id: v.id });
        break;
      case 'push':
        this.store.pushView(p.slackId, fresh());
        break;
      case 'clear':
        this.store.closeViews(p.slackId, 'all');
        break;
      default:
        this.store.closeViews(p.slackId, 'top');
    }
    return { status: 200 };
  }

  /** An external select in the person's view asks for options; the bot's answer (`options` or `option_groups`) as a flat list. */
  async suggest(p: Person, v: OpenView, element: Record<string, unknown>, blockId: string, value: string): Promise<{ status: number; options: unknown[] }> {
    const view = v.view as { callback_id?: string; private_metadata?: string };
    const res = await this.bot().blockSuggestion({ id: p.slackId, name: p.id }, String(element.action_id), value, blockId, undefined, {
      id: v.id,
      type: 'modal',
      hash: v.hash,
      callback_id: String(view.callback_id ?? ''),
      private_metadata: view.private_metadata ?? '',
    });
    if (res.status !== 200) return { status: res.status, options: [] };
    let body: { options?: unknown; option_groups?: Array<{ options?: unknown }> } = {};
    try {
      body = res.json() as typeof body;
    } catch {
      /* an empty acknowledgement offers nothing */
    }
    const options = Array.isArray(body.options) ? body.options : (body.option_groups ?? []).flatMap((g) => (Array.isArray(g.options) ? g.options : []));
    return { status: 200, options };
  }

  /** Close on the top modal: it goes, and the bot hears of it when the view asked (`notify_on_close`). */
  async close(p: Person, v: OpenView): Promise<{ status: number }> {
    this.store.closeViews(p.slackId, 'top');
    const view = v.view as { callback_id?: string; private_metadata?: string; notify_on_close?: boolean };
    if (view.notify_on_close !== true) return { status: 200 };
    const res = await this.bot().viewClosed({ id: p.slackId, name: p.id }, { id: v.id, hash: v.hash, callback_id: String(view.callback_id ?? ''), private_metadata: view.private_metadata });
    return { status: res.status };
  }

  /** The person opened the bot's Home tab. */
  homeOpened(p: Person): Promise<SlackResponse> {
    return this.bot().event({ type: 'app_home_opened', user: p.slackId, channel: `D${p.slackId}`, tab: 'home' });
  }
}
