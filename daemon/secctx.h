/*
 * wp_security_context_v1: when the compositor offers it, the context's
 * compositor connection is made through a security context, so the
 * compositor applies its own rules for sandboxed clients too (sway, cosmic,
 * river, Wayfire and KWin hide privileged globals from such clients).
 *
 * A short-lived client connection binds wp_security_context_manager_v1,
 * creates a listener on a fresh socket in $XDG_RUNTIME_DIR/crossway/ with
 * sandbox engine "crossway", the policy's app_id (never a real desktop-file
 * id) and instance id "<vm>-<context id>", commits, and then crossway
 * connects to that listener: that connection is the one the guest's
 * messages travel on. All of it happens before the sandbox (it needs
 * socket, bind and connect), in the process that owns the compositor side.
 */
#ifndef CROSSWAY_DAEMON_SECCTX_H
#define CROSSWAY_DAEMON_SECCTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/policy.h"

enum secctx_result {
	SECCTX_CONNECTED = 0, // *fd is a connection inside a security context
	SECCTX_UNAVAILABLE,   // the compositor (or this build) has no security-context
	SECCTX_FAILED,        // something went wrong; reason in @err
};

/**
 * Makes the compositor connection for a VM context through a security
 * context. @display: as compositor_connect. On success *fd is the connected
 * socket and *close_fd the fd whose closing ends the listener; the caller
 * owns both and must keep *close_fd open while the connection is in use.
 */
enum secctx_result secctx_connect(const char *display, const struct policy_config *policy,
				  uint32_t ctx_id, int *fd, int *close_fd, char *err,
				  size_t err_cap);

/**
 * Connects to the compositor for one VM context as @policy asks: through a
 * security context (security-context = optional or required) or plainly.
 * When the compositor offers none, "optional" falls back to a plain
 * connection (crossway's own filter still applies) and "required" fails.
 * Returns the connected fd (caller owns) or -1 with a reason in @err.
 * *close_fd receives the listener's close fd (caller owns; keep it open as
 * long as the connection is used) or -1.
 */
int secctx_compositor_connect(const char *display, const struct policy_config *policy,
			      uint32_t ctx_id, int *close_fd, char *err, size_t err_cap);

/** Whether this build knows wp_security_context_v1 (wayland-protocols >= 1.32). */
bool secctx_supported(void);

#endif
