// A rolldown plugin for the server bundle (scripts/bundle-server.mjs): oidc-provider builds errors it never throws
// on its hottest paths, and V8 captures a stack for each (about 30 µs on a 2-core machine, more than a userinfo
// request's SQL): `ctx.assert(value, new InvalidToken(...))` makes the error before it looks at the value, three
// times per userinfo call, and introspection asks jose to decode every opaque token as a JWT, which throws. The
// bundle makes those errors only when they are thrown, and lets the dropped one skip its stack. What the engine
// answers stays the same (http-assert throws the given error as it is). Each rewrite must find its pattern: an
// oidc-provider that changed them stops the build here, with the file named, rather than quietly going slow again.
import { relative, sep } from 'node:path';

const engineDir = `${sep}node_modules${sep}oidc-provider${sep}lib${sep}`;

// `ctx.assert(value, new SomeError(...));` on one line, as oidc-provider writes it.
const eagerAssert = /ctx\.assert\(([^,;\n]+), (new [A-Za-z]+\([^;\n]*\))\);$/gm;

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

export function lazyEngineErrors(root) {
  return {
    name: 'accouch-lazy-engine-errors',
    transform(code, id) {
      if (!id.includes(engineDir)) return null;
      const file = relative(root, id);
      let out = code;
      if (out.includes('ctx.assert(')) {
        out = out.replace(eagerAssert, 'if (!($1)) throw $2;');
        const left = out.split('\n').findIndex((line) => line.includes('ctx.assert('));
        if (left >= 0) this.error(`${file}:${left + 1}: a ctx.assert(...) that scripts/lazy-engine-errors.mjs cannot rewrite`);
      }
      if (id.endsWith(`${sep}reject_structured_tokens.js`)) {
        if (!out.includes(structuredCheck)) this.error(`${file}: its JWT check changed; update scripts/lazy-engine-errors.mjs`);
        out = out.replace(structuredCheck, structuredCheckWithoutStack);
      }
      return out === code ? null : out;
    },
  };
}
