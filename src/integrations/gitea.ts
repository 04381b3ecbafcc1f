// Gitea: an OpenID Connect authentication source named "accouch" (`gitea admin auth add-oauth`), so its callback
// is <url>/user/oauth2/accouch/callback, plus the app.ini [oauth2_client] keys that create and link accounts.
import type { AppPreset } from './preset.js';

/** The authentication source's name: Gitea builds its callback from it (/user/oauth2/<name>/callback). */
export const giteaSourceName = 'accouch';

/** The scopes Gitea asks for: `--scopes` is a list flag, one scope per flag. */
export const giteaScopes = ['openid', 'email', 'profile', 'groups'];

const shellQuote = (value: string) => (/^[\w./:=@%+,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`);

export const gitea: AppPreset = {
  info: {
    name: 'gitea',
    title: 'Gitea',
    description: 'Git hosting: accounts created on first sign-in, the admins group as site administrators',
  },

  client: ({ base, id, name, secret }) => ({
    id,
    name: name ?? 'Gitea',
    secret,
    redirectUris: [`${base}/user/oauth2/${giteaSourceName}/callback`],
    skipConsent: true,
    // Released Gitea sends no PKCE for OpenID Connect sources (go-gitea/gitea#21376); this confidential
    // client's secret protects its codes instead. Newer Gitea that sends S256 works either way.
    pkce: false,
  }),

  instructions: ({ discovery, client, secret }) => {
    const flags = [
      `--name=${giteaSourceName}`,
      '--provider=openidConnect',
      `--key=${shellQuote(client.id)}`,
      `--secret=${shellQuote(secret)}`,
      `--auto-discover-url=${shellQuote(discovery)}`,
      giteaScopes.map((scope) => `--scopes=${scope}`).join(' '),
      '--group-claim-name=groups',
      '--admin-group=admins',
      '--skip-local-2fa',
    ];
    return [
      `Gitea signs in through Accouch with an OpenID Connect authentication source named "${giteaSourceName}"`,
      `(its callback, registered for client "${client.id}": ${client.redirectUris.join(' ')}).`,
      '',
      '1. Add the source where Gitea runs, as the user that runs it (in a container: `docker exec -u git <container> gitea ...`,',
      '   in Kubernetes: `kubectl exec deploy/gitea -- gitea ...`). The command holds the client secret: clear it from the',
      '   shell history afterwards.',
      '',
      '```sh',
      `gitea admin auth add-oauth \\\n  ${flags.join(' \\\n  ')}`,
      '```',
      '',
      '2. Merge into app.ini, then restart Gitea:',
      '',
      '```ini',
      '[oauth2_client]',
      '; create the Gitea account at the first sign-in through Accouch',
      'ENABLE_AUTO_REGISTRATION = true',
      '; the Gitea username is the Accouch username (sent as nickname and preferred_username)',
      'USERNAME = nickname',
      '; an existing Gitea account with the same username or email is linked, not duplicated',
      'ACCOUNT_LINKING = auto',
      '; the picture from the Accouch profile',
      'UPDATE_AVATAR = true',
      '; leave OPENID_CONNECT_SCOPES unset: it would replace the scopes of the source',
      '',
      '[service]',
      '; optional: accounts only through Accouch, no sign-up form of Gitea\'s own',
      'ALLOW_ONLY_EXTERNAL_REGISTRATION = true',
      '```',
      '',
      'Members of the Accouch group "admins" are Gitea site administrators (checked at each sign-in). Gitea\'s own',
      'two-factor step is skipped: Accouch has already checked the sign-in.',
      '',
      'PKCE: Accouch requires it (S256) from every app except this one: released Gitea does not send it for OpenID',
      'Connect sources, so the Gitea client is registered without the requirement and its secret protects the codes.',
      'Once your Gitea sends PKCE (go-gitea/gitea#38202), set `pkce: true` for it.',
      '',
    ].join('\n');
  },
};
