// scripts/lazy-engine-errors.mjs on the oidc-provider installed here: every ctx.assert rewritten, none left, the
// rewritten modules still parse, the JWT check restores the stack trace limit whatever happens, and a source the
// rewrite does not understand is left for the build to refuse. test/e2e/engine-errors.test.ts asks the running
// bundle what the published engine answers.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAst } from 'rolldown/parseAst';
import { describe, expect, test } from 'vitest';
import { requiredRewrites, rewriteEngineSource } from '../../../scripts/lazy-engine-errors.mjs';

const lib = join(import.meta.dirname, '..', '..', '..', 'node_modules', 'oidc-provider', 'lib');
const files = (readdirSync(lib, { recursive: true }) as string[]).filter((f) => f.endsWith('.js'));

describe('the lazy engine errors rewrite', () => {
  test('rewrites every ctx.assert of the installed oidc-provider, and what it must', () => {
    let found = 0;
    let rewritten = 0;
    for (const file of files) {
      const code = readFileSync(join(lib, file), 'utf8');
      found += code.split('ctx.assert(').length - 1;
      const result = rewriteEngineSource(code, file);
      expect(result.leftAt, `${file}:${result.leftAt}`).toBeUndefined();
      rewritten += result.asserts;
      if (result.code !== code) expect(() => parseAst(result.code, { sourceType: 'module' }, file)).not.toThrow();
      const want = requiredRewrites[file as keyof typeof requiredRewrites];
      if (want) expect({ asserts: result.asserts, jwtChecks: result.jwtChecks }, file).toEqual(want);
    }
    expect(found).toBeGreaterThan(0);
    expect(rewritten).toBe(found);
  });

  test('makes the error only when the value is false, and keeps the statement one statement', () => {
    const code = ["  if (other) foo();", "  else ctx.assert(ok, new InvalidToken('not ok'));", "  ctx.assert(found, new InvalidRequest(`no ${what}`));", ''].join('\n');
    const { code: out, asserts, leftAt } = rewriteEngineSource(code, 'x.js');
    // The one after an else is not alone on its line: left as it was, for the build to refuse.
    expect(asserts).toBe(1);
    expect(leftAt).toBe(2);
    expect(out).toContain('  { if (!(found)) throw new InvalidRequest(`no ${what}`); }');
  });

  test('leaves an assert with anything but one message alone', () => {
    for (const line of ["ctx.assert(a, new E('m'), props);", "ctx.assert(a, new E('m', { cause }));", "ctx.assert(a, new E(message));"]) {
      expect(rewriteEngineSource(`  ${line}\n`, 'x.js').leftAt, line).toBe(1);
    }
  });

  test('the JWT check gives its stack trace limit back, thrown or not', () => {
    const file = join('shared', 'reject_structured_tokens.js');
    const { code } = rewriteEngineSource(readFileSync(join(lib, file), 'utf8'), file);
    const body = code.slice(code.indexOf('const stackTraceLimit'), code.indexOf('if (tokenIsJWT)'));
    // The same statements, run with a decoder that throws and one that does not.
    let during: number | undefined;
    const decoders: Array<[() => unknown, boolean | undefined]> = [
      [() => { during = Error.stackTraceLimit; throw new TypeError('not a JWT'); }, undefined],
      [() => { during = Error.stackTraceLimit; return { alg: 'none' }; }, true],
    ];
    for (const [decode, isJWT] of decoders) {
      const limit = Error.stackTraceLimit;
      during = undefined;
      const run = new Function('decodeProtectedHeader', 'params', `let tokenIsJWT; ${body}; return [tokenIsJWT, Error.stackTraceLimit];`);
      expect(run(decode, { token: 'x' })).toEqual([isJWT, limit]);
      expect(during).toBe(0);
    }
  });
});
