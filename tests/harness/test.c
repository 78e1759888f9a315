/* _GNU_SOURCE: pipe2. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/harness/test.h"

#define DEFAULT_TIMEOUT 30
#define EXIT_SKIP 77

static int reason_fd = -1; // child: where test_skip/test_fail write their reason
static bool in_child;

const char *test_program(const char *var) {
	const char *p = getenv(var);
	if (p == NULL || access(p, X_OK) != 0) {
		test_skip("%s is not set", var);
	}
	return p;
}

int test_count_fds(void) {
	DIR *dir = opendir("/proc/self/fd");
	if (dir == NULL) {
		return -1;
	}
	int n = 0;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] != '.') {
			n++;
		}
	}
	closedir(dir);
	return n - 1; // the directory's own fd
}

__attribute__((format(printf, 1, 0))) static void write_reason(const char *fmt, va_list ap) {
	char buf[2048];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (reason_fd >= 0) {
		ssize_t unused = write(reason_fd, buf, strlen(buf));
		(void)unused;
	} else {
		fprintf(stderr, "%s\n", buf);
	}
}

void test_fail(const char *file, int line, const char *fmt, ...) {
	char text[2048];
	int n = snprintf(text, sizeof(text), "%s:%d: ", file, line);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text + n, sizeof(text) - (size_t)n, fmt, ap);
	va_end(ap);
	if (reason_fd >= 0) {
		ssize_t unused = write(reason_fd, text, strlen(text));
		(void)unused;
	} else {
		fprintf(stderr, "# %s\n", text);
	}
	if (in_child) {
		_exit(1);
	}
	abort();
}

void test_skip(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	write_reason(fmt, ap);
	va_end(ap);
	if (in_child) {
		_exit(EXIT_SKIP);
	}
	exit(EXIT_SKIP);
}

void test_set_timeout(unsigned seconds) {
	if (in_child) {
		alarm(seconds);
	}
}

void test_note(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static void rm_tree(const char *path) {
	DIR *dir = opendir(path);
	if (dir != NULL) {
		struct dirent *e;
		while ((e = readdir(dir)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
				continue;
			}
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
			struct stat st;
			if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
				rm_tree(sub);
			} else {
				unlink(sub);
			}
		}
		closedir(dir);
	}
	rmdir(path);
}

int test_run_forked(void (*run)(const void *data), const void *data, char *reason,
		    size_t reason_cap) {
	int pfd[2];
	// Close-on-exec: programs the test starts must not hold the reason pipe.
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		snprintf(reason, reason_cap, "pipe: %s", strerror(errno));
		return 1;
	}
	char runtime[] = "/tmp/crossway-test-XXXXXX";
	if (mkdtemp(runtime) == NULL) {
		snprintf(reason, reason_cap, "mkdtemp: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		return 1;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(reason, reason_cap, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		rm_tree(runtime);
		return 1;
	}
	if (pid == 0) {
		in_child = true;
		close(pfd[0]);
		reason_fd = pfd[1];
		setenv("XDG_RUNTIME_DIR", runtime, 1);
		setpgid(0, 0);
		const char *t = getenv("CROSSWAY_TEST_TIMEOUT");
		alarm(t ? (unsigned)atoi(t) : DEFAULT_TIMEOUT);
		int before = test_count_fds();
		run(data);
		int after = test_count_fds();
		if (after != before) {
			fprintf(stderr, "# fd leak: %d fds open before the test, %d after\n",
				before, after);
			char path[64], target[256];
			for (int fd = 0; fd < 1024; fd++) {
				snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
				ssize_t n = readlink(path, target, sizeof(target) - 1);
				if (n > 0) {
					target[n] = '\0';
					fprintf(stderr, "#   fd %d -> %s\n", fd, target);
				}
			}
			_exit(1);
		}
		fflush(stdout);
		_exit(0);
	}
	close(pfd[1]);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
	}
	// Whatever the test started in its process group goes with it.
	kill(-pid, SIGKILL);
	// The test is gone: read what it wrote, never wait for a straggler
	// outside its group that still holds the pipe.
	fcntl(pfd[0], F_SETFL, O_NONBLOCK);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < reason_cap && (r = read(pfd[0], reason + n, reason_cap - 1 - n)) > 0) {
		n += (size_t)r;
	}
	reason[n] = '\0';
	close(pfd[0]);
	rm_tree(runtime);
	if (WIFEXITED(status)) {
		if (WEXITSTATUS(status) == 0) {
			return 0;
		}
		if (WEXITSTATUS(status) == EXIT_SKIP) {
			return 2;
		}
		if (reason[0] == '\0') {
			snprintf(reason, reason_cap, "exit status %d", WEXITSTATUS(status));
		}
		return 1;
	}
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		snprintf(reason + n, reason_cap - n, "%skilled by signal %d (%s)", n ? "; " : "",
			 sig, sig == SIGALRM ? "timeout" : strsignal(sig));
	}
	return 1;
}
