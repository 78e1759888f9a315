/*
 * wp_security_context_manager_v1 for the recording compositor, added on its
 * wl_display (recorder_display()) from outside the recorder: it keeps what a
 * client asked for (sandbox engine, app_id, instance id) and serves every
 * connection made to a committed context's listening socket as a recorder
 * client. Only built when wayland-protocols has security-context-v1.
 */
#ifndef CROSSWAY_TESTS_LIMITS_RECORDER_SECCTX_H
#define CROSSWAY_TESTS_LIMITS_RECORDER_SECCTX_H

#include <stdbool.h>

struct recorder;
struct secctx_recorder;

/** What one wp_security_context_v1 was given. */
struct secctx_recorder_context {
	char sandbox_engine[256];
	char app_id[256];
	char instance_id[256];
	bool committed;
};

/** Offers the manager (version 1) on @rec's display. NULL on failure. */
struct secctx_recorder *secctx_recorder_create(struct recorder *rec);

/**
 * Removes the global, stops listening and closes every fd it holds. Call it
 * before recorder_destroy() (the listeners live on the recorder's event loop)
 * and after the clients that bound the manager have gone. NULL is fine.
 */
void secctx_recorder_destroy(struct secctx_recorder *sc);

/** The most recently created context, or NULL. Valid until destroy. */
const struct secctx_recorder_context *secctx_recorder_last(const struct secctx_recorder *sc);

/** Connections accepted on committed contexts' sockets so far. */
unsigned secctx_recorder_connections(const struct secctx_recorder *sc);

#endif
