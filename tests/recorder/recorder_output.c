/* _GNU_SOURCE: none needed; POSIX only. */
#include <wayland-server-core.h>
#include <wayland-server-protocol.h>

#include "tests/recorder/recorder_internal.h"

#define OUTPUT_VERSION 4
#define OUTPUT_REFRESH_MHZ 60000
/* A 24" 16:9 panel, so clients computing DPI get ~92. */
#define OUTPUT_WIDTH_MM 527
#define OUTPUT_HEIGHT_MM 296

static void output_release(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static const struct wl_output_interface output_impl = {
	.release = output_release,
};

static void output_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
	struct wl_resource *r = wl_resource_create(client, &wl_output_interface, (int)version, id);
	if (r == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &output_impl, data, NULL);
	wl_output_send_geometry(r, 0, 0, OUTPUT_WIDTH_MM, OUTPUT_HEIGHT_MM,
				WL_OUTPUT_SUBPIXEL_UNKNOWN, "crossway", "recorder",
				WL_OUTPUT_TRANSFORM_NORMAL);
	wl_output_send_mode(r, WL_OUTPUT_MODE_CURRENT | WL_OUTPUT_MODE_PREFERRED,
			    RECORDER_OUTPUT_WIDTH, RECORDER_OUTPUT_HEIGHT, OUTPUT_REFRESH_MHZ);
	if (version >= WL_OUTPUT_SCALE_SINCE_VERSION) {
		wl_output_send_scale(r, 1);
	}
	if (version >= WL_OUTPUT_NAME_SINCE_VERSION) {
		wl_output_send_name(r, "RECORDER-1");
		wl_output_send_description(r, "crossway recording compositor output");
	}
	if (version >= WL_OUTPUT_DONE_SINCE_VERSION) {
		wl_output_send_done(r);
	}
}

bool recorder_output_init(struct recorder *rec) {
	return wl_global_create(rec->display, &wl_output_interface, OUTPUT_VERSION, rec,
				output_bind) != NULL;
}
