// In-process ceilings for the two sign-in scenarios, so their HTTP figures can be read against the work
// that cannot be avoided: Accouch's own verifyPassword (scrypt N=2^14, r=8, p=5; four at a time, the size of
// libuv's thread pool) and @simplewebauthn/server's verifyAuthenticationResponse on an ES256 assertion from
// the bench's software authenticator. Argument: seconds per measurement. Prints JSON.
import { verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';
import { createAuthenticator } from './lib/authenticator.mjs';

const seconds = Number(process.argv[2] ?? 3);
const { hashPassword, verifyPassword } = await import(new URL('../dist/src/auth/password.js', import.meta.url).href);

async function rate(parallel, task) {
  let count = 0;
  const end = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (performance.now() < end) {
      await task();
      count += 1;
    }
  }));
  return count / ((performance.now() - started) / 1000);
}

const hash = await hashPassword('correct horse battery staple');
await verifyPassword('correct horse battery staple', hash); // the first call also hashes the unknown-user dummy
const scryptOne = performance.now();
await verifyPassword('correct horse battery staple', hash);
const scryptMs = performance.now() - scryptOne;
const scryptPerSecond = await rate(4, () => verifyPassword('correct horse battery staple', hash));

const origin = 'http://localhost:8080';
const authenticator = createAuthenticator({ rpId: 'localhost', origin });
const challenge = Buffer.from('bench-registration-challenge').toString('base64url');
const registration = await verifyRegistrationResponse({
  response: authenticator.register({ challenge, user: { id: Buffer.from('bench-user').toString('base64url') } }),
  expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: 'localhost', requireUserVerification: true,
});
const { credential } = registration.registrationInfo;
const assertionChallenge = Buffer.from('bench-assertion-challenge').toString('base64url');
const assertion = authenticator.assert(assertionChallenge);
const verify = async () => {
  const result = await verifyAuthenticationResponse({
    response: assertion, expectedChallenge: assertionChallenge, expectedOrigin: origin, expectedRPID: 'localhost',
    credential: { id: credential.id, publicKey: credential.publicKey, counter: 0 }, requireUserVerification: true,
  });
  if (!result.verified) throw new Error('assertion did not verify');
};
const webauthnPerSecond = await rate(1, verify);

console.log(JSON.stringify({ scryptMs, scryptPerSecond, webauthnPerSecond }));
