/*
 * The sandbox every context process enters before it reads a single guest
 * byte (security.md section 7.2). In this order:
 *   1. resource limits (fds, core dumps, processes, memory lock, address space);
 *   2. every fd not on the keep-list closed;
 *   3. new user, mount, network, IPC, UTS and PID namespaces where the kernel
 *      permits: the root becomes an empty read-only tmpfs, the network has
 *      only a down loopback, and the process becomes init of its own PID
 *      namespace (a small parent stays behind to wait and pass on signals);
 *      all capabilities are dropped;
 *   4. no_new_privs (which Landlock requires of an unprivileged process);
 *   5. Landlock with every file system right handled and no path allowed,
 *      TCP bind/connect denied (ABI 4) and abstract sockets and signals
 *      scoped (ABI 6), best effort by ABI;
 *   6. a seccomp allowlist (daemon/seccomp.list) that kills on anything else.
 * Steps 1-3 are sandbox_isolate, 4-6 sandbox_lock: in between the caller
 * creates what needs syscalls the allowlist forbids (epoll, signalfd, timers).
 */
#ifndef CROSSWAY_DAEMON_SANDBOX_H
#define CROSSWAY_DAEMON_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct sandbox_syscall_rule {
	const char *name;
	int arg;       // -1: any arguments
	uint64_t mask; // (arg & mask) == value
	uint64_t value;
	bool gpu; // only with a render node
};

/* The compiled-in allowlist (generated from daemon/seccomp.list). */
extern const struct sandbox_syscall_rule sandbox_syscall_rules[];
extern const size_t sandbox_syscall_rule_count;

struct sandbox_options {
	bool enabled;        // false: --no-sandbox (logged loudly)
	const int *keep_fds; // besides 0, 1, 2
	size_t keep_count;
	uint32_t max_fds;      // RLIMIT_NOFILE
	bool debug;            // a forbidden syscall is reported, then the process exits
	bool require_landlock; // refuse to run when the kernel has no Landlock
	bool gpu;              // a render node is open: allow the GPU rules too
	bool landlock_probe;   // test-only: report on stderr what opening "/" and
			       // "/etc/passwd" gives once Landlock is on (before seccomp)
};

/* What was switched on, for logs and tests. */
struct sandbox_report {
	bool namespaces;
	bool pid_namespace;
	int landlock_abi; // 0: none
	bool seccomp;
	size_t syscalls; // distinct syscalls allowed
};

/**
 * Steps 1-3. With a PID namespace this forks: the parent waits for the child
 * and never returns (it exits with the child's status); the child returns.
 * Returns false with a reason in @err when a required step fails.
 */
bool sandbox_isolate(const struct sandbox_options *opts, struct sandbox_report *report, char *err,
		     size_t err_cap);

/** Steps 4-6. */
bool sandbox_lock(const struct sandbox_options *opts, struct sandbox_report *report, char *err,
		  size_t err_cap);

/**
 * In a sanitizer build, runs LeakSanitizer now (exiting with its error
 * status on a leak); otherwise does nothing. For processes that end with
 * _exit, which skips the sanitizer's exit hook.
 */
void sandbox_leak_check(void);

/** Prints the allowlist, one rule per line (--print-seccomp). */
void sandbox_print_rules(FILE *out);

/** Number of distinct syscalls in the allowlist (@gpu: with the GPU rules). */
size_t sandbox_syscall_count(bool gpu);

/**
 * Test-only: makes the named forbidden syscall (openat, socket, connect,
 * execve, fork, ptrace, kill, mount, bpf, io_uring_setup). In a locked
 * sandbox this never returns. Returns false for an unknown name.
 */
bool sandbox_call_forbidden(const char *name);

#endif
