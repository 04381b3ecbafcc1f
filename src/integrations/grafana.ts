// Grafana: the [auth.generic_oauth] block of grafana.ini, with PKCE, the user's name and email from the id_token,
// and the Grafana role from Accouch groups (admins → Admin, everyone else → Viewer).
import type { AppPreset } from './preset.js';

/** The scopes Grafana asks for (`scopes`). */
export const grafanaScopes = ['openid', 'email', 'profile', 'groups'];

/** JMESPath over the id_token and userinfo claims: the Grafana role of a user. */
export const grafanaRolePath = "contains(groups[*], 'admins') && 'Admin' || 'Viewer'";

export const grafana: AppPreset = {
  info: {
    name: 'grafana',
    title: 'Grafana',
    description: 'Dashboards: the Grafana role from Accouch groups (admins are Admin, everyone else Viewer)',
  },

  client: ({ base, id, name, secret }) => ({
    id,
    name: name ?? 'Grafana',
    secret,
    redirectUris: [`${base}/login/generic_oauth`],
    postLogoutRedirectUris: [`${base}/login`],
    skipConsent: true,
  }),

  instructions: ({ base, client, secret }) => {
    const callback = client.redirectUris[0] ?? '';
    const root = callback.replace(/login\/generic_oauth$/, '');
    const signOut = new URL(`${base}/session/end`);
    signOut.searchParams.set('client_id', client.id);
    if (client.postLogoutRedirectUris[0]) signOut.searchParams.set('post_logout_redirect_uri', client.postLogoutRedirectUris[0]);
    return [
      `Grafana signs in through Accouch as client "${client.id}" (callback ${callback}).`,
      '',
      'Merge into grafana.ini (or set the same keys as GF_AUTH_GENERIC_OAUTH_* environment variables), then restart',
      'Grafana. It builds its callback from root_url: keep it the address people open.',
      '',
      '```ini',
      '[server]',
      `root_url = ${root}`,
      '',
      '[auth.generic_oauth]',
      'enabled = true',
      'name = Accouch',
      'allow_sign_up = true',
      `client_id = ${client.id}`,
      `client_secret = ${secret}`,
      `scopes = ${grafanaScopes.join(' ')}`,
      `auth_url = ${base}/auth`,
      `token_url = ${base}/token`,
      `api_url = ${base}/me`,
      '; Accouch requires PKCE, and client_secret_basic at the token endpoint',
      'use_pkce = true',
      'auth_style = InHeader',
      'login_attribute_path = preferred_username',
      'name_attribute_path = name',
      'email_attribute_path = email',
      'groups_attribute_path = groups',
      `role_attribute_path = ${grafanaRolePath}`,
      'role_attribute_strict = false',
      `signout_redirect_url = ${signOut.href}`,
      '```',
      '',
      'Members of the Accouch group "admins" are Grafana Admins, everyone else a Viewer; the role is set again at',
      'each sign-in.',
      '',
    ].join('\n');
  },
};
