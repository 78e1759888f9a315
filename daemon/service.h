/*
 * --service mode: a long-lived parent in the user's session that listens for
 * backend connections (or takes a socket-activated fd), checks who connects
 * (SO_PEERCRED), connects to the compositor on the child's behalf, and forks
 * one sandboxed child per connection. The parent never reads a guest byte:
 * it only accepts, connects, forks and reaps. Children die with the parent
 * (PR_SET_PDEATHSIG), SIGTERM ends every child cleanly.
 */
#ifndef CROSSWAY_DAEMON_SERVICE_H
#define CROSSWAY_DAEMON_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SERVICE_MAX_ALLOWED_UIDS 16
#define SERVICE_MAX_LISTENERS 64

struct service_listener;

struct crossway_backend_hello;

/** The compositor connection made for one child. */
struct service_compositor {
	int fd;          // connected socket, or -1
	int close_fd;    // a security context's close fd to keep open, or -1
	char error[256]; // why fd is -1
};

/**
 * Connects to the compositor for a new connection, in the parent (children
 * never need socket or connect). @hello is the backend's HELLO (peeked, not
 * consumed) for backend listeners, NULL for Wayland listeners; @ctx_id
 * numbers the connection.
 */
typedef void (*service_connect_func_t)(void *data, const struct service_listener *listener,
				       const struct crossway_backend_hello *hello, uint32_t ctx_id,
				       struct service_compositor *out);

/**
 * Serves one connection in a forked child: @conn_fd and the compositor fds
 * are the child's (taken). Returns the exit status of the child.
 */
typedef int (*service_serve_func_t)(void *data, const struct service_listener *listener,
				    int conn_fd, struct service_compositor *comp);

struct service_listener {
	char path[108];   // socket path; "" for the socket-activated fd 3
	int type;         // SOCK_SEQPACKET (backend link) or SOCK_STREAM (Wayland)
	char vm_name[64]; // Wayland listeners: the VM whose windows arrive here
	service_serve_func_t serve;
};

struct service_options {
	struct service_listener listeners[SERVICE_MAX_LISTENERS];
	size_t listener_count;
	bool activated;      // listener 0 is the socket-activated fd 3 (LISTEN_FDS)
	const char *display; // compositor; NULL: WAYLAND_DISPLAY rules
	uid_t allowed_uids[SERVICE_MAX_ALLOWED_UIDS]; // besides our own uid
	size_t allowed_count;
	unsigned max_children;
	service_connect_func_t connect;
	void *data; // for connect and serve
};

/** Runs the service until SIGTERM/SIGINT. Returns the process exit status. */
int service_run(struct service_options *opts);

/** Whether systemd passed a listening socket (LISTEN_PID/LISTEN_FDS). */
bool service_socket_activated(void);

/** $XDG_RUNTIME_DIR/crossway/@sub into @buf. False when XDG_RUNTIME_DIR is unset. */
bool service_runtime_path(char *buf, size_t cap, const char *sub);

#endif
