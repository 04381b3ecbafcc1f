// Chromium's virtual authenticator over CDP, standing in for a phone's passkey or a YubiKey: one per page,
// with helpers to carry a credential to another browser and to tamper with it (user verification, counter).
import type { CDPSession, Page } from 'playwright-core';

/** A credential as CDP's WebAuthn domain exports and imports it (private key included). */
export interface VirtualCredential {
  credentialId: string;
  isResidentCredential: boolean;
  rpId?: string;
  privateKey: string;
  userHandle?: string;
  signCount: number;
  [more: string]: unknown;
}

export interface AuthenticatorOptions {
  protocol: 'ctap2' | 'u2f';
  transport: 'internal' | 'usb' | 'nfc' | 'ble';
  hasResidentKey: boolean;
  hasUserVerification: boolean;
  isUserVerified: boolean;
  automaticPresenceSimulation: boolean;
}

/** A platform authenticator with biometrics that always says yes: a laptop's or phone's passkey store. */
export const platformPasskeys: AuthenticatorOptions = {
  protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
};

/** A USB security key without a PIN: user presence only, as a plain YubiKey used as a second factor. */
export const usbSecurityKey: AuthenticatorOptions = {
  protocol: 'ctap2', transport: 'usb', hasResidentKey: false, hasUserVerification: false, isUserVerified: false, automaticPresenceSimulation: true,
};

export interface VirtualAuthenticator {
  readonly id: string;
  readonly cdp: CDPSession;
  credentials(): Promise<VirtualCredential[]>;
  /** Imports a credential (e.g. exported from another browser's authenticator). */
  add(credential: VirtualCredential): Promise<void>;
  remove(credentialId: string): Promise<void>;
  /** Whether the next user verification (fingerprint, PIN) succeeds. */
  setUserVerified(verified: boolean): Promise<void>;
  /** Replaces a credential by a copy with some fields changed, e.g. a lower signCount (a cloned key). */
  replace(credentialId: string, changes: Partial<VirtualCredential>): Promise<VirtualCredential>;
}

/** Adds a virtual authenticator to the page's browser tab; it survives navigations within the tab. */
export async function addVirtualAuthenticator(page: Page, options: Partial<AuthenticatorOptions> = {}): Promise<VirtualAuthenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId: id } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: { ...platformPasskeys, ...options } });
  const authenticator: VirtualAuthenticator = {
    id,
    cdp,
    async credentials() {
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId: id });
      return credentials as VirtualCredential[];
    },
    async add(credential) {
      // getCredentials reports some fields empty (largeBlob, user names) that addCredential then rejects.
      const fields = Object.fromEntries(Object.entries(credential).filter(([, value]) => value !== '' && value !== undefined));
      await cdp.send('WebAuthn.addCredential', { authenticatorId: id, credential: fields as never }).catch((error: Error) => {
        throw new Error(`${error.message}: ${JSON.stringify({ ...fields, privateKey: '…' })}`);
      });
    },
    async remove(credentialId) {
      await cdp.send('WebAuthn.removeCredential', { authenticatorId: id, credentialId });
    },
    async setUserVerified(verified) {
      await cdp.send('WebAuthn.setUserVerified', { authenticatorId: id, isUserVerified: verified });
    },
    async replace(credentialId, changes) {
      const current = (await authenticator.credentials()).find((c) => c.credentialId === credentialId);
      if (!current) throw new Error(`no credential ${credentialId} in the virtual authenticator`);
      const copy = { ...current, ...changes };
      await authenticator.remove(credentialId);
      await authenticator.add(copy);
      return copy;
    },
  };
  return authenticator;
}

/** The only credential of an authenticator (most tests register exactly one). */
export async function onlyCredential(authenticator: VirtualAuthenticator): Promise<VirtualCredential> {
  const credentials = await authenticator.credentials();
  if (credentials.length !== 1) throw new Error(`expected one credential, found ${credentials.length}`);
  return credentials[0]!;
}
