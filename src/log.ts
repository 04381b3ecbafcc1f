// The root pino logger and the one redaction list: no password, code, token, secret or cookie reaches a log line.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const redactPaths = [
  'password', '*.password', 'secret', '*.secret', 'client_secret', '*.client_secret',
  'code', '*.code', 'code_verifier', '*.code_verifier', 'token', '*.token',
  'access_token', '*.access_token', 'refresh_token', '*.refresh_token', 'id_token', '*.id_token',
  'req.headers.cookie', 'req.headers.authorization', 'res.headers["set-cookie"]',
  'headers.cookie', 'headers.authorization',
  'databaseUrl', '*.databaseUrl', 'connectionString', '*.connectionString',
];

/** Creates the root logger; `destination` lets tests capture lines. */
export function createLogger(level: LevelWithSilent, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: redactPaths, censor: '[redacted]' }, base: { pid: process.pid } }, destination);
}

/**
 * The access log: lines reach stdout in batches (4 KiB, or at most `flushMs` late, and on exit), for the one line
 * every request writes, which as a synchronous write per request cost more than a JWKS answer itself. Its lines
 * have fixed fields (request id, method, path, status, time; never a query string, header or body), so they skip
 * the redaction pass, which cost every request more than the line itself.
 */
export function createAccessLogger(level: LevelWithSilent, flushMs = 250): Logger {
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  setInterval(() => destination.flush(), flushMs).unref();
  return pino({ level, base: { pid: process.pid } }, destination);
}
