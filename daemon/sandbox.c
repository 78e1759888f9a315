/* _GNU_SOURCE: unshare, CLONE_*, pivot_root through syscall(). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crossway-config.h"
#include "daemon/log.h"
#include "daemon/sandbox.h"
#include "wire/limits.h"

#if HAVE_SECCOMP
#include <seccomp.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZER_BUILD 1
#endif
#endif
#ifndef SANITIZER_BUILD
#define SANITIZER_BUILD 0
#endif

#if SANITIZER_BUILD
#include <sanitizer/lsan_interface.h>
#endif

void sandbox_leak_check(void) {
#if SANITIZER_BUILD
	__lsan_do_leak_check();
#endif
}

/* Landlock's uapi, spelled out: bookworm's kernel headers predate ABI 4-6. */
#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_FS_ABI1 ((1ull << 13) - 1) // EXECUTE .. MAKE_SYM
#define LL_FS_REFER (1ull << 13)      // ABI 2
#define LL_FS_TRUNCATE (1ull << 14)   // ABI 3
#define LL_FS_IOCTL_DEV (1ull << 15)  // ABI 5
#define LL_NET_BIND_TCP (1ull << 0)   // ABI 4
#define LL_NET_CONNECT_TCP (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX (1ull << 0) // ABI 6
#define LL_SCOPE_SIGNAL (1ull << 1)

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_restrict_self 446
#endif

static bool set_limit(int resource, rlim_t value) {
	struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
	return setrlimit(resource, &rl) == 0;
}

static int cmp_int(const void *a, const void *b) {
	return *(const int *)a - *(const int *)b;
}

/* Closes every fd above 2 that is not kept, without reading /proc. */
static void close_other_fds(const int *keep, size_t count) {
	int sorted[16];
	size_t n = 0;
	for (size_t i = 0; i < count && n < 16; i++) {
		if (keep[i] > 2) { // -1 entries are skipped too
			sorted[n++] = keep[i];
		}
	}
	qsort(sorted, n, sizeof(int), cmp_int);
	unsigned int from = 3;
	for (size_t i = 0; i <= n; i++) {
		unsigned int to = i < n ? (unsigned int)sorted[i] - 1 : ~0u;
		if (to >= from && syscall(SYS_close_range, from, to, 0) != 0) {
			// close_range needs Linux 5.9; close one by one otherwise.
			struct rlimit rl;
			unsigned int last = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
							    rl.rlim_cur < 65536
						    ? (unsigned int)rl.rlim_cur
						    : 65536;
			for (unsigned int fd = from; fd <= to && fd < last; fd++) {
				close((int)fd);
			}
		}
		if (i < n) {
			from = (unsigned int)sorted[i] + 1;
		}
	}
}

static bool write_file(const char *path, const char *text) {
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		return false;
	}
	ssize_t n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text);
}

/* The root becomes an empty, read-only tmpfs. */
static bool empty_root(char *err, size_t err_cap) {
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
		snprintf(err, err_cap, "making mounts private: %s", strerror(errno));
		return false;
	}
	static const char *const dirs[] = {"/tmp", "/run", "/mnt", "/"};
	const char *dir = NULL;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		if (mount("crossway-root", dirs[i], "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
			  "size=16k,nr_inodes=8,mode=0555") == 0) {
			dir = dirs[i];
			break;
		}
	}
	if (dir == NULL || chdir(dir) != 0 || syscall(SYS_pivot_root, ".", ".") != 0 ||
	    umount2(".", MNT_DETACH) != 0 || chdir("/") != 0) {
		snprintf(err, err_cap, "pivoting to an empty root: %s", strerror(errno));
		return false;
	}
	mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	return true;
}

static void drop_capabilities(void) {
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) {
			break;
		}
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	struct {
		uint32_t version;
		int pid;
	} hdr = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
	struct {
		uint32_t effective, permitted, inheritable;
	} data[2] = {{0, 0, 0}, {0, 0, 0}};
	syscall(SYS_capset, &hdr, data);
}

static volatile sig_atomic_t forward_to;

static void forward_signal(int sig) {
	if (forward_to > 0) {
		kill(forward_to, sig);
	}
}

/* The parent of a PID namespace: waits for its only child and exits with
 * its status. It holds no fds. */
__attribute__((noreturn)) static void wait_for_child(pid_t child, int life_fd) {
	forward_to = child;
	struct sigaction sa = {.sa_handler = forward_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	close_other_fds(&life_fd, 1);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	int status;
	while (waitpid(child, &status, 0) < 0) {
		if (errno != EINTR) {
			_exit(1);
		}
	}
	if (WIFEXITED(status)) {
		_exit(WEXITSTATUS(status));
	}
	// Die the way the child died, so the backend sees SIGSYS as SIGSYS.
	signal(WTERMSIG(status), SIG_DFL);
	raise(WTERMSIG(status));
	_exit(128 + WTERMSIG(status));
}

bool sandbox_isolate(const struct sandbox_options *opts, struct sandbox_report *report, char *err,
		     size_t err_cap) {
	*report = (struct sandbox_report){0};
	if (!opts->enabled) {
		// Not sandboxing is no reason to hold fds we were not meant to.
		close_other_fds(opts->keep_fds, opts->keep_count);
		return true;
	}
	rlim_t files = opts->max_fds ? opts->max_fds : CROSSWAY_CONTEXT_MAX_FDS;
	struct rlimit now;
	if (!set_limit(RLIMIT_NOFILE, files) && getrlimit(RLIMIT_NOFILE, &now) == 0 &&
	    now.rlim_max < files) {
		// Raising the hard limit takes privilege: keep what is allowed
		// (the soft limit may be far lower, often 1024).
		cw_log(CW_LOG_ERROR,
		       "Open file limit %llu is below the %llu a context may need; a guest may run "
		       "this process out of fds before its own limits stop it",
		       (unsigned long long)now.rlim_max, (unsigned long long)files);
		set_limit(RLIMIT_NOFILE, now.rlim_max);
	}
	set_limit(RLIMIT_CORE, 0);
	set_limit(RLIMIT_MEMLOCK, 0);
#if !SANITIZER_BUILD
	// Guest memory is never mapped here; 1 GiB is room for queues and heap.
	set_limit(RLIMIT_AS, 1ull << 30);
#endif
	close_other_fds(opts->keep_fds, opts->keep_count);
#if SANITIZER_BUILD
	// LeakSanitizer needs /proc and ptrace of its own process at exit; in an
	// empty-root PID namespace it silently checks nothing. The build without
	// sanitizers runs every test with the whole sandbox.
	cw_log(CW_LOG_INFO, "Sanitizer build: no namespaces, Landlock or seccomp");
	return true;
#endif

	uid_t uid = getuid();
	gid_t gid = getgid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |
		    CLONE_NEWPID) != 0) {
		cw_log_errno(CW_LOG_INFO, "Sandbox: namespaces not permitted, continuing without");
		return true;
	}
	char map[64];
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)uid, (unsigned)uid);
	bool mapped = write_file("/proc/self/uid_map", map);
	write_file("/proc/self/setgroups", "deny\n");
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)gid, (unsigned)gid);
	mapped = mapped && write_file("/proc/self/gid_map", map);
	if (!mapped) {
		snprintf(err, err_cap, "writing the user namespace id maps: %s", strerror(errno));
		return false;
	}
	if (!empty_root(err, err_cap)) {
		return false;
	}
	sethostname("crossway", 8);
	report->namespaces = true;

	// The new PID namespace applies to children: become one. The pipe
	// tells the child whether the parent died before PDEATHSIG was set
	// (getppid() cannot: the parent is outside the namespace).
	int life[2];
	if (pipe2(life, O_CLOEXEC) != 0) {
		snprintf(err, err_cap, "pipe: %s", strerror(errno));
		return false;
	}
	pid_t child = fork();
	if (child < 0) {
		snprintf(err, err_cap, "fork into the PID namespace: %s", strerror(errno));
		return false;
	}
	if (child > 0) {
		close(life[0]);
		wait_for_child(child, life[1]);
	}
	close(life[1]);
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	struct pollfd pfd = {.fd = life[0], .events = POLLIN};
	if (poll(&pfd, 1, 0) > 0) {
		_exit(1); // the parent is already gone
	}
	close(life[0]);
	report->pid_namespace = getpid() == 1;
	drop_capabilities();
	return true;
}

static int landlock(bool required, char *err, size_t err_cap) {
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LL_CREATE_RULESET_VERSION);
	if (abi < 1) {
		if (required) {
			snprintf(err, err_cap,
				 "Landlock is required but the kernel does not offer it");
			return -1;
		}
		return 0;
	}
	struct ll_ruleset_attr attr = {.handled_access_fs = LL_FS_ABI1};
	size_t attr_size = sizeof(uint64_t);
	if (abi >= 2) {
		attr.handled_access_fs |= LL_FS_REFER;
	}
	if (abi >= 3) {
		attr.handled_access_fs |= LL_FS_TRUNCATE;
	}
	if (abi >= 4) {
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
		attr_size = 2 * sizeof(uint64_t);
	}
	if (abi >= 5) {
		attr.handled_access_fs |= LL_FS_IOCTL_DEV;
	}
	if (abi >= 6) {
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
		attr_size = sizeof(attr);
	}
	// No rules: nothing on any file system is reachable any more.
	int fd = (int)syscall(SYS_landlock_create_ruleset, &attr, attr_size, 0);
	if (fd < 0) {
		snprintf(err, err_cap, "landlock_create_ruleset: %s", strerror(errno));
		return -1;
	}
	long r = syscall(SYS_landlock_restrict_self, fd, 0);
	close(fd);
	if (r != 0) {
		snprintf(err, err_cap, "landlock_restrict_self: %s", strerror(errno));
		return -1;
	}
	return (int)abi;
}

/*
 * Test-only (--test-landlock-probe): with Landlock on and seccomp not yet,
 * tries to open paths outside the sandbox and reports the errno of each on
 * stderr, so a test can see the file system closed from the inside.
 */
static void landlock_probe(int abi) {
	static const char *const paths[] = {"/", "/etc/passwd"};
	fprintf(stderr, "crosswayd: landlock probe: abi %d", abi);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			fprintf(stderr, "; %s opened", paths[i]);
			close(fd);
		} else {
			fprintf(stderr, "; %s errno %d (%s)", paths[i], errno, strerror(errno));
		}
	}
	fprintf(stderr, "\n");
}

#if HAVE_SECCOMP
static void report_sigsys(int sig, siginfo_t *info, void *uctx) {
	(void)sig;
	(void)uctx;
	char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, info->si_syscall);
	char buf[160];
	int n = snprintf(buf, sizeof(buf), "crosswayd: sandbox: forbidden syscall %s (%d)\n",
			 name ? name : "?", info->si_syscall);
	ssize_t unused = write(STDERR_FILENO, buf, (size_t)n);
	(void)unused;
	_exit(126);
}

static bool seccomp(bool debug, bool gpu, size_t *count, char *err, size_t err_cap) {
	scmp_filter_ctx ctx = seccomp_init(debug ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
	if (ctx == NULL) {
		snprintf(err, err_cap, "seccomp_init failed");
		return false;
	}
	// abort() on a broken invariant: SIGABRT to ourselves only.
	int self = getpid();
	int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 2,
				  SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self),
				  SCMP_A2(SCMP_CMP_EQ, SIGABRT));
	for (size_t i = 0; rc == 0 && i < sandbox_syscall_rule_count; i++) {
		const struct sandbox_syscall_rule *r = &sandbox_syscall_rules[i];
		if (r->gpu && !gpu) {
			continue;
		}
		int nr = seccomp_syscall_resolve_name(r->name);
		if (nr == __NR_SCMP_ERROR) {
			continue; // not a syscall on this architecture
		}
		if (r->arg < 0) {
			rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		} else {
			struct scmp_arg_cmp cmp = {
				.arg = (unsigned)r->arg,
				.op = r->mask == ~0ull ? SCMP_CMP_EQ : SCMP_CMP_MASKED_EQ,
				.datum_a = r->mask == ~0ull ? r->value : r->mask,
				.datum_b = r->value,
			};
			rc = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, 1, &cmp);
		}
	}
	if (rc == 0 && debug) {
		struct sigaction sa = {.sa_sigaction = report_sigsys, .sa_flags = SA_SIGINFO};
		sigemptyset(&sa.sa_mask);
		sigaction(SIGSYS, &sa, NULL);
	}
	if (rc == 0) {
		rc = seccomp_load(ctx);
	}
	seccomp_release(ctx);
	if (rc != 0) {
		snprintf(err, err_cap, "seccomp: %s", strerror(-rc));
		return false;
	}
	*count = sandbox_syscall_count(gpu) + 1; // + tgkill
	return true;
}
#endif

bool sandbox_lock(const struct sandbox_options *opts, struct sandbox_report *report, char *err,
		  size_t err_cap) {
	if (!opts->enabled) {
		cw_log(CW_LOG_ERROR, "SANDBOX DISABLED (--no-sandbox): this process can reach the "
				     "whole system; use this only for debugging");
		return true;
	}
	// Landlock wants no_new_privs from an unprivileged process, so it
	// comes first.
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, err_cap, "no_new_privs: %s", strerror(errno));
		return false;
	}
#if SANITIZER_BUILD
	// See sandbox_isolate: no Landlock or seccomp under sanitizers.
	(void)landlock;
	(void)landlock_probe;
#if HAVE_SECCOMP
	(void)seccomp;
#endif
	return true;
#else
	int abi = landlock(opts->require_landlock, err, err_cap);
	if (abi < 0) {
		return false;
	}
	report->landlock_abi = abi;
	if (opts->landlock_probe) {
		landlock_probe(abi);
	}
#if HAVE_SECCOMP
	if (!seccomp(opts->debug, opts->gpu, &report->syscalls, err, err_cap)) {
		return false;
	}
	report->seccomp = true;
#else
	cw_log(CW_LOG_ERROR, "Built without libseccomp: no syscall filter");
#endif
	return true;
#endif
}

size_t sandbox_syscall_count(bool gpu) {
	size_t n = 0;
	for (size_t i = 0; i < sandbox_syscall_rule_count; i++) {
		if (sandbox_syscall_rules[i].gpu && !gpu) {
			continue;
		}
		bool seen = false;
		for (size_t k = 0; k < i; k++) {
			if (strcmp(sandbox_syscall_rules[k].name, sandbox_syscall_rules[i].name) ==
			    0) {
				seen = true;
				break;
			}
		}
		n += !seen;
	}
	return n;
}

void sandbox_print_rules(FILE *out) {
	fprintf(out,
		"# %zu syscalls (plus tgkill of SIGABRT to itself), %zu with a render node; "
		"everything else kills the process\n",
		sandbox_syscall_count(false), sandbox_syscall_count(true));
	for (size_t i = 0; i < sandbox_syscall_rule_count; i++) {
		const struct sandbox_syscall_rule *r = &sandbox_syscall_rules[i];
		fputs(r->gpu ? "gpu " : "", out);
		if (r->arg < 0) {
			fprintf(out, "%s\n", r->name);
		} else if (r->mask == ~0ull) {
			fprintf(out, "%s a%d == 0x%" PRIx64 "\n", r->name, r->arg, r->value);
		} else {
			fprintf(out, "%s a%d & 0x%" PRIx64 " == 0x%" PRIx64 "\n", r->name, r->arg,
				r->mask, r->value);
		}
	}
}

bool sandbox_call_forbidden(const char *name) {
	static const char path[] = "/etc/passwd";
	if (strcmp(name, "openat") == 0) {
		syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	} else if (strcmp(name, "socket") == 0) {
		syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
	} else if (strcmp(name, "connect") == 0) {
		syscall(SYS_connect, -1, NULL, 0);
	} else if (strcmp(name, "execve") == 0) {
		char *const argv[] = {"/bin/true", NULL};
		syscall(SYS_execve, "/bin/true", argv, NULL);
	} else if (strcmp(name, "fork") == 0) {
		syscall(SYS_clone, SIGCHLD, 0, NULL, NULL, 0);
	} else if (strcmp(name, "ptrace") == 0) {
		syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, NULL, NULL);
	} else if (strcmp(name, "kill") == 0) {
		syscall(SYS_kill, 1, 0);
	} else if (strcmp(name, "mount") == 0) {
		syscall(SYS_mount, "none", "/", "tmpfs", 0, NULL);
	} else if (strcmp(name, "bpf") == 0) {
		syscall(SYS_bpf, 0, NULL, 0);
	} else if (strcmp(name, "io_uring_setup") == 0) {
		syscall(SYS_io_uring_setup, 1, NULL);
	} else {
		return false;
	}
	return true;
}
