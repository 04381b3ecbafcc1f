// Debian's Chromium for browser tests: installed through apt-get when missing and we are root, otherwise
// a clear one-line instruction. Never a silent skip.
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { aptInstall } from '../../apt.js';

export const chromiumPath = '/usr/bin/chromium';
const instruction = 'Browser tests need Debian\'s Chromium: run `sudo apt-get install -y chromium` and try again.';

export function ensureChromium(): void {
  if (existsSync(chromiumPath)) return;
  aptInstall('chromium', instruction);
  if (!existsSync(chromiumPath)) throw new Error(instruction);
}

/** `extraArgs`: more Chromium switches, e.g. --host-resolver-rules to give loopback servers real-looking names. */
export function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}
