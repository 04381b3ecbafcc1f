// A rolldown plugin for the server bundle (scripts/bundle-server.mjs): oidc-provider builds errors it never throws
// on its hottest paths, and V8 captures a stack for each (InvalidToken captures two: about 30 µs on a 2-core
// machine, more than a userinfo request's SQL): `ctx.assert(value, new InvalidToken('...'))` makes the error
// before it looks at the value, three times per userinfo call, and introspection and revocation ask jose to decode
// every opaque token as a JWT, which throws. The bundle makes those errors only when they are thrown, and lets the
// dropped one skip its stack. What the engine answers stays the same (http-assert throws the error it is given,
// as it is). The build stops, naming the file, when a `ctx.assert(` is left that this cannot rewrite, or when the
// two places the speed-up is for (shared/access_token.js, shared/reject_structured_tokens.js) are not rewritten.
import { relative, sep } from 'node:path';

/** Where oidc-provider's modules are, in a module id. */
export const engineDir = `${sep}node_modules${sep}oidc-provider${sep}lib${sep}`;

// `ctx.assert(value, new SomeError('message'));` alone on its line, the message one string or template literal, as
// oidc-provider writes it. Anything else keeps its `ctx.assert(` and stops the build.
const eagerAssert = /^(\s*)ctx\.assert\(([^,;\n]+), (new [A-Za-z]+\((?:'(?:[^'\\\n]|\\.)*'|`[^`\n]*`)\))\);$/gm;

const structuredCheck = `  try {
    tokenIsJWT = !!decodeProtectedHeader(params.token);
  } catch {}`;
const structuredCheckWithoutStack = `  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0; // an opaque token makes jose throw, and the error is dropped: no stack to capture
  try {
    tokenIsJWT = !!decodeProtectedHeader(params.token);
  } catch {} finally {
    Error.stackTraceLimit = stackTraceLimit;
  }`;

/** What the bundle must have rewritten, by file under oidc-provider's lib/: asserts made lazy, JWT checks without a stack. */
export const requiredRewrites = {
  [`shared${sep}access_token.js`]: { asserts: 3, jwtChecks: 0 },
  [`shared${sep}reject_structured_tokens.js`]: { asserts: 0, jwtChecks: 1 },
};

/**
 * One oidc-provider module's source, rewritten: its code, how many asserts and JWT checks were rewritten, and the line
 * (1-based) of a `ctx.assert(` left, if any. `file` is its path under lib/.
 */
export function rewriteEngineSource(code, file) {
  let asserts = 0;
  let out = code.replace(eagerAssert, (_match, indent, value, error) => {
    asserts += 1;
    return `${indent}{ if (!(${value})) throw ${error}; }`;
  });
  let jwtChecks = 0;
  if (file.endsWith(`reject_structured_tokens.js`) && out.includes(structuredCheck)) {
    out = out.replace(structuredCheck, structuredCheckWithoutStack);
    jwtChecks = 1;
  }
  const left = out.split('\n').findIndex((line) => line.includes('ctx.assert('));
  return { code: out, asserts, jwtChecks, leftAt: left < 0 ? undefined : left + 1 };
}

export function lazyEngineErrors(root) {
  const done = new Map();
  return {
    name: 'accouch-lazy-engine-errors',
    buildStart() {
      done.clear();
    },
    transform(code, id) {
      const at = id.indexOf(engineDir);
      if (at < 0) return null;
      const file = id.slice(at + engineDir.length);
      const result = rewriteEngineSource(code, file);
      if (result.leftAt) this.error(`${relative(root, id)}:${result.leftAt}: a ctx.assert(...) that scripts/lazy-engine-errors.mjs cannot rewrite`);
      done.set(file, { asserts: result.asserts, jwtChecks: result.jwtChecks });
      return result.code === code ? null : result.code;
    },
    buildEnd(error) {
      if (error) return;
      for (const [file, want] of Object.entries(requiredRewrites)) {
        const got = done.get(file);
        if (got?.asserts !== want.asserts || got?.jwtChecks !== want.jwtChecks) {
          this.error(`oidc-provider's lib/${file} was ${got ? `rewritten ${got.asserts} asserts and ${got.jwtChecks} JWT checks` : 'not bundled'}, not ${want.asserts} and ${want.jwtChecks}: update scripts/lazy-engine-errors.mjs`);
        }
      }
    },
  };
}
