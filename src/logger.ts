/** One pino logger for Bolt, Agenda, the store and our own code. */
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination: NodeJS.WritableStream = process.stdout): Logger {
  return pino(
    {
      level,
      base: { app: 'opsgate' },
      // Credentials never reach the log, whatever object a caller passes.
      redact: { paths: ['*.password', '*.token', '*.secret', '*.signingSecret', 'config.SLACK_BOT_TOKEN', 'config.SLACK_APP_TOKEN', 'config.SLACK_SIGNING_SECRET'], censor: '***' },
    },
    destination as pino.DestinationStream,
  );
}
