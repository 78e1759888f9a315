/*
 * The Wayland-socket front end: one guest Wayland connection that arrives as
 * a plain socket (a VMM whose built-in rutabaga connects its cross-domain
 * channel to a Wayland socket path, or any client), served by the same
 * pipeline (daemon/forward.c), policy and sandbox as the ring front end.
 * The guest's fds arrive with SCM_RIGHTS and are checked like the ring
 * path's; events go back with sendmsg. A malformed guest message ends the
 * connection with a wl_display.error naming it, and the compositor never
 * sees it.
 */
#ifndef CROSSWAY_DAEMON_SOCKET_FRONT_H
#define CROSSWAY_DAEMON_SOCKET_FRONT_H

#include <stdbool.h>

#include "daemon/config.h"

struct wl_event_loop;
struct socket_front;

struct socket_front_options {
	int guest_fd;                 // taken: the accepted client connection
	int compositor_fd;            // taken; -1 when connecting failed
	const char *compositor_error; // why compositor_fd is -1
	const char *vm_name;          // labels windows and picks the policy
	bool trace;
	const struct config *config; // borrowed
};

/** Registers both connections with @loop. NULL on failure (fds closed). */
struct socket_front *socket_front_create(struct wl_event_loop *loop,
					 const struct socket_front_options *opts);

/** Runs until either side ends. Returns an exit status (enum context_exit). */
int socket_front_run(struct socket_front *sf);

/** Frees everything. Tolerates NULL. */
void socket_front_destroy(struct socket_front *sf);

#endif
