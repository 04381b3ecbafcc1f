// scripts/oidc-context-property.mjs on the oidc-provider installed here: the getter is found once and the module still
// parses; the rewritten ctx.oidc is the same object on every access with the same attributes as the getter's, held as
// a value (no getter pair per request for V8 to keep until a full collection); and a context stays a fast-mode object,
// where the getter turned every context after the first into a dictionary.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAst } from 'rolldown/parseAst';
import { describe, expect, test } from 'vitest';
import { oidcContextProperty, rewriteOidcContext } from '../../../scripts/oidc-context-property.mjs';

const lib = join(import.meta.dirname, '..', '..', '..', 'node_modules', 'oidc-provider', 'lib');
const file = join(lib, 'helpers', 'initialize_app.js');
const original = readFileSync(file, 'utf8');
const rewritten = rewriteOidcContext(original).code;

/** ensureOIDC's body up to its als.run: the statements that give ctx.oidc. */
const givesOidc = (code: string) => {
  const start = code.indexOf('const ensureOIDC = async (ctx, next) => {') + 'const ensureOIDC = async (ctx, next) => {'.length;
  return code.slice(start, code.indexOf('return als.run(ctx', start));
};

class OIDCContext {
  constructor(readonly ctx: object) {}
}

/** Runs those statements on a new context, as ensureOIDC does for a request. */
function contextFrom(code: string): { oidc?: OIDCContext } {
  const ctx = {};
  new Function('ctx', givesOidc(code)).call({ OIDCContext }, ctx);
  return ctx;
}

describe('ctx.oidc as a plain property', () => {
  test('rewrites the installed engine once, and the module still parses', () => {
    expect(rewriteOidcContext(original).rewritten).toBe(true);
    expect(givesOidc(original)).toContain('get:');
    expect(givesOidc(rewritten)).not.toContain('get:');
    expect(() => parseAst(rewritten, { sourceType: 'module' }, file)).not.toThrow();
  });

  test('gives the same context, read-only, not enumerable, not configurable, as the getter did', () => {
    for (const code of [original, rewritten]) {
      const ctx = contextFrom(code);
      expect(ctx.oidc).toBeInstanceOf(OIDCContext);
      expect(ctx.oidc!.ctx).toBe(ctx);
      expect(ctx.oidc).toBe(ctx.oidc);
      const descriptor = Object.getOwnPropertyDescriptor(ctx, 'oidc')!;
      expect({ enumerable: descriptor.enumerable, configurable: descriptor.configurable }).toEqual({ enumerable: false, configurable: false });
      expect(() => { 'use strict'; ctx.oidc = undefined; }).toThrow(TypeError);
      expect(Object.keys(ctx)).toEqual([]);
    }
    const descriptor = Object.getOwnPropertyDescriptor(contextFrom(rewritten), 'oidc')!;
    expect(descriptor.get).toBeUndefined();
    expect({ writable: descriptor.writable, value: descriptor.value instanceof OIDCContext }).toEqual({ writable: false, value: true });
  });

  test('leaves a source it does not know alone, and the build stops on it, or when the engine was not bundled', () => {
    const other = original.replace('oidcCtx ||= new this.OIDCContext(ctx);', 'oidcCtx ??= new this.OIDCContext(ctx);');
    expect(rewriteOidcContext(other)).toEqual({ code: other, rewritten: false });
    const plugin = oidcContextProperty();
    const build = { error: (message: string) => { throw new Error(message); } };
    plugin.buildStart();
    expect(plugin.transform.call(build, 'export {};', join(lib, 'helpers', 'other.js'))).toBeNull();
    expect(plugin.transform.call(build, original, file)).toBe(rewritten);
    expect(() => plugin.buildEnd.call(build, undefined)).not.toThrow();
    plugin.buildStart();
    expect(() => plugin.transform.call(build, other, file)).toThrow(/no longer gives ctx.oidc/);
    plugin.buildStart();
    expect(() => plugin.buildEnd.call(build, undefined)).toThrow(/not bundled/);
  });

  test('keeps each request\'s context a fast-mode object (the getter made every one after the first a dictionary)', () => {
    const secondIsFast = (code: string) => {
      const script = `class OIDCContext { constructor(ctx) { this.ctx = ctx; } }
        const give = new Function('ctx', ${JSON.stringify(givesOidc(code))});
        const make = () => { const ctx = { req: 1, res: 2 }; give.call({ OIDCContext }, ctx); return ctx; };
        make();
        process.stdout.write(String(%HasFastProperties(make())));`;
      const run = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
      expect(run.status, run.stderr).toBe(0);
      return run.stdout;
    };
    expect(secondIsFast(original)).toBe('false');
    expect(secondIsFast(rewritten)).toBe('true');
  });
});
