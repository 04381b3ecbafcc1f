// Which upstreams exist: the ones in the YAML file (read-only here) and the ones the owner added in the console
// (stored, client secret sealed). Opens each upstream's connector by type and keeps it while the upstream is
// unchanged, so a discovered configuration is reused across sign-ins.
import { upstreamSchema, type UpstreamConfig } from '../../config.js';
import { badRequest, conflict, notFound } from '../../errors.js';
import { recordAudit } from '../../store/audit.js';
import type { Db } from '../../store/db.js';
import { deleteUpstream, deleteUpstreamLinks, insertUpstream, listStoredUpstreams, usersOnlyLinkedThrough } from '../../store/federation.js';
import type { SecretBox } from '../secret-key.js';
import type { Connector } from './connector.js';
import { openGithubConnector } from './github.js';
import { openOidcConnector } from './oidc.js';

export interface Upstream extends UpstreamConfig {
  clientSecret: string;
  /** Where it is declared: the YAML file, or the owner console. */
  source: 'config' | 'console';
  /** "Continue with <displayName>". */
  displayName: string;
}

const defaultNames: Record<UpstreamConfig['type'], string> = { github: 'GitHub', google: 'Google', oidc: '' };
export const googleIssuer = 'https://accounts.google.com';

const withDefaults = (config: UpstreamConfig & { clientSecret: string }, source: Upstream['source']): Upstream => ({
  ...config,
  source,
  displayName: config.name ?? (defaultNames[config.type] || config.id),
});

/** The connector for an upstream, by type. */
export function openConnector(upstream: Upstream): Connector {
  const common = { clientId: upstream.clientId, clientSecret: upstream.clientSecret, scopes: upstream.scopes, timeout: upstream.timeout };
  switch (upstream.type) {
    case 'github': {
      const baseUrl = upstream.baseUrl ?? 'https://github.com';
      // GitHub Enterprise Server serves its API under the web address; github.com has its own host.
      const apiUrl = upstream.apiUrl ?? (upstream.baseUrl ? `${baseUrl.replace(/\/+$/, '')}/api/v3` : 'https://api.github.com');
      const memberships = Object.keys(upstream.groups).length > 0 || upstream.allow.githubOrgs.length > 0;
      return openGithubConnector({ ...common, baseUrl, apiUrl, memberships });
    }
    case 'google':
      return openOidcConnector({ ...common, issuer: upstream.issuer ?? googleIssuer, google: true });
    case 'oidc':
      return openOidcConnector({ ...common, issuer: upstream.issuer! });
  }
}

export function createUpstreamRegistry({ db, box, declared, onUnusable }: {
  db: Db; box: SecretBox; declared: readonly UpstreamConfig[];
  /** Told once per stored upstream that cannot be used (e.g. sealed with another secret key). */
  onUnusable?: (id: string, error: unknown) => void;
}) {
  const unusable = new Set<string>();
  const fromConfig = declared.map((u) => withDefaults({ ...u, clientSecret: u.clientSecret ?? '' }, 'config'));
  const connectors = new Map<string, { key: string; connector: Connector }>();

  async function list(): Promise<Upstream[]> {
    const stored = await listStoredUpstreams(db);
    const taken = new Set(fromConfig.map((u) => u.id));
    // Validated again on the way out: a stored upstream that no longer fits the schema, or whose secret this
    // installation's key cannot open, is left out (and said once), not fatal to every sign-in page.
    const added = stored.filter((row) => !taken.has(row.id)).flatMap((row) => {
      try {
        const { clientSecret, ...config } = JSON.parse(row.config) as UpstreamConfig & { clientSecret: string };
        return [withDefaults({ ...upstreamSchema.parse({ ...config, clientSecret: box.decrypt(clientSecret) }), clientSecret: box.decrypt(clientSecret) }, 'console')];
      } catch (error) {
        if (!unusable.has(row.id)) onUnusable?.(row.id, error);
        unusable.add(row.id);
        return [];
      }
    });
    return [...fromConfig, ...added];
  }

  async function find(id: string): Promise<Upstream | undefined> {
    return (await list()).find((u) => u.id === id);
  }

  /** The connector of an upstream, reopened when its settings change. */
  function connector(upstream: Upstream): Connector {
    const key = JSON.stringify(upstream);
    const known = connectors.get(upstream.id);
    if (known?.key === key) return known.connector;
    const opened = openConnector(upstream);
    connectors.set(upstream.id, { key, connector: opened });
    return opened;
  }

  /**
   * Adds an upstream from the owner console, validated by the same schema as the YAML file; every problem is
   * named in one message. The client secret is stored sealed.
   */
  async function add(actor: { userId: string; ip?: string | undefined }, input: Record<string, unknown>): Promise<Upstream> {
    const parsed = upstreamSchema.safeParse(input);
    if (!parsed.success) {
      throw badRequest(parsed.error.issues.map((i) => `${i.path.join('.') || 'upstream'}: ${i.message}`).join('; '));
    }
    const { clientSecret, clientSecretFile: _file, ...config } = parsed.data;
    if (!clientSecret) throw badRequest('clientSecret: paste the client secret');
    if (fromConfig.some((u) => u.id === config.id)) throw conflict(`"${config.id}" is declared in the configuration file; choose another id.`);
    await insertUpstream(db, config.id, JSON.stringify({ ...config, clientSecret: box.encrypt(clientSecret) }));
    await recordAudit(db, { event: 'upstream.added', actor: actor.userId, ip: actor.ip ?? null, detail: { upstream: config.id, type: config.type } });
    return (await find(config.id))!;
  }

  async function remove(actor: { userId: string; ip?: string | undefined }, id: string): Promise<void> {
    if (fromConfig.some((u) => u.id === id)) throw conflict(`"${id}" is declared in the configuration file: remove it there.`);
    // Its links go with it: an upstream added again later under this id may be another issuer.
    await db.transaction().execute(async (trx) => {
      const stranded = await usersOnlyLinkedThrough(trx, id);
      if (stranded.length) {
        throw conflict(`${stranded.join(', ')} can only sign in with this service. Give ${stranded.length === 1 ? 'them' : 'each of them'} another way in first (a reset link from Users).`);
      }
      if (!(await deleteUpstream(trx, id))) throw notFound('That sign-in service does not exist (any more).');
      await deleteUpstreamLinks(trx, id);
    });
    connectors.delete(id);
    await recordAudit(db, { event: 'upstream.removed', actor: actor.userId, ip: actor.ip ?? null, detail: { upstream: id } });
  }

  return { list, find, connector, add, remove };
}

export type UpstreamRegistry = ReturnType<typeof createUpstreamRegistry>;
