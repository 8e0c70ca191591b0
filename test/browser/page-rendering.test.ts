/**
 * The local workspace page in Chromium, against a workspace started in this process with a
 * stand-in bot: an HTTP endpoint that checks Slack's signature on every delivery and records
 * it. The messages are posted through the workspace's Web API with the bot's token, as the bot
 * posts them, so what is checked is the page's rendering (Block Kit, mrkdwn, ephemeral, updates
 * in place, files), its modals' inputs as Slack's `state.values`, its attacks (HTML and
 * javascript: links in the bot's text, a forged button value) and that it loads nothing from
 * outside its origin.
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { startWorkspaceServer, type WorkspaceServer } from '../../src/workspace/http.js';
import { signature } from '../../src/workspace/slack-requests.js';
import { Workspace } from '../../src/workspace/workspace.js';
import { chromiumMissing, launchChromium, screenshotter } from '../helpers/browser.js';

const missing = chromiumMissing();
if (missing) console.warn(`[browser tests skipped] ${missing}`);

const repo = path.resolve(import.meta.dirname, '../..');

interface Delivery {
  payload: Record<string, unknown>;
}

/** A stand-in for the bot's /slack/events: verifies each request's signature, records its payload, acks empty. */
async function startBot(secret: () => string): Promise<{ url: string; deliveries: Delivery[]; close(): Promise<void>; next(match: (d: Delivery) => boolean): Promise<Delivery> }> {
  const deliveries: Delivery[] = [];
  const waiters: Array<{ match: (d: Delivery) => boolean; resolve: (d: Delivery) => void }> = [];
  const server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const ts = Number(req.headers['x-slack-request-timestamp']);
      if (req.headers['x-slack-signature'] !== signature(secret(), ts, raw)) return void res.writeHead(401).end();
      const form = new URLSearchParams(raw);
      const payload = form.has('payload') ? (JSON.parse(form.get('payload')!) as Record<string, unknown>) : Object.fromEntries(form);
      const d = { payload };
      deliveries.push(d);
      for (const w of waiters.filter((x) => x.match(d))) (waiters.splice(waiters.indexOf(w), 1), w.resolve(d));
      res.writeHead(200, { 'content-type': 'application/json' }).end(payload.type === 'block_suggestion' ? JSON.stringify({ options: [{ text: { type: 'plain_text', text: 'web-01 · prod' }, value: 'web-01' }, { text: { type: 'plain_text', text: 'web-02 · prod' }, value: 'web-02' }] }) : '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/slack/events`,
    deliveries,
    next: (match) => {
      const seen = deliveries.find(match);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe.skipIf(missing !== null)(`the local workspace page in Chromium${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let ws: Workspace;
  let server: WorkspaceServer;
  let bot: Awaited<ReturnType<typeof startBot>>;
  let browser: Browser;
  let page: Page;
  let origin: string;
  let shot: (name: string) => Promise<void>;
  const outside: string[] = [];
  const pageErrors: string[] = [];

  /** A Web API call as the bot makes it: with its token (the workspace refuses any other). */
  const callApi = async (method: string, args: Record<string, unknown>, token = ws.botToken) => {
    const res = await fetch(`${ws.api.url}${method}`, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${token}` }, body: JSON.stringify(args) });
    return (await res.json()) as Record<string, unknown>;
  };
  const carol = () => ws.person('carol')!;
  const article = (ts: string) => page.locator(`article[data-ts="${ts}"]`);

  beforeAll(async () => {
    const logger = createLogger('silent');
    ws = await new Workspace({ directorySource: path.join(repo, 'catalog/directory.yaml'), catalogDir: path.join(repo, 'catalog'), adminChannel: 'C0OPSADMIN', logger }).start();
    bot = await startBot(() => ws.signingSecret);
    ws.connectBot(bot.url);
    server = await startWorkspaceServer(ws, { port: 0, host: '127.0.0.1', logger, health: async () => ({ ok: true }) });
    origin = `http://127.0.0.1:${server.port}`;
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1200, height: 860 } });
    page.on('request', (r) => void (new URL(r.url()).origin !== origin && outside.push(r.url())));
    page.on('pageerror', (e) => pageErrors.push(e.message));
    shot = screenshotter(page, 'page-rendering');
    await page.goto(`${origin}/?as=carol`);
    await page.locator('body[data-live="on"]').waitFor();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await ws?.stop();
    await bot?.close();
  });

  it('is served with a policy that lets it load and connect to its own origin only, and names its controls', async () => {
    const res = await fetch(`${origin}/`);
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*script-src 'self'.*connect-src 'self'/);
    expect(await page.getByLabel('Acting as').inputValue()).toBe('carol');
    await expect(page.getByRole('textbox', { name: 'Message' }).count()).resolves.toBe(1);
    // The channels the catalog names, the admin channel, and Carol's DM with the bot.
    for (const name of ['#deploys', '#ops-runs', '#opsgate-admin', 'opsgate (DM)', 'opsgate · Home']) await expect(page.getByRole('navigation').getByRole('button', { name, exact: true }).count()).resolves.toBe(1);
  });

  it('draws Block Kit and mrkdwn as Slack does, and never HTML or a javascript: link from the bot', async () => {
    const dm = `D${carol().slackId}`;
    const posted = await callApi('chat.postMessage', {
      channel: dm,
      text: 'fallback',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Run :white_check_mark: done' } },
        {
          type: 'section',
          text: { type: 'mrkdwn', text: '*bold* _italic_ ~gone~ `code` <https://example.org/x|a link> <@UCAROL> in <#C0DEPLOYS|deploys> :warning:\n<img src=x onerror="window.pwned=1"> &lt;b&gt;not bold&lt;/b&gt; <javascript:alert(1)|click me>' },
          fields: [
            { type: 'mrkdwn', text: '*Host*\nweb-01' },
            { type: 'mrkdwn', text: '*Exit*\n0' },
          ],
          accessory: { type: 'button', action_id: 'acc', text: { type: 'plain_text', text: 'Details' }, value: 'v-acc' },
        },
        { type: 'divider' },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'took *2.1 s*' }, { type: 'image', image_url: 'https://example.org/pixel.png', alt_text: 'status icon' }] },
        {
          type: 'actions',
          block_id: 'acts',
          elements: [
            { type: 'button', action_id: 'go', style: 'primary', text: { type: 'plain_text', text: 'Approve' }, value: 'the-real-value' },
            { type: 'button', action_id: 'stop', style: 'danger', text: { type: 'plain_text', text: 'Revoke' }, value: 'r1', confirm: { title: { type: 'plain_text', text: 'Revoke the grant?' }, text: { type: 'mrkdwn', text: 'It ends *now*.' }, confirm: { type: 'plain_text', text: 'Revoke' }, deny: { type: 'plain_text', text: 'Keep' } } },
          ],
        },
        { type: 'section', text: { type: 'mrkdwn', text: '```line 1\n<b>line 2</b>```\n> quoted' } },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'expires <!date^1800000000^{date_num} {time}|2027-01-15T08:00:00Z>' }] },
      ],
    });
    expect(posted.ok).toBe(true);
    const ts = String(posted.ts);
    const m = article(ts);
    await m.waitFor();
    await shot('block-kit-message');
    await expect(m.locator('h3.b-header').textContent()).resolves.toBe('Run ✅ done');
    await expect(m.locator('strong', { hasText: 'bold' }).first().count()).resolves.toBe(1);
    await expect(m.locator('em').first().textContent()).resolves.toBe('italic');
    await expect(m.locator('s').first().textContent()).resolves.toBe('gone');
    await expect(m.locator('code').first().textContent()).resolves.toBe('code');
    await expect(m.getByRole('link', { name: 'a link' }).getAttribute('href')).resolves.toBe('https://example.org/x');
    await expect(m.locator('.mention').allTextContents()).resolves.toEqual(['@Carol SRE', '#deploys']);
    await expect(m.textContent()).resolves.toContain('⚠️');
    await expect(m.locator('.b-field').allTextContents()).resolves.toEqual(['Hostweb-01', 'Exit0']);
    await expect(m.locator('pre').textContent()).resolves.toBe('line 1\n<b>line 2</b>');
    await expect(m.locator('blockquote').textContent()).resolves.toBe('quoted');
    // A date special is shown in the reader's zone, with the instant kept for machines.
    await expect(m.locator('time').getAttribute('datetime')).resolves.toBe('2027-01-15T08:00:00.000Z');
    await expect(m.locator('time').textContent()).resolves.toMatch(/^2027-01-1[45] \d\d:\d\d$/);
    await expect(m.getByRole('img', { name: 'status icon' }).count()).resolves.toBe(1);
    await expect(m.getByRole('button', { name: 'Approve' }).getAttribute('class')).resolves.toContain('btn-primary');
    await expect(m.getByRole('button', { name: 'Revoke' }).getAttribute('class')).resolves.toContain('btn-danger');
    // The attacks: markup in the bot's text stays text, and a javascript: link is no link.
    await expect(m.locator('img').count()).resolves.toBe(0);
    await expect(m.locator('b').count()).resolves.toBe(0);
    // Unescaped `<…>` is Slack's link syntax: not a URL, so its text, without the brackets.
    await expect(m.textContent()).resolves.toContain('img src=x onerror="window.pwned=1"');
    await expect(m.textContent()).resolves.toContain('<b>not bold</b>');
    await expect(m.getByRole('link', { name: 'click me' }).count()).resolves.toBe(0);
    await expect(page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).resolves.toBeUndefined();

    // A confirm dialog: Keep sends nothing; Revoke delivers the click.
    const before = bot.deliveries.length;
    await m.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('alertdialog', { name: 'Revoke the grant?' });
    await dialog.waitFor();
    await shot('confirm-dialog');
    await dialog.getByRole('button', { name: 'Keep' }).click();
    await dialog.waitFor({ state: 'detached' });
    // Approve goes out at once (no confirm); Keep sent nothing before it.
    await m.getByRole('button', { name: 'Approve' }).click();
    const approve = await bot.next((d) => (d.payload.actions as Array<{ action_id: string }> | undefined)?.[0]?.action_id === 'go');
    expect(bot.deliveries.slice(before).map((d) => (d.payload.actions as Array<{ action_id: string }>)[0]!.action_id)).toEqual(['go']);
    expect(approve.payload).toMatchObject({ type: 'block_actions', user: { id: carol().slackId }, container: { message_ts: ts, channel_id: dm }, actions: [{ action_id: 'go', block_id: 'acts', value: 'the-real-value' }] });
    await m.getByRole('button', { name: 'Revoke' }).click();
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await bot.next((d) => (d.payload.actions as Array<{ action_id: string }> | undefined)?.[0]?.action_id === 'stop');
  });

  it('a forged button value from the page is not what the bot receives: the message\'s own value is', async () => {
    const posted = await callApi('chat.postMessage', { channel: `D${carol().slackId}`, text: 'x', blocks: [{ type: 'actions', block_id: 'b', elements: [{ type: 'button', action_id: 'forge', text: { type: 'plain_text', text: 'Go' }, value: 'mine' }] }] });
    const answer = await page.evaluate(
      async (posted) => (await fetch('/api/action', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ as: 'carol', channel: String(posted.channel), ts: String(posted.ts), action_id: 'forge', value: 'forged' }) })).json(),
      posted,
    );
    expect(answer).toMatchObject({ ok: true, delivered: true });
    const got = await bot.next((d) => (d.payload.actions as Array<{ action_id: string }> | undefined)?.[0]?.action_id === 'forge');
    expect((got.payload.actions as Array<{ value: string }>)[0]!.value).toBe('mine');
  });

  it('a Web API call without the bot token is refused as Slack refuses it, and shows nothing', async () => {
    await expect(callApi('chat.postMessage', { channel: '#deploys', text: 'spoofed' }, 'xoxb-someone-else')).resolves.toMatchObject({ ok: false, error: 'invalid_auth' });
    const res = await fetch(`${ws.api.url}chat.postMessage`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ channel: '#deploys', text: 'spoofed' }) });
    await expect(res.json()).resolves.toMatchObject({ ok: false, error: 'not_authed' });
    expect(ws.store.messagesFor(carol().slackId).some((m) => m.text === 'spoofed')).toBe(false);
  });

  it('follows the bot live: an update changes the message in place, a delete removes it, an ephemeral is marked for its reader only', async () => {
    const posted = await callApi('chat.postMessage', { channel: '#deploys', text: ':hourglass_flowing_sand: running' });
    await page.getByRole('navigation').getByRole('button', { name: /^#deploys/ }).click();
    const m = article(String(posted.ts));
    await m.waitFor();
    await expect(callApi('chat.update', { channel: String(posted.channel), ts: posted.ts, text: ':white_check_mark: succeeded' })).resolves.toMatchObject({ ok: true });
    await m.getByText('✅ succeeded').waitFor();
    await expect(m.locator('.edited').textContent()).resolves.toBe('(edited)');
    await expect(page.locator(`article[data-ts="${String(posted.ts)}"]`).count()).resolves.toBe(1);
    await shot('updated-in-place');

    const eph = await callApi('chat.postEphemeral', { channel: '#deploys', user: carol().slackId, text: 'only for carol' });
    const e = article(String(eph.message_ts));
    await e.waitFor();
    await expect(e.locator('.only-you').textContent()).resolves.toBe('Only visible to you');
    const forAlice = await callApi('chat.postEphemeral', { channel: '#deploys', user: ws.person('alice')!.slackId, text: 'only for alice' });
    // The next message Carol can see arrives after Alice's ephemeral would have: it never shows.
    const marker = await callApi('chat.postMessage', { channel: '#deploys', text: 'after' });
    await article(String(marker.ts)).waitFor();
    await expect(article(String(forAlice.message_ts)).count()).resolves.toBe(0);

    // A response_url's delete_original (what the bot does with a finished ephemeral form): gone at once.
    const withButton = await callApi('chat.postMessage', { channel: '#deploys', text: 'x', blocks: [{ type: 'actions', block_id: 'del', elements: [{ type: 'button', action_id: 'dismiss', text: { type: 'plain_text', text: 'Dismiss' }, value: 'd' }] }] });
    const d = article(String(withButton.ts));
    await d.getByRole('button', { name: 'Dismiss' }).click();
    const click = await bot.next((x) => (x.payload.actions as Array<{ action_id: string }> | undefined)?.[0]?.action_id === 'dismiss');
    await fetch(String(click.payload.response_url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delete_original: true }) });
    await d.waitFor({ state: 'detached' });
  });

  it('a modal with every input the bot uses: labels, search, and Submit sends them as Slack\'s state.values; field errors sit under their field', async () => {
    const p = carol();
    const view = {
      type: 'modal',
      callback_id: 'every_input',
      title: { type: 'plain_text', text: 'Every input' },
      submit: { type: 'plain_text', text: 'Send it' },
      close: { type: 'plain_text', text: 'Cancel' },
      blocks: [
        { type: 'input', block_id: 'text', label: { type: 'plain_text', text: 'Reason' }, element: { type: 'plain_text_input', action_id: 'reason', multiline: true } },
        { type: 'input', block_id: 'num', label: { type: 'plain_text', text: 'Count' }, element: { type: 'number_input', action_id: 'n', is_decimal_allowed: false } },
        { type: 'input', block_id: 'role', label: { type: 'plain_text', text: 'Role' }, element: { type: 'static_select', action_id: 'role', options: ['readonly', 'evans', 'root'].map((r) => ({ text: { type: 'plain_text', text: r }, value: r })) } },
        { type: 'input', block_id: 'envs', label: { type: 'plain_text', text: 'Environments' }, element: { type: 'multi_static_select', action_id: 'envs', options: ['PROD', 'STAGE', 'DEV'].map((r) => ({ text: { type: 'plain_text', text: r }, value: r })) } },
        { type: 'input', block_id: 'hosts', label: { type: 'plain_text', text: 'Hosts' }, element: { type: 'multi_external_select', action_id: 'hosts', min_query_length: 1 } },
        { type: 'input', block_id: 'day', label: { type: 'plain_text', text: 'Date' }, element: { type: 'datepicker', action_id: 'd' } },
        { type: 'input', block_id: 'time', label: { type: 'plain_text', text: 'Time' }, element: { type: 'timepicker', action_id: 't' } },
        { type: 'input', block_id: 'flags', optional: true, label: { type: 'plain_text', text: 'Flags' }, element: { type: 'checkboxes', action_id: 'f', options: [{ text: { type: 'plain_text', text: 'Run in background' }, value: 'bg' }, { text: { type: 'plain_text', text: 'Auto-run' }, value: 'auto' }] } },
        { type: 'input', block_id: 'mode', label: { type: 'plain_text', text: 'Mode' }, element: { type: 'radio_buttons', action_id: 'm', options: [{ text: { type: 'plain_text', text: 'rolling' }, value: 'rolling' }, { text: { type: 'plain_text', text: 'all at once' }, value: 'all' }] } },
      ],
    };
    ws.store.openView(p.slackId, { id: 'VEVERY', hash: 'h-every', view });
    const dialog = page.getByRole('dialog', { name: 'Every input' });
    await dialog.waitFor();
    await dialog.getByRole('textbox', { name: 'Reason' }).fill('disk is full');
    await dialog.getByRole('spinbutton', { name: 'Count' }).fill('3');
    await dialog.getByRole('combobox', { name: 'Role', exact: true }).selectOption({ label: 'evans' });
    await dialog.getByRole('listbox', { name: 'Environments' }).selectOption([{ label: 'PROD' }, { label: 'DEV' }]);
    const hosts = dialog.getByRole('combobox', { name: 'Hosts', exact: true });
    await hosts.fill('web');
    await dialog.getByRole('option', { name: 'web-02 · prod' }).click();
    await hosts.fill('w');
    await dialog.getByRole('option', { name: 'web-01 · prod' }).click();
    await dialog.getByLabel('Date').fill('2026-12-24');
    await dialog.getByLabel('Time').fill('03:30');
    await dialog.getByRole('checkbox', { name: 'Auto-run' }).check();
    await dialog.getByRole('radio', { name: 'all at once' }).check();
    await shot('modal-every-input');
    const suggestion = await bot.next((d) => d.payload.type === 'block_suggestion');
    expect(suggestion.payload).toMatchObject({ action_id: 'hosts', block_id: 'hosts', view: { id: 'VEVERY', callback_id: 'every_input' } });

    await dialog.getByRole('button', { name: 'Send it' }).click();
    const submitted = await bot.next((d) => d.payload.type === 'view_submission');
    expect((submitted.payload.view as { state: { values: unknown } }).state.values).toEqual({
      text: { reason: { type: 'plain_text_input', value: 'disk is full' } },
      num: { n: { type: 'number_input', value: '3' } },
      role: { role: { type: 'static_select', selected_option: { text: { type: 'plain_text', text: 'evans' }, value: 'evans' } } },
      envs: { envs: { type: 'multi_static_select', selected_options: [{ text: { type: 'plain_text', text: 'PROD' }, value: 'PROD' }, { text: { type: 'plain_text', text: 'DEV' }, value: 'DEV' }] } },
      hosts: { hosts: { type: 'multi_external_select', selected_options: [{ text: { type: 'plain_text', text: 'web-02 · prod' }, value: 'web-02' }, { text: { type: 'plain_text', text: 'web-01 · prod' }, value: 'web-01' }] } },
      day: { d: { type: 'datepicker', selected_date: '2026-12-24' } },
      time: { t: { type: 'timepicker', selected_time: '03:30' } },
      flags: { f: { type: 'checkboxes', selected_options: [{ text: { type: 'plain_text', text: 'Auto-run' }, value: 'auto' }] } },
      mode: { m: { type: 'radio_buttons', selected_option: { text: { type: 'plain_text', text: 'all at once' }, value: 'all' } } },
    });
    // The stand-in bot acked empty: the modal closed, as Slack closes it.
    await dialog.waitFor({ state: 'detached' });

    // Field errors (what a `response_action: errors` leaves) show under their own field only.
    ws.store.openView(p.slackId, { id: 'VERR', hash: 'h-err', view: { ...view, title: { type: 'plain_text', text: 'With errors' } } });
    ws.store.setErrors(p.slackId, 'VERR', { time: '[1100] Bad parameter: pick a time in the future' });
    const withErrors = page.getByRole('dialog', { name: 'With errors' });
    await withErrors.getByText('pick a time in the future').waitFor();
    const time = withErrors.getByLabel('Time');
    await expect(time.getAttribute('aria-invalid')).resolves.toBe('true');
    const describedBy = (await time.getAttribute('aria-describedby'))!.split(' ');
    await expect(withErrors.locator(`[id="${describedBy.at(-1)}"]`).textContent()).resolves.toBe('[1100] Bad parameter: pick a time in the future');
    await expect(withErrors.locator('.b-input[data-block-id="time"] .field-error').count()).resolves.toBe(1);
    await expect(withErrors.locator('.field-error').count()).resolves.toBe(1);
    await expect(withErrors.getByLabel('Date').getAttribute('aria-invalid')).resolves.toBeNull();
    await shot('modal-field-error');
    await withErrors.getByRole('button', { name: 'Cancel' }).click();
    await withErrors.waitFor({ state: 'detached' });
    expect(ws.store.viewsOf(p.slackId)).toEqual([]);
  });

  it('slash commands: the box completes the manifest\'s names, shows the usage hint, and refuses a command the app does not have with its code', async () => {
    await page.getByRole('navigation').getByRole('button', { name: /^opsgate \(DM\)/ }).click();
    const box = page.getByRole('textbox', { name: 'Message' });
    await box.fill('/acc');
    await box.press('Tab');
    await expect(box.inputValue()).resolves.toBe('/access ');
    await expect(page.locator('#message-hint').textContent()).resolves.toMatch(/^\/access .*request/);
    await box.fill('/nope now');
    await box.press('Enter');
    await page.getByRole('alert').filter({ hasText: '[1100]' }).waitFor();
    await box.fill('/opsgate whoami');
    await box.press('Enter');
    const cmd = await bot.next((d) => d.payload.command === '/opsgate');
    expect(cmd.payload).toMatchObject({ command: '/opsgate', text: 'whoami', user_id: carol().slackId, channel_id: `D${carol().slackId}` });
  });

  it('a file the bot shares is a download of exactly its bytes, for those who see the message only', async () => {
    const body = Buffer.from('line one\nline two\n');
    const url = await callApi('files.getUploadURLExternal', { filename: 'TK-000001.log', length: body.length });
    expect(url.ok).toBe(true);
    await fetch(String(url.upload_url), { method: 'POST', body });
    const done = await callApi('files.completeUploadExternal', { files: [{ id: url.file_id, title: 'TK-000001.log' }], channel_id: `D${carol().slackId}`, initial_comment: 'the full log' });
    expect(done.ok).toBe(true);
    const link = page.getByRole('link', { name: 'Download TK-000001.log' });
    await link.waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const file = await download.path();
    expect(fs.readFileSync(file)).toEqual(body);
    const href = await link.getAttribute('href');
    const asAlice = await fetch(`${origin}${href!.replace('as=carol', 'as=alice')}`);
    expect(asAlice.status).toBe(404);
  });

  it('switching "Acting as" shows that person\'s DM, and the page loaded nothing from outside', async () => {
    await page.getByLabel('Acting as').selectOption('alice');
    await page.locator('body[data-live="on"]').waitFor();
    await expect(page.locator('#where').textContent()).resolves.toBe('opsgate (DM)');
    await expect(page.getByText('the full log').count()).resolves.toBe(0);
    expect(outside).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
