/** The Slack app manifest declares what the code uses: every slash command, events, interactivity. */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { describe, expect, it } from 'vitest';
import { Commands } from '../../commands/ids.js';
import { manifestScopes } from '../helpers/opsgate.js';
import { METHOD_SCOPES } from '../helpers/fake-slack.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const manifest = YAML.parse(fs.readFileSync(path.join(root, 'slack-app-manifest.yaml'), 'utf8')) as {
  features: { slash_commands: Array<{ command: string; url: string }>; app_home: { home_tab_enabled: boolean } };
  settings: { event_subscriptions: { request_url: string; bot_events: string[] }; interactivity: { is_enabled: boolean; request_url: string } };
};

describe('slack-app-manifest.yaml', () => {
  it('declares exactly the slash commands the app registers', () => {
    expect(manifest.features.slash_commands.map((c) => c.command).sort()).toEqual(Object.values(Commands).sort());
  });

  it('sends commands, events and interactions to /slack/events', () => {
    const urls = [...manifest.features.slash_commands.map((c) => c.url), manifest.settings.event_subscriptions.request_url, manifest.settings.interactivity.request_url];
    expect(urls.every((u) => new URL(u).pathname === '/slack/events')).toBe(true);
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.settings.event_subscriptions.bot_events).toContain('app_home_opened');
    expect(manifest.features.app_home.home_tab_enabled).toBe(true);
  });

  it('grants only scopes the Web API methods opsgate calls need, plus commands', () => {
    const known = new Set(['commands', ...Object.values(METHOD_SCOPES)]);
    expect(manifestScopes().filter((s) => !known.has(s))).toEqual([]);
  });
});
