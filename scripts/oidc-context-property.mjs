// A rolldown plugin for the server bundle (scripts/bundle-server.mjs): oidc-provider gives each request's koa context
// its `ctx.oidc` through `Object.defineProperty(ctx, 'oidc', { get })` with a new getter closure per request. V8 keeps
// every accessor's getter pair in the old generation, so each request's pair, pointing at its young closure, whose
// scope holds `ctx`, kept the whole request (headers, response, OIDCContext) alive across young-generation collections
// until a full one: on every route, ~10 KB per request went to the old generation (98% of what each scavenge promoted
// under an introspection load), to be marked and swept there. (The getter also turned every context but the first
// into a dictionary-mode object.) The bundle makes the OIDCContext at once instead and gives it as a plain, read-only
// property: the same object, with the same attributes (neither writable, enumerable nor configurable). The router has
// set the route name the constructor reads before it runs the route (lib/helpers/router.js), so the context is the
// one the getter would have made. The build stops if the engine's source moved on.
import { sep } from 'node:path';
import { engineDir } from './lazy-engine-errors.mjs';

const file = `helpers${sep}initialize_app.js`;

const lazyGetter = `    let oidcCtx;
    Object.defineProperty(ctx, 'oidc', {
      get: () => {
        oidcCtx ||= new this.OIDCContext(ctx);
        return oidcCtx;
      },
    });`;
const plainProperty = `    Object.defineProperty(ctx, 'oidc', { value: new this.OIDCContext(ctx) });`;

/** lib/helpers/initialize_app.js with ctx.oidc a plain property, and whether the getter was found (once). */
export function rewriteOidcContext(code) {
  const found = code.split(lazyGetter).length - 1;
  return { code: found === 1 ? code.replace(lazyGetter, plainProperty) : code, rewritten: found === 1 };
}

const moved = `oidc-provider's lib/${file} no longer gives ctx.oidc as scripts/oidc-context-property.mjs expects: update it`;

export function oidcContextProperty() {
  let seen = false;
  return {
    name: 'accouch-oidc-context-property',
    buildStart() {
      seen = false;
    },
    transform(code, id) {
      if (!id.endsWith(`${engineDir}${file}`)) return null;
      const result = rewriteOidcContext(code);
      if (!result.rewritten) this.error(`${moved} (${id})`);
      seen = true;
      return result.code;
    },
    buildEnd(error) {
      if (!error && !seen) this.error(`${moved}: it was not bundled`);
    },
  };
}
