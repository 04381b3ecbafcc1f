// Declaring apps protected by forward-auth, from wherever they come (the YAML file, the CLI, the owner console, a
// Kubernetes resource), and the host → app directory the per-request check reads from memory.
import { forwardAuthAppSchema, forwardAuthClientId, type ForwardAuthAppConfig } from '../../config.js';
import { badRequest, conflict } from '../../errors.js';
import { recordAudit } from '../../store/audit.js';
import type { Db } from '../../store/db.js';
import {
  deleteForwardAuthApp, deleteForwardAuthAppsExcept, findForwardAuthApp, listForwardAuthApps, saveForwardAuthApp,
  type ForwardAuthSource,
} from '../../store/forward-auth-apps.js';

export type { ForwardAuthSource };
export { forwardAuthClientId };

/**
 * Declares (adds, or replaces) a forward-auth app: the one way in for every source. An app keeps the source that
 * declared it: the CLI cannot overwrite an app from the YAML file, nor the reverse. A host may belong to one app.
 * @throws AppError bad_request (every problem of the declaration, by key), conflict (id or host taken).
 */
export async function declareForwardAuthApp(db: Db, input: { source: ForwardAuthSource; app: unknown; actor?: string }): Promise<ForwardAuthAppConfig> {
  const parsed = forwardAuthAppSchema.safeParse(input.app);
  if (!parsed.success) {
    throw badRequest(parsed.error.issues.map((issue) => `${issue.path.join('.') || 'app'}: ${issue.message}`).join('; '));
  }
  const app = parsed.data;
  await db.transaction().execute(async (trx) => {
    const existing = await findForwardAuthApp(trx, app.id);
    if (existing && existing.source !== input.source) {
      throw conflict(`forward-auth app "${app.id}" is declared by ${existing.source === 'config' ? 'the configuration file' : `the ${existing.source}`}: change it there`);
    }
    await saveForwardAuthApp(trx, input.source, app);
    await recordAudit(trx, { event: existing ? 'forward_auth_app.updated' : 'forward_auth_app.created', actor: input.actor ?? input.source, detail: { app: app.id, hosts: app.hosts, source: input.source } });
  });
  return app;
}

/** Removes an app declared by `source`; false when there is no such app. */
export async function removeForwardAuthApp(db: Db, input: { source: ForwardAuthSource; id: string; actor?: string }): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const existing = await findForwardAuthApp(trx, input.id);
    if (!existing) return false;
    if (existing.source !== input.source) throw conflict(`forward-auth app "${input.id}" is declared by the ${existing.source === 'config' ? 'configuration file' : existing.source}: remove it there`);
    await deleteForwardAuthApp(trx, input.id);
    await recordAudit(trx, { event: 'forward_auth_app.removed', actor: input.actor ?? input.source, detail: { app: input.id } });
    return true;
  });
}

/** Makes the store match the YAML file's `forwardAuth` list; returns the ids removed. */
export async function reconcileConfigForwardAuthApps(db: Db, apps: readonly ForwardAuthAppConfig[]): Promise<string[]> {
  for (const app of apps) await declareForwardAuthApp(db, { source: 'config', app });
  return db.transaction().execute((trx) => deleteForwardAuthAppsExcept(trx, 'config', apps.map((a) => a.id)));
}

export { listForwardAuthApps };

/** Host → app, read from memory; reloaded from the store when older than `maxAgeMs` (apps added by the CLI appear). */
export interface ForwardAuthDirectory {
  appForHost(host: string): Promise<ForwardAuthAppConfig | undefined>;
}

export function createForwardAuthDirectory(db: Db, { maxAgeMs = 2000, now = () => Date.now() } = {}): ForwardAuthDirectory {
  let byHost = new Map<string, ForwardAuthAppConfig>();
  let loadedAt = -Infinity;
  let loading: Promise<void> | undefined;
  const load = async () => {
    const apps = await listForwardAuthApps(db);
    const next = new Map<string, ForwardAuthAppConfig>();
    for (const { config } of apps) for (const host of config.hosts) next.set(host, config);
    byHost = next;
    loadedAt = now();
  };
  return {
    async appForHost(host) {
      if (now() - loadedAt > maxAgeMs) {
        // One reload at a time, whoever asks meanwhile waits for it.
        loading ??= load().finally(() => { loading = undefined; });
        await loading;
      }
      return byHost.get(host.toLowerCase());
    },
  };
}
