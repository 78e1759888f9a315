/*
 * Tests of the recording compositor, with libwayland-client test clients in
 * the same process (non-blocking, driven by one poll loop over the
 * recorder's fd and the client's), one in a forked child, and the
 * crossway-recorder executable.
 */
/* _GNU_SOURCE: memfd_create, pipe2, F_GET_SEALS. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>

#ifdef HAVE_XKBCOMMON
#include <xkbcommon/xkbcommon.h>
#endif

#include "daemon/fd.h"
#include "linux-dmabuf-unstable-v1-client-protocol.h"
#include "tests/harness/test.h"
#include "tests/recorder/recorder.h"
#include "xdg-shell-client-protocol.h"

#define PUMP_LIMIT_MS 10000 // a wait longer than this is a failure
#define MIB (1024 * 1024)
#define FORMAT_XRGB8888 0x34325258u // DRM fourcc 'XR24'

/*
 * Test client
 */

struct global_info {
	char name[64];
	uint32_t id, version;
};

struct tclient {
	struct recorder *rec;
	struct wl_display *display;
	struct wl_registry *registry;
	struct global_info globals[32];
	size_t global_count;

	struct wl_compositor *compositor;
	struct wl_subcompositor *subcompositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm_base;
	struct wl_output *output;
	struct wl_seat *seat;
	struct wl_data_device_manager *ddm;
	struct zwp_linux_dmabuf_v1 *dmabuf;
	uint32_t dmabuf_version;

	uint32_t seat_caps;
	char output_name[64];
	int32_t mode_width, mode_height;

	struct wl_keyboard *keyboard;
	int keymap_fd; // owned
	uint32_t keymap_size, keymap_format;
	int32_t repeat_rate;

	struct wl_data_device *data_device;
	struct wl_data_offer *new_offer; // from data_offer, until selection
	char new_offer_mime[128];
	struct wl_data_offer *selection; // current selection offer
	char selection_mime[128];

	size_t format_events, modifier_events;
};

static void registry_global(void *data, struct wl_registry *registry, uint32_t id,
			    const char *interface, uint32_t version) {
	struct tclient *c = data;
	if (c->global_count < sizeof(c->globals) / sizeof(c->globals[0])) {
		struct global_info *g = &c->globals[c->global_count++];
		snprintf(g->name, sizeof(g->name), "%s", interface);
		g->id = id;
		g->version = version;
	}
}

static void registry_global_remove(void *data, struct wl_registry *registry, uint32_t id) {
}

static const struct wl_registry_listener registry_listener = {
	.global = registry_global,
	.global_remove = registry_global_remove,
};

static const struct global_info *find_global(const struct tclient *c, const char *name) {
	for (size_t i = 0; i < c->global_count; i++) {
		if (strcmp(c->globals[i].name, name) == 0) {
			return &c->globals[i];
		}
	}
	return NULL;
}

static void pump(struct tclient *c, int timeout_ms) {
	test_assert_int_eq(wl_display_get_error(c->display), 0);
	while (wl_display_prepare_read(c->display) != 0) {
		wl_display_dispatch_pending(c->display);
	}
	if (wl_display_flush(c->display) < 0 && errno != EAGAIN) {
		wl_display_cancel_read(c->display);
		return;
	}
	struct pollfd fds[2] = {
		{.fd = recorder_get_fd(c->rec), .events = POLLIN},
		{.fd = wl_display_get_fd(c->display), .events = POLLIN},
	};
	poll(fds, 2, timeout_ms);
	if (fds[1].revents & POLLIN) {
		wl_display_read_events(c->display);
	} else {
		wl_display_cancel_read(c->display);
	}
	recorder_dispatch(c->rec, 0);
	wl_display_dispatch_pending(c->display);
}

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Pumps until *flag is true; fails the test after PUMP_LIMIT_MS. */
static void pump_until(struct tclient *c, const bool *flag) {
	int64_t deadline = now_ms() + PUMP_LIMIT_MS;
	while (!*flag) {
		test_assert_msg(now_ms() < deadline, "timed out waiting");
		pump(c, 10);
	}
}

static void sync_done(void *data, struct wl_callback *cb, uint32_t serial) {
	*(bool *)data = true;
}

static const struct wl_callback_listener sync_listener = {.done = sync_done};

/* Both sides have handled everything the client sent before. */
static void roundtrip(struct tclient *c) {
	bool done = false;
	struct wl_callback *cb = wl_display_sync(c->display);
	wl_callback_add_listener(cb, &sync_listener, &done);
	pump_until(c, &done);
	wl_callback_destroy(cb);
}

/* Pumps until the client has a protocol error; returns its code. */
static uint32_t expect_protocol_error(struct tclient *c, const struct wl_interface **iface) {
	int64_t deadline = now_ms() + PUMP_LIMIT_MS;
	while (wl_display_get_error(c->display) == 0) {
		test_assert_msg(now_ms() < deadline, "no protocol error");
		wl_display_flush(c->display);
		recorder_dispatch(c->rec, 10);
		wl_display_roundtrip(c->display); // returns -1 once the error arrives
	}
	test_assert_int_eq(wl_display_get_error(c->display), EPROTO);
	uint32_t id;
	return wl_display_get_protocol_error(c->display, iface, &id);
}

static void seat_capabilities(void *data, struct wl_seat *seat, uint32_t caps) {
	((struct tclient *)data)->seat_caps = caps;
}

static void seat_name(void *data, struct wl_seat *seat, const char *name) {
}

static const struct wl_seat_listener seat_listener = {
	.capabilities = seat_capabilities,
	.name = seat_name,
};

static void output_geometry(void *data, struct wl_output *o, int32_t x, int32_t y, int32_t pw,
			    int32_t ph, int32_t subpixel, const char *make, const char *model,
			    int32_t transform) {
}

static void output_mode(void *data, struct wl_output *o, uint32_t flags, int32_t w, int32_t h,
			int32_t refresh) {
	struct tclient *c = data;
	c->mode_width = w;
	c->mode_height = h;
}

static void output_done(void *data, struct wl_output *o) {
}

static void output_scale(void *data, struct wl_output *o, int32_t scale) {
}

static void output_name(void *data, struct wl_output *o, const char *name) {
	struct tclient *c = data;
	snprintf(c->output_name, sizeof(c->output_name), "%s", name);
}

static void output_description(void *data, struct wl_output *o, const char *description) {
}

static const struct wl_output_listener output_listener = {
	.geometry = output_geometry,
	.mode = output_mode,
	.done = output_done,
	.scale = output_scale,
	.name = output_name,
	.description = output_description,
};

static void dmabuf_format(void *data, struct zwp_linux_dmabuf_v1 *d, uint32_t format) {
	((struct tclient *)data)->format_events++;
}

static void dmabuf_modifier(void *data, struct zwp_linux_dmabuf_v1 *d, uint32_t format, uint32_t hi,
			    uint32_t lo) {
	((struct tclient *)data)->modifier_events++;
}

static const struct zwp_linux_dmabuf_v1_listener dmabuf_listener = {
	.format = dmabuf_format,
	.modifier = dmabuf_modifier,
};

static void wm_base_ping(void *data, struct xdg_wm_base *wm, uint32_t serial) {
	xdg_wm_base_pong(wm, serial);
}

static const struct xdg_wm_base_listener wm_base_listener = {.ping = wm_base_ping};

/* Connects to @rec (or uses @fd, a connected socket, if >= 0) and binds every known global. */
static struct tclient *tclient_connect_fd(struct recorder *rec, int fd) {
	struct tclient *c = calloc(1, sizeof(*c));
	test_assert(c != NULL);
	c->rec = rec;
	c->keymap_fd = -1;
	c->display = fd >= 0 ? wl_display_connect_to_fd(fd)
			     : wl_display_connect(recorder_socket_name(rec));
	test_assert(c->display != NULL);
	c->registry = wl_display_get_registry(c->display);
	wl_registry_add_listener(c->registry, &registry_listener, c);
	roundtrip(c);
	for (size_t i = 0; i < c->global_count; i++) {
		const struct global_info *g = &c->globals[i];
		if (strcmp(g->name, "wl_compositor") == 0) {
			c->compositor = wl_registry_bind(c->registry, g->id,
							 &wl_compositor_interface, 5);
		} else if (strcmp(g->name, "wl_subcompositor") == 0) {
			c->subcompositor = wl_registry_bind(c->registry, g->id,
							    &wl_subcompositor_interface, 1);
		} else if (strcmp(g->name, "wl_shm") == 0) {
			c->shm = wl_registry_bind(c->registry, g->id, &wl_shm_interface, 1);
		} else if (strcmp(g->name, "xdg_wm_base") == 0) {
			c->wm_base = wl_registry_bind(c->registry, g->id, &xdg_wm_base_interface,
						      5);
			xdg_wm_base_add_listener(c->wm_base, &wm_base_listener, c);
		} else if (strcmp(g->name, "wl_output") == 0) {
			c->output = wl_registry_bind(c->registry, g->id, &wl_output_interface, 4);
			wl_output_add_listener(c->output, &output_listener, c);
		} else if (strcmp(g->name, "wl_seat") == 0) {
			c->seat = wl_registry_bind(c->registry, g->id, &wl_seat_interface, 7);
			wl_seat_add_listener(c->seat, &seat_listener, c);
		} else if (strcmp(g->name, "wl_data_device_manager") == 0) {
			c->ddm = wl_registry_bind(c->registry, g->id,
						  &wl_data_device_manager_interface, 3);
		} else if (strcmp(g->name, "zwp_linux_dmabuf_v1") == 0) {
			c->dmabuf_version = g->version;
			c->dmabuf = wl_registry_bind(c->registry, g->id,
						     &zwp_linux_dmabuf_v1_interface, g->version);
			zwp_linux_dmabuf_v1_add_listener(c->dmabuf, &dmabuf_listener, c);
		}
	}
	roundtrip(c);
	return c;
}

static struct tclient *tclient_connect(struct recorder *rec) {
	return tclient_connect_fd(rec, -1);
}

static void tclient_disconnect(struct tclient *c) {
	if (c->selection != NULL) {
		wl_data_offer_destroy(c->selection);
	}
	if (c->new_offer != NULL) {
		wl_data_offer_destroy(c->new_offer);
	}
	if (c->data_device != NULL) {
		wl_data_device_release(c->data_device);
	}
	if (c->keyboard != NULL) {
		wl_keyboard_release(c->keyboard);
	}
	fd_close(&c->keymap_fd);
	if (c->ddm != NULL) {
		wl_data_device_manager_destroy(c->ddm);
	}
	if (c->seat != NULL) {
		wl_seat_release(c->seat);
	}
	if (c->dmabuf != NULL) {
		zwp_linux_dmabuf_v1_destroy(c->dmabuf);
	}
	if (c->output != NULL) {
		wl_output_release(c->output);
	}
	if (c->wm_base != NULL) {
		xdg_wm_base_destroy(c->wm_base);
	}
	if (c->shm != NULL) {
		wl_shm_destroy(c->shm);
	}
	if (c->subcompositor != NULL) {
		wl_subcompositor_destroy(c->subcompositor);
	}
	if (c->compositor != NULL) {
		wl_compositor_destroy(c->compositor);
	}
	wl_registry_destroy(c->registry);
	wl_display_flush(c->display);
	wl_display_disconnect(c->display);
	free(c);
}

/*
 * shm buffers with a known pattern
 */

struct tbuffer {
	struct wl_buffer *buffer;
	void *map;
	size_t size;
	int32_t width, height, stride;
	bool released;
};

static uint32_t pattern_pixel(int32_t x, int32_t y, uint32_t seed) {
	return 0xff000000u | (((uint32_t)x * 7u + (uint32_t)y * 131u + seed * 977u) & 0xffffffu);
}

static void buffer_release(void *data, struct wl_buffer *buffer) {
	((struct tbuffer *)data)->released = true;
}

static const struct wl_buffer_listener buffer_listener = {.release = buffer_release};

static struct tbuffer *tbuffer_create(struct tclient *c, int32_t width, int32_t height,
				      uint32_t seed) {
	struct tbuffer *b = calloc(1, sizeof(*b));
	test_assert(b != NULL);
	b->width = width;
	b->height = height;
	b->stride = width * 4;
	b->size = (size_t)b->stride * (size_t)height;
	int fd = memfd_create("recorder-test-shm", MFD_CLOEXEC);
	test_assert(fd >= 0);
	test_assert(ftruncate(fd, (off_t)b->size) == 0);
	b->map = mmap(NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	test_assert(b->map != MAP_FAILED);
	uint32_t *px = b->map;
	for (int32_t y = 0; y < height; y++) {
		for (int32_t x = 0; x < width; x++) {
			px[y * width + x] = pattern_pixel(x, y, seed);
		}
	}
	struct wl_shm_pool *pool = wl_shm_create_pool(c->shm, fd, (int32_t)b->size);
	b->buffer = wl_shm_pool_create_buffer(pool, 0, width, height, b->stride,
					      WL_SHM_FORMAT_XRGB8888);
	wl_buffer_add_listener(b->buffer, &buffer_listener, b);
	wl_shm_pool_destroy(pool);
	fd_close(&fd);
	return b;
}

static void tbuffer_destroy(struct tbuffer *b) {
	wl_buffer_destroy(b->buffer);
	munmap(b->map, b->size);
	free(b);
}

/*
 * xdg toplevels
 */

struct twindow {
	struct wl_surface *surface;
	struct xdg_surface *xdg;
	struct xdg_toplevel *toplevel;
	bool configured;
	uint32_t serial;
	int32_t bounds_width;
	bool got_caps;
};

static void xdg_surface_configure(void *data, struct xdg_surface *xdg, uint32_t serial) {
	struct twindow *w = data;
	w->configured = true;
	w->serial = serial;
}

static const struct xdg_surface_listener xdg_surface_listener = {
	.configure = xdg_surface_configure,
};

static void toplevel_configure(void *data, struct xdg_toplevel *t, int32_t w, int32_t h,
			       struct wl_array *states) {
}

static void toplevel_close(void *data, struct xdg_toplevel *t) {
}

static void toplevel_configure_bounds(void *data, struct xdg_toplevel *t, int32_t w, int32_t h) {
	((struct twindow *)data)->bounds_width = w;
}

static void toplevel_wm_capabilities(void *data, struct xdg_toplevel *t, struct wl_array *caps) {
	((struct twindow *)data)->got_caps = true;
}

static const struct xdg_toplevel_listener toplevel_listener = {
	.configure = toplevel_configure,
	.close = toplevel_close,
	.configure_bounds = toplevel_configure_bounds,
	.wm_capabilities = toplevel_wm_capabilities,
};

/* A toplevel through its initial configure and ack. */
static struct twindow *twindow_create(struct tclient *c) {
	struct twindow *w = calloc(1, sizeof(*w));
	test_assert(w != NULL);
	w->surface = wl_compositor_create_surface(c->compositor);
	w->xdg = xdg_wm_base_get_xdg_surface(c->wm_base, w->surface);
	xdg_surface_add_listener(w->xdg, &xdg_surface_listener, w);
	w->toplevel = xdg_surface_get_toplevel(w->xdg);
	xdg_toplevel_add_listener(w->toplevel, &toplevel_listener, w);
	xdg_toplevel_set_title(w->toplevel, "recorder test");
	wl_surface_commit(w->surface);
	pump_until(c, &w->configured);
	xdg_surface_ack_configure(w->xdg, w->serial);
	return w;
}

static void twindow_destroy(struct twindow *w) {
	xdg_toplevel_destroy(w->toplevel);
	xdg_surface_destroy(w->xdg);
	wl_surface_destroy(w->surface);
	free(w);
}

struct frame_state {
	bool done;
	int64_t at_ms;
};

static void frame_done(void *data, struct wl_callback *cb, uint32_t time) {
	struct frame_state *f = data;
	f->done = true;
	f->at_ms = now_ms();
}

static const struct wl_callback_listener frame_listener = {.done = frame_done};

/* Attaches @b, damages, asks for a frame callback and commits. */
static struct wl_callback *present(struct wl_surface *surface, struct tbuffer *b,
				   struct frame_state *f) {
	wl_surface_attach(surface, b->buffer, 0, 0);
	wl_surface_damage_buffer(surface, 0, 0, b->width, b->height);
	struct wl_callback *cb = wl_surface_frame(surface);
	wl_callback_add_listener(cb, &frame_listener, f);
	wl_surface_commit(surface);
	return cb;
}

static void assert_pixels_match(const struct recorder_pixels *px, const struct tbuffer *b,
				uint32_t seed) {
	test_assert_int_eq(px->width, b->width);
	test_assert_int_eq(px->height, b->height);
	test_assert_int_eq(px->stride, b->stride);
	test_assert_int_eq(px->format, WL_SHM_FORMAT_XRGB8888);
	test_assert(!px->dmabuf);
	test_assert(px->data != NULL);
	const uint32_t *p = px->data;
	for (int32_t y = 0; y < b->height; y++) {
		for (int32_t x = 0; x < b->width; x++) {
			test_assert_msg(p[y * (px->stride / 4) + x] == pattern_pixel(x, y, seed),
					"pixel (%d, %d): %08x != %08x", x, y,
					p[y * (px->stride / 4) + x], pattern_pixel(x, y, seed));
		}
	}
}

/*
 * Lifecycle
 */

TEST(socket_names_are_unique_and_removed) {
	struct recorder *a = recorder_create(NULL);
	struct recorder *b = recorder_create(NULL);
	test_assert(a != NULL && b != NULL);
	test_assert(strcmp(recorder_socket_name(a), recorder_socket_name(b)) != 0);
	struct stat st;
	test_assert(stat(recorder_socket_path(a), &st) == 0 && S_ISSOCK(st.st_mode));
	char expected[4096];
	snprintf(expected, sizeof(expected), "%s/%s", getenv("XDG_RUNTIME_DIR"),
		 recorder_socket_name(a));
	test_assert_str_eq(recorder_socket_path(a), expected);
	test_assert(recorder_get_fd(a) >= 0);
	test_assert_int_eq(recorder_client_count(a), 0);
	char path[4096];
	snprintf(path, sizeof(path), "%s", recorder_socket_path(a));
	recorder_destroy(a);
	test_assert(stat(path, &st) != 0 && errno == ENOENT);
	recorder_destroy(b);
	recorder_destroy(NULL);
}

TEST(explicit_socket_name_taken_once) {
	struct recorder_options opts = {.socket_name = "recorder-test-fixed"};
	struct recorder *a = recorder_create(&opts);
	test_assert(a != NULL);
	test_assert_str_eq(recorder_socket_name(a), "recorder-test-fixed");
	test_assert(recorder_create(&opts) == NULL);
	struct recorder_options bad = {.dmabuf_version = 5};
	test_assert(recorder_create(&bad) == NULL);
	recorder_destroy(a);
}

TEST(default_globals) {
	struct recorder *rec = recorder_create(NULL);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	static const struct {
		const char *name;
		uint32_t version;
	} expected[] = {
		{"wl_compositor", 5}, {"wl_subcompositor", 1}, {"wl_shm", 1},
		{"xdg_wm_base", 5},   {"wl_output", 4},
	};
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		const struct global_info *g = find_global(c, expected[i].name);
		test_assert_msg(g != NULL, "no %s", expected[i].name);
		test_assert_int_eq(g->version, expected[i].version);
	}
	test_assert(find_global(c, "wl_seat") == NULL);
	test_assert(find_global(c, "wl_data_device_manager") == NULL);
	test_assert(find_global(c, "zwp_linux_dmabuf_v1") == NULL);
	test_assert(find_global(c, "zwlr_layer_shell_v1") == NULL);
	test_assert_int_eq(c->mode_width, RECORDER_OUTPUT_WIDTH);
	test_assert_int_eq(c->mode_height, RECORDER_OUTPUT_HEIGHT);
	test_assert_str_eq(c->output_name, "RECORDER-1");
	test_assert_int_eq(recorder_client_count(rec), 1);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

TEST(optional_globals) {
	struct recorder_options opts = {
		.seat = true, .data_device = true, .dmabuf_version = 4, .extra_globals = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	static const struct {
		const char *name;
		uint32_t version;
	} expected[] = {
		{"wl_seat", 7},
		{"wl_data_device_manager", 3},
		{"zwp_linux_dmabuf_v1", 4},
		{"zwlr_layer_shell_v1", 4},
		{"zwlr_screencopy_manager_v1", 3},
		{"zwp_virtual_keyboard_manager_v1", 1},
	};
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		const struct global_info *g = find_global(c, expected[i].name);
		test_assert_msg(g != NULL, "no %s", expected[i].name);
		test_assert_int_eq(g->version, expected[i].version);
	}
	test_assert_int_eq(c->seat_caps, WL_SEAT_CAPABILITY_POINTER | WL_SEAT_CAPABILITY_KEYBOARD);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

/*
 * Records
 */

TEST(records_text_args_and_fd_copies) {
	struct recorder *rec = recorder_create(NULL);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	struct wl_surface *surface = wl_compositor_create_surface(c->compositor);
	struct tbuffer *b = tbuffer_create(c, 16, 8, 1);
	wl_surface_attach(surface, b->buffer, 0, 0);
	wl_surface_commit(surface);
	roundtrip(c);

	// Requests, in order, with their client and WAYLAND_DEBUG-style text.
	const struct recorder_record *r = recorder_find(rec, "wl_registry.bind", 0);
	test_assert(r != NULL);
	test_assert_int_eq(r->direction, RECORDER_DIRECTION_REQUEST);
	test_assert_int_eq(r->client, 0);
	test_assert_str_contains(r->text, "wl_registry#2.bind(");
	test_assert_str_contains(r->text, "new id wl_");

	const struct recorder_record *pool = recorder_find(rec, "wl_shm.create_pool", 0);
	test_assert(pool != NULL);
	test_assert_int_eq(pool->fd_count, 1);
	test_assert(pool->fds[0] >= 0);
	test_assert_int_eq(pool->arg_count, 3);
	test_assert_int_eq(pool->args[0].type, 'n');
	test_assert_str_eq(pool->args[0].interface, "wl_shm_pool");
	test_assert_int_eq(pool->args[1].type, 'h');
	test_assert_int_eq(pool->args[1].fd, pool->fds[0]);
	test_assert_int_eq(pool->args[2].i, (int32_t)b->size);
	test_assert_str_contains(pool->text, ", fd ");
	// The copy is the client's memfd: same contents.
	uint32_t first;
	test_assert(pread(pool->fds[0], &first, sizeof(first), 0) == (ssize_t)sizeof(first));
	test_assert_int_eq(first, pattern_pixel(0, 0, 1));

	const struct recorder_record *attach = recorder_last(rec, "wl_surface.attach");
	test_assert(attach != NULL);
	char text[128];
	snprintf(text, sizeof(text), "wl_surface#%u.attach(wl_buffer#%u, 0, 0)",
		 wl_proxy_get_id((struct wl_proxy *)surface),
		 wl_proxy_get_id((struct wl_proxy *)b->buffer));
	test_assert_str_eq(attach->text, text);
	test_assert_int_eq(attach->object_id, wl_proxy_get_id((struct wl_proxy *)surface));
	test_assert_int_eq(attach->version, 5);
	test_assert_int_eq(attach->opcode, 1);
	test_assert_str_eq(attach->interface, "wl_surface");
	test_assert_str_eq(attach->message, "attach");
	test_assert_int_eq(attach->args[0].type, 'o');
	test_assert_str_eq(attach->args[0].interface, "wl_buffer");
	test_assert_int_eq(recorder_count(rec, "wl_surface.commit"), 1);
	test_assert(recorder_find(rec, "wl_surface.commit", 1) == NULL);

	// Events are recorded too: the sync's done and the delete_id.
	const struct recorder_record *done = recorder_last(rec, "wl_callback.done");
	test_assert(done != NULL);
	test_assert_int_eq(done->direction, RECORDER_DIRECTION_EVENT);
	test_assert(recorder_last(rec, "wl_display.delete_id") != NULL);
	const struct recorder_record *fmt = recorder_find(rec, "wl_shm.format", 0);
	test_assert(fmt != NULL);
	test_assert_int_eq(fmt->direction, RECORDER_DIRECTION_EVENT);

	// Sequence numbers count every record; clear keeps counting.
	size_t n = recorder_record_count(rec);
	test_assert(n > 10);
	test_assert_int_eq(recorder_count(rec, NULL), n);
	for (size_t i = 0; i < n; i++) {
		test_assert_int_eq(recorder_record_get(rec, i)->seq, i);
	}
	test_assert(recorder_record_get(rec, n) == NULL);
	recorder_clear(rec);
	test_assert_int_eq(recorder_record_count(rec), 0);
	test_assert(recorder_last(rec, NULL) == NULL);
	roundtrip(c);
	test_assert_int_eq(recorder_record_get(rec, 0)->seq, n);
	test_assert_int_eq(recorder_dropped(rec), 0);

	tbuffer_destroy(b);
	wl_surface_destroy(surface);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

TEST(strings_are_quoted_and_nulls_are_nil) {
	struct recorder_options opts = {.seat = true, .data_device = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	struct wl_data_source *src = wl_data_device_manager_create_data_source(c->ddm);
	wl_data_source_offer(src, "text/plain");
	c->data_device = wl_data_device_manager_get_data_device(c->ddm, c->seat);
	wl_data_device_set_selection(c->data_device, NULL, 7);
	roundtrip(c);
	const struct recorder_record *r = recorder_last(rec, "wl_data_source.offer");
	test_assert(r != NULL);
	char text[128];
	snprintf(text, sizeof(text), "wl_data_source#%u.offer(\"text/plain\")",
		 wl_proxy_get_id((struct wl_proxy *)src));
	test_assert_str_eq(r->text, text);
	test_assert_str_eq(r->args[0].s, "text/plain");
	r = recorder_last(rec, "wl_data_device.set_selection");
	test_assert(r != NULL);
	test_assert_str_contains(r->text, ".set_selection(nil, 7)");
	test_assert_int_eq(r->args[0].id, 0);
	wl_data_source_destroy(src);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

static void count_record(void *data, const struct recorder_record *r) {
	(*(size_t *)data)++;
}

TEST(limits_drop_oldest_records_and_fd_copies) {
	size_t seen = 0;
	struct recorder_options opts = {
		.max_records = 40,
		.max_fd_copies = 2,
		.record_func = count_record,
		.record_data = &seen,
	};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	struct tbuffer *b[4];
	for (size_t i = 0; i < 4; i++) {
		b[i] = tbuffer_create(c, 4, 4, (uint32_t)i);
	}
	roundtrip(c);
	test_assert_int_eq(recorder_count(rec, "wl_shm.create_pool"), 4);
	for (size_t i = 0; i < 4; i++) {
		const struct recorder_record *r = recorder_find(rec, "wl_shm.create_pool", i);
		test_assert_msg((r->fds[0] >= 0) == (i >= 2), "pool %zu fd %d", i, r->fds[0]);
		test_assert_int_eq(r->args[1].fd, r->fds[0]);
	}
	for (size_t i = 0; i < 20; i++) {
		roundtrip(c);
	}
	test_assert_int_eq(recorder_record_count(rec), 40);
	test_assert(recorder_dropped(rec) > 0);
	test_assert_int_eq(recorder_record_get(rec, 0)->seq, recorder_dropped(rec));
	test_assert_int_eq(seen, recorder_dropped(rec) + 40);
	for (size_t i = 0; i < 4; i++) {
		tbuffer_destroy(b[i]);
	}
	tclient_disconnect(c);
	recorder_destroy(rec);
}

TEST(clients_are_numbered_in_connection_order) {
	struct recorder *rec = recorder_create(NULL);
	test_assert(rec != NULL);
	struct tclient *a = tclient_connect(rec);
	int sv[2];
	test_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	test_assert(recorder_add_client(rec, sv[0]));
	struct tclient *b = tclient_connect_fd(rec, sv[1]);
	test_assert_int_eq(recorder_client_count(rec), 2);
	test_assert_int_eq(recorder_last(rec, "wl_display.get_registry")->client, 1);
	test_assert_int_eq(recorder_find(rec, "wl_display.get_registry", 0)->client, 0);
	tclient_disconnect(a);
	while (recorder_client_count(rec) != 1) {
		pump(b, 10);
	}
	roundtrip(b);
	test_assert_int_eq(recorder_last(rec, "wl_display.sync")->client, 1);
	tclient_disconnect(b);
	recorder_destroy(rec);
}

static bool child_finished(void *data) {
	struct recorder *rec = data;
	return recorder_count(rec, "wl_display.sync") >= 1 && recorder_client_count(rec) == 0 &&
	       recorder_count(rec, "wl_display.get_registry") >= 1;
}

TEST(wait_serves_a_client_in_another_process) {
	struct recorder *rec = recorder_create(NULL);
	test_assert(rec != NULL);
	pid_t pid = fork();
	test_assert(pid >= 0);
	if (pid == 0) {
		struct wl_display *d = wl_display_connect(recorder_socket_name(rec));
		if (d == NULL) {
			_exit(1);
		}
		struct wl_registry *reg = wl_display_get_registry(d);
		int ok = wl_display_roundtrip(d);
		wl_registry_destroy(reg);
		wl_display_disconnect(d);
		_exit(ok < 0 ? 1 : 0);
	}
	test_assert(recorder_wait(rec, child_finished, rec, PUMP_LIMIT_MS));
	int status;
	test_assert(waitpid(pid, &status, 0) == pid);
	test_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	recorder_destroy(rec);
}

TEST(protocol_errors_are_recorded) {
	struct recorder *rec = recorder_create(NULL);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	struct wl_surface *surface = wl_compositor_create_surface(c->compositor);
	struct tbuffer *b = tbuffer_create(c, 4, 4, 0);
	wl_surface_attach(surface, b->buffer, 1, 1); // wl_surface v5 forbids an offset
	const struct wl_interface *iface;
	test_assert_int_eq(expect_protocol_error(c, &iface), WL_SURFACE_ERROR_INVALID_OFFSET);
	test_assert(iface == &wl_surface_interface);
	const struct recorder_record *r = recorder_last(rec, "wl_display.error");
	test_assert(r != NULL);
	test_assert_str_contains(r->text, "wl_display#1.error(wl_surface#");
	tbuffer_destroy(b);
	wl_surface_destroy(surface);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

/*
 * Surfaces, frames, pixels
 */

TEST(fast_mode_releases_and_fires_at_commit) {
	struct recorder_options opts = {.fast = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	struct twindow *w = twindow_create(c);
	test_assert_int_eq(w->bounds_width, RECORDER_OUTPUT_WIDTH);
	test_assert(w->got_caps);
	struct recorder_pixels px;
	test_assert(!recorder_surface_pixels(rec, -1, 0, &px));

	struct tbuffer *b = tbuffer_create(c, 64, 48, 3);
	struct frame_state f = {0};
	struct wl_callback *cb = present(w->surface, b, &f);
	roundtrip(c);
	// One roundtrip: the release and done came with the commit.
	test_assert(f.done);
	test_assert(b->released);
	wl_callback_destroy(cb);

	uint32_t sid = wl_proxy_get_id((struct wl_proxy *)w->surface);
	test_assert(recorder_surface_pixels(rec, 0, sid, &px));
	assert_pixels_match(&px, b, 3);
	test_assert_int_eq(px.surface_id, sid);
	test_assert_int_eq(px.buffer_id, wl_proxy_get_id((struct wl_proxy *)b->buffer));
	test_assert_int_eq(px.commits, 2); // the initial commit and this one
	test_assert(recorder_surface_pixels(rec, -1, 0, &px));
	test_assert(!recorder_surface_pixels(rec, 1, 0, &px));
	test_assert(!recorder_surface_pixels(rec, 0, sid + 100, &px));

	// The client may reuse the released buffer: the copy stays as committed.
	memset(b->map, 0, b->size);
	roundtrip(c);
	test_assert(recorder_surface_pixels(rec, 0, sid, &px));
	assert_pixels_match(&px, b, 3);

	test_assert_int_eq(recorder_count(rec, "xdg_surface.configure"), 1);
	test_assert(recorder_last(rec, "xdg_toplevel.set_title") != NULL);
	test_assert_str_eq(recorder_last(rec, "xdg_toplevel.set_title")->args[0].s,
			   "recorder test");

	tbuffer_destroy(b);
	twindow_destroy(w);
	roundtrip(c);
	// Contents outlive their surface.
	test_assert(recorder_surface_pixels(rec, 0, sid, &px));
	test_assert_int_eq(px.width, 64);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

TEST(timer_mode_paces_frames_and_holds_buffers) {
	struct recorder *rec = recorder_create(NULL);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	struct twindow *w = twindow_create(c);
	struct tbuffer *b1 = tbuffer_create(c, 32, 32, 1);
	struct tbuffer *b2 = tbuffer_create(c, 32, 32, 2);

	struct frame_state f1 = {0};
	int64_t t0 = now_ms();
	struct wl_callback *cb1 = present(w->surface, b1, &f1);
	pump_until(c, &f1.done);
	test_assert_msg(f1.at_ms - t0 >= RECORDER_FRAME_INTERVAL_MS - 1, "frame done after %lld ms",
			(long long)(f1.at_ms - t0));
	roundtrip(c);
	test_assert(!b1->released); // still on screen

	struct frame_state f2 = {0};
	struct wl_callback *cb2 = present(w->surface, b2, &f2);
	roundtrip(c);
	test_assert(b1->released);
	test_assert(!b2->released);
	struct recorder_pixels px;
	test_assert(recorder_surface_pixels(rec, -1, 0, &px));
	assert_pixels_match(&px, b2, 2);
	pump_until(c, &f2.done);

	wl_callback_destroy(cb1);
	wl_callback_destroy(cb2);
	tbuffer_destroy(b1);
	tbuffer_destroy(b2);
	twindow_destroy(w);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

TEST(skip_pixel_copy_reports_sizes_only) {
	struct recorder_options opts = {.fast = true, .skip_pixel_copy = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	struct wl_surface *s = wl_compositor_create_surface(c->compositor);
	struct tbuffer *b = tbuffer_create(c, 8, 2, 0);
	wl_surface_attach(s, b->buffer, 0, 0);
	wl_surface_commit(s);
	roundtrip(c);
	struct recorder_pixels px;
	test_assert(recorder_surface_pixels(rec, 0, 0, &px));
	test_assert_int_eq(px.width, 8);
	test_assert(px.data == NULL);
	// A NULL attach takes the contents away.
	wl_surface_attach(s, NULL, 0, 0);
	wl_surface_commit(s);
	roundtrip(c);
	test_assert(!recorder_surface_pixels(rec, 0, 0, &px));
	tbuffer_destroy(b);
	wl_surface_destroy(s);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

TEST(xdg_buffer_before_ack_is_an_error) {
	struct recorder *rec = recorder_create(NULL);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	struct twindow w = {0};
	w.surface = wl_compositor_create_surface(c->compositor);
	w.xdg = xdg_wm_base_get_xdg_surface(c->wm_base, w.surface);
	w.toplevel = xdg_surface_get_toplevel(w.xdg);
	struct tbuffer *b = tbuffer_create(c, 4, 4, 0);
	wl_surface_attach(w.surface, b->buffer, 0, 0);
	wl_surface_commit(w.surface);
	const struct wl_interface *iface;
	test_assert_int_eq(expect_protocol_error(c, &iface), XDG_SURFACE_ERROR_UNCONFIGURED_BUFFER);
	test_assert(iface == &xdg_surface_interface);
	tbuffer_destroy(b);
	xdg_toplevel_destroy(w.toplevel);
	xdg_surface_destroy(w.xdg);
	wl_surface_destroy(w.surface);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

struct popup_state {
	bool configured;
	int32_t x, y, w, h;
	uint32_t serial;
};

static void popup_configure(void *data, struct xdg_popup *p, int32_t x, int32_t y, int32_t w,
			    int32_t h) {
	struct popup_state *s = data;
	s->x = x;
	s->y = y;
	s->w = w;
	s->h = h;
}

static void popup_done(void *data, struct xdg_popup *p) {
}

static void popup_repositioned(void *data, struct xdg_popup *p, uint32_t token) {
}

static const struct xdg_popup_listener popup_listener = {
	.configure = popup_configure,
	.popup_done = popup_done,
	.repositioned = popup_repositioned,
};

static void popup_surface_configure(void *data, struct xdg_surface *xdg, uint32_t serial) {
	struct popup_state *s = data;
	s->configured = true;
	s->serial = serial;
}

static const struct xdg_surface_listener popup_surface_listener = {
	.configure = popup_surface_configure,
};

TEST(xdg_popup_and_subsurface) {
	struct recorder_options opts = {.fast = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	struct twindow *parent = twindow_create(c);

	struct xdg_positioner *pos = xdg_wm_base_create_positioner(c->wm_base);
	xdg_positioner_set_size(pos, 20, 10);
	xdg_positioner_set_anchor_rect(pos, 5, 6, 1, 1);
	xdg_positioner_set_offset(pos, 2, 3);
	struct wl_surface *ps = wl_compositor_create_surface(c->compositor);
	struct xdg_surface *pxdg = xdg_wm_base_get_xdg_surface(c->wm_base, ps);
	struct popup_state st = {0};
	xdg_surface_add_listener(pxdg, &popup_surface_listener, &st);
	struct xdg_popup *popup = xdg_surface_get_popup(pxdg, parent->xdg, pos);
	xdg_popup_add_listener(popup, &popup_listener, &st);
	wl_surface_commit(ps);
	pump_until(c, &st.configured);
	test_assert_int_eq(st.x, 7);
	test_assert_int_eq(st.y, 9);
	test_assert_int_eq(st.w, 20);
	test_assert_int_eq(st.h, 10);
	char text[128];
	snprintf(text, sizeof(text), "xdg_popup#%u.configure(7, 9, 20, 10)",
		 wl_proxy_get_id((struct wl_proxy *)popup));
	test_assert_str_eq(recorder_last(rec, "xdg_popup.configure")->text, text);

	// A subsurface commits like any surface here.
	struct wl_surface *child = wl_compositor_create_surface(c->compositor);
	struct wl_subsurface *sub = wl_subcompositor_get_subsurface(c->subcompositor, child,
								    parent->surface);
	struct tbuffer *b = tbuffer_create(c, 6, 6, 9);
	wl_surface_attach(child, b->buffer, 0, 0);
	wl_surface_commit(child);
	roundtrip(c);
	struct recorder_pixels px;
	test_assert(
		recorder_surface_pixels(rec, 0, wl_proxy_get_id((struct wl_proxy *)child), &px));
	assert_pixels_match(&px, b, 9);

	wl_subsurface_destroy(sub);
	wl_surface_destroy(child);
	tbuffer_destroy(b);
	xdg_popup_destroy(popup);
	xdg_surface_destroy(pxdg);
	wl_surface_destroy(ps);
	xdg_positioner_destroy(pos);
	twindow_destroy(parent);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

/*
 * Seat
 */

static void kb_keymap(void *data, struct wl_keyboard *kb, uint32_t format, int32_t fd,
		      uint32_t size) {
	struct tclient *c = data;
	fd_close(&c->keymap_fd);
	c->keymap_fd = fd;
	c->keymap_size = size;
	c->keymap_format = format;
}

static void kb_enter(void *data, struct wl_keyboard *kb, uint32_t serial,
		     struct wl_surface *surface, struct wl_array *keys) {
}

static void kb_leave(void *data, struct wl_keyboard *kb, uint32_t serial,
		     struct wl_surface *surface) {
}

static void kb_key(void *data, struct wl_keyboard *kb, uint32_t serial, uint32_t time, uint32_t key,
		   uint32_t state) {
}

static void kb_modifiers(void *data, struct wl_keyboard *kb, uint32_t serial, uint32_t depressed,
			 uint32_t latched, uint32_t locked, uint32_t group) {
}

static void kb_repeat_info(void *data, struct wl_keyboard *kb, int32_t rate, int32_t delay) {
	((struct tclient *)data)->repeat_rate = rate;
}

static const struct wl_keyboard_listener keyboard_listener = {
	.keymap = kb_keymap,
	.enter = kb_enter,
	.leave = kb_leave,
	.key = kb_key,
	.modifiers = kb_modifiers,
	.repeat_info = kb_repeat_info,
};

/* Gets a keyboard and maps its keymap privately; returns the mapping (size c->keymap_size). */
static const char *get_keymap(struct tclient *c) {
	c->keyboard = wl_seat_get_keyboard(c->seat);
	wl_keyboard_add_listener(c->keyboard, &keyboard_listener, c);
	roundtrip(c);
	test_assert(c->keymap_fd >= 0);
	test_assert_int_eq(c->keymap_format, WL_KEYBOARD_KEYMAP_FORMAT_XKB_V1);
	test_assert(c->repeat_rate > 0);
	struct stat st;
	test_assert(fstat(c->keymap_fd, &st) == 0);
	test_assert_int_eq(st.st_size, c->keymap_size);
	const char *map = mmap(NULL, c->keymap_size, PROT_READ, MAP_PRIVATE, c->keymap_fd, 0);
	test_assert(map != MAP_FAILED);
	test_assert_int_eq(strnlen(map, c->keymap_size), c->keymap_size - 1);
	return map;
}

TEST(keymap_is_a_sealed_valid_xkb_keymap) {
	struct recorder_options opts = {.seat = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	const char *map = get_keymap(c);
	test_assert(strncmp(map, "xkb_keymap {", 12) == 0);

	int seals = fcntl(c->keymap_fd, F_GET_SEALS);
	int want = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
	test_assert_int_eq(seals & want, want);
	test_assert(pwrite(c->keymap_fd, "x", 1, 0) < 0 && errno == EPERM);
	test_assert(ftruncate(c->keymap_fd, 1) < 0);
	void *shared = mmap(NULL, c->keymap_size, PROT_READ | PROT_WRITE, MAP_SHARED, c->keymap_fd,
			    0);
	test_assert(shared == MAP_FAILED);

	const struct recorder_record *r = recorder_last(rec, "wl_keyboard.keymap");
	test_assert(r != NULL);
	test_assert_int_eq(r->direction, RECORDER_DIRECTION_EVENT);
	test_assert_int_eq(r->fd_count, 1);
	test_assert_int_eq(r->args[2].u, c->keymap_size);

#ifdef HAVE_XKBCOMMON
	struct xkb_context *ctx = xkb_context_new(XKB_CONTEXT_NO_DEFAULT_INCLUDES |
						  XKB_CONTEXT_NO_ENVIRONMENT_NAMES);
	test_assert(ctx != NULL);
	struct xkb_keymap *km = xkb_keymap_new_from_string(ctx, map, XKB_KEYMAP_FORMAT_TEXT_V1,
							   XKB_KEYMAP_COMPILE_NO_FLAGS);
	test_assert_msg(km != NULL, "xkbcommon rejects the keymap");
	struct xkb_state *state = xkb_state_new(km);
	test_assert(state != NULL);
	test_assert_int_eq(xkb_state_key_get_one_sym(state, 38), XKB_KEY_a); // KEY_A + 8
	xkb_state_update_key(state, 50, XKB_KEY_DOWN);                       // Shift_L
	test_assert_int_eq(xkb_state_key_get_one_sym(state, 38), XKB_KEY_A);
	test_assert_int_eq(xkb_state_key_get_one_sym(state, 36), XKB_KEY_Return);
	xkb_state_unref(state);
	xkb_keymap_unref(km);
	xkb_context_unref(ctx);
#else
	test_note("xkbcommon not found: keymap not compiled");
#endif
	munmap((void *)map, c->keymap_size);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

TEST(keymap_unsealed_with_custom_text) {
	static const char text[] = "xkb_keymap { custom };";
	struct recorder_options opts = {.seat = true, .keymap_text = text, .keymap_unsealed = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	const char *map = get_keymap(c);
	test_assert_int_eq(c->keymap_size, sizeof(text));
	test_assert_str_eq(map, text);
	test_assert_int_eq(fcntl(c->keymap_fd, F_GET_SEALS) & F_SEAL_WRITE, 0);
	test_assert(pwrite(c->keymap_fd, "X", 1, 0) == 1);
	munmap((void *)map, c->keymap_size);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

TEST(seat_pointer_and_missing_touch) {
	struct recorder_options opts = {.seat = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	struct wl_pointer *p = wl_seat_get_pointer(c->seat);
	roundtrip(c);
	wl_pointer_release(p);
	roundtrip(c);
	struct wl_touch *t = wl_seat_get_touch(c->seat);
	const struct wl_interface *iface;
	test_assert_int_eq(expect_protocol_error(c, &iface), WL_SEAT_ERROR_MISSING_CAPABILITY);
	wl_touch_destroy(t);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

/*
 * Clipboard
 */

static void offer_offer(void *data, struct wl_data_offer *offer, const char *mime) {
	struct tclient *c = data;
	if (offer == c->new_offer) {
		snprintf(c->new_offer_mime, sizeof(c->new_offer_mime), "%s", mime);
	}
}

static void offer_source_actions(void *data, struct wl_data_offer *offer, uint32_t actions) {
}

static void offer_action(void *data, struct wl_data_offer *offer, uint32_t action) {
}

static const struct wl_data_offer_listener offer_listener = {
	.offer = offer_offer,
	.source_actions = offer_source_actions,
	.action = offer_action,
};

static void device_data_offer(void *data, struct wl_data_device *dev, struct wl_data_offer *offer) {
	struct tclient *c = data;
	if (c->new_offer != NULL) {
		wl_data_offer_destroy(c->new_offer);
	}
	c->new_offer = offer;
	c->new_offer_mime[0] = '\0';
	wl_data_offer_add_listener(offer, &offer_listener, c);
}

static void device_enter(void *data, struct wl_data_device *dev, uint32_t serial,
			 struct wl_surface *surface, wl_fixed_t x, wl_fixed_t y,
			 struct wl_data_offer *offer) {
}

static void device_leave(void *data, struct wl_data_device *dev) {
}

static void device_motion(void *data, struct wl_data_device *dev, uint32_t time, wl_fixed_t x,
			  wl_fixed_t y) {
}

static void device_drop(void *data, struct wl_data_device *dev) {
}

static void device_selection(void *data, struct wl_data_device *dev, struct wl_data_offer *offer) {
	struct tclient *c = data;
	if (c->selection != NULL) {
		wl_data_offer_destroy(c->selection);
	}
	c->selection = offer;
	if (offer == c->new_offer) {
		snprintf(c->selection_mime, sizeof(c->selection_mime), "%s", c->new_offer_mime);
		c->new_offer = NULL;
	}
}

static const struct wl_data_device_listener device_listener = {
	.data_offer = device_data_offer,
	.enter = device_enter,
	.leave = device_leave,
	.motion = device_motion,
	.drop = device_drop,
	.selection = device_selection,
};

static void get_data_device(struct tclient *c) {
	test_assert(c->ddm != NULL && c->seat != NULL);
	c->data_device = wl_data_device_manager_get_data_device(c->ddm, c->seat);
	wl_data_device_add_listener(c->data_device, &device_listener, c);
	roundtrip(c);
}

static unsigned char *make_payload(size_t len) {
	unsigned char *p = malloc(len);
	test_assert(p != NULL);
	for (size_t i = 0; i < len; i++) {
		p[i] = (unsigned char)(i * 31 + (i >> 12));
	}
	return p;
}

/* Reads @fd (non-blocking) to EOF while pumping, at most @chunk bytes per turn. */
static size_t read_all(struct tclient *c, int fd, unsigned char *out, size_t cap, size_t chunk,
		       bool *saw_transfer) {
	size_t got = 0;
	int64_t deadline = now_ms() + PUMP_LIMIT_MS;
	for (;;) {
		test_assert_msg(now_ms() < deadline, "read stalled at %zu bytes", got);
		size_t want = cap - got < chunk ? cap - got : chunk;
		ssize_t n = read(fd, out + got, want ? want : 1);
		if (n == 0) {
			return got;
		}
		if (n > 0) {
			test_assert((size_t)n <= want);
			got += (size_t)n;
		} else {
			test_assert(errno == EAGAIN || errno == EINTR);
		}
		if (saw_transfer != NULL && recorder_transfer_count(c->rec) > 0) {
			*saw_transfer = true;
		}
		pump(c, 1);
	}
}

TEST(clipboard_host_to_client_1mib) {
	struct recorder_options opts = {.seat = true, .data_device = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	get_data_device(c);
	size_t len = MIB;
	unsigned char *payload = make_payload(len);
	const char *mime = "text/plain;charset=utf-8";
	test_assert(recorder_offer_selection(rec, mime, payload, len));
	int64_t deadline = now_ms() + PUMP_LIMIT_MS;
	while (c->selection == NULL) {
		test_assert(now_ms() < deadline);
		pump(c, 10);
	}
	test_assert_str_eq(c->selection_mime, mime);
	test_assert(recorder_last(rec, "wl_data_device.selection") != NULL);
	test_assert_str_eq(recorder_last(rec, "wl_data_offer.offer")->args[0].s, mime);

	int p[2];
	test_assert(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
	wl_data_offer_receive(c->selection, mime, p[1]);
	wl_display_flush(c->display);
	fd_close(&p[1]);
	unsigned char *got = malloc(len + 1);
	test_assert(got != NULL);
	bool async = false;
	// A slow reader: 4 KiB per turn, so the recorder meets a full pipe.
	size_t n = read_all(c, p[0], got, len + 1, 4096, &async);
	fd_close(&p[0]);
	test_assert_int_eq(n, len);
	test_assert(memcmp(got, payload, len) == 0);
	test_assert(async);
	test_assert_int_eq(recorder_transfer_count(rec), 0);
	// No copy of a pipe is kept: it would have held the EOF back.
	const struct recorder_record *r = recorder_last(rec, "wl_data_offer.receive");
	test_assert(r != NULL && r->fd_count == 1);
	test_assert_int_eq(r->fds[0], -1);
	test_assert_int_eq(r->args[1].fd_mode, S_IFIFO);

	// Another mime: an empty transfer. A reader that leaves early: no harm.
	test_assert(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
	wl_data_offer_receive(c->selection, "image/png", p[1]);
	fd_close(&p[1]);
	test_assert_int_eq(read_all(c, p[0], got, len, len, NULL), 0);
	fd_close(&p[0]);
	test_assert(pipe2(p, O_CLOEXEC) == 0);
	wl_data_offer_receive(c->selection, mime, p[1]);
	fd_close(&p[1]);
	roundtrip(c);
	fd_close(&p[0]);
	deadline = now_ms() + PUMP_LIMIT_MS;
	while (recorder_transfer_count(rec) > 0) {
		test_assert(now_ms() < deadline);
		pump(c, 10);
	}

	// A device created later hears nothing until its client has the keyboard;
	// then the selection comes right before wl_keyboard.enter.
	struct tclient other = {0};
	struct wl_data_device *second = wl_data_device_manager_get_data_device(c->ddm, c->seat);
	wl_data_device_add_listener(second, &device_listener, &other);
	c->keyboard = wl_seat_get_keyboard(c->seat);
	wl_keyboard_add_listener(c->keyboard, &keyboard_listener, c);
	roundtrip(c);
	test_assert(other.selection == NULL);
	test_assert_int_eq(recorder_count(rec, "wl_data_device.selection"), 1);
	struct twindow *w = twindow_create(c);
	struct tbuffer *b = tbuffer_create(c, 4, 4, 0);
	wl_surface_attach(w->surface, b->buffer, 0, 0);
	wl_surface_commit(w->surface);
	roundtrip(c);
	test_assert(other.selection != NULL);
	test_assert_str_eq(other.selection_mime, mime);
	const struct recorder_record *enter = recorder_last(rec, "wl_keyboard.enter");
	test_assert(enter != NULL);
	test_assert_int_eq(enter->args[1].id, wl_proxy_get_id((struct wl_proxy *)w->surface));
	test_assert(recorder_last(rec, "wl_data_device.selection")->seq < enter->seq);
	test_assert_int_eq(recorder_count(rec, "wl_data_device.selection"), 3); // both devices
	wl_data_offer_destroy(other.selection);
	wl_data_device_release(second);
	tbuffer_destroy(b);
	twindow_destroy(w);
	roundtrip(c);

	free(got);
	free(payload);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

struct tsource {
	const unsigned char *data;
	size_t len, offset;
	int fd; // write end from wl_data_source.send, owned
	char mime[64];
	bool cancelled;
};

static void source_target(void *data, struct wl_data_source *src, const char *mime) {
}

static void source_send(void *data, struct wl_data_source *src, const char *mime, int32_t fd) {
	struct tsource *s = data;
	fd_close(&s->fd);
	s->fd = fd;
	s->offset = 0;
	snprintf(s->mime, sizeof(s->mime), "%s", mime);
	test_assert(fd_set_nonblock(s->fd));
}

static void source_cancelled(void *data, struct wl_data_source *src) {
	((struct tsource *)data)->cancelled = true;
}

static void source_dnd_drop_performed(void *data, struct wl_data_source *src) {
}

static void source_dnd_finished(void *data, struct wl_data_source *src) {
}

static void source_action(void *data, struct wl_data_source *src, uint32_t action) {
}

static const struct wl_data_source_listener source_listener = {
	.target = source_target,
	.send = source_send,
	.cancelled = source_cancelled,
	.dnd_drop_performed = source_dnd_drop_performed,
	.dnd_finished = source_dnd_finished,
	.action = source_action,
};

TEST(clipboard_client_to_host_1mib) {
	struct recorder_options opts = {.seat = true, .data_device = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	get_data_device(c);
	test_assert(recorder_client_selection(rec) == NULL);
	test_assert(recorder_receive_selection(rec, "text/plain") < 0 && errno == ENOENT);

	size_t len = MIB;
	unsigned char *payload = make_payload(len);
	struct tsource ts = {.data = payload, .len = len, .fd = -1};
	struct wl_data_source *src = wl_data_device_manager_create_data_source(c->ddm);
	wl_data_source_add_listener(src, &source_listener, &ts);
	wl_data_source_offer(src, "text/plain");
	wl_data_source_offer(src, "application/x-crossway-test");
	wl_data_device_set_selection(c->data_device, src, 1);
	roundtrip(c);
	const char *const *mimes = recorder_client_selection(rec);
	test_assert(mimes != NULL);
	test_assert_str_eq(mimes[0], "text/plain");
	test_assert_str_eq(mimes[1], "application/x-crossway-test");
	test_assert(mimes[2] == NULL);
	test_assert(recorder_receive_selection(rec, "image/png") < 0 && errno == EINVAL);

	int rfd = recorder_receive_selection(rec, "application/x-crossway-test");
	test_assert(rfd >= 0);
	test_assert(fd_set_nonblock(rfd));
	unsigned char *got = malloc(len + 1);
	test_assert(got != NULL);
	size_t n = 0;
	int64_t deadline = now_ms() + PUMP_LIMIT_MS;
	for (bool eof = false; !eof;) {
		test_assert_msg(now_ms() < deadline, "stalled at %zu bytes", n);
		pump(c, 1);
		// The client side: write what the pipe takes, close when done.
		if (ts.fd >= 0) {
			ssize_t wrote = write(ts.fd, ts.data + ts.offset, ts.len - ts.offset);
			if (wrote > 0) {
				ts.offset += (size_t)wrote;
			}
			if (ts.offset == ts.len) {
				fd_close(&ts.fd);
			}
		}
		ssize_t r = read(rfd, got + n, len + 1 - n);
		if (r > 0) {
			n += (size_t)r;
		} else if (r == 0) {
			eof = true;
		}
	}
	fd_close(&rfd);
	test_assert_str_eq(ts.mime, "application/x-crossway-test");
	test_assert_int_eq(n, len);
	test_assert(memcmp(got, payload, len) == 0);
	const struct recorder_record *r = recorder_last(rec, "wl_data_source.send");
	test_assert(r != NULL);
	test_assert_int_eq(r->direction, RECORDER_DIRECTION_EVENT);
	test_assert_int_eq(r->fd_count, 1);
	test_assert_int_eq(r->fds[0], -1);
	test_assert_int_eq(r->args[1].fd_mode, S_IFIFO);

	// A host selection replaces it: the source is cancelled.
	test_assert(recorder_offer_selection(rec, "text/plain", "x", 1));
	roundtrip(c);
	test_assert(ts.cancelled);
	test_assert(recorder_client_selection(rec) == NULL);

	wl_data_source_destroy(src);
	free(got);
	free(payload);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

TEST(clipboard_between_clients) {
	struct recorder_options opts = {.data_device = true}; // implies the seat
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *a = tclient_connect(rec);
	struct tclient *b = tclient_connect(rec);
	get_data_device(a);
	get_data_device(b);
	// Client selections go to the client with keyboard focus: b maps a window.
	struct twindow *w = twindow_create(b);
	struct tbuffer *buf = tbuffer_create(b, 4, 4, 0);
	wl_surface_attach(w->surface, buf->buffer, 0, 0);
	wl_surface_commit(w->surface);
	roundtrip(b);

	size_t len = 256 * 1024; // over a pipe buffer, so both sides take turns
	unsigned char *payload = make_payload(len);
	struct tsource ts = {.data = payload, .len = len, .fd = -1};
	struct wl_data_source *src = wl_data_device_manager_create_data_source(a->ddm);
	wl_data_source_add_listener(src, &source_listener, &ts);
	wl_data_source_offer(src, "text/plain");
	wl_data_device_set_selection(a->data_device, src, 1);
	roundtrip(a);
	roundtrip(b);
	test_assert(b->selection != NULL);
	test_assert_str_eq(b->selection_mime, "text/plain");
	test_assert(a->selection == NULL); // the owner is not offered its own source

	int p[2];
	test_assert(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
	wl_data_offer_receive(b->selection, "text/plain", p[1]);
	wl_display_flush(b->display);
	fd_close(&p[1]);
	unsigned char *got = malloc(len + 1);
	test_assert(got != NULL);
	size_t n = 0;
	int64_t deadline = now_ms() + PUMP_LIMIT_MS;
	for (bool eof = false; !eof;) {
		test_assert_msg(now_ms() < deadline, "stalled at %zu bytes", n);
		pump(a, 1);
		pump(b, 0);
		if (ts.fd >= 0) {
			ssize_t wrote = write(ts.fd, ts.data + ts.offset, ts.len - ts.offset);
			if (wrote > 0) {
				ts.offset += (size_t)wrote;
			}
			if (ts.offset == ts.len) {
				fd_close(&ts.fd);
			}
		}
		ssize_t r = read(p[0], got + n, len + 1 - n);
		if (r > 0) {
			n += (size_t)r;
		} else if (r == 0) {
			eof = true;
		}
	}
	fd_close(&p[0]);
	test_assert_int_eq(n, len);
	test_assert(memcmp(got, payload, len) == 0);

	// The owner goes: the others hear the selection is empty.
	wl_data_source_destroy(src);
	roundtrip(a);
	roundtrip(b);
	test_assert(b->selection == NULL);
	test_assert(recorder_client_selection(rec) == NULL);

	free(got);
	free(payload);
	tbuffer_destroy(buf);
	twindow_destroy(w);
	tclient_disconnect(b);
	tclient_disconnect(a);
	recorder_destroy(rec);
}

/*
 * dmabuf
 */

struct tfeedback {
	int table_fd; // owned
	uint32_t table_size;
	dev_t main_device, target_device;
	size_t tranche_formats;
	uint32_t tranche_flags;
	size_t tranches;
	bool done;
};

static void fb_done(void *data, struct zwp_linux_dmabuf_feedback_v1 *fb) {
	((struct tfeedback *)data)->done = true;
}

static void fb_format_table(void *data, struct zwp_linux_dmabuf_feedback_v1 *fb, int32_t fd,
			    uint32_t size) {
	struct tfeedback *f = data;
	fd_close(&f->table_fd);
	f->table_fd = fd;
	f->table_size = size;
}

static void fb_main_device(void *data, struct zwp_linux_dmabuf_feedback_v1 *fb,
			   struct wl_array *device) {
	struct tfeedback *f = data;
	test_assert_int_eq(device->size, sizeof(dev_t));
	memcpy(&f->main_device, device->data, sizeof(dev_t));
}

static void fb_tranche_done(void *data, struct zwp_linux_dmabuf_feedback_v1 *fb) {
	((struct tfeedback *)data)->tranches++;
}

static void fb_tranche_target_device(void *data, struct zwp_linux_dmabuf_feedback_v1 *fb,
				     struct wl_array *device) {
	struct tfeedback *f = data;
	test_assert_int_eq(device->size, sizeof(dev_t));
	memcpy(&f->target_device, device->data, sizeof(dev_t));
}

static void fb_tranche_formats(void *data, struct zwp_linux_dmabuf_feedback_v1 *fb,
			       struct wl_array *indices) {
	((struct tfeedback *)data)->tranche_formats = indices->size / sizeof(uint16_t);
}

static void fb_tranche_flags(void *data, struct zwp_linux_dmabuf_feedback_v1 *fb, uint32_t flags) {
	((struct tfeedback *)data)->tranche_flags = flags;
}

static const struct zwp_linux_dmabuf_feedback_v1_listener feedback_listener = {
	.done = fb_done,
	.format_table = fb_format_table,
	.main_device = fb_main_device,
	.tranche_done = fb_tranche_done,
	.tranche_target_device = fb_tranche_target_device,
	.tranche_formats = fb_tranche_formats,
	.tranche_flags = fb_tranche_flags,
};

static void check_feedback(struct tclient *c, struct zwp_linux_dmabuf_feedback_v1 *fb) {
	struct tfeedback f = {.table_fd = -1};
	zwp_linux_dmabuf_feedback_v1_add_listener(fb, &feedback_listener, &f);
	pump_until(c, &f.done);
	size_t count;
	const struct recorder_dmabuf_format *formats = recorder_dmabuf_formats(&count);
	test_assert(count > 0);
	test_assert_int_eq(f.table_size, count * 16);
	test_assert(f.table_fd >= 0);
	struct stat st;
	test_assert(fstat(f.table_fd, &st) == 0);
	test_assert_int_eq(st.st_size, f.table_size);
	const unsigned char *table = mmap(NULL, f.table_size, PROT_READ, MAP_PRIVATE, f.table_fd,
					  0);
	test_assert(table != MAP_FAILED);
	for (size_t i = 0; i < count; i++) {
		uint32_t format;
		uint64_t modifier;
		memcpy(&format, table + i * 16, sizeof(format));
		memcpy(&modifier, table + i * 16 + 8, sizeof(modifier));
		test_assert_int_eq(format, formats[i].format);
		test_assert(modifier == formats[i].modifier);
	}
	munmap((void *)table, f.table_size);
	// Read-only for everyone: sealed against writes.
	test_assert(fcntl(f.table_fd, F_GET_SEALS) & F_SEAL_WRITE);
	test_assert(pwrite(f.table_fd, "x", 1, 0) < 0);
	dev_t want = makedev(RECORDER_DMABUF_MAIN_DEVICE_MAJOR, RECORDER_DMABUF_MAIN_DEVICE_MINOR);
	test_assert(f.main_device == want);
	test_assert(f.target_device == want);
	test_assert_int_eq(f.tranche_formats, count);
	test_assert_int_eq(f.tranche_flags, 0);
	test_assert_int_eq(f.tranches, 1);
	fd_close(&f.table_fd);
}

TEST(dmabuf_v4_feedback) {
	struct recorder_options opts = {.dmabuf_version = 4};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	test_assert(c->dmabuf != NULL);
	test_assert_int_eq(c->format_events + c->modifier_events, 0); // deprecated in v4
	struct zwp_linux_dmabuf_feedback_v1 *fb = zwp_linux_dmabuf_v1_get_default_feedback(
		c->dmabuf);
	check_feedback(c, fb);
	zwp_linux_dmabuf_feedback_v1_destroy(fb);
	struct wl_surface *s = wl_compositor_create_surface(c->compositor);
	fb = zwp_linux_dmabuf_v1_get_surface_feedback(c->dmabuf, s);
	check_feedback(c, fb);
	zwp_linux_dmabuf_feedback_v1_destroy(fb);
	const struct recorder_record *r = recorder_last(
		rec, "zwp_linux_dmabuf_feedback_v1.format_table");
	test_assert(r != NULL && r->fd_count == 1 && r->fds[0] >= 0);
	wl_surface_destroy(s);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

TEST(dmabuf_v3_formats_and_modifiers) {
	struct recorder_options opts = {.dmabuf_version = 3};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	size_t count;
	recorder_dmabuf_formats(&count);
	test_assert_int_eq(c->modifier_events, count);
	test_assert_int_eq(c->format_events, 2); // XRGB8888, ARGB8888
	test_assert_int_eq(recorder_count(rec, "zwp_linux_dmabuf_v1.modifier"), count);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

struct tparams {
	struct wl_buffer *created;
	bool failed;
};

static void params_created(void *data, struct zwp_linux_buffer_params_v1 *p,
			   struct wl_buffer *buffer) {
	((struct tparams *)data)->created = buffer;
}

static void params_failed(void *data, struct zwp_linux_buffer_params_v1 *p) {
	((struct tparams *)data)->failed = true;
}

static const struct zwp_linux_buffer_params_v1_listener params_listener = {
	.created = params_created,
	.failed = params_failed,
};

static int fake_dmabuf(size_t size) {
	int fd = memfd_create("recorder-test-dmabuf", MFD_CLOEXEC);
	test_assert(fd >= 0);
	test_assert(ftruncate(fd, (off_t)size) == 0);
	return fd;
}

static bool same_file(int a, int b) {
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino &&
	       sa.st_dev == sb.st_dev;
}

TEST(dmabuf_params_create_records_planes) {
	struct recorder_options opts = {.dmabuf_version = 4, .fast = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	test_assert(recorder_last_dmabuf(rec) == NULL);
	uint64_t mod = (1ULL << 56) | 1;
	int fd0 = fake_dmabuf(65536), fd1 = fake_dmabuf(65536);

	struct zwp_linux_buffer_params_v1 *params = zwp_linux_dmabuf_v1_create_params(c->dmabuf);
	struct tparams tp = {0};
	zwp_linux_buffer_params_v1_add_listener(params, &params_listener, &tp);
	zwp_linux_buffer_params_v1_add(params, fd0, 0, 0, 256, (uint32_t)(mod >> 32),
				       (uint32_t)mod);
	zwp_linux_buffer_params_v1_add(params, fd1, 1, 4096, 128, (uint32_t)(mod >> 32),
				       (uint32_t)mod);
	zwp_linux_buffer_params_v1_create(params, 64, 16, FORMAT_XRGB8888, 0);
	roundtrip(c);
	test_assert(tp.created != NULL);
	test_assert(!tp.failed);

	const struct recorder_dmabuf *d = recorder_last_dmabuf(rec);
	test_assert(d != NULL);
	test_assert(!d->immed);
	test_assert_int_eq(d->plane_count, 2);
	test_assert_int_eq(d->width, 64);
	test_assert_int_eq(d->height, 16);
	test_assert_int_eq(d->format, FORMAT_XRGB8888);
	test_assert_int_eq(d->planes[0].stride, 256);
	test_assert_int_eq(d->planes[1].offset, 4096);
	test_assert_int_eq(d->planes[1].stride, 128);
	test_assert(d->planes[0].modifier == mod);
	test_assert(same_file(d->planes[0].fd, fd0));
	test_assert(same_file(d->planes[1].fd, fd1));
	test_assert_int_eq(d->buffer_id, wl_proxy_get_id((struct wl_proxy *)tp.created));
	test_assert(d->buffer_id >= 0xff000000u); // server-allocated

	test_assert_int_eq(recorder_count(rec, "zwp_linux_buffer_params_v1.add"), 2);
	const struct recorder_record *add = recorder_find(rec, "zwp_linux_buffer_params_v1.add", 1);
	test_assert_int_eq(add->fd_count, 1);
	test_assert(same_file(add->fds[0], fd1));
	test_assert_int_eq(add->args[1].u, 1);    // plane_idx
	test_assert_int_eq(add->args[2].u, 4096); // offset
	test_assert_int_eq(add->args[3].u, 128);  // stride
	const struct recorder_record *created = recorder_last(rec,
							      "zwp_linux_buffer_params_v1.created");
	test_assert(created != NULL);
	test_assert_int_eq(created->args[0].type, 'n');
	test_assert_str_eq(created->args[0].interface, "wl_buffer");
	test_assert_int_eq(created->args[0].id, d->buffer_id);
	zwp_linux_buffer_params_v1_destroy(params);

	// create_immed: the client names the buffer, no event; it can be committed.
	params = zwp_linux_dmabuf_v1_create_params(c->dmabuf);
	zwp_linux_buffer_params_v1_add(params, fd0, 0, 0, 256, 0, 0);
	struct wl_buffer *immed = zwp_linux_buffer_params_v1_create_immed(params, 32, 8,
									  FORMAT_XRGB8888, 0);
	struct wl_surface *s = wl_compositor_create_surface(c->compositor);
	wl_surface_attach(s, immed, 0, 0);
	wl_surface_commit(s);
	roundtrip(c);
	d = recorder_last_dmabuf(rec);
	test_assert(d->immed);
	test_assert_int_eq(d->plane_count, 1);
	test_assert_int_eq(d->buffer_id, wl_proxy_get_id((struct wl_proxy *)immed));
	struct recorder_pixels px;
	test_assert(recorder_surface_pixels(rec, 0, 0, &px));
	test_assert(px.dmabuf);
	test_assert(px.data == NULL);
	test_assert_int_eq(px.width, 32);
	test_assert_int_eq(px.stride, 256);
	test_assert_int_eq(px.format, FORMAT_XRGB8888);

	wl_surface_destroy(s);
	wl_buffer_destroy(immed);
	wl_buffer_destroy(tp.created);
	zwp_linux_buffer_params_v1_destroy(params);
	roundtrip(c);
	// The recorder's copy outlives the buffers.
	test_assert(recorder_last_dmabuf(rec) != NULL);
	fd_close(&fd0);
	fd_close(&fd1);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

struct params_case {
	const char *what;
	int planes[3]; // plane indices to add, -1 ends
	bool twice;    // create a second time
	int32_t width;
	uint32_t error;
};

static const struct params_case params_cases[] = {
	{"duplicate plane", {0, 0, -1}, false, 8, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_SET},
	{"plane index 4", {4, -1, -1}, false, 8, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_IDX},
	{"no plane 0", {1, -1, -1}, false, 8, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE},
	{"gap", {0, 2, -1}, false, 8, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE},
	{"no planes", {-1, -1, -1}, false, 8, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE},
	{"zero width", {0, -1, -1}, false, 0, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_DIMENSIONS},
	{"used twice", {0, -1, -1}, true, 8, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED},
};

TEST_P(dmabuf_params_errors, params_cases) {
	test_note("%s", data->what);
	struct recorder_options opts = {.dmabuf_version = 4};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	int fd = fake_dmabuf(4096);
	struct zwp_linux_buffer_params_v1 *params = zwp_linux_dmabuf_v1_create_params(c->dmabuf);
	for (size_t i = 0; i < 3 && data->planes[i] >= 0; i++) {
		zwp_linux_buffer_params_v1_add(params, fd, (uint32_t)data->planes[i], 0, 64, 0, 0);
	}
	fd_close(&fd);
	struct wl_buffer *b1 = zwp_linux_buffer_params_v1_create_immed(params, data->width, 4,
								       FORMAT_XRGB8888, 0);
	struct wl_buffer *b2 = NULL;
	if (data->twice) {
		b2 = zwp_linux_buffer_params_v1_create_immed(params, 8, 4, FORMAT_XRGB8888, 0);
	}
	const struct wl_interface *iface;
	test_assert_int_eq(expect_protocol_error(c, &iface), data->error);
	test_assert(iface == &zwp_linux_buffer_params_v1_interface);
	test_assert(recorder_last(rec, "wl_display.error") != NULL);
	wl_buffer_destroy(b1);
	if (b2 != NULL) {
		wl_buffer_destroy(b2);
	}
	zwp_linux_buffer_params_v1_destroy(params);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

/*
 * Fake privileged globals, bound with client-side interfaces written here
 */

static const struct wl_interface test_frame_interface;
static const struct wl_interface test_vk_interface;

static const struct wl_interface *test_capture_types[] = {
	&test_frame_interface,
	NULL,
	&wl_output_interface,
};
static const struct wl_message test_screencopy_requests[] = {
	{"capture_output", "nio", test_capture_types},
};
static const struct wl_interface test_screencopy_interface = {
	"zwlr_screencopy_manager_v1", 3, 1, test_screencopy_requests, 0, NULL,
};
static const struct wl_interface *test_copy_types[] = {&wl_buffer_interface};
static const struct wl_message test_frame_requests[] = {
	{"copy", "o", test_copy_types},
	{"destroy", "", NULL},
};
static const struct wl_interface test_frame_interface = {
	"zwlr_screencopy_frame_v1", 3, 2, test_frame_requests, 0, NULL,
};
static const struct wl_interface *test_vk_create_types[] = {&wl_seat_interface, &test_vk_interface};
static const struct wl_message test_vk_manager_requests[] = {
	{"create_virtual_keyboard", "on", test_vk_create_types},
};
static const struct wl_interface test_vk_manager_interface = {
	"zwp_virtual_keyboard_manager_v1", 1, 1, test_vk_manager_requests, 0, NULL,
};
static const struct wl_message test_vk_requests[] = {
	{"keymap", "uhu", NULL},
	{"key", "uuu", NULL},
	{"modifiers", "uuuuu", NULL},
	{"destroy", "", NULL},
};
static const struct wl_interface test_vk_interface = {
	"zwp_virtual_keyboard_v1", 1, 4, test_vk_requests, 0, NULL,
};

TEST(extra_globals_accept_and_record_requests) {
	struct recorder_options opts = {.extra_globals = true, .seat = true};
	struct recorder *rec = recorder_create(&opts);
	test_assert(rec != NULL);
	struct tclient *c = tclient_connect(rec);
	const struct global_info *g = find_global(c, "zwlr_screencopy_manager_v1");
	test_assert(g != NULL);
	struct wl_proxy *sc = wl_registry_bind(c->registry, g->id, &test_screencopy_interface, 3);
	struct wl_proxy *frame = wl_proxy_marshal_flags(sc, 0, &test_frame_interface, 3, 0, NULL, 0,
							c->output);
	wl_proxy_marshal_flags(frame, 1, NULL, 3, WL_MARSHAL_FLAG_DESTROY);

	g = find_global(c, "zwp_virtual_keyboard_manager_v1");
	test_assert(g != NULL);
	struct wl_proxy *vkm = wl_registry_bind(c->registry, g->id, &test_vk_manager_interface, 1);
	struct wl_proxy *vk = wl_proxy_marshal_flags(vkm, 0, &test_vk_interface, 1, 0, c->seat,
						     NULL);
	int fd = fake_dmabuf(64);
	wl_proxy_marshal_flags(vk, 0, NULL, 1, 0, WL_KEYBOARD_KEYMAP_FORMAT_XKB_V1, fd, 64);
	fd_close(&fd);
	wl_proxy_marshal_flags(vk, 3, NULL, 1, WL_MARSHAL_FLAG_DESTROY);
	roundtrip(c);

	const struct recorder_record *r = recorder_last(
		rec, "zwlr_screencopy_manager_v1.capture_output");
	test_assert(r != NULL);
	test_assert_str_eq(r->args[0].interface, "zwlr_screencopy_frame_v1");
	test_assert(recorder_last(rec, "zwlr_screencopy_frame_v1.destroy") != NULL);
	r = recorder_last(rec, "zwp_virtual_keyboard_v1.keymap");
	test_assert(r != NULL);
	test_assert_int_eq(r->fd_count, 1);
	test_assert(r->fds[0] >= 0);
	test_assert(recorder_last(rec, "zwp_virtual_keyboard_v1.destroy") != NULL);
	wl_proxy_destroy(sc);
	wl_proxy_destroy(vkm);
	tclient_disconnect(c);
	recorder_destroy(rec);
}

/*
 * The crossway-recorder executable
 */

static size_t read_file(const char *path, char *buf, size_t cap) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	test_assert(fd >= 0);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0) {
		n += (size_t)r;
	}
	buf[n] = '\0';
	fd_close(&fd);
	return n;
}

TEST(executable_logs_and_stops_on_sigterm) {
	const char *exe = getenv("CROSSWAY_RECORDER");
	if (exe == NULL) {
		test_skip("CROSSWAY_RECORDER not set (run through meson test)");
	}
	char log_path[4096], sock_path[4096];
	snprintf(log_path, sizeof(log_path), "%s/recorder.log", getenv("XDG_RUNTIME_DIR"));
	snprintf(sock_path, sizeof(sock_path), "%s/recorder-exe", getenv("XDG_RUNTIME_DIR"));
	int ready[2];
	test_assert(pipe2(ready, O_CLOEXEC) == 0);
	pid_t pid = fork();
	test_assert(pid >= 0);
	if (pid == 0) {
		if (dup2(ready[1], 3) < 0) {
			_exit(127);
		}
		execl(exe, exe, "--socket", "recorder-exe", "--seat", "--fast", "--dmabuf", "4",
		      "--extra-globals", "--data-device", "--log", log_path, "--ready-fd", "3",
		      (char *)NULL);
		_exit(127);
	}
	fd_close(&ready[1]);
	char buf[16] = {0};
	test_assert(read(ready[0], buf, sizeof(buf) - 1) == 6);
	test_assert_str_eq(buf, "ready\n");
	fd_close(&ready[0]);

	struct wl_display *d = wl_display_connect("recorder-exe");
	test_assert(d != NULL);
	struct tclient shim = {.display = d};
	struct wl_registry *reg = wl_display_get_registry(d);
	wl_registry_add_listener(reg, &registry_listener, &shim);
	test_assert(wl_display_roundtrip(d) >= 0);
	const struct global_info *g = find_global(&shim, "wl_seat");
	test_assert(g != NULL);
	test_assert(find_global(&shim, "zwlr_layer_shell_v1") != NULL);
	struct wl_seat *seat = wl_registry_bind(reg, g->id, &wl_seat_interface, 7);
	struct wl_keyboard *kb = wl_seat_get_keyboard(seat);
	test_assert(wl_display_roundtrip(d) >= 0);
	wl_keyboard_release(kb);
	wl_seat_release(seat);
	wl_registry_destroy(reg);
	wl_display_roundtrip(d);
	wl_display_disconnect(d);

	test_assert(kill(pid, SIGTERM) == 0);
	int status;
	test_assert(waitpid(pid, &status, 0) == pid);
	test_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	struct stat st;
	test_assert(stat(sock_path, &st) != 0); // removed on the way out

	static char log[65536];
	read_file(log_path, log, sizeof(log));
	test_assert_str_contains(log, "0 client 0 request wl_display#1.get_registry(new id "
				      "wl_registry#2)\n");
	test_assert_str_contains(log, " client 0 request wl_registry#2.bind(");
	test_assert_str_contains(log, " client 0 event wl_keyboard#");
	test_assert_str_contains(log, ".keymap(1, fd ");
}
