// What the owner console (/admin, members of `admins`) may do: apps, users, sessions, signing keys and the
// audit log. Every change is audited with the admin as actor; an admin cannot lock themselves out.
import { randomBytes } from 'node:crypto';
import { accountClientId, clientSchema, type ClientConfig } from '../config.js';
import { badRequest, conflict, forbidden, notFound } from '../errors.js';
import { deleteClientPayloads, listAuditPage, listPendingLinks, updateCliClient, type AuditFilter } from '../store/admin.js';
import { recordAudit } from '../store/audit.js';
import { deleteClient, findClient, insertClient, listClients, type StoredClient } from '../store/clients.js';
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { listSigningKeys } from '../store/keys.js';
import { endEverySession, householdSessions, revokeSessionAndGrants } from '../oidc/sessions.js';
import { findUserById, findUserByUsername, listUsers, setGroups, updateProfile, type User } from '../store/users.js';
import type { Actor } from './account.js';
import { sessionHandle } from './account.js';
import { appKeysFrom, keysForAudit, type AppKeysInput } from './app-keys.js';
import { issueEnrolLink, purposes, type IssuedLink } from './enrol.js';
import type { SecretBox } from './secret-key.js';
import { accountLocks, unlockAccount } from './throttle.js';

export const adminGroup = 'admins';
export const isAdmin = (user: Pick<User, 'groups'>) => user.groups.includes(adminGroup);

export { endEverySession };
export const inviteTtl = purposes.invite.ttl;

const audit = (db: Db, actor: Actor, event: string, detail: Record<string, unknown> = {}) =>
  recordAudit(db, { event, actor: actor.userId, ip: actor.ip ?? null, detail });

// ---- apps --------------------------------------------------------------------------------------------------

export interface AppSummary { id: string; name: string; type: string; source: StoredClient['source']; config: ClientConfig; createdAt: number }

const typeOf = (c: ClientConfig) => (c.public ? (c.native ? 'public, native' : 'public') : 'confidential');
const summary = ({ config, source, createdAt }: StoredClient): AppSummary => ({ id: config.id, name: config.name ?? config.id, type: typeOf(config), source, config, createdAt });

/** Every app but Accouch's own account client. */
export async function listApps(db: Db): Promise<AppSummary[]> {
  return (await listClients(db)).filter((c) => c.config.id !== accountClientId).map(summary);
}

export async function findApp(db: Db, id: string): Promise<AppSummary> {
  const stored = id === accountClientId ? undefined : await findClient(db, id);
  if (!stored) throw notFound('That app does not exist (any more).');
  return summary(stored);
}

/** A CLI-registered app, or a refusal naming where a configuration-declared one is changed. */
async function changeableApp(db: Db, id: string): Promise<AppSummary> {
  const app = await findApp(db, id);
  if (app.source === 'cluster') throw forbidden(`"${app.name}" comes from an AccouchClient resource in the cluster: change or delete it there.`);
  if (app.source !== 'cli') throw forbidden(`"${app.name}" is declared in the configuration file: change it there.`);
  return app;
}

/** A new client secret (256 bits). */
export const newClientSecret = () => randomBytes(32).toString('base64url');

function validClient(input: unknown): ClientConfig {
  const parsed = clientSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw badRequest(parsed.error.issues.map((i) => `${i.path.join('.') || 'app'}: ${i.message}`).join('; '));
}

/** Registers an app (as a preset built it); `preset` goes to the audit log. */
export async function addApp(db: Db, actor: Actor, config: ClientConfig, preset: string): Promise<AppSummary> {
  const client = validClient(config);
  if (client.id === accountClientId) throw conflict(`"${accountClientId}" is Accouch's own client id: choose another.`);
  await insertClient(db, 'cli', client);
  await audit(db, actor, 'client.created', { client: client.id, preset });
  return findApp(db, client.id);
}

/** Replaces the redirect URIs (one per line or whitespace-separated) of a CLI-registered app. */
export async function updateAppRedirects(db: Db, actor: Actor, id: string, text: unknown): Promise<string[]> {
  const app = await changeableApp(db, id);
  const uris = [...new Set(String(text ?? '').split(/\s+/).filter(Boolean))];
  if (uris.length > 20) throw badRequest('At most 20 redirect URIs.');
  const client = validClient({ ...app.config, redirectUris: uris });
  await updateCliClient(db, client);
  await audit(db, actor, 'client.updated', { client: id, redirectUris: uris });
  return uris;
}

/** The app without its secret or keys, before it is given the other kind (the schema allows one of them). */
const withoutCredentials = ({ secret, secretFile, jwks, jwksUri, ...rest }: ClientConfig) => rest;
type SecretMethod = 'client_secret_basic' | 'client_secret_post';
const secretMethods: readonly unknown[] = ['client_secret_basic', 'client_secret_post'] satisfies SecretMethod[];
const usesKey = (config: ClientConfig) => config.tokenEndpointAuthMethod === 'private_key_jwt';

/**
 * A new secret for a confidential app, returned once; the old one stops working at once. An app that signed with
 * its own key (private_key_jwt) switches to the secret (`method`, client_secret_basic unless given) and its keys go.
 */
export async function rotateAppSecret(db: Db, actor: Actor, id: string, method?: unknown): Promise<string> {
  const app = await changeableApp(db, id);
  if (app.config.public) throw badRequest('A public app has no secret.');
  if (method !== undefined && !secretMethods.includes(method)) throw badRequest('Choose how the app sends its secret.');
  const from = app.config.tokenEndpointAuthMethod;
  const next = (method as SecretMethod | undefined) ?? (usesKey(app.config) ? 'client_secret_basic' : from);
  const secret = newClientSecret();
  await updateCliClient(db, validClient({ ...withoutCredentials(app.config), secret, tokenEndpointAuthMethod: next }));
  await audit(db, actor, 'client.secret_rotated', { client: id, ...(next !== from ? { tokenEndpointAuthMethod: next } : {}) });
  return secret;
}

/** How a confidential app sends its secret to the token endpoint: in a Basic header (the default) or in the form. */
export async function updateAppAuthMethod(db: Db, actor: Actor, id: string, method: unknown): Promise<void> {
  const app = await changeableApp(db, id);
  if (app.config.public) throw badRequest('A public app does not authenticate: it uses PKCE.');
  if (usesKey(app.config)) throw badRequest('This app signs with its own key (private_key_jwt): switching it to a secret makes a new one, with "Switch to a secret".');
  if (!secretMethods.includes(method)) throw badRequest('Choose how the app sends its secret.');
  await updateCliClient(db, validClient({ ...app.config, tokenEndpointAuthMethod: method as SecretMethod }));
  await audit(db, actor, 'client.updated', { client: id, tokenEndpointAuthMethod: method });
}

/**
 * Makes a confidential app prove itself with a JWT signed by its own key (private_key_jwt), or replaces its keys:
 * the address of its JWK Set or the public keys themselves. Its secret stops working at once; a private key is
 * refused and never stored.
 */
export async function setAppKeys(db: Db, actor: Actor, id: string, input: AppKeysInput): Promise<void> {
  const app = await changeableApp(db, id);
  if (app.config.public) throw badRequest('A public app does not authenticate: it uses PKCE.');
  const keys = appKeysFrom(input);
  await updateCliClient(db, validClient({ ...withoutCredentials(app.config), tokenEndpointAuthMethod: 'private_key_jwt', ...keys }));
  await audit(db, actor, 'client.updated', {
    client: id, tokenEndpointAuthMethod: 'private_key_jwt', ...keysForAudit(keys), ...(usesKey(app.config) ? {} : { secretRemoved: true }),
  });
}

/** Removes an app with every grant and token issued to it. */
export async function removeApp(db: Db, actor: Actor, id: string): Promise<void> {
  await changeableApp(db, id);
  await removeClientAndTokens(db, id, { actor: actor.userId, ip: actor.ip ?? null });
}

/**
 * Deletes a client with every grant and token issued to it and audits it (actor: a user id, 'cli' or
 * 'kubernetes'); false when there was no such client. Callers check first that the client may go.
 */
export async function removeClientAndTokens(db: Db, id: string, by: { actor: string; ip?: string | null }): Promise<boolean> {
  const existed = await deleteClient(db, id);
  const tokens = await deleteClientPayloads(db, id);
  if (existed) await recordAudit(db, { event: 'client.removed', actor: by.actor, ip: by.ip ?? null, detail: { client: id, tokens } });
  return existed;
}

// ---- users -------------------------------------------------------------------------------------------------

export type UserStatus = 'active' | 'disabled';
export interface AdminUser { user: User; status: UserStatus }

/** The household with each person's status (an invitee appears once their way in is saved). */
export async function listAdminUsers(db: Db): Promise<AdminUser[]> {
  return (await listUsers(db)).map((user) => ({ user, status: user.disabled ? 'disabled' : 'active' }));
}

/** How many invitations are out, unused and unexpired. */
export const countOpenInvitations = async (db: Db) => (await listPendingLinks(db, 'invite')).length;

export async function findAdminUser(db: Db, id: string): Promise<AdminUser> {
  const found = (await listAdminUsers(db)).find((u) => u.user.id === id);
  if (!found) throw notFound('That user does not exist (any more).');
  return found;
}

const groupPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** Group names from a comma- or space-separated list; a malformed one is refused by name. */
export function parseGroups(text: unknown): string[] {
  const groups = [...new Set(String(text ?? '').split(/[\s,]+/).filter(Boolean))].sort();
  const bad = groups.find((g) => !groupPattern.test(g));
  if (bad) throw badRequest(`"${bad.slice(0, 70)}" is not a group name: letters, digits, ".", "_", ":" and "-".`);
  if (groups.length > 30) throw badRequest('At most 30 groups.');
  return groups;
}

/** An invitation link (7 days, single use, with a short code) into these groups; returns the raw token to send. */
export async function inviteUser(db: Db, box: SecretBox, actor: Actor, groupsText: unknown, now = epoch()): Promise<IssuedLink & { groups: string[] }> {
  const groups = parseGroups(groupsText);
  const link = await issueEnrolLink(db, box, { purpose: 'invite', state: { groups, invitedBy: actor.userId }, actor: actor.userId, ip: actor.ip, detail: { groups } }, now);
  return { ...link, groups };
}

/** Disables (sessions end, sign-in refused) or enables a user; never the admin themselves. */
export async function setUserDisabled(db: Db, actor: Actor, userId: string, disabled: boolean): Promise<void> {
  const user = await findUserById(db, userId);
  if (!user) throw notFound('That user does not exist (any more).');
  if (disabled && userId === actor.userId) throw badRequest('You cannot disable your own account.');
  if (user.disabled === disabled) return;
  await updateProfile(db, userId, { disabled });
  const sessionsEnded = disabled ? await endEverySession(db, userId) : 0;
  await audit(db, actor, disabled ? 'user.disabled' : 'user.enabled', { user: userId, username: user.username, ...(disabled ? { sessionsEnded } : {}) });
}

/** Password sign-in locks of a user after too many failures (throttle.ts), per network, for the console. */
export async function passwordLocksOf(db: Db, userId: string, now = epoch()) {
  const user = await findUserById(db, userId);
  if (!user) throw notFound('That user does not exist (any more).');
  return accountLocks(db, user.username, now);
}

/** Lifts the password sign-in locks of a user (before their time runs out); in the audit log. */
export async function liftPasswordLock(db: Db, actor: Actor, userId: string): Promise<void> {
  const user = await findUserById(db, userId);
  if (!user) throw notFound('That user does not exist (any more).');
  await unlockAccount(db, user.username);
  await audit(db, actor, 'login.unlocked', { user: userId, username: user.username });
}

/** Replaces a user's groups; an admin cannot take `admins` away from themselves. */
export async function setUserGroups(db: Db, actor: Actor, userId: string, groupsText: unknown): Promise<string[]> {
  const user = await findUserById(db, userId);
  if (!user) throw notFound('That user does not exist (any more).');
  const groups = parseGroups(groupsText);
  if (userId === actor.userId && !groups.includes(adminGroup)) throw badRequest(`You cannot leave "${adminGroup}" yourself: another admin can take you out.`);
  const added = groups.filter((g) => !user.groups.includes(g));
  const removed = user.groups.filter((g) => !groups.includes(g));
  if (!added.length && !removed.length) return groups;
  await setGroups(db, userId, groups);
  await audit(db, actor, 'user.groups_changed', { user: userId, username: user.username, added, removed });
  return groups;
}

/**
 * A reset link (24 hours, single use) for a user who lost their way in; an older unused one stops working.
 * What the link replaces is in auth/enrol.ts (replaceFactors).
 */
export async function createResetLink(db: Db, box: SecretBox, actor: Actor, userId: string, now = epoch()): Promise<IssuedLink & { user: User }> {
  const user = await findUserById(db, userId);
  if (!user) throw notFound('That user does not exist (any more).');
  const link = await issueEnrolLink(db, box, { purpose: 'reset', userId, actor: actor.userId, ip: actor.ip, detail: { username: user.username } }, now);
  return { ...link, user };
}

// ---- sessions ----------------------------------------------------------------------------------------------

export interface HouseholdSession { handle: string; userId: string; loginTs: number; apps: string[]; grants: string[] }

/** Every signed-in browser session of the household, newest sign-in first (named by handle, never by id). */
export async function listHouseholdSessions(db: Db): Promise<HouseholdSession[]> {
  return (await householdSessions(db)).map(({ id, userId, loginTs, apps, grants }) => ({ handle: sessionHandle(id), userId, loginTs, apps, grants }));
}

/** Ends a session and revokes the grants it authorised: the apps' refresh tokens stop working too. */
export async function revokeSession(db: Db, actor: Actor, handle: string): Promise<boolean> {
  const session = (await householdSessions(db)).find((s) => sessionHandle(s.id) === handle);
  if (!session) return false;
  await revokeSessionAndGrants(db, session);
  await audit(db, actor, 'session.revoked', { session: handle, user: session.userId, apps: session.apps });
  return true;
}

// ---- signing keys ------------------------------------------------------------------------------------------

export async function listKeys(db: Db) {
  return (await listSigningKeys(db)).map(({ kid, alg, state, createdAt, retiredAt }) => ({ kid, alg, state, createdAt, retiredAt }));
}

/**
 * Makes a new key set active through `rotate` (oidc/keys.ts rotateSigningKeys, handed in by main: auth does not
 * import oidc). The running server reloads its keys within about five seconds.
 */
export async function rotateKeys(db: Db, actor: Actor, rotate: () => Promise<unknown>): Promise<string[]> {
  await rotate();
  const kids = (await listSigningKeys(db)).filter((k) => k.state === 'active').map((k) => k.kid);
  await audit(db, actor, 'keys.rotated', { kids });
  return kids;
}

// ---- audit log ---------------------------------------------------------------------------------------------

export const auditPageSize = 50;

export interface AuditQuery { event?: unknown; user?: unknown; from?: unknown; to?: unknown; page?: unknown }

const day = (value: unknown, end: boolean): number | undefined => {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const ms = Date.parse(`${value}T00:00:00Z`);
  return Number.isNaN(ms) ? undefined : epoch(ms) + (end ? 86399 : 0);
};

/** One page (50) of the audit log, filtered by event prefix, user (username or "cli") and dates (UTC days). */
export async function auditPage(db: Db, query: AuditQuery) {
  const text = (v: unknown) => (typeof v === 'string' ? v.trim().slice(0, 100) : '');
  const event = text(query.event);
  const username = text(query.user);
  const page = Math.max(1, Math.min(10_000, Number.parseInt(text(query.page), 10) || 1));
  const filter: AuditFilter = { eventPrefix: event || undefined, from: day(query.from, false), to: day(query.to, true) };
  if (username) filter.subject = (await findUserByUsername(db, username))?.id ?? username;
  const { entries, more } = await listAuditPage(db, filter, { offset: (page - 1) * auditPageSize, limit: auditPageSize });
  const names = new Map((await listUsers(db)).map((u) => [u.id, u.username]));
  return {
    filter: { event, user: username, from: filter.from === undefined ? '' : String(query.from), to: filter.to === undefined ? '' : String(query.to) },
    page,
    more,
    entries: entries.map((e) => ({ ...e, actorName: e.actor ? (names.get(e.actor) ?? e.actor) : '', userName: typeof e.detail.user === 'string' ? names.get(e.detail.user) : undefined })),
  };
}
