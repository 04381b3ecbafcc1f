// Uploaded profile pictures: small, and one of the image formats every browser shows, checked by content.
import { badRequest } from '../errors.js';

export const maxAvatarBytes = 1024 * 1024;

const signatures: Array<{ type: string; test: (b: Buffer) => boolean }> = [
  { type: 'image/png', test: (b) => b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  { type: 'image/jpeg', test: (b) => b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: 'image/gif', test: (b) => ['GIF87a', 'GIF89a'].includes(b.subarray(0, 6).toString('latin1')) },
  { type: 'image/webp', test: (b) => b.subarray(0, 4).toString('latin1') === 'RIFF' && b.subarray(8, 12).toString('latin1') === 'WEBP' },
];

/** The image's content type, judged by its bytes; throws a readable error for anything else. */
export function avatarContentType(data: Buffer): string {
  if (data.length > maxAvatarBytes) throw badRequest('The picture is larger than 1 MB. Choose a smaller one.');
  const match = signatures.find((s) => s.test(data));
  if (!match) throw badRequest('The picture must be a PNG, JPEG, GIF or WebP image.');
  return match.type;
}
