/**
 * Debian's Chromium driven by playwright-core (no browser download): the executable is
 * CHROMIUM_PATH or /usr/bin/chromium (`.ci/run` installs the package where missing). The
 * flags are the ones this machine needs: no sandbox as root, and none of Chromium's own
 * background traffic, so the only requests are the page's.
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export function chromiumMissing(): string | null {
  try {
    fs.accessSync(CHROMIUM, fs.constants.X_OK);
    return null;
  } catch {
    return `no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`;
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-default-apps', '--disable-extensions'],
  });
}

/** Where the browser tests' screenshots go (the README names it): one folder per test file. */
export const SCREENSHOTS = path.resolve(import.meta.dirname, '../../test-artifacts/screenshots');

export function screenshotter(page: Page, folder: string): (name: string) => Promise<void> {
  const dir = path.join(SCREENSHOTS, folder);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  let n = 0;
  return async (name) => {
    await page.screenshot({ path: path.join(dir, `${String(++n).padStart(2, '0')}-${name}.png`), fullPage: false });
  };
}
