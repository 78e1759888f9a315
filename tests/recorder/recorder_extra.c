/*
 * Fake privileged globals: what a filtering proxy must never show a guest.
 * The interfaces are written out by hand from the protocols' published
 * signatures (no XML involved), so that a request that slips through is still
 * demarshalled, recorded and answered by a generic no-op dispatcher instead
 * of killing the client with "invalid method".
 */
/* _GNU_SOURCE: none needed; POSIX only. */
#include <string.h>
#include <wayland-server-core.h>
#include <wayland-server-protocol.h>

#include "daemon/fd.h"
#include "tests/recorder/recorder_internal.h"
#include "xdg-shell-server-protocol.h"

static const struct wl_interface layer_surface_interface;
static const struct wl_interface screencopy_frame_interface;
static const struct wl_interface virtual_keyboard_interface;

/* wlr-layer-shell-unstable-v1, version 4. */
static const struct wl_interface *layer_shell_get_types[] = {
	&layer_surface_interface, &wl_surface_interface, &wl_output_interface, NULL, NULL,
};
static const struct wl_message layer_shell_requests[] = {
	{"get_layer_surface", "no?ous", layer_shell_get_types},
	{"destroy", "3", NULL},
};
static const struct wl_interface layer_shell_interface = {
	"zwlr_layer_shell_v1", 4, 2, layer_shell_requests, 0, NULL,
};

static const struct wl_interface *layer_surface_popup_types[] = {&xdg_popup_interface};
static const struct wl_message layer_surface_requests[] = {
	{"set_size", "uu", NULL},
	{"set_anchor", "u", NULL},
	{"set_exclusive_zone", "i", NULL},
	{"set_margin", "iiii", NULL},
	{"set_keyboard_interactivity", "u", NULL},
	{"get_popup", "o", layer_surface_popup_types},
	{"ack_configure", "u", NULL},
	{"destroy", "", NULL},
	{"set_layer", "2u", NULL},
};
static const struct wl_message layer_surface_events[] = {
	{"configure", "uuu", NULL},
	{"closed", "", NULL},
};
static const struct wl_interface layer_surface_interface = {
	"zwlr_layer_surface_v1", 4, 9, layer_surface_requests, 2, layer_surface_events,
};

/* wlr-screencopy-unstable-v1, version 3. */
static const struct wl_interface *screencopy_capture_types[] = {
	&screencopy_frame_interface, NULL, &wl_output_interface, NULL, NULL, NULL, NULL,
};
static const struct wl_message screencopy_requests[] = {
	{"capture_output", "nio", screencopy_capture_types},
	{"capture_output_region", "nioiiii", screencopy_capture_types},
	{"destroy", "", NULL},
};
static const struct wl_interface screencopy_interface = {
	"zwlr_screencopy_manager_v1", 3, 3, screencopy_requests, 0, NULL,
};

static const struct wl_interface *frame_copy_types[] = {&wl_buffer_interface};
static const struct wl_message frame_requests[] = {
	{"copy", "o", frame_copy_types},
	{"destroy", "", NULL},
	{"copy_with_damage", "2o", frame_copy_types},
};
static const struct wl_message frame_events[] = {
	{"buffer", "uuuu", NULL},   {"flags", "u", NULL},      {"ready", "uuu", NULL},
	{"failed", "", NULL},       {"damage", "2uuuu", NULL}, {"linux_dmabuf", "3uuu", NULL},
	{"buffer_done", "3", NULL},
};
static const struct wl_interface screencopy_frame_interface = {
	"zwlr_screencopy_frame_v1", 3, 3, frame_requests, 7, frame_events,
};

/* virtual-keyboard-unstable-v1, version 1: carries an fd (the keymap). */
static const struct wl_interface *vk_create_types[] = {
	&wl_seat_interface,
	&virtual_keyboard_interface,
};
static const struct wl_message vk_manager_requests[] = {
	{"create_virtual_keyboard", "on", vk_create_types},
};
static const struct wl_interface vk_manager_interface = {
	"zwp_virtual_keyboard_manager_v1", 1, 1, vk_manager_requests, 0, NULL,
};

static const struct wl_message vk_requests[] = {
	{"keymap", "uhu", NULL},
	{"key", "uuu", NULL},
	{"modifiers", "uuuuu", NULL},
	{"destroy", "", NULL},
};
static const struct wl_interface virtual_keyboard_interface = {
	"zwp_virtual_keyboard_v1", 1, 4, vk_requests, 0, NULL,
};

static const struct wl_interface *const fake_globals[] = {
	&layer_shell_interface,
	&screencopy_interface,
	&vk_manager_interface,
};

/*
 * Every request on a fake object: new objects get the same dispatcher, fds
 * are closed (the handler owns them), and "destroy" destroys. The recorder's
 * protocol logger has already recorded the request.
 */
static int noop_dispatch(const void *impl, void *target, uint32_t opcode,
			 const struct wl_message *message, union wl_argument *args) {
	struct wl_resource *resource = target;
	struct wl_client *client = wl_resource_get_client(resource);
	const char *sig = message->signature;
	int i = 0;
	for (; *sig != '\0'; sig++) {
		if ((*sig >= '0' && *sig <= '9') || *sig == '?') {
			continue;
		}
		if (*sig == 'h') {
			fd_close(&args[i].h);
		} else if (*sig == 'n' && message->types[i] != NULL) {
			struct wl_resource *child = wl_resource_create(
				client, message->types[i], wl_resource_get_version(resource),
				args[i].n);
			if (child == NULL) {
				wl_client_post_no_memory(client);
				return 0;
			}
			wl_resource_set_dispatcher(child, noop_dispatch, NULL, NULL, NULL);
		}
		i++;
	}
	if (strcmp(message->name, "destroy") == 0) {
		wl_resource_destroy(resource);
	}
	return 0;
}

static void fake_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
	const struct wl_interface *interface = data;
	struct wl_resource *r = wl_resource_create(client, interface, (int)version, id);
	if (r == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_dispatcher(r, noop_dispatch, NULL, NULL, NULL);
}

bool recorder_noop_global(struct recorder *rec, const struct wl_interface *iface) {
	// The global's data is the interface; wl_global_create wants it non-const.
	return wl_global_create(rec->display, iface, iface->version, (void *)iface, fake_bind) !=
	       NULL;
}

bool recorder_extra_init(struct recorder *rec) {
	for (size_t i = 0; i < sizeof(fake_globals) / sizeof(fake_globals[0]); i++) {
		if (!recorder_noop_global(rec, fake_globals[i])) {
			return false;
		}
	}
	return true;
}
