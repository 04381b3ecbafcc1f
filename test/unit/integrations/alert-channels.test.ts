// VAPID keys are made with node:crypto (web-push loads only when a push is sent): web-push must take them, and
// the public half must be the uncompressed P-256 point browsers expect as applicationServerKey.
import { createECDH } from 'node:crypto';
import webpush from 'web-push';
import { describe, expect, test } from 'vitest';
import { generateVapidKeys } from '../../../src/integrations/alert-channels.js';

describe('generateVapidKeys', () => {
  test('makes key pairs web-push signs with, the public half derived from the private one', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const { publicKey, privateKey } = generateVapidKeys();
      expect(Buffer.from(publicKey, 'base64url')).toHaveLength(65);
      expect(Buffer.from(privateKey, 'base64url')).toHaveLength(32);
      const ecdh = createECDH('prime256v1');
      ecdh.setPrivateKey(Buffer.from(privateKey, 'base64url'));
      expect(ecdh.getPublicKey('base64url')).toBe(publicKey);
      const headers = webpush.getVapidHeaders('https://push.example.net', 'mailto:owner@home.example', publicKey, privateKey, 'aes128gcm');
      expect(headers.Authorization).toMatch(new RegExp(`^vapid t=[\\w-]+\\.[\\w-]+\\.[\\w-]+, k=${publicKey}$`));
      seen.add(privateKey);
    }
    expect(seen.size).toBe(50);
  });
});
