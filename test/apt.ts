// What the test setups do when a Debian package they need is missing: install it with apt-get when running as
// root on Debian, otherwise stop with the one-line instruction (never a silent skip).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export function aptInstall(pkg: string, instruction: string): void {
  const root = process.getuid?.() === 0;
  if (!root || !existsSync('/usr/bin/apt-get')) throw new Error(instruction);
  console.log(`${pkg} is missing: installing it with apt-get (one time)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', pkg], { stdio: 'inherit', env });
}
