// The HTTP listener: timeouts so a slow or stalled client cannot hold a connection (headers, whole request,
// idle keep-alive), and requests Node rejects before koa sees them (malformed, too slow) answered and logged at info.
import { createServer, type RequestListener, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log.js';

/** Seconds, from the configuration's `timeouts`. */
export interface Timeouts {
  headers: number;
  request: number;
  keepAlive: number;
}

const answers: Record<string, string> = {
  ERR_HTTP_REQUEST_TIMEOUT: '408 Request Timeout',
  HPE_HEADER_OVERFLOW: '431 Request Header Fields Too Large',
};

export function createListener(handler: RequestListener, timeouts: Timeouts, log: Logger): Server {
  const server = createServer({
    headersTimeout: timeouts.headers * 1000,
    requestTimeout: timeouts.request * 1000,
    keepAliveTimeout: timeouts.keepAlive * 1000,
    // How often Node looks for expired requests (default 30 s, which would stretch every timeout above by as much).
    connectionsCheckingInterval: Math.min(1000, timeouts.headers * 500),
  }, handler);
  const httpLog = log.child({ mod: 'http' });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const code = error.code ?? 'unknown';
    // A client that went away is no event; one that sent garbage or stalled is, but not an error of ours.
    if (code !== 'ECONNRESET' && code !== 'EPIPE') httpLog.info({ event: 'http.rejected', error: code, reason: error.message }, 'request rejected before routing');
    if (socket.writable && !(socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      const status = answers[code] ?? '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-type: text/plain\r\ncontent-length: ${status.length - 4}\r\n\r\n${status.slice(4)}`);
    } else {
      socket.destroy();
    }
  });
  return server;
}
