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

/**
 * Serves one backend connection in a forked child: @backend_fd and
 * @compositor_fd are the child's (taken); @compositor_error says why
 * compositor_fd is -1. Returns the exit status of the child.
 */
typedef int (*service_serve_func_t)(void *data, int backend_fd, int compositor_fd,
				    const char *compositor_error);

struct service_options {
	const char *socket_path;                      // NULL: $XDG_RUNTIME_DIR/crossway/backend
	const char *display;                          // compositor; NULL: WAYLAND_DISPLAY rules
	uid_t allowed_uids[SERVICE_MAX_ALLOWED_UIDS]; // besides our own uid
	size_t allowed_count;
	unsigned max_children;
	service_serve_func_t serve;
	void *data;
};

/** Runs the service until SIGTERM/SIGINT. Returns the process exit status. */
int service_run(const struct service_options *opts);

/** The default socket path (in @buf). False when XDG_RUNTIME_DIR is unset. */
bool service_default_path(char *buf, size_t cap);

#endif
