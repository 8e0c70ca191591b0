/**
 * What a person is told when a listener fails: "try again in a minute" when the store is out
 * of reach (by the error's shape, or because the app's connection is down at that moment),
 * the generic internal error otherwise.
 */
import { describe, expect, it } from 'vitest';
import { asAppError, registerStoreProbe, storeUnavailable } from '../../src/errors.js';

const named = (name: string, message = 'x', extra: Record<string, unknown> = {}) => Object.assign(new Error(message), { name }, extra);

describe('the answer to a failure while the store is down', () => {
  it('knows the driver\'s unreachable errors, their labels and their causes', () => {
    for (const e of [named('MongoServerSelectionError'), named('MongoNetworkError'), named('MongoPoolClearedError'), named('MongooseServerSelectionError'), named('MongoTopologyClosedError')]) expect(storeUnavailable(e), e.name).toBe(true);
    expect(storeUnavailable(named('MongoServerError', 'x', { errorLabels: ['ResetPool'] }))).toBe(true);
    expect(storeUnavailable(new Error('wrapped', { cause: named('MongoNetworkError') }))).toBe(true);
    expect(storeUnavailable(named('MongoServerError', 'E11000 duplicate key'))).toBe(false);
    expect(storeUnavailable(new TypeError('cannot read x of undefined'))).toBe(false);
    // The same words from elsewhere (a directory source, SMTP, a host) are not the store.
    expect(storeUnavailable(new Error('connect ECONNREFUSED 127.0.0.1:8080'))).toBe(false);
    // A socket error the driver met before it noticed the server was gone (seen once under load):
    // the store's when the driver's frames threw it, not when ssh2's or nodemailer's did.
    const epipe = (frames: string) => Object.assign(new Error('This socket has been ended by the other party'), { code: 'EPIPE', stack: `Error: This socket has been ended by the other party\n    at writeAfterFIN (node:net:1:1)\n${frames}` });
    expect(storeUnavailable(epipe('    at Connection.write (/app/node_modules/mongodb/lib/cmap/connection.js:1:1)'))).toBe(true);
    expect(storeUnavailable(epipe('    at Client.exec (/app/node_modules/ssh2/lib/client.js:1:1)'))).toBe(false);
    expect(storeUnavailable(epipe('    at SMTPConnection._send (/app/node_modules/nodemailer/lib/smtp-connection/index.js:1:1)'))).toBe(false);
    expect(storeUnavailable(named('MongooseError', 'Operation `people.findOne()` buffering timed out after 10000ms'))).toBe(true);
  });

  it('says "try again" for any failure while the registered connection is down, and the generic error once it is up', () => {
    let down = true;
    const unregister = registerStoreProbe(() => down);
    try {
      expect(asAppError(new TypeError('odd')).toUserText()).toBe('[1300] Internal error: the store (MongoDB) cannot be reached right now; try again in a minute');
      down = false;
      expect(asAppError(new TypeError('odd')).toUserText()).toBe('[1300] Internal error: something went wrong on our side; the error was logged');
    } finally {
      unregister();
    }
    down = true;
    expect(asAppError(new TypeError('odd')).toUserText()).toContain('something went wrong');
  });
});
