/**
 * The execution engine and SSH targets as the configuration sets them: the bot's key, its SSH
 * user, the pool and timeouts. Shared by the bot (src/app.ts) and the tools that reach hosts
 * from the command line (`npm run import -- --adopt-report`).
 */
import type { Clock } from '../../clock.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { Host } from '../../models/inventory.js';
import { loadOrCreateBotKey, type BotKey } from './bot-key.js';
import { ExecutionEngine } from './engine.js';
import type { SshTarget } from './types.js';

export interface ConfiguredEngine {
  engine: ExecutionEngine;
  /** Undefined when no key could be loaded or made: every SSH run then fails. */
  botKey: BotKey | undefined;
  toTarget: (h: Host) => SshTarget;
}

export function engineFromConfig(config: Config, logger: Logger, clock: Clock): ConfiguredEngine {
  const botKey = loadOrCreateBotKey(config.SSH_PRIVATE_KEY_PATH, config.DATA_DIR, logger);
  const engine = new ExecutionEngine({
    sshPrivateKey: botKey?.privateKey,
    sshPassphrase: config.SSH_PRIVATE_KEY_PASSPHRASE,
    parallelism: config.EXEC_PARALLELISM,
    connectTimeoutMs: config.EXEC_CONNECT_TIMEOUT_MS,
    defaultTimeoutMs: config.EXEC_COMMAND_TIMEOUT_MS,
    sshPool: {
      idleTimeoutMs: config.SSH_POOL_IDLE_TIMEOUT_MS,
      maxConnections: config.SSH_POOL_MAX_CONNECTIONS,
      keepaliveIntervalMs: config.SSH_POOL_KEEPALIVE_INTERVAL_MS,
      channelsPerConnection: config.SSH_POOL_CHANNELS_PER_CONNECTION,
    },
    logger,
    clock,
  });
  const toTarget = (h: Host): SshTarget => ({ transport: 'ssh', name: h.name, address: h.address, port: h.port, user: config.SSH_USER, hostKey: h.hostKey });
  return { engine, botKey, toTarget };
}
