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

#include "daemon/backend.h"
#include "daemon/compositor.h"
#include "daemon/fd.h"
#include "daemon/log.h"
#include "daemon/sandbox.h"
#include "daemon/service.h"

/* systemd's socket activation: the first passed fd. */
#define LISTEN_FDS_START 3

struct listening {
	struct service *svc;
	const struct service_listener *listener;
	int fd;            // owned
	bool created_path; // we bound the socket (and unlink it at the end)
	struct wl_event_source *source;
};

/* A backend connection waiting for its HELLO (peeked before forking). */
struct pending {
	struct service *svc;
	const struct service_listener *listener;
	int fd; // owned
	struct wl_event_source *source;
	struct wl_event_source *timer;
	struct wl_list link;
};

/* Backends connected but not yet said HELLO: bounded, each for a while. */
#define MAX_PENDING 16
#define HELLO_TIMEOUT_MS 10000

struct service {
	const struct service_options *opts;
	struct wl_event_loop *loop;
	struct listening listening[SERVICE_MAX_LISTENERS];
	size_t count;
	struct wl_list pending; // struct pending.link
	unsigned pending_count;
	uint32_t next_ctx_id;
	pid_t *children;
	unsigned child_count;
	bool stopping;
};

bool service_runtime_path(char *buf, size_t cap, const char *sub) {
	const char *dir = getenv("XDG_RUNTIME_DIR");
	if (dir == NULL || dir[0] != '/') {
		return false;
	}
	int n = snprintf(buf, cap, "%s/crossway/%s", dir, sub);
	return n > 0 && (size_t)n < cap;
}

bool service_socket_activated(void) {
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	return pid != NULL && fds != NULL && atol(pid) == (long)getpid() && atoi(fds) >= 1;
}

/* Takes the socket systemd passed (LISTEN_FDS=1, LISTEN_PID=us), or -1. */
static int activated_fd(void) {
	if (!service_socket_activated()) {
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

static int listen_on(struct listening *l, const char *path, int type) {
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path) >=
	    (int)sizeof(addr.sun_path)) {
		cw_log(CW_LOG_ERROR, "Socket path too long: %s", path);
		return -1;
	}
	// The directories holding the socket are private to the user.
	char dir[sizeof(addr.sun_path)];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *slash = strchr(dir + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		struct stat st;
		if (stat(dir, &st) != 0 && mkdir(dir, 0700) != 0 && errno != EEXIST) {
			cw_log_errno(CW_LOG_ERROR, "mkdir %s", dir);
			return -1;
		}
		*slash = '/';
	}
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		cw_log_errno(CW_LOG_ERROR, "socket");
		return -1;
	}
	// A socket nobody answers on is stale: replace it. One that answers
	// belongs to a running service.
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
		cw_log(CW_LOG_ERROR, "Something is already listening on %s", path);
		fd_close(&fd);
		return -1;
	}
	// connect() may have changed the socket's state: start over.
	fd_close(&fd);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		cw_log_errno(CW_LOG_ERROR, "socket");
		return -1;
	}
	// Replace only a stale socket: anything else at the path is not ours.
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			cw_log(CW_LOG_ERROR, "%s exists and is not a socket: not replacing it",
			       path);
			fd_close(&fd);
			return -1;
		}
		unlink(path);
	}
	// Bound under a temporary name and renamed once listening, so the path
	// never holds a socket that refuses connections (a client that saw it
	// appear and connected at once got ECONNREFUSED).
	struct sockaddr_un tmp = addr;
	bool staged = snprintf(tmp.sun_path, sizeof(tmp.sun_path), "%s.%ld.new", path,
			       (long)getpid()) < (int)sizeof(tmp.sun_path);
	if (staged) {
		unlink(tmp.sun_path);
	}
	mode_t old = umask(0077);
	int rc = bind(fd, (struct sockaddr *)(staged ? &tmp : &addr), sizeof(addr));
	umask(old);
	if (rc != 0 || listen(fd, 16) != 0 || (staged && rename(tmp.sun_path, path) != 0)) {
		cw_log_errno(CW_LOG_ERROR, "Cannot listen on %s", path);
		if (staged && rc == 0) {
			unlink(tmp.sun_path);
		}
		fd_close(&fd);
		return -1;
	}
	l->created_path = true;
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

static void spawn_child(struct service *svc, const struct service_listener *listener, int conn,
			const struct crossway_backend_hello *hello) {
	if (svc->child_count >= svc->opts->max_children) {
		cw_log(CW_LOG_ERROR, "Refusing a connection: %u contexts already running",
		       svc->child_count);
		fd_close(&conn);
		return;
	}
	struct service_compositor comp = {.fd = -1, .close_fd = -1};
	svc->opts->connect(svc->opts->data, listener, hello, ++svc->next_ctx_id, &comp);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		cw_log_errno(CW_LOG_ERROR, "fork");
		fd_close(&conn);
		fd_close(&comp.fd);
		fd_close(&comp.close_fd);
		return;
	}
	if (pid == 0) {
		// The child: die with the service, even if it died just now.
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent) {
			_exit(1);
		}
		for (size_t i = 0; i < svc->count; i++) {
			fd_close(&svc->listening[i].fd);
		}
		struct pending *p;
		wl_list_for_each(p, &svc->pending, link) {
			fd_close(&p->fd);
		}
		// Signals the parent's event loop blocked must work again.
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_UNBLOCK, &all, NULL);
		signal(SIGCHLD, SIG_DFL);
		int code = listener->serve(svc->opts->data, listener, conn, &comp);
		// _exit, not exit: the parent's atexit handlers and stdio are not
		// the child's. A sanitizer build checks for leaks first.
		sandbox_leak_check();
		_exit(code);
	}
	fd_close(&conn);
	fd_close(&comp.fd);
	fd_close(&comp.close_fd);
	svc->children[svc->child_count++] = pid;
	cw_log(CW_LOG_INFO, "%s connected: context process %d",
	       listener->type == SOCK_SEQPACKET ? "Backend" : "Wayland client", (int)pid);
}

static void pending_free(struct pending *p) {
	if (p->source) {
		wl_event_source_remove(p->source);
	}
	if (p->timer) {
		wl_event_source_remove(p->timer);
	}
	fd_close(&p->fd);
	wl_list_remove(&p->link);
	p->svc->pending_count--;
	free(p);
}

static int pending_readable(int fd, uint32_t mask, void *data) {
	struct pending *p = data;
	struct crossway_backend_hello hello;
	bool ok = backend_peek_hello(p->fd, 0, &hello);
	int conn = p->fd;
	p->fd = -1;
	struct service *svc = p->svc;
	const struct service_listener *listener = p->listener;
	pending_free(p);
	// Without a valid HELLO the child still gets the link: it tells the
	// backend what was wrong.
	spawn_child(svc, listener, conn, ok ? &hello : NULL);
	return 0;
}

static int pending_timeout(void *data) {
	struct pending *p = data;
	cw_log(CW_LOG_ERROR, "A backend sent no HELLO within %d ms: closed", HELLO_TIMEOUT_MS);
	pending_free(p);
	return 0;
}

/* The policy depends on the VM that HELLO names: peek at it first. */
static void wait_for_hello(struct service *svc, const struct service_listener *listener, int conn) {
	struct pending *p = svc->pending_count < MAX_PENDING ? calloc(1, sizeof(*p)) : NULL;
	if (p == NULL) {
		cw_log(CW_LOG_ERROR, "Refusing a backend: too many connections without HELLO");
		fd_close(&conn);
		return;
	}
	*p = (struct pending){.svc = svc, .listener = listener, .fd = conn};
	wl_list_insert(&svc->pending, &p->link);
	svc->pending_count++;
	p->source = wl_event_loop_add_fd(svc->loop, conn, WL_EVENT_READABLE, pending_readable, p);
	p->timer = wl_event_loop_add_timer(svc->loop, pending_timeout, p);
	if (p->source == NULL || p->timer == NULL) {
		pending_free(p);
		return;
	}
	wl_event_source_timer_update(p->timer, HELLO_TIMEOUT_MS);
}

static int handle_accept(int fd, uint32_t mask, void *data) {
	struct listening *l = data;
	struct service *svc = l->svc;
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
			cw_log(CW_LOG_ERROR,
			       "Refusing a connection from uid %u (pid %d): not allowed",
			       (unsigned)cred.uid, (int)cred.pid);
			fd_close(&conn);
			continue;
		}
		if (l->listener->type == SOCK_SEQPACKET) {
			wait_for_hello(svc, l->listener, conn);
		} else {
			spawn_child(svc, l->listener, conn, NULL);
		}
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

int service_run(struct service_options *opts) {
	struct service svc = {.opts = opts};
	struct wl_event_source *signals[3] = {NULL, NULL, NULL};
	wl_list_init(&svc.pending);
	int code = 1;
	svc.children = calloc(opts->max_children ? opts->max_children : 1, sizeof(pid_t));
	svc.loop = wl_event_loop_create();
	if (svc.children == NULL || svc.loop == NULL || opts->listener_count == 0) {
		goto out;
	}
	for (size_t i = 0; i < opts->listener_count; i++) {
		struct listening *l = &svc.listening[svc.count++];
		const struct service_listener *sl = &opts->listeners[i];
		*l = (struct listening){.svc = &svc, .listener = sl, .fd = -1};
		l->fd = i == 0 && opts->activated ? activated_fd()
						  : listen_on(l, sl->path, sl->type);
		if (l->fd < 0) {
			goto out;
		}
		fd_set_nonblock(l->fd);
		l->source = wl_event_loop_add_fd(svc.loop, l->fd, WL_EVENT_READABLE, handle_accept,
						 l);
		if (l->source == NULL) {
			goto out;
		}
		cw_log(CW_LOG_INFO, "Listening for %s on %s%s%s",
		       sl->type == SOCK_SEQPACKET ? "backends" : "Wayland clients",
		       sl->path[0] ? sl->path : "the activated fd 3",
		       sl->vm_name[0] ? " for VM " : "", sl->vm_name);
	}
	signals[0] = wl_event_loop_add_signal(svc.loop, SIGCHLD, handle_sigchld, &svc);
	signals[1] = wl_event_loop_add_signal(svc.loop, SIGTERM, handle_stop, &svc);
	signals[2] = wl_event_loop_add_signal(svc.loop, SIGINT, handle_stop, &svc);
	for (int i = 0; i < 3; i++) {
		if (signals[i] == NULL) {
			goto out;
		}
	}
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
	while (!wl_list_empty(&svc.pending)) {
		struct pending *p = wl_container_of(svc.pending.next, p, link);
		pending_free(p);
	}
	for (int i = 0; i < 3; i++) {
		if (signals[i] != NULL) {
			wl_event_source_remove(signals[i]);
		}
	}
	for (size_t i = 0; i < svc.count; i++) {
		if (svc.listening[i].source != NULL) {
			wl_event_source_remove(svc.listening[i].source);
		}
		if (svc.listening[i].created_path) {
			unlink(svc.listening[i].listener->path);
		}
		fd_close(&svc.listening[i].fd);
	}
	if (svc.loop) {
		wl_event_loop_destroy(svc.loop);
	}
	free(svc.children);
	return code;
}
