// What to paste into a reverse proxy so that it asks Accouch before every request to an app (forward-auth):
// the Traefik Middleware and Ingress annotation (k3s), the nginx auth_request blocks, the Caddyfile block.
import type { ForwardAuthAppConfig } from '../config.js';

export interface ForwardAuthSetup {
  issuer: string;
  app: ForwardAuthAppConfig;
  /** Namespace of the Middleware (Traefik on k3s); default "default". */
  namespace?: string;
}

const headerNames = (app: ForwardAuthAppConfig) => [app.headers.user, app.headers.groups, app.headers.email, app.headers.name];

/** The Traefik Middleware (CRD) and the annotation that puts an Ingress behind it. */
export function traefikMiddleware({ issuer, app, namespace = 'default' }: ForwardAuthSetup): string {
  const root = issuer.replace(/\/$/, '');
  return [
    'apiVersion: traefik.io/v1alpha1',
    'kind: Middleware',
    'metadata:',
    '  name: accouch',
    `  namespace: ${namespace}`,
    'spec:',
    '  forwardAuth:',
    `    address: ${root}/forward-auth/traefik`,
    '    authResponseHeaders:',
    ...headerNames(app).map((h) => `      - ${h}`),
    '',
  ].join('\n');
}

/** The nginx server-block lines: an internal auth location, the protected location, and the sign-in redirect. */
export function nginxSnippet({ issuer, app }: ForwardAuthSetup): string {
  const root = issuer.replace(/\/$/, '');
  const variable = (header: string) => `$upstream_http_${header.toLowerCase().replace(/-/g, '_')}`;
  const names = headerNames(app);
  return [
    '# inside the server { } block of the app',
    'location = /.accouch-auth/check {',
    '    internal;',
    `    proxy_pass ${root}/forward-auth/nginx;`,
    '    proxy_pass_request_body off;',
    '    proxy_set_header Content-Length "";',
    '    proxy_set_header X-Original-URL $scheme://$http_host$request_uri;',
    '    proxy_set_header X-Original-Method $request_method;',
    '    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
    '}',
    '',
    'location @accouch_signin {',
    '    add_header Set-Cookie $accouch_cookie;',
    '    if ($accouch_location = "") { return 401; }',
    '    return 302 $accouch_location;',
    '}',
    '',
    'location / {',
    '    auth_request /.accouch-auth/check;',
    '    auth_request_set $accouch_location $upstream_http_location;',
    '    auth_request_set $accouch_cookie $upstream_http_set_cookie;',
    ...names.map((h, i) => `    auth_request_set $accouch_h${i} ${variable(h)};`),
    '    error_page 401 = @accouch_signin;',
    ...names.map((h, i) => `    proxy_set_header ${h} $accouch_h${i};`),
    '    proxy_pass http://127.0.0.1:8096;   # the app',
    '}',
    '',
  ].join('\n');
}

/** The Caddyfile site block. */
export function caddySnippet({ issuer, app }: ForwardAuthSetup): string {
  const url = new URL(issuer);
  const path = url.pathname.replace(/\/$/, '');
  const https = url.protocol === 'https:';
  return [
    `${app.hosts[0]} {`,
    `    forward_auth ${https ? url.origin : url.host} {`,
    `        uri ${path}/forward-auth/caddy`,
    ...(https ? ['        header_up Host {upstream_hostport}'] : []),
    `        copy_headers ${headerNames(app).join(' ')}`,
    '    }',
    '    reverse_proxy 127.0.0.1:8096   # the app',
    '}',
    '',
  ].join('\n');
}

/** Everything `accouch app add forward-auth` prints. */
export function forwardAuthInstructions(setup: ForwardAuthSetup): string {
  const { app } = setup;
  return [
    `Forward-auth app "${app.id}" protects ${app.hosts.join(', ')}.`,
    '',
    'Accouch believes the proxy only if its address is in network.trustedProxies (ACCOUCH_NETWORK_TRUSTED_PROXIES).',
    '',
    '== Traefik (k3s): apply this Middleware, then annotate the app\'s Ingress ==',
    traefikMiddleware(setup),
    `  traefik.ingress.kubernetes.io/router.middlewares: ${setup.namespace ?? 'default'}-accouch@kubernetescrd`,
    '',
    '== nginx ==',
    nginxSnippet(setup),
    '== Caddy ==',
    caddySnippet(setup),
  ].join('\n');
}
