// What an alert says: a title and a sentence naming what happened, whose account, the app, the network and the
// time, as push, email and webhook show it. Never a code, secret or token: the link goes only to the person.
import type { AlertKind } from '../../config.js';
import type { AlertsTable } from '../../store/schema.js';

export interface AlertMessage {
  kind: AlertKind;
  title: string;
  body: string;
  /** ISO 8601, UTC. */
  at: string;
  username: string;
  network?: string;
  app?: string;
}

const titles: Record<AlertKind, string> = {
  outside: 'Sign-in from outside home',
  newBrowser: 'Sign-in from a new browser',
  factor: 'Sign-in methods changed',
  locked: 'Password locked after failed attempts',
  newApp: 'First sign-in to an app',
  link: 'Account link used',
  notMe: '"This wasn\'t me"',
};

const clock = (at: number) => `${new Date(at * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

export function describeAlert(alert: Pick<AlertsTable, 'kind' | 'at' | 'detail'>): AlertMessage {
  const kind = alert.kind as AlertKind;
  const d = JSON.parse(alert.detail) as Record<string, unknown>;
  const who = d.forSomeoneElse ? `${String(d.name)} (${String(d.username)})` : 'You';
  const whose = d.forSomeoneElse ? `${String(d.name)}'s account` : 'your account';
  const network = d.network === 'outside' ? 'outside the home network' : d.network === 'home' ? 'the home network' : undefined;
  const where = [network && `from ${network}${d.ip ? ` (${String(d.ip)})` : ''}`, d.agent && `on ${String(d.agent)}`].filter(Boolean).join(', ');
  const app = typeof d.client === 'string' ? d.client : undefined;
  const when = clock(alert.at);
  const sentences: Record<AlertKind, () => string> = {
    outside: () => `${who} signed in${app ? ` to ${app}` : ''} ${where}${d.newBrowser ? ', in a browser never used before' : ''} at ${when}.`,
    newBrowser: () => `${who} signed in${app ? ` to ${app}` : ''} from a browser never used before${where ? ` (${where})` : ''} at ${when}.`,
    factor: () => `${String(d.what)} on ${whose} at ${when}${where ? ` (${where})` : ''}.`,
    locked: () => `The password of ${whose} is locked for a while after repeated failed attempts (last ${when}${where ? `, ${where}` : ''}).`,
    newApp: () => `${who} signed in to ${app ?? 'an app'} for the first time at ${when}.`,
    link: () => `${String(d.what)} for ${whose} at ${when}.`,
    notMe: () => `${String(d.name)} (${String(d.username)}) said a sign-in was not them at ${when}: they are signed out everywhere and their next sign-in needs their strongest factor.`,
  };
  return { kind, title: titles[kind], body: sentences[kind](), at: new Date(alert.at * 1000).toISOString(), username: String(d.username), network: typeof d.network === 'string' ? d.network : undefined, app };
}
