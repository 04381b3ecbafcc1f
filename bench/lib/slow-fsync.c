// An SD card's fsync, for `npm run bench` only: LD_PRELOAD'ed into a server, it makes every fsync, fdatasync
// and sync_file_range take BENCH_FSYNC_DELAY_MS (default 10) milliseconds longer, then does the real call.
// Built by bench/lib/slow-disk.mjs with the machine's C compiler.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <sys/types.h>

static long delay_ns(void) {
  static long ns = -1;
  if (ns < 0) {
    const char *v = getenv("BENCH_FSYNC_DELAY_MS");
    ns = (v ? atol(v) : 10) * 1000000L;
  }
  return ns;
}

static void wait_for_the_card(void) {
  struct timespec t = { delay_ns() / 1000000000L, delay_ns() % 1000000000L };
  while (nanosleep(&t, &t) != 0) {}
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  wait_for_the_card();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  wait_for_the_card();
  return real(fd);
}

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags) {
  static int (*real)(int, off_t, off_t, unsigned int);
  if (!real) real = (int (*)(int, off_t, off_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
  wait_for_the_card();
  return real(fd, offset, nbytes, flags);
}
