// The one profile schema (name, username, email, picture) that setup, invitations, the account page, the console
// and `accouch user add` all parse with: the same trimming, lengths and messages everywhere.
import { z } from 'zod';
import { badRequest } from '../errors.js';
import { avatarContentType } from './avatar.js';

/** What a username may look like: it ends up in kube-apiserver user names and Gitea logins. */
export const usernamePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/i;
export const maxNameLength = 80;
const emailPattern = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export const messages = {
  username: 'Choose a username of letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit).',
  name: 'Enter the name to show on the sign-in screen.',
  nameLength: `The name can have at most ${maxNameLength} characters.`,
  email: 'That email address does not look right. Check it and try again.',
} as const;

const text = z.unknown().transform((v) => (typeof v === 'string' ? v : ''));

export const profileSchema = z.object({
  name: text.transform((v) => v.trim().replace(/\s+/g, ' '))
    .pipe(z.string().min(1, messages.name).refine((v) => [...v].length <= maxNameLength, messages.nameLength)),
  username: text.transform((v) => v.trim().toLowerCase()).pipe(z.string().regex(usernamePattern, messages.username)),
  /** Empty means none. */
  email: text.transform((v) => v.trim()).pipe(z.string().refine((v) => !v || (v.length <= 254 && emailPattern.test(v)), messages.email))
    .transform((v) => v || null),
  /** An uploaded picture: at most 1 MB, PNG, JPEG, GIF or WebP by content; absent or empty means none. */
  picture: z.unknown().optional().transform((v, ctx) => {
    if (!Buffer.isBuffer(v) || v.length === 0) return undefined;
    try {
      return { type: avatarContentType(v), data: v };
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }),
});

export type Profile = z.output<typeof profileSchema>;
type Field = keyof Profile;

/**
 * Parses the fields asked for (all by default) and throws one AppError('bad_request') naming every problem, in
 * the order of the form.
 */
export function parseProfile<K extends Field = Field>(input: Record<string, unknown>, fields?: readonly K[]): Pick<Profile, K> {
  const schema = fields ? profileSchema.pick(Object.fromEntries(fields.map((f) => [f, true])) as Record<Field, true>) : profileSchema;
  // An absent text field is an empty one (zod would otherwise say "expected nonoptional", to nobody's use).
  const parsed = schema.safeParse({ name: '', username: '', email: '', ...input });
  if (parsed.success) return parsed.data as unknown as Pick<Profile, K>;
  throw badRequest([...new Set(parsed.error.issues.map((i) => i.message))].join(' '));
}
