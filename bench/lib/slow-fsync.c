// An SD card's fsync, for `npm run bench` and the durability tests: LD_PRELOAD'ed into a server, it makes every
// fsync, fdatasync and sync_file_range take BENCH_FSYNC_DELAY_MS (default 10) milliseconds longer, then does the
// real call; with BENCH_FSYNC_LOG set, it then appends "<call> <file>" to that file, so a test can tell what was
// on disk when. Built by bench/lib/slow-disk.mjs and the tests with the machine's C compiler.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

static void log_call(const char *call, int fd) {
  const char *log = getenv("BENCH_FSYNC_LOG");
  if (!log) return;
  char link[64], path[4096], line[4200];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, path, sizeof path - 1);
  path[n < 0 ? 0 : n] = 0;
  int out = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
  if (out < 0) return;
  int len = snprintf(line, sizeof line, "%s %s\n", call, path);
  if (write(out, line, strlen(line)) != len) {}
  close(out);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  wait_for_the_card();
  int rc = real(fd);
  log_call("fsync", fd);
  return rc;
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  wait_for_the_card();
  int rc = real(fd);
  log_call("fdatasync", fd);
  return rc;
}

int sync_file_range(int fd, off_t offset, off_t nbytes, unsigned int flags) {
  static int (*real)(int, off_t, off_t, unsigned int);
  if (!real) real = (int (*)(int, off_t, off_t, unsigned int))dlsym(RTLD_NEXT, "sync_file_range");
  wait_for_the_card();
  int rc = real(fd, offset, nbytes, flags);
  log_call("sync_file_range", fd);
  return rc;
}
