/*
 * The per-input fd-leak check of the stateful fuzz targets (libwayland's
 * test runner and sommelier's fuzzer do the same): count the open fds
 * before and after each input; a difference is a fuzz failure.
 *
 * Counting through opendir("/proc/self/fd") costs an open, a 32 KiB
 * allocation and a close per count, about a tenth of a policy input; this
 * keeps one directory fd open for the process and re-reads it from offset
 * 0 with getdents64. That fd is counted every time, so counts compare.
 *
 * Needs _GNU_SOURCE (getdents64, readlinkat) before the first system header.
 */
#ifndef CROSSWAY_TESTS_FUZZ_FUZZ_FDS_H
#define CROSSWAY_TESTS_FUZZ_FUZZ_FDS_H

#ifndef _GNU_SOURCE
#error "fuzz_fds.h needs _GNU_SOURCE"
#endif

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"

#define FUZZ_FDS_MAX 1024

static inline int fuzz_fds_dir(void) {
	static int dir = -1;
	if (dir < 0) {
		dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		fuzz_check(dir >= 0, "cannot open /proc/self/fd");
	}
	return dir;
}

/*
 * Lists the open fds (ascending is not promised) into @fds, at most
 * FUZZ_FDS_MAX; returns how many are open.
 */
static inline int fuzz_fds_list(int *fds) {
	int dir = fuzz_fds_dir();
	static char buf[8192];
	int n = 0;
	fuzz_check(lseek(dir, 0, SEEK_SET) == 0, "cannot rewind /proc/self/fd");
	for (;;) {
		ssize_t len = getdents64(dir, buf, sizeof(buf));
		fuzz_check(len >= 0, "cannot read /proc/self/fd");
		if (len == 0) {
			break;
		}
		for (ssize_t off = 0; off < len;) {
			const struct dirent64 *e = (const struct dirent64 *)(buf + off);
			off += e->d_reclen;
			if (e->d_name[0] < '0' || e->d_name[0] > '9') {
				continue; // "." and ".."
			}
			if (fds != NULL && n < FUZZ_FDS_MAX) {
				fds[n] = atoi(e->d_name);
			}
			n++;
		}
	}
	return n;
}

static inline int fuzz_fds_count(void) {
	return fuzz_fds_list(NULL);
}

/* The count the last passing fuzz_fds_check() saw; -1 before the first. */
static int fuzz_fds_last_ok = -1;

/*
 * The count to compare the next input against. After a passing check it is
 * that check's count: nothing runs between two inputs that keeps an fd
 * (libFuzzer closes what it opens), so counting again before each input
 * would only double the cost of the check.
 */
static inline int fuzz_fds_baseline(void) {
	return fuzz_fds_last_ok >= 0 ? fuzz_fds_last_ok : fuzz_fds_count();
}

/*
 * Aborts unless as many fds are open as @before said; first prints each
 * open fd with what it is (readlink), so the leaked one can be told.
 */
static inline void fuzz_fds_check(int before, const char *when) {
	static int fds[FUZZ_FDS_MAX];
	int now = fuzz_fds_list(fds);
	if (now == before) {
		fuzz_fds_last_ok = now;
		return;
	}
	for (int i = 0; i < now && i < FUZZ_FDS_MAX; i++) {
		char name[16], target[256];
		snprintf(name, sizeof(name), "%d", fds[i]);
		ssize_t k = readlinkat(fuzz_fds_dir(), name, target, sizeof(target) - 1);
		target[k > 0 ? k : 0] = '\0';
		fprintf(stderr, "open fd %d: %s\n", fds[i], target);
	}
	fuzz_fail(__FILE__, __LINE__, "fds_after == fds_before",
		  "%d fds open before the input, %d %s", before, now, when);
}

#endif
