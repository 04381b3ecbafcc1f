// The AccouchClient decisions without a cluster: which client a spec asks for, which field is wrong and why,
// when a secret is kept or rotated, what goes into the Secret, and when the Ready condition's time moves.
import { describe, expect, test } from 'vitest';
import {
  clientIdOf, planClient, readyCondition, resourceOfClientId, rotateAnnotation, secretData, type AccouchClientResource,
} from '../../../src/cluster/resource.js';

const resource = (spec: unknown, extra: Partial<AccouchClientResource['metadata']> = {}, status?: AccouchClientResource['status']): AccouchClientResource => ({
  metadata: { name: 'wiki', namespace: 'apps', uid: 'u1', generation: 1, ...extra }, spec, status,
});
const fresh = () => 'f'.repeat(43);

describe('planClient', () => {
  test('a spec with redirect URIs becomes a confidential client <namespace>.<name> with a new secret', () => {
    const plan = planClient(resource({ redirectUris: ['https://wiki.home.example/cb'], allowedGroups: ['family'], policy: { outside: 'phr' } }), undefined, fresh);
    expect(plan).toMatchObject({ ok: true, secretName: 'wiki-oidc', rotated: false });
    if (!plan.ok) return;
    expect(plan.client).toMatchObject({ id: 'apps.wiki', secret: fresh(), public: false, allowedGroups: ['family'], policy: { outside: 'phr' }, skipConsent: false });
  });

  test('a preset brings its redirect URI and consent choice; the spec can still narrow who signs in', () => {
    const plan = planClient(resource({ preset: 'gitea', url: 'https://git.home.example/', allowedGroups: ['admins'] }), 's'.repeat(43), fresh);
    expect(plan.ok && plan.client).toMatchObject({
      id: 'apps.wiki', secret: 's'.repeat(43), skipConsent: true, allowedGroups: ['admins'],
      redirectUris: ['https://git.home.example/user/oauth2/accouch/callback'],
    });
  });

  test('authMethod none is a public client, without a secret', () => {
    const plan = planClient(resource({ redirectUris: ['https://spa.home.example/cb'], authMethod: 'none' }), undefined, fresh);
    expect(plan.ok && plan.client).toMatchObject({ public: true });
    expect(plan.ok && plan.client.secret).toBeUndefined();
  });

  test.each([
    [{}, 'spec.redirectUris', 'give redirectUris, or a preset and url'],
    [{ preset: 'grafana' }, 'spec.url', 'the grafana preset needs the address'],
    [{ preset: 'gitea', url: 'ftp://git.home.example' }, 'spec.url', 'must be the http(s) address'],
    [{ preset: 'gitea', url: 'https://git.home.example', redirectUris: ['https://x/cb'] }, 'spec.redirectUris', 'only a generic app takes redirectUris'],
    [{ redirectUris: ['not a uri'] }, 'spec.redirectUris[0]', 'must be an absolute URI'],
    [{ redirectUris: ['https://a.example/cb'], policy: { home: 'strong' } }, 'spec.policy.home', 'Invalid option'],
    [{ redirectUris: ['https://a.example/cb'], secretName: 'Not_A_Name' }, 'spec.secretName', 'a Secret name'],
    [{ redirectUris: ['https://a.example/cb'], color: 'blue' }, 'spec', 'Unrecognized key'],
    ['not an object', 'spec', 'expected object'],
  ])('%j is refused at %s', (spec, field, reason) => {
    const plan = planClient(resource(spec), undefined, fresh);
    expect(plan.ok).toBe(false);
    if (plan.ok) return;
    expect(plan.field).toBe(field);
    expect(plan.reason).toContain(reason);
  });

  test('a name that makes the client id longer than 64 characters is refused at metadata.name', () => {
    const plan = planClient(resource({ redirectUris: ['https://a.example/cb'] }, { name: 'x'.repeat(60) }), undefined, fresh);
    expect(plan).toMatchObject({ ok: false, field: 'metadata.name' });
  });

  test('the secret rotates when the annotation changes since the last rotation served, and only then', () => {
    const spec = { redirectUris: ['https://a.example/cb'] };
    const old = 'o'.repeat(43);
    const first = planClient(resource(spec, { annotations: { [rotateAnnotation]: '1' } }), old, fresh);
    expect(first).toMatchObject({ ok: true, rotated: true, rotation: '1' });
    expect(first.ok && first.client.secret).toBe(fresh());
    const served = planClient(resource(spec, { annotations: { [rotateAnnotation]: '1' } }, { secretRotation: '1' }), old, fresh);
    expect(served).toMatchObject({ ok: true, rotated: false });
    expect(served.ok && served.client.secret).toBe(old);
    // Annotated from the start: the first secret is new anyway, nothing to rotate.
    expect(planClient(resource(spec, { annotations: { [rotateAnnotation]: 'x' } }), undefined, fresh)).toMatchObject({ rotated: false, rotation: 'x' });
  });
});

describe('the Secret and the condition', () => {
  test('the Secret holds the client id, secret, issuer, discovery URL, and the preset\'s own keys', () => {
    const plan = planClient(resource({ preset: 'oauth2-proxy', url: 'https://wiki.home.example' }), 's'.repeat(43), fresh);
    if (!plan.ok) throw new Error('plan refused');
    const data = secretData(plan, 'https://id.home.example/');
    expect(data).toMatchObject({
      OIDC_CLIENT_ID: 'apps.wiki', OIDC_CLIENT_SECRET: 's'.repeat(43), OIDC_ISSUER_URL: 'https://id.home.example/',
      OIDC_DISCOVERY_URL: 'https://id.home.example/.well-known/openid-configuration', 'client-id': 'apps.wiki', 'client-secret': 's'.repeat(43),
    });
    expect(Buffer.from(data['cookie-secret']!, 'base64url')).toHaveLength(32);
    expect(secretData(plan, 'https://id.home.example/')['cookie-secret']).toBe(data['cookie-secret']); // stable until rotated
  });

  test('a public client\'s Secret has no client secret', () => {
    const plan = planClient(resource({ redirectUris: ['https://a.example/cb'], authMethod: 'none' }), undefined, fresh);
    if (!plan.ok) throw new Error('plan refused');
    expect(Object.keys(secretData(plan, 'https://id.home.example'))).toEqual(['OIDC_CLIENT_ID', 'OIDC_ISSUER_URL', 'OIDC_DISCOVERY_URL']);
  });

  test('lastTransitionTime moves only when the status flips', () => {
    const t1 = new Date('2026-01-01T00:00:00.123Z');
    const t2 = new Date('2026-01-02T00:00:00Z');
    const first = readyCondition(undefined, { status: 'False', reason: 'InvalidSpec', message: 'm' }, t1);
    expect(first.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(readyCondition([first], { status: 'False', reason: 'IdConflict', message: 'n' }, t2).lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    expect(readyCondition([first], { status: 'True', reason: 'Registered', message: 'o' }, t2).lastTransitionTime).toBe('2026-01-02T00:00:00Z');
  });

  test('a client id leads back to its resource: namespaces have no dots, names may', () => {
    expect(resourceOfClientId(clientIdOf('apps', 'wiki.v2'))).toEqual({ namespace: 'apps', name: 'wiki.v2' });
  });
});
