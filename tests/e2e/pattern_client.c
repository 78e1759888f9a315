/*
 * A Wayland client that draws a known pattern, for exact pixel checks:
 *
 *   pattern_client WIDTH HEIGHT FRAMES
 *
 * It maps one xdg_toplevel and draws FRAMES frames, alternating between two
 * XRGB8888 buffers of one wl_shm pool. Frame k is pattern_pixel(x, y, k): a
 * fixed picture with one band of rows painted in a colour of its own. Each
 * buffer is redrawn whole, but only the rows that changed since the previous
 * frame are damaged (with damage_buffer) — as a careful client does — so a
 * proxy that copies only damaged rows must remember what each buffer missed.
 * Frame 0 damages everything. Exits 0 after the last frame's callback.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>

#include "tests/e2e/pattern.h"
#include "xdg-shell-client-protocol.h"

struct client {
	struct wl_compositor *compositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm_base;
	bool configured;
	bool frame_done;
};

static void global(void *data, struct wl_registry *registry, uint32_t name, const char *iface,
		   uint32_t version) {
	struct client *c = data;
	(void)version;
	if (strcmp(iface, wl_compositor_interface.name) == 0) {
		c->compositor = wl_registry_bind(registry, name, &wl_compositor_interface, 4);
	} else if (strcmp(iface, wl_shm_interface.name) == 0) {
		c->shm = wl_registry_bind(registry, name, &wl_shm_interface, 1);
	} else if (strcmp(iface, xdg_wm_base_interface.name) == 0) {
		c->wm_base = wl_registry_bind(registry, name, &xdg_wm_base_interface, 1);
	}
}

static void global_remove(void *data, struct wl_registry *registry, uint32_t name) {
	(void)data;
	(void)registry;
	(void)name;
}

static const struct wl_registry_listener registry_listener = {global, global_remove};

static void ping(void *data, struct xdg_wm_base *wm_base, uint32_t serial) {
	(void)data;
	xdg_wm_base_pong(wm_base, serial);
}

static const struct xdg_wm_base_listener wm_base_listener = {ping};

static void surface_configure(void *data, struct xdg_surface *surface, uint32_t serial) {
	struct client *c = data;
	xdg_surface_ack_configure(surface, serial);
	c->configured = true;
}

static const struct xdg_surface_listener surface_listener = {surface_configure};

static void frame_done(void *data, struct wl_callback *callback, uint32_t time) {
	struct client *c = data;
	(void)time;
	wl_callback_destroy(callback);
	c->frame_done = true;
}

static const struct wl_callback_listener frame_listener = {frame_done};

static void damage_band(struct wl_surface *surface, int width, int height, int frame) {
	int y0, y1;
	pattern_band(height, frame, &y0, &y1);
	wl_surface_damage_buffer(surface, 0, y0, width, y1 - y0);
}

int main(int argc, char **argv) {
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: pattern_client WIDTH HEIGHT FRAMES [HOLD_SECONDS]\n");
		return 2;
	}
	int width = atoi(argv[1]), height = atoi(argv[2]), frames = atoi(argv[3]);
	// Keep the window up after the last frame (for a screenshot).
	int hold = argc == 5 ? atoi(argv[4]) : 0;
	if (width <= 0 || height <= 0 || frames <= 0 || width > 8192 || height > 8192) {
		fprintf(stderr, "pattern_client: bad size or frame count\n");
		return 2;
	}
	struct client c = {0};
	struct wl_display *display = wl_display_connect(NULL);
	if (display == NULL) {
		perror("pattern_client: cannot connect");
		return 1;
	}
	struct wl_registry *registry = wl_display_get_registry(display);
	wl_registry_add_listener(registry, &registry_listener, &c);
	wl_display_roundtrip(display);
	if (c.compositor == NULL || c.shm == NULL || c.wm_base == NULL) {
		fprintf(stderr, "pattern_client: wl_compositor, wl_shm or xdg_wm_base missing\n");
		return 1;
	}
	xdg_wm_base_add_listener(c.wm_base, &wm_base_listener, &c);
	struct wl_surface *surface = wl_compositor_create_surface(c.compositor);
	struct xdg_surface *xdg_surface = xdg_wm_base_get_xdg_surface(c.wm_base, surface);
	xdg_surface_add_listener(xdg_surface, &surface_listener, &c);
	struct xdg_toplevel *toplevel = xdg_surface_get_toplevel(xdg_surface);
	xdg_toplevel_set_title(toplevel, "pattern");
	wl_surface_commit(surface);
	while (!c.configured && wl_display_dispatch(display) >= 0) {
	}

	size_t stride = (size_t)width * 4, size = stride * (size_t)height;
	int fd = memfd_create("pattern", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)(size * 2)) != 0) {
		perror("pattern_client: memfd");
		return 1;
	}
	uint8_t *mem = mmap(NULL, size * 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		perror("pattern_client: mmap");
		return 1;
	}
	struct wl_shm_pool *pool = wl_shm_create_pool(c.shm, fd, (int32_t)(size * 2));
	struct wl_buffer *buffers[2];
	for (int i = 0; i < 2; i++) {
		buffers[i] = wl_shm_pool_create_buffer(pool, (int32_t)(size * (size_t)i), width,
						       height, (int32_t)stride,
						       WL_SHM_FORMAT_XRGB8888);
	}
	for (int k = 0; k < frames; k++) {
		uint32_t *px = (uint32_t *)(mem + size * (size_t)(k % 2));
		for (int y = 0; y < height; y++) {
			for (int x = 0; x < width; x++) {
				px[(size_t)y * (size_t)width + (size_t)x] = pattern_pixel(
					x, y, height, k);
			}
		}
		wl_surface_attach(surface, buffers[k % 2], 0, 0);
		if (k == 0) {
			wl_surface_damage_buffer(surface, 0, 0, width, height);
		} else {
			damage_band(surface, width, height, k - 1); // back to the picture
			damage_band(surface, width, height, k);
		}
		struct wl_callback *cb = wl_surface_frame(surface);
		c.frame_done = false;
		wl_callback_add_listener(cb, &frame_listener, &c);
		wl_surface_commit(surface);
		while (!c.frame_done && wl_display_dispatch(display) >= 0) {
		}
		if (!c.frame_done) {
			fprintf(stderr, "pattern_client: connection lost at frame %d\n", k);
			return 1;
		}
	}
	wl_display_roundtrip(display);
	printf("pattern_client: %d frames of %dx%d drawn\n", frames, width, height);
	fflush(stdout);
	for (time_t end = time(NULL) + hold; time(NULL) < end;) {
		struct pollfd pfd = {.fd = wl_display_get_fd(display), .events = POLLIN};
		if (wl_display_flush(display) < 0 ||
		    (poll(&pfd, 1, 200) > 0 && wl_display_dispatch(display) < 0)) {
			break;
		}
	}
	return 0;
}
