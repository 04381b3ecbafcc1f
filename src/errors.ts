// AppError: a code to switch over, an HTTP status, and a public message kept apart from the internal cause.

export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'expired'
  | 'upstream'
  | 'internal'
  | 'unavailable';

const statusFor: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  expired: 410,
  upstream: 502,
  internal: 500,
  unavailable: 503,
};

export class AppError extends Error {
  readonly status: number;
  /** Whether `message` may be shown to the user. */
  readonly expose: boolean;

  constructor(readonly code: ErrorCode, message: string, options: { cause?: unknown; expose?: boolean } = {}) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.status = statusFor[code];
    // An upstream's failure is told to the user (which service, what went wrong); our own 5xx never are.
    this.expose = options.expose ?? (this.status < 500 || code === 'upstream');
  }
}

export const badRequest = (message: string) => new AppError('bad_request', message);
export const notFound = (message: string) => new AppError('not_found', message);
export const conflict = (message: string, cause?: unknown) => new AppError('conflict', message, { cause });
export const forbidden = (message: string) => new AppError('forbidden', message);
export const expired = (message: string) => new AppError('expired', message);
export const internal = (message: string, cause?: unknown) => new AppError('internal', message, { cause });
