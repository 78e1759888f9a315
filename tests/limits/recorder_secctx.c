/* _GNU_SOURCE: accept4. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "security-context-v1-server-protocol.h"
#include "tests/limits/recorder_secctx.h"
#include "tests/recorder/recorder.h"

/* One wp_security_context_v1; after commit it lives on as a listener. */
struct listener {
	struct wl_list link; // secctx_recorder.listeners
	struct secctx_recorder *sc;
	int listen_fd, close_fd;
	struct wl_event_source *listen_source, *close_source;
	struct secctx_recorder_context info;
};

struct secctx_recorder {
	struct recorder *rec;
	struct wl_event_loop *loop;
	struct wl_global *global;
	struct wl_list listeners; // committed or not, until their socket is done
	struct secctx_recorder_context last;
	bool have_last;
	unsigned connections;
};

static void listener_free(struct listener *l) {
	if (l->listen_source != NULL) {
		wl_event_source_remove(l->listen_source);
	}
	if (l->close_source != NULL) {
		wl_event_source_remove(l->close_source);
	}
	if (l->listen_fd >= 0) {
		close(l->listen_fd);
	}
	if (l->close_fd >= 0) {
		close(l->close_fd);
	}
	wl_list_remove(&l->link);
	free(l);
}

static int on_connection(int fd, uint32_t mask, void *data) {
	struct listener *l = data;
	int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (conn >= 0 && recorder_add_client(l->sc->rec, conn)) {
		l->sc->connections++;
	}
	return 0;
}

/* The client closed (or hung up) its end of close_fd: stop listening. */
static int on_close(int fd, uint32_t mask, void *data) {
	listener_free(data);
	return 0;
}

static void copy_string(char *dst, size_t cap, const char *src) {
	snprintf(dst, cap, "%s", src);
}

static void context_destroy(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static void set_sandbox_engine(struct wl_client *client, struct wl_resource *resource,
			       const char *name) {
	struct listener *l = wl_resource_get_user_data(resource);
	copy_string(l->info.sandbox_engine, sizeof(l->info.sandbox_engine), name);
}

static void set_app_id(struct wl_client *client, struct wl_resource *resource, const char *app_id) {
	struct listener *l = wl_resource_get_user_data(resource);
	copy_string(l->info.app_id, sizeof(l->info.app_id), app_id);
}

static void set_instance_id(struct wl_client *client, struct wl_resource *resource,
			    const char *instance_id) {
	struct listener *l = wl_resource_get_user_data(resource);
	copy_string(l->info.instance_id, sizeof(l->info.instance_id), instance_id);
}

static void commit(struct wl_client *client, struct wl_resource *resource) {
	struct listener *l = wl_resource_get_user_data(resource);
	if (l->info.committed) {
		wl_resource_post_error(resource, WP_SECURITY_CONTEXT_V1_ERROR_ALREADY_USED,
				       "committed twice");
		return;
	}
	if (l->sc == NULL) {
		return;
	}
	l->info.committed = true;
	l->sc->last = l->info;
	l->sc->have_last = true;
	l->listen_source = wl_event_loop_add_fd(l->sc->loop, l->listen_fd, WL_EVENT_READABLE,
						on_connection, l);
	l->close_source = wl_event_loop_add_fd(l->sc->loop, l->close_fd, 0, on_close, l);
}

static const struct wp_security_context_v1_interface context_impl = {
	.destroy = context_destroy,
	.set_sandbox_engine = set_sandbox_engine,
	.set_app_id = set_app_id,
	.set_instance_id = set_instance_id,
	.commit = commit,
};

static void context_resource_destroy(struct wl_resource *resource) {
	struct listener *l = wl_resource_get_user_data(resource);
	if (!l->info.committed) {
		listener_free(l);
	}
	// A committed context keeps listening until close_fd says otherwise.
}

static void manager_destroy(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static void create_listener(struct wl_client *client, struct wl_resource *resource, uint32_t id,
			    int32_t listen_fd, int32_t close_fd) {
	struct secctx_recorder *sc = wl_resource_get_user_data(resource);
	struct listener *l = calloc(1, sizeof(*l));
	struct wl_resource *ctx = l ? wl_resource_create(client, &wp_security_context_v1_interface,
							 1, id)
				    : NULL;
	if (ctx == NULL) {
		free(l);
		close(listen_fd);
		close(close_fd);
		wl_client_post_no_memory(client);
		return;
	}
	l->sc = sc;
	l->listen_fd = listen_fd;
	l->close_fd = close_fd;
	wl_list_insert(&sc->listeners, &l->link);
	wl_resource_set_implementation(ctx, &context_impl, l, context_resource_destroy);
}

static const struct wp_security_context_manager_v1_interface manager_impl = {
	.destroy = manager_destroy,
	.create_listener = create_listener,
};

static void bind_manager(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
	struct wl_resource *r = wl_resource_create(
		client, &wp_security_context_manager_v1_interface, 1, id);
	if (r == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &manager_impl, data, NULL);
}

struct secctx_recorder *secctx_recorder_create(struct recorder *rec) {
	struct secctx_recorder *sc = calloc(1, sizeof(*sc));
	if (sc == NULL) {
		return NULL;
	}
	struct wl_display *display = recorder_display(rec);
	sc->rec = rec;
	sc->loop = wl_display_get_event_loop(display);
	wl_list_init(&sc->listeners);
	sc->global = wl_global_create(display, &wp_security_context_manager_v1_interface, 1, sc,
				      bind_manager);
	if (sc->global == NULL) {
		free(sc);
		return NULL;
	}
	return sc;
}

void secctx_recorder_destroy(struct secctx_recorder *sc) {
	if (sc == NULL) {
		return;
	}
	struct listener *l, *tmp;
	wl_list_for_each_safe(l, tmp, &sc->listeners, link) {
		if (l->info.committed) {
			listener_free(l);
			continue;
		}
		// Its resource still points at it: leave it to the resource.
		wl_list_remove(&l->link);
		wl_list_init(&l->link);
		l->sc = NULL;
	}
	wl_global_destroy(sc->global);
	free(sc);
}

const struct secctx_recorder_context *secctx_recorder_last(const struct secctx_recorder *sc) {
	return sc->have_last ? &sc->last : NULL;
}

unsigned secctx_recorder_connections(const struct secctx_recorder *sc) {
	return sc->connections;
}
