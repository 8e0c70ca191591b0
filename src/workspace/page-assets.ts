/**
 * The page's files, all served by the bot itself (no CDN, no font or script from outside):
 * index.html, style.css, icon.svg and app.js, the page's TypeScript (./page/) bundled in memory by
 * esbuild when the workspace first starts. The Content-Security-Policy says the same to the
 * browser: it may load and connect to this origin only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

const PAGE_DIR = path.join(import.meta.dirname, 'page');

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface PageAsset {
  type: string;
  body: Buffer;
}

let built: Promise<Map<string, PageAsset>> | undefined;

/** Built once per process: the page's files do not change while it runs. */
export function buildPageAssets(): Promise<Map<string, PageAsset>> {
  built ??= bundlePage().catch((err: unknown) => {
    built = undefined;
    throw err;
  });
  return built;
}

async function bundlePage(): Promise<Map<string, PageAsset>> {
  const bundle = await build({
    entryPoints: [path.join(PAGE_DIR, 'main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    write: false,
    minify: false,
    sourcemap: false,
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0];
  if (!js) throw new Error('the page bundle came out empty');
  return new Map<string, PageAsset>([
    ['/', { type: 'text/html; charset=utf-8', body: fs.readFileSync(path.join(PAGE_DIR, 'index.html')) }],
    ['/assets/style.css', { type: 'text/css; charset=utf-8', body: fs.readFileSync(path.join(PAGE_DIR, 'style.css')) }],
    ['/assets/icon.svg', { type: 'image/svg+xml', body: fs.readFileSync(path.join(PAGE_DIR, 'icon.svg')) }],
    ['/assets/app.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(js.contents) }],
  ]);
}
