// The root logger's redaction: secrets never reach a log line, whatever key or header they travel in.
import { describe, expect, test } from 'vitest';
import { createLogger } from '../../src/log.js';

function capture() {
  const lines: string[] = [];
  const log = createLogger('info', { write: (line: string) => { lines.push(line); } });
  return { log, output: () => lines.join('') };
}

const secrets = {
  password: 'hunter2-password-value',
  client_secret: 'client-secret-value-123',
  code: 'authorization-code-value',
  refresh_token: 'refresh-token-value',
  authorization: 'Basic YWxpY2U6aHVudGVyMg==',
  cookie: '_session=session-cookie-value',
};

describe('log redaction', () => {
  test('top-level secrets and request headers are redacted', () => {
    const { log, output } = capture();
    log.info({
      password: secrets.password,
      client_secret: secrets.client_secret,
      code: secrets.code,
      refresh_token: secrets.refresh_token,
      req: { method: 'POST', headers: { authorization: secrets.authorization, cookie: secrets.cookie, 'user-agent': 'curl/8' } },
    }, 'token request');
    const text = output();
    for (const value of Object.values(secrets)) expect(text).not.toContain(value);
    // The line is still written, with the harmless parts intact.
    const line = JSON.parse(text);
    expect(line).toMatchObject({ msg: 'token request', password: '[redacted]', req: { method: 'POST', headers: { 'user-agent': 'curl/8' } } });
  });

  test('secrets one level down (a request body, a child logger) are redacted', () => {
    const { log, output } = capture();
    log.child({ mod: 'http' }).info({ body: { username: 'alice', password: secrets.password, code: secrets.code }, headers: { cookie: secrets.cookie } });
    const text = output();
    for (const value of [secrets.password, secrets.code, secrets.cookie]) expect(text).not.toContain(value);
    expect(text).toContain('alice');
  });

  test('the level filters lines', () => {
    const { log, output } = capture();
    log.debug('hidden detail');
    log.info('shown');
    expect(output()).not.toContain('hidden detail');
    expect(output()).toContain('shown');
  });
});
