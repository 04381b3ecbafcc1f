// Baseline (b): how many RS256 signatures one core makes per second (node:crypto, RSA-2048, a JWT-sized
// input), the physical ceiling of issuing id_tokens. Argument: seconds to run. Prints JSON.
import { generateKeyPairSync, sign } from 'node:crypto';

const seconds = Number(process.argv[2] ?? 5);
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'x'.repeat(43) })).toString('base64url');
const payload = Buffer.from(JSON.stringify({
  iss: 'http://localhost:8080', sub: 'x'.repeat(22), aud: 'bench-app', exp: 1e10, iat: 1e10, auth_time: 1e10, nonce: 'x'.repeat(11),
  at_hash: 'x'.repeat(22), name: 'Bench User', preferred_username: 'bench', email: 'bench@home.example', email_verified: true, groups: ['family'],
})).toString('base64url');
const input = Buffer.from(`${header}.${payload}`);

for (let i = 0; i < 200; i += 1) sign('sha256', input, privateKey); // warm-up
let count = 0;
const started = performance.now();
const end = started + seconds * 1000;
while (performance.now() < end) {
  for (let i = 0; i < 20; i += 1) sign('sha256', input, privateKey);
  count += 20;
}
const elapsed = (performance.now() - started) / 1000;
console.log(JSON.stringify({ signs: count, seconds: elapsed, perSecond: count / elapsed }));
