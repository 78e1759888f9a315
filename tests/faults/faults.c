/* _GNU_SOURCE: pipe2. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/faults/faults.h"
#include "tests/harness/test.h"

int64_t faults_now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *faults_crosswayd(void) {
	return test_program("CROSSWAYD");
}

bool faults_sanitized(void) {
	const char *s = getenv("CROSSWAY_SANITIZED");
	return s != NULL && strcmp(s, "1") == 0;
}

static const char *runtime_dir(void) {
	const char *d = getenv("XDG_RUNTIME_DIR");
	test_assert_msg(d != NULL, "XDG_RUNTIME_DIR is not set");
	return d;
}

void ext_recorder_start(struct ext_recorder *r, const char *name, const char *const *extra,
			bool log) {
	const char *path = getenv("CROSSWAY_RECORDER");
	if (path == NULL || access(path, X_OK) != 0) {
		test_skip("CROSSWAY_RECORDER is not set");
	}
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	if (log) {
		snprintf(r->log, sizeof(r->log), "%s/%s.log", runtime_dir(), name);
	}
	int ready[2];
	test_assert(pipe2(ready, O_CLOEXEC) == 0);
	pid_t pid = fork();
	test_assert(pid >= 0);
	if (pid == 0) {
		int wfd = fcntl(ready[1], F_DUPFD, 10); // without O_CLOEXEC
		char fdnum[16];
		snprintf(fdnum, sizeof(fdnum), "%d", wfd);
		const char *argv[24];
		int n = 0;
		argv[n++] = path;
		argv[n++] = "--socket";
		argv[n++] = name;
		argv[n++] = "--ready-fd";
		argv[n++] = fdnum;
		if (log) {
			argv[n++] = "--log";
			argv[n++] = r->log;
		}
		for (int i = 0; extra != NULL && extra[i] != NULL && n < 23; i++) {
			argv[n++] = extra[i];
		}
		argv[n] = NULL;
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(ready[1]);
	r->pid = pid;
	char buf[16] = {0};
	struct pollfd p = {.fd = ready[0], .events = POLLIN};
	ssize_t got = -1;
	if (poll(&p, 1, FAULTS_TIMEOUT_MS) == 1) {
		got = read(ready[0], buf, sizeof(buf) - 1);
	}
	close(ready[0]);
	if (got <= 0 || strncmp(buf, "ready", 5) != 0) {
		ext_recorder_stop(r);
		test_fail(__FILE__, __LINE__, "crossway-recorder did not start");
	}
}

void ext_recorder_stop(struct ext_recorder *r) {
	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
		r->pid = 0;
	}
	if (r->log[0] != '\0' && getenv("FAULTS_KEEP_LOG") == NULL) {
		unlink(r->log);
		r->log[0] = '\0';
	}
}

size_t ext_recorder_count(const struct ext_recorder *r, const char *needle) {
	FILE *f = fopen(r->log, "re");
	test_assert_msg(f != NULL, "cannot open %s", r->log);
	char line[8192];
	size_t n = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, needle) != NULL) {
			n++;
		}
	}
	fclose(f);
	return n;
}

void faults_spawn(struct sim *sim, const struct faults_spawn *opts) {
	int sv[2], errpipe[2];
	test_assert(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	test_assert(pipe2(errpipe, O_CLOEXEC) == 0);
	const char *crosswayd = faults_crosswayd();
	pid_t pid = fork();
	test_assert(pid >= 0);
	if (pid == 0) {
		if (sv[1] == 3) {
			fcntl(3, F_SETFD, 0);
		} else if (dup2(sv[1], 3) < 0) {
			_exit(127);
		}
		dup2(errpipe[1], 2);
		if (opts->preload != NULL) {
			setenv("LD_PRELOAD", opts->preload, 1);
		}
		if (opts->small_asan_quarantine && faults_sanitized()) {
			// ASan's quarantine holds freed memory for reuse checks;
			// it is the sanitizer's memory, not crosswayd's.
			const char *old = getenv("ASAN_OPTIONS");
			char value[1024];
			snprintf(value, sizeof(value), "%s%squarantine_size_mb=0", old ? old : "",
				 old && *old ? ":" : "");
			setenv("ASAN_OPTIONS", value, 1);
		}
		const char *argv[40];
		int n = 0;
		argv[n++] = crosswayd;
		argv[n++] = "--fd";
		argv[n++] = "3";
		if (opts->display != NULL) {
			argv[n++] = "--wayland-display";
			argv[n++] = opts->display;
		}
		for (int i = 0; opts->args != NULL && opts->args[i] != NULL && n < 39; i++) {
			argv[n++] = opts->args[i];
		}
		argv[n] = NULL;
		execv(crosswayd, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	close(errpipe[1]);
	sim_init_fd(sim, sv[0]);
	sim->pid = pid;
	sim->stderr_fd = errpipe[0];
	fcntl(sim->stderr_fd, F_SETFL, O_NONBLOCK);
}

int faults_wait_pid(pid_t pid, int timeout_ms) {
	int64_t deadline = faults_now_ms() + timeout_ms;
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			return status;
		}
		if (r < 0 && errno != EINTR) {
			return -1;
		}
		if (faults_now_ms() > deadline) {
			return -1;
		}
		usleep(1000);
	}
}

size_t faults_children(pid_t pid, pid_t *out, size_t cap) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL) {
		return 0;
	}
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		char cpath[320];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, e->d_name);
		FILE *f = fopen(cpath, "re");
		if (f == NULL) {
			continue;
		}
		int child;
		while (n < cap && fscanf(f, "%d", &child) == 1) {
			out[n++] = (pid_t)child;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

pid_t faults_first_child(pid_t pid) {
	pid_t c;
	return faults_children(pid, &c, 1) == 1 ? c : 0;
}

pid_t faults_context_pid(pid_t pid) {
	// The sandbox's outer process starts its child before the context
	// reads the link, so by the time a test has a HELLO_REPLY it exists.
	for (int depth = 0; depth < 4; depth++) {
		pid_t c = faults_first_child(pid);
		if (c == 0) {
			break;
		}
		pid = c;
	}
	return pid;
}

long faults_status_kib(pid_t pid, const char *field) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		return -1;
	}
	char line[256];
	long v = -1;
	size_t len = strlen(field);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, len) == 0 && line[len] == ':') {
			v = strtol(line + len + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

int faults_count_fds(pid_t pid, int *max_fd) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL) {
		return -1;
	}
	int n = 0, max = -1;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		int fd = atoi(e->d_name);
		max = fd > max ? fd : max;
		n++;
	}
	closedir(d);
	if (max_fd != NULL) {
		*max_fd = max;
	}
	return n;
}

uint64_t faults_issue_poll(struct sim *sim) {
	uint8_t cmd[CROSS_DOMAIN_POLL_SIZE];
	size_t n = cross_domain_encode_poll(cmd, sizeof(cmd));
	test_assert(sim_send_submit(sim, cmd, (uint32_t)n));
	return sim_send_fence(sim, CROSSWAY_BACKEND_RING_CHANNEL);
}

uint32_t faults_msg(uint8_t *buf, uint32_t object, uint16_t opcode, const uint32_t *words,
		    unsigned n) {
	uint32_t size = 8 + 4 * n;
	uint32_t head[2] = {object, (size << 16) | opcode};
	memcpy(buf, head, 8);
	if (n > 0) {
		memcpy(buf + 8, words, 4 * (size_t)n);
	}
	return size;
}

const char *faults_write_config(const char *name, const char *text) {
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", runtime_dir(), name);
	FILE *f = fopen(path, "we");
	test_assert(f != NULL);
	fputs(text, f);
	fclose(f);
	return path;
}
