/*
 * crossway-vmsim: listens on a Wayland socket and serves every app that
 * connects as one cross-domain context of a simulated VM, each in its own
 * child process with its own crosswayd (see vmsim.h and crossway-vmsim(1)).
 */
/* _GNU_SOURCE: accept4, SO_PEERCRED and struct ucred. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/vmsim/vmsim.h"
#include "wire/cross_domain.h"

#define MAX_CTX_ARGS 32

static char log_prefix[128] = "crossway-vmsim";

void vmsim_log_prefix(const char *prefix) {
	snprintf(log_prefix, sizeof(log_prefix), "crossway-vmsim %s", prefix);
}

void vmsim_log(const char *fmt, ...) {
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", log_prefix, line);
}

static volatile sig_atomic_t stop_signal;

/* A decimal number with nothing after it, or 0. */
static uint32_t parse_u32(const char *text) {
	char *end;
	errno = 0;
	unsigned long v = strtoul(text, &end, 10);
	return errno == 0 && end != text && *end == '\0' && v <= UINT32_MAX ? (uint32_t)v : 0;
}

/* The names HELLO carries: 1-63 characters of [A-Za-z0-9._-]. */
static bool valid_vm_name(const char *name) {
	size_t n = strlen(name);
	if (n == 0 || n > 63) {
		return false;
	}
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
	       n;
}

static void on_stop(int sig) {
	stop_signal = sig;
}

static void usage(FILE *out) {
	fprintf(out,
		"Usage: crossway-vmsim [options]\n"
		"A simulated VM: apps that connect to its Wayland socket are served through\n"
		"crosswayd exactly as a VMM with a virtio-gpu cross-domain device would.\n"
		"\n"
		"  --socket NAME           socket in XDG_RUNTIME_DIR (default wayland-vm)\n"
		"  --vm NAME               VM name sent in HELLO (default vm)\n"
		"  --crosswayd PATH        crosswayd to spawn per context (default crosswayd)\n"
		"  --wayland-display NAME  host compositor, passed to crosswayd\n"
		"  --crosswayd-arg ARG     one more crosswayd argument (repeatable)\n"
		"  --init-size N           INIT form: 16, 20 (default), 24 or 36 bytes\n"
		"  --identifiers N         SEND identifier slots: 28 (default) or 4\n"
		"  --verbose               log each context's start and totals\n"
		"  --help\n");
}

/* The app's name for logs and HELLO's ctx_name: its comm, when we can see it. */
static void peer_name(int fd, char *out, size_t cap) {
	struct ucred cred;
	socklen_t len = sizeof(cred);
	snprintf(out, cap, "app");
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) {
		return;
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)cred.pid);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		return;
	}
	if (fgets(out, (int)cap, f) != NULL) {
		out[strcspn(out, "\n")] = '\0';
	}
	fclose(f);
}

/* Binds under a temporary name and renames into place once listening, so
 * the socket appearing means it accepts connections. */
static int listen_on(const char *name, char *path, size_t cap) {
	const char *dir = getenv("XDG_RUNTIME_DIR");
	if (dir == NULL || dir[0] == '\0') {
		fprintf(stderr, "crossway-vmsim: XDG_RUNTIME_DIR is not set\n");
		return -1;
	}
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s.tmp-%d", dir, name,
			 (int)getpid());
	int m = snprintf(path, cap, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path) || m < 0 || (size_t)m >= cap ||
	    strchr(name, '/') != NULL) {
		fprintf(stderr, "crossway-vmsim: bad socket name %s\n", name);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -1;
	}
	// Another VM already serving this name keeps it.
	struct sockaddr_un live = {.sun_family = AF_UNIX};
	// Shorter than the temporary name, which fitted.
	memcpy(live.sun_path, path, strnlen(path, sizeof(live.sun_path) - 1));
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&live, sizeof(live)) == 0) {
		fprintf(stderr, "crossway-vmsim: %s is in use by a running server\n", path);
		close(probe);
		close(fd);
		return -1;
	}
	if (probe >= 0) {
		close(probe);
	}
	unlink(addr.sun_path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 16) != 0 ||
	    rename(addr.sun_path, path) != 0) {
		fprintf(stderr, "crossway-vmsim: cannot listen on %s: %s\n", path, strerror(errno));
		unlink(addr.sun_path);
		close(fd);
		return -1;
	}
	return fd;
}

#define MAX_CHILDREN 256
static pid_t children[MAX_CHILDREN];

static void on_child(int sig) {
	(void)sig; // accept() returns EINTR and the loop reaps
}

static void reap(void) {
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < MAX_CHILDREN; i++) {
			if (children[i] == pid) {
				children[i] = 0;
			}
		}
	}
}

static bool remember_child(pid_t pid) {
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] == 0) {
			children[i] = pid;
			return true;
		}
	}
	return false;
}

int main(int argc, char **argv) {
	struct vmsim_options opt = {
		.socket_name = "wayland-vm",
		.vm_name = "vm",
		.crosswayd = "crosswayd",
		.init_size = CROSS_DOMAIN_INIT_V1_SIZE,
		.identifiers = CROSS_DOMAIN_MAX_IDENTIFIERS,
	};
	static char *ctx_args[MAX_CTX_ARGS + 1];
	int nargs = 0;
	enum {
		OPT_SOCKET = 256,
		OPT_VM,
		OPT_CROSSWAYD,
		OPT_DISPLAY,
		OPT_ARG,
		OPT_INIT,
		OPT_IDS,
		OPT_VERBOSE
	};
	static const struct option options[] = {
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"vm", required_argument, NULL, OPT_VM},
		{"crosswayd", required_argument, NULL, OPT_CROSSWAYD},
		{"wayland-display", required_argument, NULL, OPT_DISPLAY},
		{"crosswayd-arg", required_argument, NULL, OPT_ARG},
		{"init-size", required_argument, NULL, OPT_INIT},
		{"identifiers", required_argument, NULL, OPT_IDS},
		{"verbose", no_argument, NULL, OPT_VERBOSE},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			opt.socket_name = optarg;
			break;
		case OPT_VM:
			opt.vm_name = optarg;
			if (!valid_vm_name(optarg)) {
				fprintf(stderr, "crossway-vmsim: --vm is 1-63 characters of "
						"[A-Za-z0-9._-]\n");
				return 2;
			}
			break;
		case OPT_CROSSWAYD:
			opt.crosswayd = optarg;
			break;
		case OPT_DISPLAY:
			opt.wayland_display = optarg;
			break;
		case OPT_ARG:
			if (nargs == MAX_CTX_ARGS) {
				fprintf(stderr, "crossway-vmsim: too many --crosswayd-arg\n");
				return 2;
			}
			ctx_args[nargs++] = optarg;
			break;
		case OPT_INIT:
			opt.init_size = parse_u32(optarg);
			if (opt.init_size != 16 && opt.init_size != 20 && opt.init_size != 24 &&
			    opt.init_size != 36) {
				fprintf(stderr,
					"crossway-vmsim: --init-size is 16, 20, 24 or 36\n");
				return 2;
			}
			break;
		case OPT_IDS:
			opt.identifiers = parse_u32(optarg);
			if (opt.identifiers != 4 && opt.identifiers != 28) {
				fprintf(stderr, "crossway-vmsim: --identifiers is 4 or 28\n");
				return 2;
			}
			break;
		case OPT_VERBOSE:
			opt.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	opt.crosswayd_args = ctx_args;

	char path[256];
	int listen_fd = listen_on(opt.socket_name, path, sizeof(path));
	if (listen_fd < 0) {
		return 1;
	}
	struct sigaction sa = {.sa_handler = on_stop};
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	struct sigaction sc = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
	sigaction(SIGCHLD, &sc, NULL);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "crossway-vmsim: VM %s listening on %s (crosswayd: %s)\n", opt.vm_name,
		path, opt.crosswayd);

	uint32_t next_ctx = 1;
	while (!stop_signal) {
		reap();
		int app_fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (app_fd < 0) {
			if (errno == EINTR) {
				continue;
			}
			fprintf(stderr, "crossway-vmsim: accept: %s\n", strerror(errno));
			break;
		}
		uint32_t ctx_id = next_ctx++;
		char name[64];
		peer_name(app_fd, name, sizeof(name));
		reap();
		pid_t pid = fork();
		if (pid < 0) {
			fprintf(stderr, "crossway-vmsim: fork: %s\n", strerror(errno));
			close(app_fd);
			continue;
		}
		if (pid == 0) {
			close(listen_fd);
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			signal(SIGCHLD, SIG_DFL);
			char prefix[96];
			snprintf(prefix, sizeof(prefix), "%s ctx %u (%s)", opt.vm_name, ctx_id,
				 name);
			vmsim_log_prefix(prefix);
			_exit(vmsim_serve_app(app_fd, &opt, ctx_id, name));
		}
		if (!remember_child(pid)) {
			fprintf(stderr, "crossway-vmsim: more than %d apps at once\n",
				MAX_CHILDREN);
			kill(pid, SIGTERM);
		}
		close(app_fd);
	}
	close(listen_fd);
	unlink(path);
	// Children end their contexts when their apps go; on a stop, end them
	// (each one's crosswayd sees its link close and exits).
	for (int i = 0; i < MAX_CHILDREN; i++) {
		if (children[i] > 0) {
			kill(children[i], SIGTERM);
		}
	}
	while (wait(NULL) > 0 || errno == EINTR) {
	}
	return 0;
}
