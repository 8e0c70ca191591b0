/** A bot instance's name on the work it runs (module jobs, ticket runs): host name + pid + random, unique per start. */
import { randomBytes } from 'node:crypto';
import os from 'node:os';

export function defaultInstanceId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
}
