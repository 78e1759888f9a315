/* _GNU_SOURCE: none needed; POSIX only. */
#include <stdlib.h>
#include <wayland-server-core.h>

#include "tests/recorder/recorder_internal.h"
#include "xdg-shell-server-protocol.h"

#define WM_BASE_VERSION 5

struct positioner {
	int32_t width, height;
	int32_t anchor_x, anchor_y;
	int32_t offset_x, offset_y;
};

/* An xdg_surface; its toplevel or popup resource points here too. */
struct xdg_state {
	struct recorder *rec;
	struct wl_resource *resource;     // the xdg_surface
	struct recorder_surface *surface; // NULL once the wl_surface is gone
	struct wl_listener surface_destroy;
	struct wl_resource *role_resource; // xdg_toplevel or xdg_popup; may be NULL
	bool popup;
	struct positioner geometry; // popups: where the positioner put it
	bool configure_sent;        // the initial configure
	bool acked;                 // some configure was acked
	bool mapped;                // a buffer was committed
};

static void destroy_request(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static void send_configure(struct xdg_state *xs) {
	struct wl_resource *role = xs->role_resource;
	if (xs->popup) {
		xdg_popup_send_configure(role, xs->geometry.anchor_x + xs->geometry.offset_x,
					 xs->geometry.anchor_y + xs->geometry.offset_y,
					 xs->geometry.width, xs->geometry.height);
	} else {
		int version = wl_resource_get_version(role);
		if (version >= XDG_TOPLEVEL_CONFIGURE_BOUNDS_SINCE_VERSION) {
			xdg_toplevel_send_configure_bounds(role, RECORDER_OUTPUT_WIDTH,
							   RECORDER_OUTPUT_HEIGHT);
		}
		if (version >= XDG_TOPLEVEL_WM_CAPABILITIES_SINCE_VERSION) {
			uint32_t caps[] = {
				XDG_TOPLEVEL_WM_CAPABILITIES_WINDOW_MENU,
				XDG_TOPLEVEL_WM_CAPABILITIES_MAXIMIZE,
				XDG_TOPLEVEL_WM_CAPABILITIES_FULLSCREEN,
				XDG_TOPLEVEL_WM_CAPABILITIES_MINIMIZE,
			};
			struct wl_array array = {
				.size = sizeof(caps), .alloc = sizeof(caps), .data = caps};
			xdg_toplevel_send_wm_capabilities(role, &array);
		}
		// 0x0: the client picks its size.
		struct wl_array states = {0};
		xdg_toplevel_send_configure(role, 0, 0, &states);
	}
	xdg_surface_send_configure(xs->resource, wl_display_next_serial(xs->rec->display));
	xs->configure_sent = true;
}

static bool xdg_commit(void *data, bool attaching_buffer) {
	struct xdg_state *xs = data;
	if (attaching_buffer && !xs->acked) {
		wl_resource_post_error(xs->resource, XDG_SURFACE_ERROR_UNCONFIGURED_BUFFER,
				       "buffer attached before the first ack_configure");
		return false;
	}
	// xdg-shell: the first commit after the role is assigned gets a configure.
	if (xs->role_resource != NULL && !xs->configure_sent) {
		send_configure(xs);
	}
	// A toplevel that maps takes the keyboard, as on a desktop.
	if (attaching_buffer && !xs->mapped && xs->role_resource != NULL && !xs->popup &&
	    xs->surface != NULL) {
		xs->mapped = true;
		recorder_seat_focus(xs->rec, recorder_surface_resource(xs->surface));
	}
	return true;
}

static void role_resource_destroy(struct wl_resource *resource) {
	struct xdg_state *xs = wl_resource_get_user_data(resource);
	if (xs != NULL) {
		xs->role_resource = NULL;
	}
}

/* xdg_toplevel: every request is only recorded. */
static void toplevel_set_parent(struct wl_client *client, struct wl_resource *resource,
				struct wl_resource *parent) {
}

static void toplevel_set_string(struct wl_client *client, struct wl_resource *resource,
				const char *value) {
}

static void toplevel_show_window_menu(struct wl_client *client, struct wl_resource *resource,
				      struct wl_resource *seat, uint32_t serial, int32_t x,
				      int32_t y) {
}

static void toplevel_move(struct wl_client *client, struct wl_resource *resource,
			  struct wl_resource *seat, uint32_t serial) {
}

static void toplevel_resize(struct wl_client *client, struct wl_resource *resource,
			    struct wl_resource *seat, uint32_t serial, uint32_t edges) {
}

static void toplevel_set_size(struct wl_client *client, struct wl_resource *resource, int32_t width,
			      int32_t height) {
}

static void toplevel_set_state(struct wl_client *client, struct wl_resource *resource) {
}

static void toplevel_set_fullscreen(struct wl_client *client, struct wl_resource *resource,
				    struct wl_resource *output) {
}

static const struct xdg_toplevel_interface toplevel_impl = {
	.destroy = destroy_request,
	.set_parent = toplevel_set_parent,
	.set_title = toplevel_set_string,
	.set_app_id = toplevel_set_string,
	.show_window_menu = toplevel_show_window_menu,
	.move = toplevel_move,
	.resize = toplevel_resize,
	.set_max_size = toplevel_set_size,
	.set_min_size = toplevel_set_size,
	.set_maximized = toplevel_set_state,
	.unset_maximized = toplevel_set_state,
	.set_fullscreen = toplevel_set_fullscreen,
	.unset_fullscreen = toplevel_set_state,
	.set_minimized = toplevel_set_state,
};

static void popup_grab(struct wl_client *client, struct wl_resource *resource,
		       struct wl_resource *seat, uint32_t serial) {
}

static void popup_reposition(struct wl_client *client, struct wl_resource *resource,
			     struct wl_resource *positioner, uint32_t token) {
	struct xdg_state *xs = wl_resource_get_user_data(resource);
	if (xs == NULL) {
		return;
	}
	xs->geometry = *(struct positioner *)wl_resource_get_user_data(positioner);
	xdg_popup_send_repositioned(resource, token);
	send_configure(xs);
}

static const struct xdg_popup_interface popup_impl = {
	.destroy = destroy_request,
	.grab = popup_grab,
	.reposition = popup_reposition,
};

static bool make_role(struct wl_client *client, struct xdg_state *xs,
		      const struct wl_interface *interface, const void *impl, uint32_t id) {
	if (xs->role_resource != NULL) {
		wl_resource_post_error(xs->resource, XDG_SURFACE_ERROR_ALREADY_CONSTRUCTED,
				       "xdg_surface#%u already has a role object",
				       wl_resource_get_id(xs->resource));
		return false;
	}
	struct wl_resource *role = wl_resource_create(client, interface,
						      wl_resource_get_version(xs->resource), id);
	if (role == NULL) {
		wl_client_post_no_memory(client);
		return false;
	}
	wl_resource_set_implementation(role, impl, xs, role_resource_destroy);
	xs->role_resource = role;
	return true;
}

static void surface_get_toplevel(struct wl_client *client, struct wl_resource *resource,
				 uint32_t id) {
	struct xdg_state *xs = wl_resource_get_user_data(resource);
	if (make_role(client, xs, &xdg_toplevel_interface, &toplevel_impl, id)) {
		xs->popup = false;
	}
}

static void surface_get_popup(struct wl_client *client, struct wl_resource *resource, uint32_t id,
			      struct wl_resource *parent, struct wl_resource *positioner) {
	struct xdg_state *xs = wl_resource_get_user_data(resource);
	if (make_role(client, xs, &xdg_popup_interface, &popup_impl, id)) {
		xs->popup = true;
		xs->geometry = *(struct positioner *)wl_resource_get_user_data(positioner);
	}
}

static void surface_set_window_geometry(struct wl_client *client, struct wl_resource *resource,
					int32_t x, int32_t y, int32_t width, int32_t height) {
}

static void surface_ack_configure(struct wl_client *client, struct wl_resource *resource,
				  uint32_t serial) {
	struct xdg_state *xs = wl_resource_get_user_data(resource);
	if (!xs->configure_sent) {
		wl_resource_post_error(resource, XDG_SURFACE_ERROR_INVALID_SERIAL,
				       "ack_configure(%u) before any configure", serial);
		return;
	}
	xs->acked = true;
}

static const struct xdg_surface_interface xdg_surface_impl = {
	.destroy = destroy_request,
	.get_toplevel = surface_get_toplevel,
	.get_popup = surface_get_popup,
	.set_window_geometry = surface_set_window_geometry,
	.ack_configure = surface_ack_configure,
};

static void wl_surface_destroy_notify(struct wl_listener *l, void *data) {
	struct xdg_state *xs = wl_container_of(l, xs, surface_destroy);
	wl_list_remove(&l->link);
	wl_list_init(&l->link);
	xs->surface = NULL;
}

static void xdg_surface_resource_destroy(struct wl_resource *resource) {
	struct xdg_state *xs = wl_resource_get_user_data(resource);
	if (xs->role_resource != NULL) {
		wl_resource_set_user_data(xs->role_resource, NULL);
	}
	wl_list_remove(&xs->surface_destroy.link);
	free(xs);
}

static void positioner_set_size(struct wl_client *client, struct wl_resource *resource,
				int32_t width, int32_t height) {
	struct positioner *p = wl_resource_get_user_data(resource);
	if (width < 1 || height < 1) {
		wl_resource_post_error(resource, XDG_POSITIONER_ERROR_INVALID_INPUT, "size %dx%d",
				       width, height);
		return;
	}
	p->width = width;
	p->height = height;
}

static void positioner_set_anchor_rect(struct wl_client *client, struct wl_resource *resource,
				       int32_t x, int32_t y, int32_t width, int32_t height) {
	struct positioner *p = wl_resource_get_user_data(resource);
	if (width < 0 || height < 0) {
		wl_resource_post_error(resource, XDG_POSITIONER_ERROR_INVALID_INPUT,
				       "anchor rect %dx%d", width, height);
		return;
	}
	p->anchor_x = x;
	p->anchor_y = y;
}

static void positioner_set_uint(struct wl_client *client, struct wl_resource *resource,
				uint32_t value) {
}

static void positioner_set_offset(struct wl_client *client, struct wl_resource *resource, int32_t x,
				  int32_t y) {
	struct positioner *p = wl_resource_get_user_data(resource);
	p->offset_x = x;
	p->offset_y = y;
}

static void positioner_set_reactive(struct wl_client *client, struct wl_resource *resource) {
}

static void positioner_set_parent_size(struct wl_client *client, struct wl_resource *resource,
				       int32_t width, int32_t height) {
}

static const struct xdg_positioner_interface positioner_impl = {
	.destroy = destroy_request,
	.set_size = positioner_set_size,
	.set_anchor_rect = positioner_set_anchor_rect,
	.set_anchor = positioner_set_uint,
	.set_gravity = positioner_set_uint,
	.set_constraint_adjustment = positioner_set_uint,
	.set_offset = positioner_set_offset,
	.set_reactive = positioner_set_reactive,
	.set_parent_size = positioner_set_parent_size,
	.set_parent_configure = positioner_set_uint,
};

static void positioner_resource_destroy(struct wl_resource *resource) {
	free(wl_resource_get_user_data(resource));
}

static void wm_base_create_positioner(struct wl_client *client, struct wl_resource *resource,
				      uint32_t id) {
	struct positioner *p = calloc(1, sizeof(*p));
	struct wl_resource *r = NULL;
	if (p != NULL) {
		r = wl_resource_create(client, &xdg_positioner_interface,
				       wl_resource_get_version(resource), id);
	}
	if (r == NULL) {
		free(p);
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &positioner_impl, p, positioner_resource_destroy);
}

static void wm_base_get_xdg_surface(struct wl_client *client, struct wl_resource *resource,
				    uint32_t id, struct wl_resource *surface) {
	struct xdg_state *xs = calloc(1, sizeof(*xs));
	if (xs == NULL) {
		goto error_no_memory;
	}
	xs->resource = wl_resource_create(client, &xdg_surface_interface,
					  wl_resource_get_version(resource), id);
	if (xs->resource == NULL) {
		goto error_state;
	}
	xs->rec = wl_resource_get_user_data(resource);
	xs->surface = recorder_surface_from_resource(surface);
	xs->surface_destroy.notify = wl_surface_destroy_notify;
	wl_resource_add_destroy_listener(surface, &xs->surface_destroy);
	wl_resource_set_implementation(xs->resource, &xdg_surface_impl, xs,
				       xdg_surface_resource_destroy);
	if (!recorder_surface_set_role(xs->surface, "xdg_surface", xs->resource, xdg_commit, xs)) {
		wl_resource_post_error(resource, XDG_WM_BASE_ERROR_ROLE,
				       "wl_surface#%u already has a role",
				       wl_resource_get_id(surface));
	}
	return;

error_state:
	free(xs);
error_no_memory:
	wl_client_post_no_memory(client);
}

static void wm_base_pong(struct wl_client *client, struct wl_resource *resource, uint32_t serial) {
}

static const struct xdg_wm_base_interface wm_base_impl = {
	.destroy = destroy_request,
	.create_positioner = wm_base_create_positioner,
	.get_xdg_surface = wm_base_get_xdg_surface,
	.pong = wm_base_pong,
};

static void wm_base_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
	struct wl_resource *resource = wl_resource_create(client, &xdg_wm_base_interface,
							  (int)version, id);
	if (resource == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(resource, &wm_base_impl, data, NULL);
}

bool recorder_xdg_init(struct recorder *rec) {
	return wl_global_create(rec->display, &xdg_wm_base_interface, WM_BASE_VERSION, rec,
				wm_base_bind) != NULL;
}
