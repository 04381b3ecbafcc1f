// Sign-in strength: what a sign-in proves (amr/acr), what a network, an app and acr_values require, and group access.
import { describe, expect, test } from 'vitest';
import {
  acrValues, describeSignIn, needsSecondFactor, passwordAmr, requiredStrength, satisfies, userAllowedForClient,
  type Acr, type Strength, type UsedFactor,
} from '../../../src/auth/policy.js';

describe('acr levels', () => {
  test('are ordered weakest first', () => {
    expect(acrValues).toEqual(['1fa', 'mfa', 'phr']);
  });

  test('satisfies: a level meets itself and everything weaker, nothing stronger', () => {
    const table: Array<[Acr | undefined, Acr, boolean]> = [
      ['1fa', '1fa', true], ['1fa', 'mfa', false], ['1fa', 'phr', false],
      ['mfa', '1fa', true], ['mfa', 'mfa', true], ['mfa', 'phr', false],
      ['phr', '1fa', true], ['phr', 'mfa', true], ['phr', 'phr', true],
      [undefined, '1fa', false], [undefined, 'mfa', false], [undefined, 'phr', false],
    ];
    for (const [achieved, required, expected] of table) {
      expect(satisfies(achieved, required), `${achieved} vs ${required}`).toBe(expected);
    }
  });
});

describe('describeSignIn', () => {
  const table: Array<[string, UsedFactor[], string[], Acr]> = [
    ['password', [{ factor: 'password' }], ['pwd'], '1fa'],
    ['federated', [{ factor: 'federated' }], ['fed'], '1fa'],
    ['password + TOTP', [{ factor: 'password' }, { factor: 'totp' }], ['pwd', 'otp', 'mfa'], 'mfa'],
    ['password + recovery code', [{ factor: 'password' }, { factor: 'recovery_code' }], ['pwd', 'otp', 'mfa'], 'mfa'],
    ['federated + TOTP', [{ factor: 'federated' }, { factor: 'totp' }], ['fed', 'otp', 'mfa'], 'mfa'],
    ['federated + recovery code', [{ factor: 'federated' }, { factor: 'recovery_code' }], ['fed', 'otp', 'mfa'], 'mfa'],
    ['passkey with UV (synced)', [{ factor: 'passkey', userVerified: true }], ['swk', 'user', 'mfa'], 'phr'],
    ['passkey with UV (device-bound)', [{ factor: 'passkey', userVerified: true, hardware: true }], ['hwk', 'user', 'mfa'], 'phr'],
    ['passkey with UV by PIN', [{ factor: 'passkey', userVerified: true, hardware: true, verification: 'pin' }], ['hwk', 'pin', 'mfa'], 'phr'],
    ['passkey without UV', [{ factor: 'passkey', userVerified: false }], ['swk'], '1fa'],
    ['password + security key', [{ factor: 'password' }, { factor: 'security_key' }], ['pwd', 'hwk', 'mfa'], 'phr'],
    ['password + software security key', [{ factor: 'password' }, { factor: 'security_key', hardware: false }], ['pwd', 'swk', 'mfa'], 'phr'],
    ['security key alone (presence only)', [{ factor: 'security_key' }], ['hwk'], '1fa'],
    ['security key with UV', [{ factor: 'security_key', userVerified: true }], ['hwk', 'user', 'mfa'], 'phr'],
    ['federated + security key', [{ factor: 'federated' }, { factor: 'security_key' }], ['fed', 'hwk', 'mfa'], 'phr'],
    ['password + passkey without UV', [{ factor: 'password' }, { factor: 'passkey', hardware: true }], ['pwd', 'hwk', 'mfa'], 'phr'],
    // Two proofs of the same kind are one factor.
    ['TOTP + recovery code', [{ factor: 'totp' }, { factor: 'recovery_code' }], ['otp'], '1fa'],
    ['password twice', [{ factor: 'password' }, { factor: 'password' }], ['pwd'], '1fa'],
    ['security key + TOTP (both possession)', [{ factor: 'security_key' }, { factor: 'totp' }], ['hwk', 'otp'], '1fa'],
    ['password + TOTP + recovery code', [{ factor: 'password' }, { factor: 'totp' }, { factor: 'recovery_code' }], ['pwd', 'otp', 'mfa'], 'mfa'],
    ['password + TOTP + security key', [{ factor: 'password' }, { factor: 'totp' }, { factor: 'security_key' }], ['pwd', 'otp', 'hwk', 'mfa'], 'phr'],
  ];

  test.each(table)('%s', (_name, factors, amr, acr) => {
    expect(describeSignIn(factors)).toEqual({ amr, acr });
  });

  test('order of amr follows the order of the factors, with mfa last', () => {
    expect(describeSignIn([{ factor: 'totp' }, { factor: 'password' }]).amr).toEqual(['otp', 'pwd', 'mfa']);
  });

  test('a sign-in without any factor is a programming error, never 1fa', () => {
    expect(() => describeSignIn([])).toThrow(RangeError);
  });

  test('passwordAmr is what a password sign-in proves', () => {
    expect(passwordAmr).toEqual(['pwd']);
  });
});

describe('requiredStrength', () => {
  const strengths: Strength[] = ['any', 'mfa', 'phr', 'deny'];
  const rank = (s: Strength | undefined) => (s === undefined ? -1 : strengths.indexOf(s));
  const acrOf: Record<Exclude<Strength, 'deny'>, Acr> = { any: '1fa', mfa: 'mfa', phr: 'phr' };

  test('every combination of global and app policy, on both networks: the stricter wins, deny anywhere denies', () => {
    let checked = 0;
    for (const network of ['home', 'outside'] as const) {
      const other = network === 'home' ? 'outside' : 'home';
      for (const global of strengths) {
        for (const client of [undefined, ...strengths]) {
          // The other network's policy is set to the opposite extreme, so a mix-up of networks shows.
          const globalPolicy = { [network]: global, [other]: global === 'deny' ? 'any' : 'deny' } as Record<'home' | 'outside', Strength>;
          const clientPolicy = client === undefined ? { [other]: 'phr' as const } : { [network]: client, [other]: 'any' as const };
          const strictest = rank(client) > rank(global) ? client! : global;
          const expected = strictest === 'deny' ? { allowed: false } : { allowed: true, acr: acrOf[strictest] };
          expect(requiredStrength({ network, globalPolicy, clientPolicy }), `${network}: global ${global}, app ${client}`).toEqual(expected);
          checked++;
        }
      }
    }
    expect(checked).toBe(2 * 4 * 5);
  });

  test('without an app policy, the global policy for the network applies', () => {
    const globalPolicy = { home: 'any', outside: 'mfa' } as const;
    expect(requiredStrength({ network: 'home', globalPolicy })).toEqual({ allowed: true, acr: '1fa' });
    expect(requiredStrength({ network: 'outside', globalPolicy })).toEqual({ allowed: true, acr: 'mfa' });
  });

  test('an app policy cannot weaken the global one', () => {
    expect(requiredStrength({ network: 'outside', globalPolicy: { home: 'any', outside: 'phr' }, clientPolicy: { outside: 'any' } }))
      .toEqual({ allowed: true, acr: 'phr' });
  });

  test('an app policy for the other network only does not apply', () => {
    expect(requiredStrength({ network: 'home', globalPolicy: { home: 'any', outside: 'mfa' }, clientPolicy: { outside: 'deny' } }))
      .toEqual({ allowed: true, acr: '1fa' });
  });

  describe('acr_values', () => {
    const globalPolicy = { home: 'any', outside: 'mfa' } as const;
    const at = (network: 'home' | 'outside', values: string[] | undefined, clientPolicy?: { home?: Strength; outside?: Strength }) =>
      requiredStrength({ network, globalPolicy, clientPolicy, acrValues: values });

    test('raise the requirement', () => {
      expect(at('home', ['mfa'])).toEqual({ allowed: true, acr: 'mfa' });
      expect(at('home', ['phr'])).toEqual({ allowed: true, acr: 'phr' });
      expect(at('outside', ['phr'])).toEqual({ allowed: true, acr: 'phr' });
    });

    test('never lower it', () => {
      expect(at('outside', ['1fa'])).toEqual({ allowed: true, acr: 'mfa' });
      expect(at('home', ['1fa'], { home: 'phr' })).toEqual({ allowed: true, acr: 'phr' });
    });

    test('are a preference list: the weakest known value binds, in any order', () => {
      expect(at('home', ['mfa', 'phr'])).toEqual({ allowed: true, acr: 'mfa' });
      expect(at('home', ['phr', 'mfa'])).toEqual({ allowed: true, acr: 'mfa' });
      expect(at('home', ['phr', '1fa'])).toEqual({ allowed: true, acr: '1fa' });
    });

    test('unknown values are ignored', () => {
      expect(at('home', ['urn:mace:incommon:iap:silver', 'phr'])).toEqual({ allowed: true, acr: 'phr' });
      expect(at('home', ['urn:mace:incommon:iap:silver'])).toEqual({ allowed: true, acr: '1fa' });
      expect(at('home', ['PHR', 'loa3', ''])).toEqual({ allowed: true, acr: '1fa' });
      expect(at('home', [])).toEqual({ allowed: true, acr: '1fa' });
    });

    test('cannot lift a deny', () => {
      expect(at('home', ['1fa'], { home: 'deny' })).toEqual({ allowed: false });
      expect(requiredStrength({ network: 'outside', globalPolicy: { home: 'any', outside: 'deny' }, acrValues: ['phr'] }))
        .toEqual({ allowed: false });
    });
  });
});

describe('needsSecondFactor', () => {
  test('anyone with TOTP or a WebAuthn credential', () => {
    expect(needsSecondFactor({ hasTotp: false, webauthnCount: 0 })).toBe(false);
    expect(needsSecondFactor({ hasTotp: true, webauthnCount: 0 })).toBe(true);
    expect(needsSecondFactor({ hasTotp: false, webauthnCount: 1 })).toBe(true);
    expect(needsSecondFactor({ hasTotp: false, webauthnCount: 3 })).toBe(true);
    expect(needsSecondFactor({ hasTotp: true, webauthnCount: 2 })).toBe(true);
  });
});

describe('userAllowedForClient', () => {
  test('an empty or missing group list lets everyone in', () => {
    expect(userAllowedForClient({ groups: [] }, [])).toBe(true);
    expect(userAllowedForClient({ groups: [] }, undefined)).toBe(true);
  });

  test('otherwise the user needs one of the groups', () => {
    expect(userAllowedForClient({ groups: ['kids', 'family'] }, ['admins', 'family'])).toBe(true);
    expect(userAllowedForClient({ groups: ['kids'] }, ['admins'])).toBe(false);
    expect(userAllowedForClient({ groups: [] }, ['admins'])).toBe(false);
  });
});
