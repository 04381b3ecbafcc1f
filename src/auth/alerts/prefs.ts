// Which alert goes where for one person: their own choice from /account/alerts, else the configured default.
import { alertChannels, alertKinds, type AlertChannel, type AlertKind, type Config } from '../../config.js';
import type { Db } from '../../store/db.js';
import { findAlertPrefs, saveAlertPrefs } from '../../store/alerts.js';

export type AlertPrefs = Record<AlertKind, AlertChannel[]>;

/** The configured defaults (notify.<kind>). */
export const defaultPrefs = (notify: Config['notify']): AlertPrefs =>
  Object.fromEntries(alertKinds.map((kind) => [kind, [...notify[kind]]])) as AlertPrefs;

/** A person's choices, the defaults filling in what they never chose (or what a newer version added). */
export async function prefsOf(db: Db, userId: string, notify: Config['notify']): Promise<AlertPrefs> {
  const saved = (await findAlertPrefs(db, userId)) ?? {};
  const prefs = defaultPrefs(notify);
  for (const kind of alertKinds) {
    const chosen = saved[kind];
    if (Array.isArray(chosen)) prefs[kind] = alertChannels.filter((c) => chosen.includes(c));
  }
  return prefs;
}

/** Saves the choices of the /account/alerts form: a checkbox `<kind>.<channel>` per choice that is on. */
export async function saveOwnPrefs(db: Db, userId: string, form: Record<string, unknown>): Promise<AlertPrefs> {
  const prefs = Object.fromEntries(alertKinds.map((kind) => [kind, alertChannels.filter((c) => form[`${kind}.${c}`] !== undefined)])) as AlertPrefs;
  await saveAlertPrefs(db, userId, prefs);
  return prefs;
}
