// What an app preset file is (the contract generic.ts, gitea.ts, grafana.ts, oauth2-proxy.ts implement), apart
// from presets.ts, which lists them: so the app files import this, not their parent.
import type { ClientConfig, presetNames } from '../config.js';

/** 'gitea' | 'oauth2-proxy' | 'grafana' | 'kubectl' | 'generic' (listed in config.ts, which YAML entries are checked against). */
export type PresetName = (typeof presetNames)[number];
export interface PresetInfo { name: PresetName; title: string; description: string }

/** What an app file knows: who it is, the client it needs, and what to paste into it. */
export interface AppPreset {
  info: PresetInfo;
  /** The client for an app served at `base` (its URL without a trailing slash); clientSchema validates it. */
  client(input: { base: string; id: string; name?: string; secret?: string; redirectUris?: string[] }): Record<string, unknown>;
  instructions(input: SetupInput): string;
}

export interface SetupInput {
  issuer: string;
  /** The issuer without a trailing slash, for building endpoint URLs. */
  base: string;
  discovery: string;
  client: ClientConfig;
  /** The client secret, or a placeholder when it is not shown (a confidential client whose secret was shown before). */
  secret: string;
}

