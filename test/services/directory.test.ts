/**
 * Directory import: a good file, a file with one bad record (nothing imported, the record and
 * field named), an HTTP JSON source, deactivation of people who left, and Slack ids learned.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import YAML from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { personModel } from '../../src/models/person.js';
import { DirectoryService, type SlackPeople } from '../../src/services/directory/directory.js';
import { exampleCatalog } from '../helpers/opsgate.js';
import { startServiceHarness, type ServiceHarness } from '../helpers/services.js';
import { tempDir } from '../helpers/store.js';
import { loadConfig } from '../../src/config.js';

const people = (YAML.parse(fs.readFileSync(path.join(exampleCatalog, 'directory.yaml'), 'utf8')) as { people: Array<Record<string, unknown>> }).people;

describe('directory import', () => {
  let h: ServiceHarness;
  let dir: string;
  let lookups: string[];
  const slack: SlackPeople = {
    emailOf: async (id) => (id === 'UBOB' ? 'bob@example.com' : undefined),
    idByEmail: async (email) => {
      lookups.push(email);
      return email === 'carol@example.com' ? 'UCAROL' : undefined;
    },
  };
  const service = (source: string) => new DirectoryService({ model: personModel(h.conn), audit: h.audit, clock: h.clock, slack, source });

  beforeAll(async () => {
    h = await startServiceHarness();
  });
  afterAll(() => h.stop());
  beforeEach(async () => {
    await personModel(h.conn).deleteMany({});
    dir = tempDir('directory');
    lookups = [];
  });

  function write(name: string, content: unknown): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, name.endsWith('.json') ? JSON.stringify(content) : YAML.stringify(content));
    return file;
  }

  it('imports a good YAML file and learns Slack ids by email', async () => {
    const r = await service(write('people.yaml', { people })).sync('test');
    expect(r).toMatchObject({ added: 5, updated: 0, deactivated: 0, slackIdsLearned: 1 });
    const carol = await personModel(h.conn).findOne({ personId: 'carol' }).lean();
    expect(carol).toMatchObject({ name: 'Carol SRE', level: 'P7', manager: 'alice', groups: ['ops'], slackId: 'UCAROL', active: true });
    expect(lookups).toContain('bob@example.com');
    const audit = await h.audit.query({ action: 'directory.sync' });
    expect(audit[0]).toMatchObject({ actor: 'test', target: 'directory:people' });
  });

  it('imports nothing when one record is bad, naming the record and the field', async () => {
    await service(write('ok.yaml', { people })).sync('test');
    const changed = people.map((p) => (p.id === 'bob' ? { ...p, level: 'P11', name: 'Robert' } : { ...p, name: `${String(p.name)} (new)` }));
    await expect(service(write('bad.yaml', { people: changed })).sync('test')).rejects.toMatchObject({
      code: 1100,
      message: expect.stringMatching(/record 4 \(id bob\): level: must be P1\.\.P10 or M1\.\.M6/),
    });
    const names = (await personModel(h.conn).find({}).lean()).map((p) => p.name);
    expect(names.some((n) => n.includes('(new)'))).toBe(false);
  });

  it.each([
    ['an unknown field', (p: Record<string, unknown>) => ({ ...p, salary: 1 }), /Unrecognized key/],
    ['a bad email', (p: Record<string, unknown>) => ({ ...p, email: 'not-an-email' }), /email: must be an email address/],
    ['a broken SSH key', (p: Record<string, unknown>) => ({ ...p, sshKeys: ['ssh-ed25519 AAAAnotreallyakey'] }), /sshKeys\.0: not an OpenSSH public key/],
    ['a manager nobody is', (p: Record<string, unknown>) => ({ ...p, manager: 'ghost' }), /manager: no person with id ghost/],
  ])('refuses %s', async (_name, mutate, message) => {
    const bad = people.map((p) => (p.id === 'dave' ? mutate(p) : p));
    await expect(service(write('bad.yaml', bad)).sync('test')).rejects.toMatchObject({ code: 1100, message: expect.stringMatching(message) });
    expect(await personModel(h.conn).countDocuments()).toBe(0);
  });

  it('refuses a manager chain that loops', async () => {
    const looped = people.map((p) => (p.id === 'erin' ? { ...p, manager: 'carol' } : p));
    await expect(service(write('loop.json', looped)).sync('test')).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('loops back') });
  });

  /** The error a sync from this source fails with. */
  const syncFailure = (source: string): Promise<Error> =>
    service(source)
      .sync('test')
      .then(
        () => new Error('synced without complaint'),
        (e: Error) => e,
      );

  it('reads an HTTP JSON source and deactivates people who left', async () => {
    let served: unknown = { people };
    let auth = '';
    const server = http.createServer((req, res) => {
      auth = String(req.headers.authorization);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(served));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://user:secret@127.0.0.1:${(server.address() as AddressInfo).port}/people`;
    try {
      expect(await service(url).sync('test')).toMatchObject({ added: 5 });
      expect(auth).toBe('Basic ' + Buffer.from('user:secret').toString('base64'));
      served = people.filter((p) => p.id !== 'dave');
      expect(await service(url).sync('test')).toMatchObject({ added: 0, unchanged: 4, deactivated: 1 });
      expect(await personModel(h.conn).findOne({ personId: 'dave' }).lean()).toMatchObject({ active: false });
      served = '<html>oops</html>';
      const err = await syncFailure(url);
      expect(err).toMatchObject({ code: 1100 });
      expect(err.message).not.toContain('secret');
    } finally {
      server.close();
    }
  });

  it('reads an upper-case HTTPS:// source as a URL, never as a file path that shows the token', () => {
    expect(loadConfig({ DIRECTORY_SOURCE: 'HTTPS://ghp_TOKEN@oa.example.com/people.json' }).DIRECTORY_SOURCE).toBe('HTTPS://ghp_TOKEN@oa.example.com/people.json');
  });

  it('masks a token given as the URL user alone, and the query, in every sync error', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(503).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const url of [`HTTP://TOKEN1234@127.0.0.1:${port}/people.json`, `http://TOKEN1234:@127.0.0.1:${port}/people.json`, `http://TOKEN1234@127.0.0.1:${port}/people.json`, `http://127.0.0.1:${port}/people.json?access_token=QTOKEN99`, `http://u:PASS77@127.0.0.1:${port}/p`]) {
        const err = await syncFailure(url);
        expect(err).toMatchObject({ code: 1100 });
        expect(err.message).toContain(`127.0.0.1:${port}`);
        expect(err.message).not.toMatch(/TOKEN1234|QTOKEN99|PASS77/);
        expect(JSON.stringify((err as { details?: unknown }).details ?? {})).not.toMatch(/TOKEN1234|QTOKEN99|PASS77/);
      }
    } finally {
      server.close();
    }
  });

  it('maps a Slack user by stored id, else once by users.info email', async () => {
    const s = service(write('people.yaml', { people }));
    await s.sync('test');
    expect((await s.findBySlackUser('UCAROL'))?.personId).toBe('carol');
    expect((await s.findBySlackUser('UBOB'))?.personId).toBe('bob');
    expect((await personModel(h.conn).findOne({ personId: 'bob' }).lean())?.slackId).toBe('UBOB');
    expect(await s.findBySlackUser('UNOBODY')).toBeNull();
    // Another Slack account with bob's email does not take bob over.
    const impostor = new DirectoryService({ model: personModel(h.conn), audit: h.audit, clock: h.clock, source: 'unused.yaml', slack: { ...slack, emailOf: async () => 'bob@example.com' } });
    expect(await impostor.findBySlackUser('UIMPOSTOR')).toBeNull();
    expect((await personModel(h.conn).findOne({ personId: 'bob' }).lean())?.slackId).toBe('UBOB');
    await expect(s.requireBySlackUser('UNOBODY')).rejects.toMatchObject({ code: 1201 });
  });
});
