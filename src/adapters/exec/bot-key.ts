/**
 * The bot's SSH identity: the key at SSH_PRIVATE_KEY_PATH, or one generated on first start
 * under DATA_DIR/ssh (ssh-keygen, ed25519). Its public line is in the start-up summary
 * (src/startup-summary.ts) so ops can authorize it.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../logger.js';

export interface BotKey {
  privateKey: Buffer;
  publicKeyLine: string;
  path: string;
}

export function loadOrCreateBotKey(configured: string | undefined, dataDir: string, logger: Logger): BotKey | undefined {
  const keyPath = configured ?? path.join(dataDir, 'ssh', 'id_ed25519');
  if (!fs.existsSync(keyPath)) {
    if (configured) throw new Error(`SSH_PRIVATE_KEY_PATH ${configured} does not exist`);
    try {
      fs.mkdirSync(path.dirname(keyPath), { recursive: true, mode: 0o700 });
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'opsgate-bot', '-f', keyPath], { stdio: 'ignore' });
    } catch (err) {
      logger.warn({ err: (err as Error).message }, 'no SSH key and ssh-keygen is not available: SSH work is disabled (set SSH_PRIVATE_KEY_PATH)');
      return undefined;
    }
    logger.info({ path: keyPath }, 'generated the bot SSH key');
  }
  const pubPath = `${keyPath}.pub`;
  const publicKeyLine = fs.existsSync(pubPath) ? fs.readFileSync(pubPath, 'utf8').trim() : '';
  return { privateKey: fs.readFileSync(keyPath), publicKeyLine, path: keyPath };
}
