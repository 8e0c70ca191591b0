/**
 * Issue 9, "a start-up a person can read": the summary builder (facts in, lines out), the
 * choice of log format, and LOG_FORMAT's validation. The process itself is in
 * startup-process.test.ts.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { chooseLogFormat, createLogger, logWhole } from '../../src/logger.js';
import { mongoLocationForDisplay, startupSummary, summaryText, type StartupFacts } from '../../src/startup-summary.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFdICVLBfV/6QmztLcZN9cFaZanhC2hZUgsLEZZdcMih opsgate-bot';

const facts = (over: Partial<StartupFacts> = {}): StartupFacts => ({
  store: { kind: 'embedded', dataDir: '/srv/opsgate/data/db', uri: 'mongodb://opsgate:s3cretPw@127.0.0.1:40123/?authSource=admin' },
  catalog: { dir: '/srv/opsgate/catalog', ok: true, value: { hosts: 6, projects: 3, tickets: 5, modules: 1 } },
  directory: { source: '/srv/opsgate/catalog/directory.yaml', ok: true, value: { people: 5 } },
  slack: 'off',
  port: 3000,
  sshKey: { publicKey: KEY, path: '/srv/opsgate/data/ssh/id_ed25519' },
  sshUser: 'root',
  ...over,
});

const textOf = (f: StartupFacts) => summaryText(startupSummary(f));
const allOf = (f: StartupFacts) => {
  const s = startupSummary(f);
  return summaryText(s) + JSON.stringify(s.data);
};

describe('the start-up summary', () => {
  it('says where the store is, what was loaded, that Slack is off and how to turn it on, the URL and the key', () => {
    const text = textOf(facts());
    expect(text.split('\n')).toEqual([
      'opsgate is up',
      '  store      embedded, data in /srv/opsgate/data/db (mongodb://127.0.0.1:40123/, loopback only)',
      '  catalog    /srv/opsgate/catalog: 6 hosts, 3 projects, 5 ticket templates, 1 module',
      '  directory  /srv/opsgate/catalog/directory.yaml: 5 people',
      '  Slack      not configured: the bot serves GET /healthz only. To answer Slack set SLACK_BOT_TOKEN with SLACK_SIGNING_SECRET (HTTP) or with SLACK_APP_TOKEN (Socket Mode)',
      '  open       http://127.0.0.1:3000/healthz',
      "  SSH key    add to root's ~/.ssh/authorized_keys on every host (key file /srv/opsgate/data/ssh/id_ed25519):",
      `             ${KEY}`,
    ]);
    expect(allOf(facts())).not.toContain('s3cretPw');
  });

  it('names the Slack mode when Slack is on', () => {
    expect(textOf(facts({ slack: 'http' }))).toContain('Slack      on, HTTP mode: Slack sends requests to http://127.0.0.1:3000/slack/events');
    expect(textOf(facts({ slack: 'socket' }))).toContain('Slack      on, Socket Mode');
  });

  it('points at the local workspace when one serves in place of Slack', () => {
    const text = textOf(facts({ workspaceUrl: 'http://127.0.0.1:3000/' }));
    expect(text).toContain('Slack      not configured: the local workspace plays Slack at http://127.0.0.1:3000/');
    expect(text).toContain('open       http://127.0.0.1:3000/\n');
  });

  it('says there is no SSH key and how to get one', () => {
    expect(textOf(facts({ sshKey: undefined }))).toContain('SSH key    none: SSH work (host access, runs on hosts, host checks) fails. Set SSH_PRIVATE_KEY_PATH, or install ssh-keygen');
  });

  it('says what failed to load, and still starts', () => {
    const text = textOf(
      facts({
        catalog: { dir: '/c', ok: false, problem: 'hosts.yaml: host 2: address: required' },
        directory: { source: 'https://hr:pa55@oa.example.com/people.json?token=t0k3n', ok: false, problem: 'directory source https://***@oa.example.com/people.json?*** could not be read: HTTP 500' },
      }),
    );
    expect(text).toContain('catalog    /c: NOT LOADED: hosts.yaml: host 2: address: required (fix it, then /opsgate reload)');
    expect(text).toContain('directory  https://***@oa.example.com/people.json?***: NOT LOADED: directory source https://***@oa.example.com/people.json?*** could not be read: HTTP 500');
    expect(text).not.toMatch(/pa55|t0k3n|hr:/);
  });

  it('shows a MongoDB URI as hosts and database only: never its user, password or options', () => {
    const uris = [
      'mongodb://admin:Pa%40ss%2Fw0rd@db1.example.com:27017,db2.example.com:27018/opsgate?replicaSet=rs0&authSource=admin',
      'mongodb+srv://svc:Pa%3Fss@cluster0.abcd.mongodb.net/ops?retryWrites=true',
      'mongodb://svc:Pa%3Fss@db1.example.com/?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:Pa%40ss',
    ];
    const shown = uris.map((uri) => allOf(facts({ store: { kind: 'mongodb', uri } })));
    expect(shown[0]).toContain('store      MongoDB at mongodb://db1.example.com:27017,db2.example.com:27018/opsgate\n');
    expect(shown[1]).toContain('store      MongoDB at mongodb+srv://cluster0.abcd.mongodb.net/ops\n');
    expect(shown[2]).toContain('store      MongoDB at mongodb://db1.example.com/\n');
    for (const s of shown) expect(s).not.toMatch(/Pa%|Pa@|admin:|svc|replicaSet|AWS_SESSION_TOKEN/);
  });

  it('shows nothing of a URI the driver would refuse', () => {
    expect(mongoLocationForDisplay('mongodb://user:p@ss@host/db')).toBe('(a MongoDB URI that cannot be parsed; not shown)');
  });
});

describe('the log format', () => {
  it('is pretty on a terminal and JSON lines otherwise, unless LOG_FORMAT says', () => {
    expect([chooseLogFormat(undefined, true), chooseLogFormat(undefined, false), chooseLogFormat(undefined, undefined)]).toEqual(['pretty', 'json', 'json']);
    expect([chooseLogFormat('json', true), chooseLogFormat('pretty', false)]).toEqual(['json', 'pretty']);
  });

  it('LOG_FORMAT takes json or pretty and refuses anything else, naming the variable', () => {
    expect(loadConfig({ LOG_FORMAT: 'pretty' }).LOG_FORMAT).toBe('pretty');
    expect(loadConfig({ LOG_FORMAT: 'json' }).LOG_FORMAT).toBe('json');
    expect(loadConfig({ LOG_FORMAT: '' }).LOG_FORMAT).toBe(undefined);
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow(ConfigError);
    expect(() => loadConfig({ LOG_FORMAT: 'xml' })).toThrow('LOG_FORMAT: must be json or pretty (got "xml")');
  });

  it('pretty writes the summary whole, as lines a person reads, without its data object', () => {
    let out = '';
    const sink = new Writable({ write: (c: Buffer, _e, cb) => ((out += c.toString()), cb()) });
    const logger = createLogger('info', sink, 'pretty');
    const summary = startupSummary(facts({ sshKey: { publicKey: `ssh-rsa ${'A'.repeat(700)} opsgate-bot`, path: '/k' } }));
    logWhole(logger, { startup: summary.data }, summaryText(summary));
    logger.info({ input: 'x'.repeat(2000) }, 'y'.repeat(2000));
    const [head, ...rest] = out.split('\n');
    expect(head).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: opsgate is up$/);
    expect(rest.slice(0, 7).join('\n')).toBe(summaryText(summary).split('\n').slice(1).join('\n'));
    expect(out).not.toContain('"startup"');
    // Input is still cut in the lines that follow.
    expect(out).toContain(`${'y'.repeat(500)}… (2000 chars)`);
    expect(out).not.toContain('x'.repeat(501));
  });
});
