/*
 * One cross-domain context: the process's whole job in spawned mode.
 *
 * The context answers the backend link (daemon/backend.c), decodes the
 * guest's cross-domain commands from SUBMITs, keeps the rings and poll
 * fences, the resources and items, and drives the Wayland pipeline
 * (daemon/forward.c) between the guest and the compositor. It is the ring
 * front end of that pipeline.
 *
 * Ordering promises (crossway-backend(7)): requests are handled in arrival
 * order; a FENCE on the query ring completes after everything before it;
 * each channel-ring (poll) fence gets exactly one record written at offset 0
 * before its FENCE_DONE; nothing is written to the channel ring without an
 * outstanding poll fence; outstanding fences complete when the context ends.
 */
#ifndef CROSSWAY_DAEMON_CONTEXT_H
#define CROSSWAY_DAEMON_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/config.h"
#include "daemon/image.h"
#include "daemon/policy.h"

struct wl_event_loop;
struct context;

/* Exit statuses (crosswayd(1)). */
enum context_exit {
	CONTEXT_EXIT_CLEAN = 0,      // SHUTDOWN, or the backend closed the link
	CONTEXT_EXIT_ERROR = 1,      // a protocol violation ended the context
	CONTEXT_EXIT_USAGE = 2,      // bad command line
	CONTEXT_EXIT_COMPOSITOR = 3, // no compositor, or it went away
};

struct context_options {
	int backend_fd;               // taken
	int compositor_fd;            // taken; -1 when the connection failed
	const char *compositor_error; // why compositor_fd is -1 (copied)
	const char *vm_name;          // --vm, or NULL to use HELLO's name
	bool trace;
	const struct config *config;             // the policy file, parsed; borrowed
	const struct image_allocator *allocator; // borrowed; outlives the context
	uint32_t stall_seconds;                  // guest not polling with a full queue (0: default)
	uint32_t linger_seconds;                 // open transfers after the end (0: default)
};

/**
 * Creates the context and registers its fds with @loop. Returns NULL on
 * failure (fds closed).
 */
struct context *context_create(struct wl_event_loop *loop, const struct context_options *opts);

/** Runs until the context ends; returns the exit status (enum context_exit). */
int context_run(struct context *ctx);

/** Frees everything (closes every fd the context owns). Tolerates NULL. */
void context_destroy(struct context *ctx);

#endif
