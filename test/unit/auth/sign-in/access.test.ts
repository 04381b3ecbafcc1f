// The one access decision for doors that find a session (account page, owner console, forward-auth):
// home/outside × any/mfa/phr/deny × the session's strength, app policy, groups, age, disabled users.
import { describe, expect, test } from 'vitest';
import { decideAccess, type Access, type AccessRequest, type FoundSession } from '../../../../src/auth/sign-in/access.js';
import { requiredStrength, type Acr, type Strength } from '../../../../src/auth/policy.js';

const now = 1_000_000;
const session = (acr: Acr | string | undefined, extra: Partial<FoundSession['user']> = {}, authTime = now - 60): FoundSession => ({
  user: { id: 'u1', groups: ['family'], ...extra }, acr, amr: [], authTime,
});
const home = { home: 'any', outside: 'mfa' } as const;

describe('decideAccess: the global policy per network and the session strength', () => {
  const policies: Array<Record<'home' | 'outside', Strength>> = [
    { home: 'any', outside: 'any' }, { home: 'any', outside: 'mfa' }, { home: 'any', outside: 'phr' },
    { home: 'mfa', outside: 'phr' }, { home: 'any', outside: 'deny' }, { home: 'phr', outside: 'deny' },
  ];
  const levels: Array<Acr | undefined> = ['1fa', 'mfa', 'phr', undefined];
  const rank = { '1fa': 0, mfa: 1, phr: 2 } as const;
  const acrOf = { any: '1fa', mfa: 'mfa', phr: 'phr' } as const;

  for (const globalPolicy of policies) {
    for (const network of ['home', 'outside'] as const) {
      for (const acr of levels) {
        const strength = globalPolicy[network];
        // The expectation written out from the rule, independent of the implementation's helpers.
        const expected: Access = strength === 'deny' ? { decision: 'deny', reason: 'policy' }
          : acr === undefined ? { decision: 'step-up', acr: acrOf[strength], reason: 'too-weak' }
            : rank[acr] >= rank[acrOf[strength]] ? { decision: 'allow', acr }
              : { decision: 'step-up', acr: acrOf[strength], reason: 'too-weak' };
        test(`${network} with policy ${JSON.stringify(globalPolicy)} and a ${acr ?? 'no-acr'} session → ${expected.decision}`, () => {
          expect(decideAccess(session(acr), { network, globalPolicy, now })).toEqual(expected);
        });
      }
    }
  }
});

describe('decideAccess: the cases a door meets', () => {
  const table: Array<[string, FoundSession | undefined, AccessRequest, Access]> = [
    ['no session at home: sign in at the home strength',
      undefined, { network: 'home', globalPolicy: home }, { decision: 'step-up', acr: '1fa', reason: 'signed-out' }],
    ['no session outside: sign in at the outside strength',
      undefined, { network: 'outside', globalPolicy: home }, { decision: 'step-up', acr: 'mfa', reason: 'signed-out' }],
    ['no session where the policy denies: refused before anyone is asked to sign in',
      undefined, { network: 'outside', globalPolicy: { home: 'any', outside: 'deny' } }, { decision: 'deny', reason: 'policy' }],
    ['password session made at home, same browser from outside: step up to mfa',
      session('1fa'), { network: 'outside', globalPolicy: home }, { decision: 'step-up', acr: 'mfa', reason: 'too-weak' }],
    ['the same session at home: in',
      session('1fa'), { network: 'home', globalPolicy: home }, { decision: 'allow', acr: '1fa' }],
    ['an unknown acr counts as none',
      session('urn:other:gold'), { network: 'home', globalPolicy: home }, { decision: 'step-up', acr: '1fa', reason: 'too-weak' }],
    ['the app is stricter than the global policy',
      session('mfa'), { network: 'home', globalPolicy: home, app: { policy: { home: 'phr' } } }, { decision: 'step-up', acr: 'phr', reason: 'too-weak' }],
    ['the app is looser than the global policy: the global one binds',
      session('1fa'), { network: 'outside', globalPolicy: home, app: { policy: { outside: 'any' } } }, { decision: 'step-up', acr: 'mfa', reason: 'too-weak' }],
    ['the app refuses outside',
      session('phr'), { network: 'outside', globalPolicy: home, app: { policy: { outside: 'deny' } } }, { decision: 'deny', reason: 'policy' }],
    ['the app refuses outside, but this is home',
      session('1fa'), { network: 'home', globalPolicy: home, app: { policy: { outside: 'deny' } } }, { decision: 'allow', acr: '1fa' }],
    ['acr_values raise the bar',
      session('mfa'), { network: 'home', globalPolicy: home, acrValues: 'phr' }, { decision: 'step-up', acr: 'phr', reason: 'too-weak' }],
    ['not in the allowed groups: forbidden, even with a weak session (a stronger one would not help)',
      session('1fa'), { network: 'outside', globalPolicy: home, app: { allowedGroups: ['admins'] } }, { decision: 'forbidden', reason: 'group' }],
    ['in one of the allowed groups',
      session('mfa', { groups: ['kids', 'admins'] }), { network: 'outside', globalPolicy: home, app: { allowedGroups: ['admins'] } }, { decision: 'allow', acr: 'mfa' }],
    ['an empty group list lets everyone in',
      session('1fa', { groups: [] }), { network: 'home', globalPolicy: home, app: { allowedGroups: [] } }, { decision: 'allow', acr: '1fa' }],
    ['a policy refusal comes before the group check',
      session('phr'), { network: 'outside', globalPolicy: { home: 'any', outside: 'deny' }, app: { allowedGroups: ['admins'] } }, { decision: 'deny', reason: 'policy' }],
    ['a user disabled since signing in: signed out',
      session('phr', { disabled: true }), { network: 'home', globalPolicy: home }, { decision: 'step-up', acr: '1fa', reason: 'signed-out' }],
    ['a factor change needs a recent sign-in',
      session('mfa', {}, now - 301), { network: 'home', globalPolicy: home, maxAge: 300, now }, { decision: 'step-up', acr: '1fa', reason: 'too-old' }],
    ['exactly maxAge old is still recent',
      session('mfa', {}, now - 300), { network: 'home', globalPolicy: home, maxAge: 300, now }, { decision: 'allow', acr: 'mfa' }],
    ['too weak and too old: the strength is what is reported',
      session('1fa', {}, now - 3600), { network: 'outside', globalPolicy: home, maxAge: 300, now }, { decision: 'step-up', acr: 'mfa', reason: 'too-weak' }],
  ];
  test.each(table)('%s', (_name, found, request, expected) => {
    expect(decideAccess(found, { now, ...request })).toEqual(expected);
  });
});

describe('requiredStrength takes acr_values as the raw parameter or as a list', () => {
  test.each([
    ['mfa', 'mfa'], ['phr mfa', 'mfa'], ['urn:x phr', 'phr'], ['', '1fa'],
  ] as const)('"%s" → %s', (raw, acr) => {
    expect(requiredStrength({ network: 'home', globalPolicy: home, acrValues: raw })).toEqual({ allowed: true, acr });
    expect(requiredStrength({ network: 'home', globalPolicy: home, acrValues: raw.split(' ') })).toEqual({ allowed: true, acr });
  });
});
