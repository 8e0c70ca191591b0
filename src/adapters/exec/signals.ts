/** Signal names as people type them (`TERM`, `sigterm`, `SIGKILL`) checked against the OS list. */
import os from 'node:os';
import { badParameter } from '../../errors.js';
import type { SignalName } from './types.js';

/** Signals that stop a job: hosts not yet started are not started any more. */
export const STOP_SIGNALS: ReadonlySet<SignalName> = new Set(['TERM', 'KILL', 'INT', 'HUP', 'QUIT']);

/** `term`, `SIGTERM`, `TERM` -> `TERM`; an unknown name is AppError 1100. */
export function normalizeSignal(name: string): SignalName {
  const bare = name.trim().toUpperCase().replace(/^SIG/, '');
  if (!/^[A-Z0-9]+$/.test(bare) || !(`SIG${bare}` in os.constants.signals)) {
    throw badParameter(`unknown signal "${name}": use a name such as TERM, KILL, INT, HUP or USR1`, { signal: name });
  }
  return bare;
}
