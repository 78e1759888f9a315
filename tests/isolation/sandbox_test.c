/*
 * The context sandbox, seen from outside: a real crosswayd started the way a
 * VMM starts it (socketpair, --fd 3, HELLO through tests/common/sim) must die
 * by SIGSYS on each forbidden syscall, show no_new_privs, a seccomp filter,
 * no capabilities and its own namespaces in /proc, and find the file system
 * closed by Landlock. Sanitizer builds run contexts without seccomp and
 * Landlock (LeakSanitizer cannot work inside), so those tests skip there.
 */
/* _GNU_SOURCE: syscall() for the Landlock version query, usleep. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/host.h"
#include "tests/common/sim.h"
#include "tests/harness/test.h"
#include "wire/limits.h"

#ifndef CROSSWAY_SANITIZED
#define CROSSWAY_SANITIZED 0
#endif

#define TIMEOUT_MS 10000

static const char *crosswayd(void) {
	return test_program("CROSSWAYD");
}

static void skip_if_sanitized(void) {
	if (CROSSWAY_SANITIZED) {
		test_skip("sanitizer build: contexts run without seccomp and Landlock");
	}
}

/* Waits for the spawned crosswayd and returns its raw wait status. */
static int wait_status(struct sim *sim, int timeout_ms) {
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		int status;
		pid_t r = waitpid(sim->pid, &status, WNOHANG);
		if (r == sim->pid) {
			sim->pid = 0; // reaped: sim_finish must not wait again
			return status;
		}
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - start.tv_sec) * 1000 +
			  (now.tv_nsec - start.tv_nsec) / 1000000;
		if (r < 0 || ms > timeout_ms) {
			sim_kill(sim);
			test_fail(__FILE__, __LINE__, "crosswayd did not end within %d ms",
				  timeout_ms);
		}
		usleep(2000);
	}
}

static void describe(int status, char *buf, size_t cap) {
	if (WIFSIGNALED(status)) {
		snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	} else {
		snprintf(buf, cap, "exit status %d", WEXITSTATUS(status));
	}
}

/* Runs a context with @args, sends HELLO, returns how it ended; stderr in @err. */
static int run_context(const char *const *args, char *err, size_t err_cap) {
	struct sim sim;
	memset(&sim, 0, sizeof(sim));
	test_assert(sim_spawn(&sim, crosswayd(), NULL, args, true));
	test_assert(sim_send_hello(&sim, "vm-isolation", 0));
	int status = wait_status(&sim, TIMEOUT_MS);
	size_t n = sim_read_stderr(&sim, err, err_cap, 200);
	err[n] = '\0';
	sim_finish(&sim, 1000);
	return status;
}

static const char *const forbidden[] = {
	"openat", "socket", "connect", "execve", "fork",
	"ptrace", "kill",   "mount",   "bpf",    "io_uring_setup",
};

TEST_P(forbidden_syscall_kills_the_context, forbidden) {
	skip_if_sanitized();
	const char *args[] = {"--test-forbidden-syscall", *data, NULL};
	char err[4096], how[64];
	int status = run_context(args, err, sizeof(err));
	describe(status, how, sizeof(how));
	test_note("%s: %s", *data, how);
	test_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS,
			"%s did not end the context by SIGSYS: %s\n# stderr: %s", *data, how, err);
}

/* The same switch without a sandbox: the syscall runs and nothing dies, so
 * the test above would notice a filter that let a syscall through. */
TEST(forbidden_syscall_without_sandbox_is_not_killed) {
	const char *args[] = {"--no-sandbox", "--test-forbidden-syscall", "openat", NULL};
	char err[4096], how[64];
	int status = run_context(args, err, sizeof(err));
	describe(status, how, sizeof(how));
	test_assert_msg(!WIFSIGNALED(status), "unsandboxed context died: %s", how);
	test_assert_str_contains(err, "SANDBOX DISABLED");
}

TEST(sandbox_debug_names_the_syscall) {
	skip_if_sanitized();
	const char *args[] = {"--sandbox-debug", "--test-forbidden-syscall", "bpf", NULL};
	char err[4096], how[64];
	int status = run_context(args, err, sizeof(err));
	describe(status, how, sizeof(how));
	test_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 126, "%s", how);
	test_assert_str_contains(err, "forbidden syscall bpf");
}

TEST(unknown_forbidden_syscall_name_is_reported) {
	skip_if_sanitized();
	const char *args[] = {"--test-forbidden-syscall", "no_such_call", NULL};
	char err[4096], how[64];
	int status = run_context(args, err, sizeof(err));
	describe(status, how, sizeof(how));
	test_assert_msg(!WIFSIGNALED(status), "%s", how);
	test_assert_str_contains(err, "unknown syscall no_such_call");
}

/* The sandboxed process: the only child of crosswayd (the PID namespace's
 * parent stays outside and waits), or crosswayd itself without one. */
static pid_t sandboxed_pid(pid_t outer) {
	DIR *d = opendir("/proc");
	test_assert(d != NULL);
	pid_t found = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[512];
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			continue;
		}
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0) {
			continue;
		}
		buf[n] = '\0';
		const char *rp = strrchr(buf, ')');
		int ppid;
		char state;
		if (rp != NULL && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == outer) {
			found = (pid_t)atoi(e->d_name);
		}
	}
	closedir(d);
	return found ? found : outer;
}

static void read_text(const char *path, char *buf, size_t cap) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	test_assert_msg(fd >= 0, "%s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, cap - 1);
	close(fd);
	test_assert(n > 0);
	buf[n] = '\0';
}

static void status_field(const char *status, const char *key, char *out, size_t cap) {
	const char *p = strstr(status, key);
	test_assert_msg(p != NULL, "no %s in /proc/PID/status", key);
	p += strlen(key);
	while (*p == '\t' || *p == ' ') {
		p++;
	}
	size_t n = strcspn(p, "\n");
	snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

/* The soft RLIMIT_NOFILE of process @pid (/proc/PID/limits), 0 if unread. */
static unsigned long max_open_files(pid_t pid) {
	char path[64], limits[4096] = "";
	snprintf(path, sizeof(path), "/proc/%d/limits", (int)pid);
	read_text(path, limits, sizeof(limits));
	const char *nofile = strstr(limits, "Max open files");
	return nofile != NULL ? strtoul(nofile + strlen("Max open files"), NULL, 10) : 0;
}

TEST(proc_status_shows_the_sandbox) {
	skip_if_sanitized();
	test_set_timeout(60);
	struct host host;
	if (!host_start(&host, 320, 240)) {
		test_skip("weston is not installed or did not start");
	}
	struct sim sim;
	memset(&sim, 0, sizeof(sim));
	const char *args[] = {"--log-level", "debug", NULL};
	test_assert(sim_spawn(&sim, crosswayd(), host.display, args, true));
	bool hello = sim_hello(&sim, "vm-status");
	pid_t pid = sandboxed_pid(sim.pid);
	char status[4096] = "", nnp[32] = "", seccomp[32] = "", capeff[32] = "", capprm[32] = "";
	char ns_diff[128] = "", ns_same[128] = "";
	unsigned long max_files = 0;
	if (hello) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
		read_text(path, status, sizeof(status));
		status_field(status, "NoNewPrivs:", nnp, sizeof(nnp));
		status_field(status, "Seccomp:", seccomp, sizeof(seccomp));
		status_field(status, "CapEff:", capeff, sizeof(capeff));
		status_field(status, "CapPrm:", capprm, sizeof(capprm));
		max_files = max_open_files(pid);
		static const char *const kinds[] = {"user", "mnt", "net", "ipc", "uts", "pid"};
		for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
			char mine[64], theirs[64], link[64];
			snprintf(link, sizeof(link), "/proc/self/ns/%s", kinds[i]);
			ssize_t a = readlink(link, mine, sizeof(mine) - 1);
			snprintf(link, sizeof(link), "/proc/%d/ns/%s", (int)pid, kinds[i]);
			ssize_t b = readlink(link, theirs, sizeof(theirs) - 1);
			test_assert_msg(a > 0 && b > 0, "cannot read %s", link);
			mine[a] = theirs[b] = '\0';
			char *list = strcmp(mine, theirs) != 0 ? ns_diff : ns_same;
			strncat(list, " ", 127 - strlen(list));
			strncat(list, kinds[i], 127 - strlen(list));
		}
	}
	char err[8192];
	size_t n = sim_read_stderr(&sim, err, sizeof(err), 200);
	err[n] = '\0';
	sim_finish(&sim, 5000);
	host_stop(&host);
	test_assert_msg(hello, "no HELLO_REPLY from a context with a compositor");
	const char *line = strstr(err, "Sandbox: namespaces");
	test_note("context pid %d: NoNewPrivs %s, Seccomp %s, CapEff %s, CapPrm %s", (int)pid, nnp,
		  seccomp, capeff, capprm);
	test_note("own namespaces:%s; shared:%s", ns_diff, ns_same[0] ? ns_same : " none");
	if (line != NULL) {
		test_note("%.*s", (int)strcspn(line, "\n"), line);
	}
	// Room for every fd table and queue full at once (wire/limits.h).
	test_assert_int_eq(max_files, CROSSWAY_CONTEXT_MAX_FDS);
	test_assert_str_eq(nnp, "1");
	test_assert_str_eq(seccomp, "2");
	test_assert_str_eq(capeff, "0000000000000000");
	test_assert_str_eq(capprm, "0000000000000000");
	test_assert_msg(ns_same[0] == '\0', "namespaces shared with the host:%s", ns_same);
	test_assert_msg(pid != sim.pid, "no PID-namespace init below crosswayd");
}

/* A hard open-file limit below what a context may need (raising it takes
 * privilege): the context keeps that limit, says so, and still serves; it
 * used to ask for more, fail, and keep the soft limit (often 1024). */
TEST(low_hard_file_limit_is_kept_and_said) {
	skip_if_sanitized();
	test_set_timeout(60);
	struct host host;
	if (!host_start(&host, 320, 240)) {
		test_skip("weston is not installed or did not start");
	}
	struct rlimit rl = {.rlim_cur = 1024, .rlim_max = 4096};
	test_assert(setrlimit(RLIMIT_NOFILE, &rl) == 0); // this test's process only
	struct sim sim;
	memset(&sim, 0, sizeof(sim));
	test_assert(sim_spawn(&sim, crosswayd(), host.display, NULL, true));
	bool hello = sim_hello(&sim, "vm-limit");
	unsigned long max_files = 0;
	if (hello) {
		max_files = max_open_files(sandboxed_pid(sim.pid));
	}
	char err[8192];
	size_t n = sim_read_stderr(&sim, err, sizeof(err), 200);
	err[n] = '\0';
	sim_finish(&sim, 5000);
	host_stop(&host);
	test_assert_msg(hello, "no HELLO_REPLY");
	test_assert_int_eq(max_files, 4096);
	test_assert_str_contains(err, "Open file limit 4096 is below");
}

TEST(landlock_closes_the_file_system) {
	skip_if_sanitized();
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, 1u /* VERSION */);
	if (abi < 1) {
		test_skip("the kernel has no Landlock");
	}
	const char *args[] = {"--test-landlock-probe", NULL};
	char err[4096], how[64];
	int status = run_context(args, err, sizeof(err));
	describe(status, how, sizeof(how));
	const char *line = strstr(err, "landlock probe:");
	test_assert_msg(line != NULL, "no probe report (%s); stderr: %s", how, err);
	test_note("kernel Landlock ABI %ld; %.*s", abi, (int)strcspn(line, "\n"), line);
	char want[32];
	snprintf(want, sizeof(want), "abi %ld;", abi);
	test_assert_str_contains(line, want);
	// The empty tmpfs root is readable (mode 0555): only Landlock refuses it.
	test_assert_str_contains(line, "/ errno 13 ");
	// /etc/passwd: gone (empty root) or refused (Landlock), never opened.
	test_assert_msg(strstr(line, "/etc/passwd errno") != NULL, "%s", line);
	test_assert_msg(strstr(line, "opened") == NULL, "%s", line);
}

/* Without the sandbox the same probe is not made at all, so a missing
 * report means the switch is broken, not that Landlock failed. */
TEST(landlock_probe_needs_the_sandbox) {
	const char *args[] = {"--no-sandbox", "--test-landlock-probe", NULL};
	char err[4096];
	run_context(args, err, sizeof(err));
	test_assert_msg(strstr(err, "landlock probe:") == NULL, "%s", err);
}

TEST(seccomp_allowlist_is_small) {
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "'%s' --print-seccomp", crosswayd());
	FILE *f = popen(cmd, "r");
	test_assert(f != NULL);
	char names[128][64];
	size_t count = 0, gpu = 0, header = 0;
	char line[256];
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] == '#') {
			sscanf(line, "# %zu syscalls", &header);
			continue;
		}
		char name[64];
		bool is_gpu = strncmp(line, "gpu ", 4) == 0;
		if (sscanf(line + (is_gpu ? 4 : 0), "%63s", name) != 1) {
			continue;
		}
		bool seen = false;
		for (size_t i = 0; i < count; i++) {
			seen = seen || strcmp(names[i], name) == 0;
		}
		if (!seen && count < 128) {
			snprintf(names[count++], sizeof(names[0]), "%s", name);
			gpu += is_gpu;
		}
	}
	int rc = pclose(f);
	test_assert_int_eq(rc, 0);
	test_note("%zu syscalls allowed without a render node, %zu with one (+ tgkill SIGABRT "
		  "to itself)",
		  count - gpu, count);
	test_assert_int_eq(header, count - gpu);
	test_assert_msg(count - gpu <= 40, "%zu syscalls > 40", count - gpu);
	test_assert_msg(count <= 45, "%zu syscalls with a render node > 45", count);
	static const char *const never[] = {"openat", "open",  "socket", "connect",
					    "execve", "clone", "fork",   "ptrace",
					    "kill",   "mount", "bpf",    "io_uring_setup"};
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
		for (size_t k = 0; k < count; k++) {
			test_assert_msg(strcmp(names[k], never[i]) != 0, "%s is allowed", never[i]);
		}
	}
}
