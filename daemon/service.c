/* _GNU_SOURCE: accept4, struct ucred, SO_PEERCRED. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "daemon/compositor.h"
#include "daemon/fd.h"
#include "daemon/log.h"
#include "daemon/service.h"

/* systemd's socket activation: the first passed fd. */
#define LISTEN_FDS_START 3

struct service {
	const struct service_options *opts;
	struct wl_event_loop *loop;
	int listen_fd; // owned
	char path[108];
	bool created_path; // we bound the socket (and unlink it at the end)
	pid_t *children;
	unsigned child_count;
	bool stopping;
};

bool service_default_path(char *buf, size_t cap) {
	const char *dir = getenv("XDG_RUNTIME_DIR");
	if (dir == NULL || dir[0] != '/') {
		return false;
	}
	int n = snprintf(buf, cap, "%s/crossway/backend", dir);
	return n > 0 && (size_t)n < cap;
}

/* Takes a socket from systemd (LISTEN_FDS=1, LISTEN_PID=us), or -1. */
static int activated_fd(void) {
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	if (pid == NULL || fds == NULL || atol(pid) != (long)getpid() || atoi(fds) < 1) {
		return -1;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	int fd = LISTEN_FDS_START;
	int type = 0, listening = 0;
	socklen_t len = sizeof(type);
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
	len = sizeof(listening);
	getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
	if (type != SOCK_SEQPACKET || !listening) {
		cw_log(CW_LOG_ERROR, "The activated fd is not a listening SOCK_SEQPACKET socket");
		return -1;
	}
	fd_set_cloexec(fd);
	return fd;
}

static int listen_on(struct service *svc, const char *path) {
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path) >=
	    (int)sizeof(addr.sun_path)) {
		cw_log(CW_LOG_ERROR, "Socket path too long: %s", path);
		return -1;
	}
	// The directory holding the socket is private to the user.
	char dir[sizeof(addr.sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			cw_log_errno(CW_LOG_ERROR, "mkdir %s", dir);
			return -1;
		}
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		cw_log_errno(CW_LOG_ERROR, "socket");
		return -1;
	}
	// A socket nobody answers on is stale: replace it. One that answers
	// belongs to a running service.
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		cw_log(CW_LOG_ERROR, "Another crosswayd service is listening on %s", path);
		fd_close(&fd);
		return -1;
	}
	unlink(path);
	mode_t old = umask(0077);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (rc != 0 || listen(fd, 16) != 0) {
		cw_log_errno(CW_LOG_ERROR, "Cannot listen on %s", path);
		fd_close(&fd);
		return -1;
	}
	snprintf(svc->path, sizeof(svc->path), "%s", path);
	svc->created_path = true;
	return fd;
}

static void notify_ready(void) {
	const char *path = getenv("NOTIFY_SOCKET");
	if (path == NULL || (path[0] != '/' && path[0] != '@')) {
		return;
	}
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len >= sizeof(addr.sun_path)) {
		return;
	}
	memcpy(addr.sun_path, path, len);
	if (addr.sun_path[0] == '@') {
		addr.sun_path[0] = '\0'; // abstract socket
	}
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return;
	}
	static const char msg[] = "READY=1";
	sendto(fd, msg, sizeof(msg) - 1, MSG_NOSIGNAL, (struct sockaddr *)&addr,
	       (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	close(fd);
}

static bool allowed(const struct service *svc, uid_t uid) {
	if (uid == getuid()) {
		return true;
	}
	for (size_t i = 0; i < svc->opts->allowed_count; i++) {
		if (svc->opts->allowed_uids[i] == uid) {
			return true;
		}
	}
	return false;
}

static void spawn_child(struct service *svc, int conn) {
	if (svc->child_count >= svc->opts->max_children) {
		cw_log(CW_LOG_ERROR, "Refusing a backend: %u contexts already running",
		       svc->child_count);
		fd_close(&conn);
		return;
	}
	char comp_error[256] = "";
	int comp = compositor_connect(svc->opts->display, comp_error, sizeof(comp_error));
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		cw_log_errno(CW_LOG_ERROR, "fork");
		fd_close(&conn);
		fd_close(&comp);
		return;
	}
	if (pid == 0) {
		// The child: die with the service, even if it died just now.
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent) {
			_exit(1);
		}
		fd_close(&svc->listen_fd);
		// Signals the parent's event loop blocked must work again.
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		signal(SIGCHLD, SIG_DFL);
		int code = svc->opts->serve(svc->opts->data, conn, comp, comp_error);
		_exit(code);
	}
	fd_close(&conn);
	fd_close(&comp);
	svc->children[svc->child_count++] = pid;
	cw_log(CW_LOG_INFO, "Backend connected: context process %d", (int)pid);
}

static int handle_accept(int fd, uint32_t mask, void *data) {
	struct service *svc = data;
	for (;;) {
		int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				cw_log_errno(CW_LOG_ERROR, "accept");
			}
			return 0;
		}
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
			cw_log_errno(CW_LOG_ERROR, "SO_PEERCRED");
			fd_close(&conn);
			continue;
		}
		if (!allowed(svc, cred.uid)) {
			cw_log(CW_LOG_ERROR, "Refusing a backend from uid %u (pid %d): not allowed",
			       (unsigned)cred.uid, (int)cred.pid);
			fd_close(&conn);
			continue;
		}
		spawn_child(svc, conn);
	}
}

static int handle_sigchld(int sig, void *data) {
	struct service *svc = data;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (unsigned i = 0; i < svc->child_count; i++) {
			if (svc->children[i] == pid) {
				svc->children[i] = svc->children[--svc->child_count];
				break;
			}
		}
		if (WIFEXITED(status)) {
			cw_log(WEXITSTATUS(status) ? CW_LOG_ERROR : CW_LOG_INFO,
			       "Context process %d exited with status %d", (int)pid,
			       WEXITSTATUS(status));
		} else if (WIFSIGNALED(status)) {
			cw_log(CW_LOG_ERROR, "Context process %d killed by signal %d", (int)pid,
			       WTERMSIG(status));
		}
	}
	return 0;
}

static int handle_stop(int sig, void *data) {
	struct service *svc = data;
	cw_log(CW_LOG_INFO, "Stopping (signal %d): ending %u contexts", sig, svc->child_count);
	svc->stopping = true;
	return 0;
}

static void stop_children(struct service *svc) {
	for (unsigned i = 0; i < svc->child_count; i++) {
		kill(svc->children[i], SIGTERM);
	}
	// Up to two seconds for clean ends, then no more waiting.
	for (int tries = 0; tries < 200 && svc->child_count > 0; tries++) {
		handle_sigchld(SIGCHLD, svc);
		if (svc->child_count > 0) {
			usleep(10000);
		}
	}
	for (unsigned i = 0; i < svc->child_count; i++) {
		kill(svc->children[i], SIGKILL);
		waitpid(svc->children[i], NULL, 0);
	}
	svc->child_count = 0;
}

int service_run(const struct service_options *opts) {
	struct service svc = {.opts = opts, .listen_fd = -1};
	int code = 1;
	svc.children = calloc(opts->max_children ? opts->max_children : 1, sizeof(pid_t));
	svc.loop = wl_event_loop_create();
	if (svc.children == NULL || svc.loop == NULL) {
		goto out;
	}
	svc.listen_fd = opts->socket_path ? -1 : activated_fd();
	if (svc.listen_fd < 0) {
		char path[108];
		if (opts->socket_path) {
			snprintf(path, sizeof(path), "%s", opts->socket_path);
		} else if (!service_default_path(path, sizeof(path))) {
			cw_log(CW_LOG_ERROR, "XDG_RUNTIME_DIR is not set: no place for the socket");
			goto out;
		}
		svc.listen_fd = listen_on(&svc, path);
		if (svc.listen_fd < 0) {
			goto out;
		}
	}
	fd_set_nonblock(svc.listen_fd);
	struct wl_event_source *sources[4] = {
		wl_event_loop_add_fd(svc.loop, svc.listen_fd, WL_EVENT_READABLE, handle_accept,
				     &svc),
		wl_event_loop_add_signal(svc.loop, SIGCHLD, handle_sigchld, &svc),
		wl_event_loop_add_signal(svc.loop, SIGTERM, handle_stop, &svc),
		wl_event_loop_add_signal(svc.loop, SIGINT, handle_stop, &svc),
	};
	for (int i = 0; i < 4; i++) {
		if (sources[i] == NULL) {
			goto out;
		}
	}
	cw_log(CW_LOG_INFO, "Listening for backends on %s", svc.path[0] ? svc.path : "fd 3");
	notify_ready();
	while (!svc.stopping) {
		if (wl_event_loop_dispatch(svc.loop, -1) < 0 && errno != EINTR) {
			cw_log_errno(CW_LOG_ERROR, "event loop");
			break;
		}
	}
	stop_children(&svc);
	code = 0;
out:
	if (svc.created_path) {
		unlink(svc.path);
	}
	fd_close(&svc.listen_fd);
	if (svc.loop) {
		wl_event_loop_destroy(svc.loop);
	}
	free(svc.children);
	return code;
}
