// Any other web app that speaks OpenID Connect: a confidential client redirecting to <url>/callback (or the app's
// own redirect URIs), and the values such an app asks for.
import type { AppPreset } from './preset.js';

export const generic: AppPreset = {
  info: {
    name: 'generic',
    title: 'Other app (OpenID Connect)',
    description: 'Any web app with an OpenID Connect sign-in: issuer, client ID and secret to paste into its settings',
  },

  client: ({ base, id, name, secret, redirectUris }) => ({
    id,
    ...(name ? { name } : {}),
    secret,
    redirectUris: redirectUris?.length ? redirectUris : [`${base}/callback`],
  }),

  instructions: ({ issuer, base, discovery, client, secret }) => [
    `Paste these into the app's OpenID Connect settings (client "${client.id}"):`,
    '',
    '```text',
    `Issuer:          ${issuer}`,
    `Discovery URL:   ${discovery}`,
    `Client ID:       ${client.id}`,
    `Client secret:   ${secret}`,
    `Redirect URI:    ${client.redirectUris.join(' ')}`,
    'Scopes:          openid email profile groups',
    `Authorization:   ${base}/auth`,
    `Token:           ${base}/token`,
    `UserInfo:        ${base}/me`,
    '```',
    '',
    'The app must use the authorization code flow with PKCE (S256) and send the secret with HTTP Basic',
    '(client_secret_basic). The user is in the id_token: sub, preferred_username, name, email, groups.',
    'If the app redirects elsewhere, give the client its redirect URI instead (the owner console edits it;',
    '`accouch app add generic --redirect-uri <uri>` registers it from the start).',
    '',
  ].join('\n'),
};
