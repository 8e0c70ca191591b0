/**
 * Starting the local workspace for `npm start` without Slack: in two steps, because the bot's
 * Web API client must know the workspace's API URL before it is built (Bolt calls auth.test at
 * once), and the workspace must know the bot's events URL before it can deliver anything.
 */
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { ApiListener } from '../adapters/slack/bolt-app.js';
import { startWorkspaceServer, type WorkspaceServer } from './http.js';
import { Workspace } from './workspace.js';

/** On only when no Slack credential at all is set: one real credential means a real Slack is meant. */
export function workspaceWanted(config: Config): boolean {
  return !config.SLACK_BOT_TOKEN && !config.SLACK_SIGNING_SECRET && !config.SLACK_APP_TOKEN;
}

/** The admin channel the workspace gives the bot when ADMIN_CHANNEL is unset, so admin notices are seen. */
export const LOCAL_ADMIN_CHANNEL = 'C0OPSADMIN';

export interface RunningWorkspace {
  workspace: Workspace;
  /** The configuration the bot runs with: the workspace's generated token and secret, its Web API URL. */
  config: Config;
  /** Set once serving: the page's address. */
  url?: string;
  port?: number;
  address?: string;
  /** `api`: the bot's HTTP API, answered on the workspace's port too (the port people reach). */
  serve(botPort: number, health: () => Promise<{ ok: boolean }>, api?: ApiListener): Promise<void>;
  stop(): Promise<void>;
}

export async function startLocalWorkspace(config: Config, logger: Logger): Promise<RunningWorkspace> {
  const adminChannel = config.ADMIN_CHANNEL ?? LOCAL_ADMIN_CHANNEL;
  const workspace = await new Workspace({ directorySource: config.DIRECTORY_SOURCE, catalogDir: config.CATALOG_DIR, adminChannel, logger }).start();
  let server: WorkspaceServer | undefined;
  const running: RunningWorkspace = {
    workspace,
    config: { ...config, SLACK_BOT_TOKEN: workspace.botToken, SLACK_SIGNING_SECRET: workspace.signingSecret, SLACK_API_URL: workspace.api.url, ADMIN_CHANNEL: adminChannel },
    async serve(botPort, health, api) {
      workspace.connectBot(`http://127.0.0.1:${botPort}/slack/events`);
      const host = config.WORKSPACE_HOST ?? '127.0.0.1';
      server = await startWorkspaceServer(workspace, { port: config.PORT, host, logger, health, api });
      const shown = host.includes(':') ? `[${host}]` : host;
      running.url = `http://${shown === '0.0.0.0' || shown === '[::]' ? '127.0.0.1' : shown}:${server.port}/`;
      running.port = server.port;
      running.address = server.address;
      if (config.WORKSPACE_HOST) logger.warn({ host }, `local workspace: listening on ${host} (WORKSPACE_HOST): anyone who can reach it can act as anyone in the directory`);
      logger.info({ url: running.url, people: workspace.people.length }, `Slack is not configured: local workspace on ${running.url}`);
    },
    async stop() {
      await server?.close();
      await workspace.stop();
    },
  };
  return running;
}
