/* _GNU_SOURCE: pipe2. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "crossway-config.h"
#include "daemon/compositor.h"
#include "daemon/fd.h"
#include "daemon/log.h"
#include "daemon/secctx.h"

#if HAVE_SECURITY_CONTEXT
#include <wayland-client.h>

#include "security-context-v1-client-protocol.h"

bool secctx_supported(void) {
	return true;
}

struct setup {
	struct wp_security_context_manager_v1 *manager;
};

static void handle_global(void *data, struct wl_registry *registry, uint32_t name,
			  const char *interface, uint32_t version) {
	struct setup *s = data;
	if (s->manager == NULL &&
	    strcmp(interface, wp_security_context_manager_v1_interface.name) == 0) {
		s->manager = wl_registry_bind(registry, name,
					      &wp_security_context_manager_v1_interface, 1);
	}
}

static void handle_global_remove(void *data, struct wl_registry *registry, uint32_t name) {
}

static const struct wl_registry_listener registry_listener = {
	.global = handle_global,
	.global_remove = handle_global_remove,
};

/* A listening socket at a fresh path in $XDG_RUNTIME_DIR/crossway/. */
static int listen_socket(uint32_t ctx_id, char *path, size_t cap) {
	const char *dir = getenv("XDG_RUNTIME_DIR");
	if (dir == NULL || dir[0] != '/') {
		errno = ENOENT;
		return -1;
	}
	static unsigned counter;
	char sub[256];
	snprintf(sub, sizeof(sub), "%s/crossway", dir);
	if (mkdir(sub, 0700) != 0 && errno != EEXIST) {
		return -1;
	}
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/secctx-%d-%" PRIu32 "-%u", sub,
			 (int)getpid(), ctx_id, counter++);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path) || (size_t)n >= cap) {
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -1;
	}
	unlink(addr.sun_path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 1) != 0) {
		fd_close(&fd);
		return -1;
	}
	snprintf(path, cap, "%s", addr.sun_path);
	return fd;
}

enum secctx_result secctx_connect(const char *display, const struct policy_config *policy,
				  uint32_t ctx_id, int *fd, int *close_fd, char *err,
				  size_t err_cap) {
	*fd = -1;
	*close_fd = -1;
	int setup_fd = compositor_connect(display, err, err_cap);
	if (setup_fd < 0) {
		return SECCTX_FAILED;
	}
	struct wl_display *d = wl_display_connect_to_fd(setup_fd); // takes the fd
	if (d == NULL) {
		snprintf(err, err_cap, "cannot talk to the compositor");
		return SECCTX_FAILED;
	}
	enum secctx_result result = SECCTX_FAILED;
	struct setup setup = {0};
	struct wp_security_context_v1 *context = NULL;
	int listen_fd = -1, pipe_fds[2] = {-1, -1}, conn = -1;
	char path[108] = "";
	struct wl_registry *registry = wl_display_get_registry(d);
	wl_registry_add_listener(registry, &registry_listener, &setup);
	if (wl_display_roundtrip(d) < 0) {
		snprintf(err, err_cap, "compositor registry: %s", strerror(errno));
		goto out;
	}
	if (setup.manager == NULL) {
		result = SECCTX_UNAVAILABLE;
		goto out;
	}
	listen_fd = listen_socket(ctx_id, path, sizeof(path));
	if (listen_fd < 0 || pipe2(pipe_fds, O_CLOEXEC) != 0) {
		snprintf(err, err_cap, "security-context listener: %s", strerror(errno));
		goto out;
	}
	char instance[POLICY_NAME_MAX + 16];
	snprintf(instance, sizeof(instance), "%s-%" PRIu32, policy->vm_name, ctx_id);
	context = wp_security_context_manager_v1_create_listener(setup.manager, listen_fd,
								 pipe_fds[0]);
	wp_security_context_v1_set_sandbox_engine(context, "crossway");
	wp_security_context_v1_set_app_id(context, policy->secctx_app_id);
	wp_security_context_v1_set_instance_id(context, instance);
	wp_security_context_v1_commit(context);
	if (wl_display_roundtrip(d) < 0) {
		snprintf(err, err_cap, "the compositor refused the security context: %s",
			 strerror(wl_display_get_error(d)));
		goto out;
	}
	conn = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (conn < 0 || connect(conn, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		snprintf(err, err_cap, "connecting through the security context: %s",
			 strerror(errno));
		fd_close(&conn);
		goto out;
	}
	// The compositor holds the listener now; closing the write end of the
	// pipe (when the context ends) tells it to stop.
	*fd = conn;
	*close_fd = pipe_fds[1];
	pipe_fds[1] = -1;
	result = SECCTX_CONNECTED;
out:
	if (path[0] != '\0') {
		unlink(path);
	}
	fd_close(&listen_fd);
	fd_close(&pipe_fds[0]);
	fd_close(&pipe_fds[1]);
	if (context != NULL) {
		wp_security_context_v1_destroy(context);
	}
	if (setup.manager != NULL) {
		wp_security_context_manager_v1_destroy(setup.manager);
	}
	wl_registry_destroy(registry);
	wl_display_roundtrip(d);
	wl_display_disconnect(d);
	return result;
}

#else

bool secctx_supported(void) {
	return false;
}

enum secctx_result secctx_connect(const char *display, const struct policy_config *policy,
				  uint32_t ctx_id, int *fd, int *close_fd, char *err,
				  size_t err_cap) {
	*fd = -1;
	*close_fd = -1;
	snprintf(err, err_cap, "built without wp_security_context_v1 (wayland-protocols < 1.32)");
	return SECCTX_UNAVAILABLE;
}

#endif

int secctx_compositor_connect(const char *display, const struct policy_config *policy,
			      uint32_t ctx_id, int *close_fd, char *err, size_t err_cap) {
	*close_fd = -1;
	if (policy->secctx == POLICY_SECCTX_OFF) {
		return compositor_connect(display, err, err_cap);
	}
	int fd;
	switch (secctx_connect(display, policy, ctx_id, &fd, close_fd, err, err_cap)) {
	case SECCTX_CONNECTED:
		cw_log(CW_LOG_INFO, "Connected through a security context (app_id %s)",
		       policy->secctx_app_id);
		return fd;
	case SECCTX_UNAVAILABLE:
		if (policy->secctx == POLICY_SECCTX_REQUIRED) {
			snprintf(err, err_cap,
				 "the policy requires a security context and the compositor offers "
				 "none%s",
				 secctx_supported()
					 ? ""
					 : " (or this build does not know the protocol)");
			return -1;
		}
		cw_log(CW_LOG_INFO, "The compositor offers no security context: crossway's own "
				    "filter is the only one");
		return compositor_connect(display, err, err_cap);
	case SECCTX_FAILED:
		break;
	}
	return -1;
}
