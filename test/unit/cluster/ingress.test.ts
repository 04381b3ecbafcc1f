// What an annotated Ingress asks for: the forward-auth app (id, hosts, groups, policy) or why it cannot be one.
import { describe, expect, test } from 'vitest';
import { ingressApp, isAnnotated, middlewareRef } from '../../../src/cluster/ingress.js';

const ingress = (annotations: Record<string, string>, hosts: (string | undefined)[] = ['media.home.example']) => ({
  metadata: { name: 'media', namespace: 'apps', annotations },
  spec: { rules: hosts.map((host) => ({ host })) },
});

describe('an annotated Ingress', () => {
  test('only "true" turns forward-auth on', () => {
    expect(isAnnotated(ingress({ 'accouch.dev/forward-auth': 'true' }))).toBe(true);
    expect(isAnnotated(ingress({ 'accouch.dev/forward-auth': 'yes' }))).toBe(false);
    expect(isAnnotated(ingress({}))).toBe(false);
  });

  test('declares <namespace>.<name> for its hosts (each once), with groups and a policy from its annotations', () => {
    expect(ingressApp(ingress({ 'accouch.dev/forward-auth-groups': 'family, admins', 'accouch.dev/forward-auth-policy': 'home=mfa, outside=deny' },
      ['media.home.example', undefined, 'media.home.example', 'tv.home.example']))).toEqual({
      ok: true, app: { id: 'apps.media', hosts: ['media.home.example', 'tv.home.example'], allowedGroups: ['family', 'admins'], policy: { home: 'mfa', outside: 'deny' } },
    });
  });

  test.each([
    [{}, [undefined], 'the Ingress has no host'],
    [{ 'accouch.dev/forward-auth-policy': 'outside' }, ['a.example'], '"outside" is not home=<strength>'],
    [{ 'accouch.dev/forward-auth-policy': 'office=deny' }, ['a.example'], '"office=deny" is not'],
  ])('%j with hosts %j is refused: %s', (annotations, hosts, reason) => {
    const planned = ingressApp(ingress(annotations, hosts));
    expect(planned.ok).toBe(false);
    expect(!planned.ok && planned.reason).toContain(reason);
  });

  test('the router annotation names the Middleware the Traefik way', () => {
    expect(middlewareRef('apps', 'media')).toBe('apps-media-accouch@kubernetescrd');
  });
});
