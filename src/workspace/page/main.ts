/**
 * The local workspace page: the "Acting as" switcher, the channels and the person's DM with
 * the bot, the App Home tab, the messages as the bot posts and updates them (live, from the
 * server-sent events), the message box for slash commands, and the person's modals.
 */
import { api, type Change, type Message, type State } from './api.js';
import { renderMessageBody, renderBlocks } from './blocks.js';
import { Composer } from './composer.js';
import { confirmDialog } from './confirm.js';
import type { ElementContext, Field, Obj } from './elements.js';
import { ModalView, stateValues } from './modal.js';
import type { Names } from './mrkdwn.js';

const HOME = 'home';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

class Page {
  private state?: State;
  private where = '';
  private events?: EventSource;
  private readonly unread = new Map<string, number>();
  private readonly modal = new ModalView($('modal-root'), { as: () => this.as(), context: (viewId, fields) => this.viewContext(viewId, fields) });
  private readonly composer = new Composer($<HTMLFormElement>('composer'), {
    send: async (text) => {
      const a = await api.command(this.as(), this.where, text);
      return a.ok ? null : (a.error ?? 'not delivered');
    },
  });
  readonly names: Names = {
    user: (id) => (id === 'UBOT' ? 'opsgate' : this.state?.people.find((p) => p.slackId === id)?.name),
    channel: (id) => this.state?.channels.find((c) => c.id === id)?.name,
  };

  /** Who the page acts as: set at once on a switch, before that person's state has arrived. */
  private asId = '';

  as(): string {
    return this.asId;
  }

  /**
   * Follows the person's events first and reads the state once the stream is open, so nothing
   * posted in between is missed; events that arrive before the state are applied after it.
   */
  load(as: string): void {
    this.events?.close();
    this.asId = as;
    this.state = undefined;
    document.body.dataset.live = 'connecting';
    const es = api.events(as);
    this.events = es;
    const early: Change[] = [];
    const on = (e: MessageEvent<string>) => {
      const c = JSON.parse(e.data) as Change;
      if (this.state) this.apply(c);
      else early.push(c);
    };
    for (const kind of ['message_posted', 'message_changed', 'message_deleted', 'views_changed', 'home_changed']) es.addEventListener(kind, on as EventListener);
    es.addEventListener('open', () => {
      void api
        .state(as)
        .then((state) => {
          if (this.events !== es) return;
          this.show(state);
          for (const c of early.splice(0)) this.apply(c);
          document.body.dataset.live = 'on';
        })
        .catch((err: unknown) => ($('where').textContent = `The workspace could not be loaded: ${String(err)}`));
    });
    // A dropped stream (the bot restarted, say) reconnects and reads everything again.
    es.addEventListener('error', () => {
      document.body.dataset.live = 'off';
      if (this.events === es) {
        es.close();
        setTimeout(() => this.events === es && this.load(as), 1000);
      }
    });
  }

  private show(state: State): void {
    this.state = state;
    this.unread.clear();
    const own = state.channels.find((c) => c.dmOf !== undefined);
    if (this.where !== HOME && !state.channels.some((c) => c.id === this.where)) this.where = own?.id ?? state.channels[0]?.id ?? '';
    history.replaceState(null, '', `?${new URLSearchParams({ as: state.as })}`);
    this.drawPeople();
    this.drawAll();
    this.modal.show(state.views.modals);
    if (this.where === HOME) void api.home(state.as);
  }

  private apply(c: Change): void {
    const s = this.state;
    if (!s) return;
    if (c.kind === 'views_changed') {
      s.views.modals = c.views;
      return this.modal.show(c.views);
    }
    if (c.kind === 'home_changed') {
      s.views.home = c.home;
      if (this.where === HOME) this.drawMain();
      return;
    }
    const i = s.messages.findIndex((m) => m.channel === c.message.channel && m.ts === c.message.ts);
    if (c.kind === 'message_deleted') {
      if (i >= 0) s.messages.splice(i, 1);
    } else if (i >= 0) s.messages[i] = c.message;
    else {
      s.messages.push(c.message);
      if (c.message.channel !== this.where) this.unread.set(c.message.channel, (this.unread.get(c.message.channel) ?? 0) + 1);
    }
    if (!s.channels.some((ch) => ch.id === c.message.channel)) s.channels.push({ id: c.message.channel, name: c.message.channel });
    this.drawChannels();
    if (c.message.channel === this.where) this.drawMessage(c.kind, c.message);
  }

  private drawPeople(): void {
    const s = this.state!;
    const select = $<HTMLSelectElement>('acting-as');
    select.replaceChildren(
      ...s.people.map((p) => {
        const o = document.createElement('option');
        o.value = p.id;
        o.textContent = `${p.name} (${p.id})`;
        o.selected = p.id === s.as;
        return o;
      }),
    );
  }

  private drawAll(): void {
    this.drawChannels();
    this.drawMain();
  }

  private channelLabel(id: string): string {
    const ch = this.state?.channels.find((c) => c.id === id);
    if (!ch) return id;
    return ch.dmOf ? 'opsgate (DM)' : `#${ch.name}`;
  }

  private drawChannels(): void {
    const s = this.state!;
    const item = (id: string, label: string) => {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      if (id === this.where) b.setAttribute('aria-current', 'page');
      const n = this.unread.get(id) ?? 0;
      if (n > 0) {
        const badge = document.createElement('span');
        badge.className = 'badge';
        badge.textContent = String(n);
        badge.setAttribute('aria-label', `${n} new`);
        b.append(' ', badge);
      }
      b.addEventListener('click', () => this.open(id));
      li.append(b);
      return li;
    };
    const shared = s.channels.filter((c) => !c.dmOf).sort((a, b) => a.name.localeCompare(b.name));
    const dm = s.channels.filter((c) => c.dmOf);
    $('channels').replaceChildren(...shared.map((c) => item(c.id, `#${c.name}`)));
    $('dms').replaceChildren(item(HOME, 'opsgate · Home'), ...dm.map((c) => item(c.id, 'opsgate (DM)')));
  }

  private open(id: string): void {
    this.where = id;
    this.unread.delete(id);
    this.drawAll();
    if (id === HOME) void api.home(this.as());
  }

  private drawMain(): void {
    const s = this.state!;
    const heading = $('where');
    const list = $('messages');
    const composer = $('composer');
    if (this.where === HOME) {
      heading.textContent = 'opsgate · Home';
      composer.hidden = true;
      const home = s.views.home;
      const pane = document.createElement('div');
      pane.className = 'home';
      if (home) pane.append(...renderBlocks(home.view.blocks, this.viewContext(home.id, [])));
      else pane.textContent = 'Opening the Home tab…';
      list.replaceChildren(pane);
      return;
    }
    heading.textContent = this.channelLabel(this.where);
    composer.hidden = false;
    this.composer.setCommands(s.commands);
    this.composer.setPlace(this.channelLabel(this.where));
    const here = s.messages.filter((m) => m.channel === this.where);
    list.replaceChildren(...here.map((m) => this.messageNode(m)));
    if (here.length === 0) {
      const empty = document.createElement('p');
      empty.className = 'empty';
      empty.textContent = 'Nothing here yet. Type a slash command below, such as /opsgate help.';
      list.append(empty);
    }
    list.scrollTop = list.scrollHeight;
  }

  private drawMessage(kind: Change['kind'], m: Message): void {
    const list = $('messages');
    list.querySelector('.empty')?.remove();
    const old = list.querySelector<HTMLElement>(`[data-ts="${CSS.escape(m.ts)}"]`);
    if (kind === 'message_deleted') return void old?.remove();
    const node = this.messageNode(m);
    if (old) old.replaceWith(node);
    else {
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
      list.append(node);
      if (atBottom) list.scrollTop = list.scrollHeight;
    }
  }

  private messageNode(m: Message): HTMLElement {
    const art = document.createElement('article');
    art.className = 'message';
    art.dataset.ts = m.ts;
    const who = document.createElement('header');
    const name = document.createElement('strong');
    name.textContent = this.names.user(m.user) ?? m.user;
    who.append(name);
    if (m.user === 'UBOT') who.append(' ', Object.assign(document.createElement('span'), { className: 'tag', textContent: 'APP' }));
    if (m.ephemeralFor) {
      art.classList.add('ephemeral');
      who.append(' ', Object.assign(document.createElement('span'), { className: 'only-you', textContent: 'Only visible to you' }));
    }
    if (m.edited) who.append(' ', Object.assign(document.createElement('span'), { className: 'edited', textContent: '(edited)' }));
    art.setAttribute('aria-label', `Message from ${name.textContent}`);
    const body = document.createElement('div');
    body.className = 'message-body';
    body.append(...renderMessageBody(m.text, m.blocks, this.messageContext(m)));
    art.append(who, body);
    for (const f of m.files ?? []) {
      const a = document.createElement('a');
      a.className = 'file';
      a.href = api.fileUrl(this.as(), f.id);
      a.download = f.name;
      a.textContent = `📎 ${f.title ?? f.name}`;
      a.setAttribute('aria-label', `Download ${f.name}`);
      art.append(a);
    }
    return art;
  }

  private shown(answer: { ok: boolean; error?: string }): void {
    if (!answer.ok) this.composer.showError(answer.error ?? 'not delivered');
  }

  private messageContext(m: Message): ElementContext {
    return {
      names: this.names,
      act: (element, blockId, picked) => void api.action({ as: this.as(), channel: m.channel, ts: m.ts, action_id: element.action_id, block_id: blockId, ...picked }).then((a) => this.shown(a)),
      suggest: async () => [],
      confirm: (c) => confirmDialog(c, this.names),
    };
  }

  /** Inside a modal or the App Home: actions carry the view's current values, as Slack's do. */
  private viewContext(viewId: string, fields: Field[]): ElementContext {
    return {
      names: this.names,
      fields,
      act: (element, blockId, picked) => void api.action({ as: this.as(), view_id: viewId, action_id: element.action_id, block_id: blockId, values: stateValues(fields), ...picked }).then((a) => this.shown(a)),
      suggest: async (element, blockId, query) => (await api.suggest(this.as(), viewId, String(element.action_id), blockId, query)).options ?? ([] as Obj[]),
      confirm: (c) => confirmDialog(c, this.names),
    };
  }

  start(): void {
    $<HTMLSelectElement>('acting-as').addEventListener('change', (e) => this.load((e.target as HTMLSelectElement).value));
    const as = new URLSearchParams(location.search).get('as');
    void fetch('/api/people')
      .then((r) => r.json() as Promise<{ people: Array<{ id: string }> }>)
      .then((r) => this.load(as && r.people.some((p) => p.id === as) ? as : (r.people[0]?.id ?? '')))
      .catch((err: unknown) => ($('where').textContent = `The workspace could not be loaded: ${String(err)}`));
  }
}

new Page().start();
