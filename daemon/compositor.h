/*
 * The connection to the host compositor: a Wayland socket with a byte queue
 * and an fd queue in each direction (libwayland's connection.c design, but
 * bounded and without any knowledge of messages). daemon/forward.c decides
 * what goes in and out.
 *
 * Outgoing fds are sent with the sendmsg that carries the first byte of the
 * message using them, at most 28 per sendmsg, so an fd never arrives after
 * the bytes that need it.
 */
#ifndef CROSSWAY_DAEMON_COMPOSITOR_H
#define CROSSWAY_DAEMON_COMPOSITOR_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/queue.h"

struct wl_event_loop;
struct wl_event_source;

/** Called when bytes (and fds) arrived in the in queues. */
typedef void (*compositor_input_func_t)(void *data);
/** Called once when the connection ends: EOF (@error NULL) or an error. */
typedef void (*compositor_closed_func_t)(void *data, const char *error);
/** Called when the out queue drained below half its limit after being full. */
typedef void (*compositor_drained_func_t)(void *data);

struct compositor {
	int fd; // owned
	struct wl_event_source *source;
	struct byte_queue in;
	struct fd_queue in_fds; // pos unused
	struct byte_queue out;
	struct fd_queue out_fds; // pos = stream position of the message using it
	size_t out_limit;        // "full" above this (backpressure on the guest)
	bool reading;            // false while the guest side is full
	bool want_write;
	bool closed;
	compositor_input_func_t on_input;
	compositor_closed_func_t on_closed;
	compositor_drained_func_t on_drained;
	void *data;
	uint64_t bytes_in, bytes_out; // totals, for logs
};

/**
 * Connects to a compositor socket. @name: an absolute path, or a name in
 * $XDG_RUNTIME_DIR; NULL picks WAYLAND_SOCKET (an inherited, connected fd),
 * else WAYLAND_DISPLAY, else "wayland-0". Returns a connected fd the caller
 * owns, or -1 with a reason in @err.
 */
int compositor_connect(const char *name, char *err, size_t err_cap);

/**
 * Sets up the queues on a connected @fd (takes ownership) and registers it
 * with @loop. @out_limit and @in_fds bound the queues. Returns false on
 * failure (the fd is closed).
 */
bool compositor_init(struct compositor *c, struct wl_event_loop *loop, int fd, size_t out_limit,
		     size_t max_fds, compositor_input_func_t on_input,
		     compositor_closed_func_t on_closed, compositor_drained_func_t on_drained,
		     void *data);
/** Unregisters and closes the socket and every queued fd. Tolerates a zeroed struct. */
void compositor_finish(struct compositor *c);

/** Sends what is queued. False on a fatal error (on_closed was called). */
bool compositor_flush(struct compositor *c);

/** Starts or stops reading (backpressure from the guest side). */
void compositor_set_reading(struct compositor *c, bool reading);

/** Whether the out queue is above its limit. */
static inline bool compositor_full(const struct compositor *c) {
	return c->out.len > c->out_limit;
}

/** Closes the connection now, dropping queued output (no callback). */
void compositor_close(struct compositor *c);

#endif
