/* Small helpers shared by the crossway-bench clients. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/bench/bench.h"

double bench_now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void bench_fill(uint8_t *pixels, uint32_t stride, uint32_t height, uint32_t frame) {
	// Every row changes every frame, as a full-damage redraw would, at
	// memset speed so that filling costs every path the same small amount.
	for (uint32_t y = 0; y < height; y++) {
		memset(pixels + (size_t)y * stride, (int)((frame * 7 + y) & 0xff), stride);
	}
}

bool bench_wait_go(const struct bench_job *job) {
	bool ok = true;
	if (job->ready_fd >= 0) {
		char c = 'r';
		ok = write(job->ready_fd, &c, 1) == 1;
		close(job->ready_fd);
	}
	if (job->go_fd >= 0) {
		char c;
		ssize_t n;
		do {
			n = read(job->go_fd, &c, 1);
		} while (n < 0 && errno == EINTR);
		close(job->go_fd);
		ok = ok && n == 0;
	}
	return ok;
}

int64_t bench_proc_cpu_ns(int pid) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	FILE *f = fopen(path, "re");
	if (f != NULL) {
		unsigned long long ns;
		int n = fscanf(f, "%llu", &ns);
		fclose(f);
		if (n == 1) {
			return (int64_t)ns;
		}
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (f == NULL) {
		return -1;
	}
	char buf[1024];
	size_t len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	// Fields after the command name, which may hold spaces and parentheses.
	char *p = strrchr(buf, ')');
	unsigned long long utime, stime;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
				&utime, &stime) != 2) {
		return -1;
	}
	long hz = sysconf(_SC_CLK_TCK);
	return (int64_t)((utime + stime) * (1000000000ull / (unsigned long long)hz));
}

uint64_t bench_proc_status_kib(int pid, const char *field) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		return 0;
	}
	char line[256];
	size_t flen = strlen(field);
	uint64_t kib = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
			kib = strtoull(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

int bench_proc_worker(int pid) {
	char path[96];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		return pid;
	}
	int child;
	int n = fscanf(f, "%d", &child);
	fclose(f);
	return n == 1 ? child : pid;
}
