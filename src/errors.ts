/**
 * opsgate's coded errors, with the seed's codes (seed 001). Every refusal a person sees
 * carries its code; services throw AppError, listeners turn it into one safe message.
 */
export const ErrorCode = {
  OK: 1000,
  BadParameter: 1100,
  ExpectedObject: 1101,
  MissingField: 1102,
  Permission: 1200,
  NeedPermission: 1201,
  NotInTeam: 1202,
  Internal: 1300,
  NotImplemented: 1301,
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

const TITLES: Record<ErrorCodeValue, string> = {
  1000: 'OK',
  1100: 'Bad parameter',
  1101: 'Expected an object',
  1102: 'Missing field',
  1200: 'Permission error',
  1201: 'You need permission to do this',
  1202: 'You are not in any team',
  1300: 'Internal error',
  1301: 'Not implemented',
};

export class AppError extends Error {
  readonly code: ErrorCodeValue;
  /** Structured details for logs and tests; never shown raw to a user. */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCodeValue, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'AppError';
    this.code = code;
    this.details = details;
  }

  get title(): string {
    return TITLES[this.code];
  }

  /** The one line a person reads: `[1201] You need permission to do this: <why>`. */
  toUserText(): string {
    return `[${this.code}] ${this.title}: ${this.message}`;
  }
}

export const badParameter = (message: string, details?: Record<string, unknown>): AppError => new AppError(ErrorCode.BadParameter, message, details);
export const missingField = (field: string): AppError => new AppError(ErrorCode.MissingField, `${field} is required`, { field });
export const needPermission = (message: string, details?: Record<string, unknown>): AppError => new AppError(ErrorCode.NeedPermission, message, details);
export const notInTeam = (message = 'ask an admin to add you to a team'): AppError => new AppError(ErrorCode.NotInTeam, message);
export const notImplemented = (what: string): AppError => new AppError(ErrorCode.NotImplemented, `${what} is not implemented yet`);

/** Wraps anything thrown into an AppError; the original message stays out of user text. */
/**
 * The driver's ways of saying the store cannot be reached (a network error, no server to
 * select, a pool cleared, mongoose's buffering timeout): a person can only try again later.
 */
const STORE_DOWN_NAMES = /^(Mongo|Mongoose)\w*(Network|NetworkTimeout|ServerSelection|NotConnected|TopologyClosed|PoolCleared|ExpiredSession)Error$/;
const STORE_DOWN_LABELS = ['ResetPool', 'RetryableWriteError', 'TransientTransactionError', 'NoWritesPerformed'];
const STORE_DOWN_MESSAGES = /buffering timed out|Client must be connected|connection .* (closed|timed out)|ECONNREFUSED|ECONNRESET|EPIPE|socket (hang up|closed)|socket has been ended|Topology is closed|pool (was )?cleared|server selection/i;
const SOCKET_CODES = new Set(['EPIPE', 'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT']);
/** Thrown from the driver's own code: Node's socket errors (a plain Error, code EPIPE) keep the caller's frames. */
const DRIVER_FRAMES = /[\\/]node_modules[\\/](mongodb|mongoose)[\\/]/;

/** Whether `err`, or an error it wraps (`cause`), is the store being out of reach. */
export function storeUnavailable(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 5) return false;
  const labels = (err as { errorLabels?: unknown }).errorLabels;
  const labelled = (Array.isArray(labels) ? labels : labels instanceof Set ? [...labels] : []).some((l) => STORE_DOWN_LABELS.includes(String(l)));
  // Messages are read only on the driver's own errors: an ECONNREFUSED from a directory source,
  // SMTP or a host is not the store. A socket error the driver met before it noticed the
  // server was gone is a plain Error (EPIPE, "This socket has been ended by the other
  // party"): it is the store's when the driver's frames threw it.
  const fromDriver = /^Mongo/.test(err.name) || DRIVER_FRAMES.test(err.stack ?? '');
  const code = (err as { code?: unknown }).code;
  const driverSaysDown = fromDriver && (STORE_DOWN_MESSAGES.test(err.message) || (typeof code === 'string' && SOCKET_CODES.has(code)));
  return STORE_DOWN_NAMES.test(err.name) || labelled || driverSaysDown || storeUnavailable(err.cause, depth + 1);
}

/**
 * Whether the running app's store connection is down right now (registered by the app: the
 * driver marks it disconnected the moment the server is gone, while the error an operation
 * then meets can take many shapes).
 */
const storeProbes = new Set<() => boolean>();
export function registerStoreProbe(isDown: () => boolean): () => void {
  storeProbes.add(isDown);
  return () => storeProbes.delete(isDown);
}
const storeDownNow = (): boolean => [...storeProbes].some((down) => down());

export function asAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  if (storeUnavailable(err) || storeDownNow())
    return new AppError(ErrorCode.Internal, 'the store (MongoDB) cannot be reached right now; try again in a minute', { cause: (err as Error).message, storeUnavailable: true });
  return new AppError(ErrorCode.Internal, 'something went wrong on our side; the error was logged', {
    cause: err instanceof Error ? err.message : String(err),
  });
}
