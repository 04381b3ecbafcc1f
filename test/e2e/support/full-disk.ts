// A full disk for real: a file written until the file system refuses even one more byte (ENOSPC at every size).
import { closeSync, openSync, writeSync } from 'node:fs';
import { expect } from 'vitest';

export function fillToLastByte(file: string): void {
  const fd = openSync(file, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
  }
  for (let size = 4096; size >= 1; size = Math.floor(size / 2)) {
    try {
      for (;;) writeSync(fd, block, 0, size);
    } catch { /* that size no longer fits: try a smaller one */ }
  }
  closeSync(fd);
}
