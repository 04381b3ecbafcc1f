// Ids of the rows every token request inserts start with the time they were made, ahead of oidc-provider's own
// random id (all its randomness kept). The id is the key of oidc_payloads' primary-key index; a random key lands on a
// random leaf page, so each token of a commit rewrote a page of its own in the write-ahead log. In issue order, the
// tokens of a commit share the index's last page: a third fewer pages written per token (measured: README,
// Performance), less CPU on the writer and less wear on an SD card. An id says when its token was issued, which its
// holder knows (`iat`); the random part still makes it unguessable.
import type Provider from 'oidc-provider';

/** Models a token request stores a new row for; oidc-provider names each id with generateTokenId(). */
const models = ['AccessToken', 'AuthorizationCode', 'ClientCredentials', 'DeviceCode', 'Grant', 'RefreshToken'] as const;

/**
 * RFC 4648's "extended hex" alphabet in lower case: digits then letters, which sorts the same bytewise (SQLite,
 * PostgreSQL's C collation) and in English-like linguistic collations, so that time order is index order. Collations
 * with contractions (Danish "aa", Czech "ch") order some prefixes otherwise: that costs index locality, not
 * correctness (ids are only ever looked up whole).
 */
const digits = '0123456789abcdefghijklmnopqrstuv';

/** Milliseconds since 1970 in 9 such digits (45 bits: until the year 3084), most significant first. */
export function timePrefix(now = Date.now()): string {
  let rest = now;
  let prefix = '';
  for (let i = 0; i < 9; i += 1) {
    prefix = digits[rest % 32] + prefix;
    rest = Math.floor(rest / 32);
  }
  return prefix;
}

/** Makes the models' new ids start with timePrefix(); oidc-provider's random id follows, unchanged. */
export function timeOrderTokenIds(provider: Provider): void {
  for (const name of models) {
    const prototype = (provider as unknown as Record<string, { prototype: { generateTokenId(): string } }>)[name]!.prototype;
    const generate = prototype.generateTokenId;
    prototype.generateTokenId = function generateTokenId(this: unknown) {
      return timePrefix() + generate.call(this);
    };
  }
}
