/** The catalog loader: the example catalog loads; each kind of mistake names file, line and field. */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/services/catalog/load.js';
import { exampleCatalog } from '../helpers/opsgate.js';
import { tempDir } from '../helpers/store.js';

function catalogWith(file: string, edit: (text: string) => string): string {
  const dir = tempDir('catalog');
  fs.cpSync(exampleCatalog, dir, { recursive: true });
  const full = path.join(dir, file);
  fs.writeFileSync(full, edit(fs.readFileSync(full, 'utf8')));
  return dir;
}

describe('catalog', () => {
  it('loads the example catalog shipped in the repository', async () => {
    const c = await loadCatalog(exampleCatalog);
    expect(c.hosts.map((h) => h.name)).toContain('web-01');
    expect(c.hosts.every((h) => h.address.startsWith('127.'))).toBe(true);
    expect(c.products.map((p) => p.prod_name)).toEqual(['jm-nginx', 'jm-php', 'jm-user', 'jm-lvs', 'jm-haproxy']);
    expect(c.hosts.find((h) => h.name === 'web-02')?.port).toBe(22);
  });

  it.each([
    ['hosts.yaml', (t: string) => t.replace('port: 2222', 'port: 70000'), /hosts\.yaml:(\d+): hosts\[5\]\.port: .*65535/],
    ['hosts.yaml', (t: string) => t.replace('hostKey: SHA256:6vKuJ9', 'hostKey: MD5:6vKuJ9'), /hosts\.yaml:(\d+): hosts\[0\]\.hostKey: must be an OpenSSH SHA256 fingerprint/],
    ['hosts.yaml', (t: string) => t.replace('    app: haproxy', '    app: haproxy\n    colour: blue'), /hosts\.yaml:(\d+): hosts\[3\]: Unrecognized key/],
    ['hosts.yaml', (t: string) => t.replace('  - name: web-02', '  - name: web-01'), /host web-01 is listed twice/],
    ['hosts.yaml', (t: string) => t.replace('    env: stage', '    env: stage\n   bad: [indent'), /hosts\.yaml:(\d+): not valid YAML/],
    ['projects.yaml', (t: string) => t.replace('hosts: [lb-01]', 'hosts: [lb-99]'), /project edge: hosts: no host named lb-99/],
    ['products.yaml', (t: string) => t.replace('prod_name: jm-php', 'prod_name: ""'), /products\.yaml:(\d+): products\[1\]\.prod_name: must not be empty/],
  ])('refuses a bad %s with file, line and field', async (file, edit, message) => {
    const dir = catalogWith(file, edit);
    const err = (await loadCatalog(dir).then(
      () => new Error('loaded without complaint'),
      (e: Error) => e,
    )) as Error;
    expect(err).toMatchObject({ code: 1100 });
    expect(err.message).toMatch(message);
    const line = /\.yaml:(\d+)/.exec(err.message)?.[1];
    if (line) {
      // The line named is the one holding the mistake (or its entry).
      const text = fs.readFileSync(path.join(dir, file), 'utf8').split('\n')[Number(line) - 1] ?? '';
      expect(text.trim()).not.toBe('');
    }
  });

  it('refuses a missing catalog folder', async () => {
    await expect(loadCatalog('/nonexistent/catalog')).rejects.toMatchObject({ code: 1100, message: expect.stringContaining('CATALOG_DIR') });
  });
});
