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

/**
 * Serves one connection in a forked child: @conn_fd and @compositor_fd are
 * the child's (taken); @compositor_error says why compositor_fd is -1.
 * Returns the exit status of the child.
 */
typedef int (*service_serve_func_t)(void *data, const struct service_listener *listener,
				    int conn_fd, int compositor_fd, const char *compositor_error);

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
	void *data; // for serve
};

/** Runs the service until SIGTERM/SIGINT. Returns the process exit status. */
int service_run(struct service_options *opts);

/** Whether systemd passed a listening socket (LISTEN_PID/LISTEN_FDS). */
bool service_socket_activated(void);

/** $XDG_RUNTIME_DIR/crossway/@sub into @buf. False when XDG_RUNTIME_DIR is unset. */
bool service_runtime_path(char *buf, size_t cap, const char *sub);

#endif
