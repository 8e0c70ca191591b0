/**
 * What the local workspace shows: its channels (the catalog's, the admin channel, one DM per
 * person with the bot), the messages in them as the bot posted, updated and deleted them,
 * ephemeral messages marked for their one reader, each person's open modals (a stack, as
 * Slack keeps them) and App Home, and the files the bot shared. Every change goes to the
 * subscribers (the page's server-sent events) with who may see it.
 */

export const BOT_USER = 'UBOT';

export interface Channel {
  /** A channel id as Slack gives them (`C0DEPLOYS`), or `D<user id>` for a DM. */
  id: string;
  /** Without the `#`; the bot may name a channel `#<name>`, as Slack lets it. */
  name: string;
  /** Set for a DM: the one person (besides the bot) in it. */
  dmOf?: string;
}

export interface SharedFile {
  id: string;
  name: string;
  title?: string;
}

export interface Message {
  channel: string;
  ts: string;
  /** The bot (BOT_USER) or the person who typed it. */
  user: string;
  text: string;
  blocks: unknown[];
  /** Set when only this user sees it ("only visible to you"). */
  ephemeralFor?: string;
  files?: SharedFile[];
  edited?: boolean;
}

export interface OpenView {
  id: string;
  hash: string;
  view: Record<string, unknown>;
  /** The bot's field errors from its last `response_action: errors`, by block id. */
  errors?: Record<string, string>;
}

export type Change =
  | { kind: 'message_posted' | 'message_changed' | 'message_deleted'; message: Message }
  | { kind: 'views_changed'; user: string; views: OpenView[] }
  | { kind: 'home_changed'; user: string; home: OpenView };

export class MessageStore {
  readonly channels = new Map<string, Channel>();
  private readonly messages: Message[] = [];
  private readonly views = new Map<string, OpenView[]>();
  private readonly homes = new Map<string, OpenView>();
  private readonly subscribers = new Set<(c: Change) => void>();
  private tsCounter = 0;

  addChannel(c: Channel): void {
    if (!this.channels.has(c.id)) this.channels.set(c.id, c);
  }

  /** A DM with the bot is addressed by the person's user id or `D<user id>`, a channel by its id or `#name`. */
  channelKey(channel: string): string {
    if (/^[UW][A-Z0-9]+$/.test(channel)) return `D${channel}`;
    if (channel.startsWith('#')) return [...this.channels.values()].find((c) => !c.dmOf && c.name === channel.slice(1))?.id ?? channel;
    return channel;
  }

  /** A channel id for a `#name`, as Slack would give it. */
  static idForName(name: string): string {
    return `C0${name.replace(/^#/, '').toUpperCase().replace(/[^A-Z0-9]/g, '')}`;
  }

  /** A timestamp for what the workspace itself adds (response_url messages, acks, file shares). */
  nextTs(): string {
    return `1800000000.${String(++this.tsCounter).padStart(6, '0')}`;
  }

  subscribe(fn: (c: Change) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  private emit(c: Change): void {
    for (const fn of this.subscribers) fn(c);
  }

  post(m: Message): Message {
    const message = { ...m, channel: this.channelKey(m.channel) };
    this.addChannel({ id: message.channel, name: message.channel.replace(/^#/, '') });
    this.messages.push(message);
    this.emit({ kind: 'message_posted', message });
    return message;
  }

  find(channel: string, ts: string): Message | undefined {
    const key = this.channelKey(channel);
    return this.messages.find((m) => m.channel === key && m.ts === ts);
  }

  /** chat.update and replace_original: the message changes in place, where it stands. */
  update(channel: string, ts: string, patch: { text?: string; blocks?: unknown[] }): Message | undefined {
    const m = this.find(channel, ts);
    if (!m) return undefined;
    if (patch.text !== undefined) m.text = patch.text;
    if (patch.blocks !== undefined) m.blocks = patch.blocks;
    m.edited = true;
    this.emit({ kind: 'message_changed', message: m });
    return m;
  }

  remove(channel: string, ts: string): void {
    const m = this.find(channel, ts);
    if (!m) return;
    this.messages.splice(this.messages.indexOf(m), 1);
    this.emit({ kind: 'message_deleted', message: m });
  }

  /** Whether `user` sees the channel: every person sees the shared channels, a DM only its person. */
  canSee(user: string, channel: Channel | undefined): boolean {
    return channel !== undefined && (channel.dmOf === undefined || channel.dmOf === user);
  }

  canSeeMessage(user: string, m: Message): boolean {
    return this.canSee(user, this.channels.get(m.channel)) && (m.ephemeralFor === undefined || m.ephemeralFor === user);
  }

  messagesFor(user: string): Message[] {
    return this.messages.filter((m) => this.canSeeMessage(user, m));
  }

  fileShared(fileId: string): Message | undefined {
    return this.messages.find((m) => m.files?.some((f) => f.id === fileId));
  }

  viewsOf(user: string): OpenView[] {
    return this.views.get(user) ?? [];
  }

  homeOf(user: string): OpenView | undefined {
    return this.homes.get(user);
  }

  /** views.open: a new modal, on top of nothing (Slack replaces whatever was open). */
  openView(user: string, v: OpenView): void {
    this.views.set(user, [v]);
    this.emitViews(user);
  }

  pushView(user: string, v: OpenView): void {
    this.views.set(user, [...this.viewsOf(user), v]);
    this.emitViews(user);
  }

  /** views.update (or `response_action: update`): the view with this id changes where it stands. */
  updateView(v: OpenView): void {
    for (const [user, stack] of this.views) {
      const i = stack.findIndex((x) => x.id === v.id);
      if (i >= 0) {
        stack[i] = v;
        this.emitViews(user);
        return;
      }
    }
    const home = [...this.homes].find(([, h]) => h.id === v.id);
    if (home) this.setHome(home[0], v);
  }

  setErrors(user: string, viewId: string, errors: Record<string, string>): void {
    const v = this.viewsOf(user).find((x) => x.id === viewId);
    if (!v) return;
    v.errors = errors;
    this.emitViews(user);
  }

  /** Submitting (or closing) the top modal pops it; `clear` closes them all. */
  closeViews(user: string, how: 'top' | 'all'): void {
    const stack = this.viewsOf(user);
    this.views.set(user, how === 'all' ? [] : stack.slice(0, -1));
    this.emitViews(user);
  }

  setHome(user: string, v: OpenView): void {
    this.homes.set(user, v);
    this.emit({ kind: 'home_changed', user, home: v });
  }

  private emitViews(user: string): void {
    this.emit({ kind: 'views_changed', user, views: this.viewsOf(user) });
  }
}
