/*
 * The libwayland-client side of crossway-bench: the direct client, also run
 * through crossway-vmsim and waypipe.
 */
/* _GNU_SOURCE: memfd_create. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wayland-client.h>

#include "tests/bench/bench.h"
#include "xdg-shell-client-protocol.h"

struct wlc {
	struct wl_display *display;
	struct wl_registry *registry;
	struct wl_compositor *compositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm_base;
	struct wl_surface *surface;
	struct wl_region *region; // target of the small requests of BENCH_MSG_UP
	struct xdg_surface *xdg_surface;
	struct xdg_toplevel *toplevel;
	bool configured;
	uint64_t syncs_done;
	bool frame_done;
	bool busy[2];
	struct wl_buffer *buffers[2];
};

static void global(void *data, struct wl_registry *registry, uint32_t name, const char *interface,
		   uint32_t version) {
	struct wlc *c = data;
	if (strcmp(interface, wl_compositor_interface.name) == 0) {
		c->compositor = wl_registry_bind(registry, name, &wl_compositor_interface,
						 version < 4 ? version : 4);
	} else if (strcmp(interface, wl_shm_interface.name) == 0) {
		c->shm = wl_registry_bind(registry, name, &wl_shm_interface, 1);
	} else if (strcmp(interface, xdg_wm_base_interface.name) == 0) {
		c->wm_base = wl_registry_bind(registry, name, &xdg_wm_base_interface, 1);
	}
}

static void global_remove(void *data, struct wl_registry *registry, uint32_t name) {
}

static const struct wl_registry_listener registry_listener = {
	.global = global,
	.global_remove = global_remove,
};

static void ping(void *data, struct xdg_wm_base *wm_base, uint32_t serial) {
	xdg_wm_base_pong(wm_base, serial);
}

static const struct xdg_wm_base_listener wm_base_listener = {.ping = ping};

static void surface_configure(void *data, struct xdg_surface *xdg_surface, uint32_t serial) {
	struct wlc *c = data;
	xdg_surface_ack_configure(xdg_surface, serial);
	c->configured = true;
}

static const struct xdg_surface_listener xdg_surface_listener = {.configure = surface_configure};

static void toplevel_configure(void *data, struct xdg_toplevel *toplevel, int32_t w, int32_t h,
			       struct wl_array *states) {
}

static void toplevel_close(void *data, struct xdg_toplevel *toplevel) {
}

static const struct xdg_toplevel_listener toplevel_listener = {
	.configure = toplevel_configure,
	.close = toplevel_close,
};

static void sync_done(void *data, struct wl_callback *cb, uint32_t time) {
	struct wlc *c = data;
	c->syncs_done++;
	wl_callback_destroy(cb);
}

static const struct wl_callback_listener sync_listener = {.done = sync_done};

static void frame_done(void *data, struct wl_callback *cb, uint32_t time) {
	struct wlc *c = data;
	c->frame_done = true;
	wl_callback_destroy(cb);
}

static const struct wl_callback_listener frame_listener = {.done = frame_done};

static void buffer_release(void *data, struct wl_buffer *buffer) {
	bool *busy = data;
	*busy = false;
}

static const struct wl_buffer_listener buffer_listener = {.release = buffer_release};

static bool fail(struct bench_result *res, const char *what) {
	snprintf(res->error, sizeof(res->error), "%s: %s", what, strerror(errno));
	return false;
}

/* Flushes everything, waiting for room instead of failing on EAGAIN. */
static bool flush_all(struct wlc *c) {
	while (wl_display_flush(c->display) < 0) {
		if (errno != EAGAIN) {
			return false;
		}
		struct pollfd p = {.fd = wl_display_get_fd(c->display), .events = POLLOUT};
		if (poll(&p, 1, BENCH_WAIT_MS) <= 0) {
			return false;
		}
	}
	return true;
}

static bool setup(struct wlc *c, const struct bench_job *job, struct bench_result *res) {
	c->display = wl_display_connect(job->display);
	if (c->display == NULL) {
		return fail(res, "wl_display_connect");
	}
	c->registry = wl_display_get_registry(c->display);
	wl_registry_add_listener(c->registry, &registry_listener, c);
	if (wl_display_roundtrip(c->display) < 0) {
		return fail(res, "registry round trip");
	}
	if (c->compositor == NULL || c->shm == NULL || c->wm_base == NULL) {
		snprintf(res->error, sizeof(res->error),
			 "missing wl_compositor, wl_shm or xdg_wm_base");
		return false;
	}
	xdg_wm_base_add_listener(c->wm_base, &wm_base_listener, c);
	c->surface = wl_compositor_create_surface(c->compositor);
	c->region = wl_compositor_create_region(c->compositor);
	return true;
}

static void teardown(struct wlc *c) {
	if (c->display == NULL) {
		return;
	}
	for (int i = 0; i < 2; i++) {
		if (c->buffers[i]) {
			wl_buffer_destroy(c->buffers[i]);
		}
	}
	if (c->toplevel) {
		xdg_toplevel_destroy(c->toplevel);
	}
	if (c->xdg_surface) {
		xdg_surface_destroy(c->xdg_surface);
	}
	if (c->region) {
		wl_region_destroy(c->region);
	}
	if (c->surface) {
		wl_surface_destroy(c->surface);
	}
	if (c->wm_base) {
		xdg_wm_base_destroy(c->wm_base);
	}
	if (c->shm) {
		wl_shm_destroy(c->shm);
	}
	if (c->compositor) {
		wl_compositor_destroy(c->compositor);
	}
	wl_registry_destroy(c->registry);
	wl_display_roundtrip(c->display);
	wl_display_disconnect(c->display);
}

static bool roundtrips(struct wlc *c, const struct bench_job *job, struct bench_result *res) {
	for (uint32_t i = 0; i < job->count && i < BENCH_MAX_ROUNDTRIPS; i++) {
		double t0 = bench_now();
		if (wl_display_roundtrip(c->display) < 0) {
			return fail(res, "round trip");
		}
		res->rt_us[res->rt_count++] = (bench_now() - t0) * 1e6;
	}
	return true;
}

static bool msg_up(struct wlc *c, const struct bench_job *job, struct bench_result *res) {
	double t0 = bench_now();
	for (uint32_t i = 0; i < job->count; i++) {
		wl_region_add(c->region, 0, 0, 1, 1);
		if ((i + 1) % BENCH_FLUSH_EVERY == 0 && !flush_all(c)) {
			return fail(res, "flush");
		}
	}
	if (!flush_all(c) || wl_display_roundtrip(c->display) < 0) {
		return fail(res, "final round trip");
	}
	res->seconds = bench_now() - t0;
	res->messages = job->count;
	return true;
}

static bool msg_down(struct wlc *c, const struct bench_job *job, struct bench_result *res) {
	double t0 = bench_now();
	uint64_t sent = 0;
	while (c->syncs_done < job->count) {
		while (sent < job->count && sent - c->syncs_done < BENCH_SYNC_WINDOW) {
			struct wl_callback *cb = wl_display_sync(c->display);
			wl_callback_add_listener(cb, &sync_listener, c);
			sent++;
		}
		if (!flush_all(c) || wl_display_dispatch(c->display) < 0) {
			return fail(res, "dispatch");
		}
	}
	res->seconds = bench_now() - t0;
	// Each sync brings wl_callback.done and wl_display.delete_id.
	res->messages = 2.0 * (double)job->count;
	return true;
}

static bool make_toplevel(struct wlc *c, struct bench_result *res) {
	c->xdg_surface = xdg_wm_base_get_xdg_surface(c->wm_base, c->surface);
	xdg_surface_add_listener(c->xdg_surface, &xdg_surface_listener, c);
	c->toplevel = xdg_surface_get_toplevel(c->xdg_surface);
	xdg_toplevel_add_listener(c->toplevel, &toplevel_listener, c);
	xdg_toplevel_set_title(c->toplevel, "crossway-bench");
	wl_surface_commit(c->surface);
	while (!c->configured) {
		if (wl_display_dispatch(c->display) < 0) {
			return fail(res, "waiting for configure");
		}
	}
	return true;
}

static bool frames(struct wlc *c, const struct bench_job *job, struct bench_result *res) {
	if (!make_toplevel(c, res)) {
		return false;
	}
	uint32_t stride = job->width * 4;
	size_t size = (size_t)stride * job->height;
	int fd = memfd_create("crossway-bench", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)(2 * size)) != 0) {
		if (fd >= 0) {
			close(fd);
		}
		return fail(res, "memfd");
	}
	uint8_t *map = mmap(NULL, 2 * size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		close(fd);
		return fail(res, "mmap");
	}
	struct wl_shm_pool *pool = wl_shm_create_pool(c->shm, fd, (int32_t)(2 * size));
	close(fd);
	for (int i = 0; i < 2; i++) {
		c->buffers[i] = wl_shm_pool_create_buffer(pool, (int32_t)(i * size),
							  (int32_t)job->width, (int32_t)job->height,
							  (int32_t)stride, WL_SHM_FORMAT_XRGB8888);
		wl_buffer_add_listener(c->buffers[i], &buffer_listener, &c->busy[i]);
	}
	wl_shm_pool_destroy(pool);
	// Touch every page first: page faults are not what is measured.
	bench_fill(map, stride, 2 * job->height, 0);
	bool ok = bench_wait_go(job);
	double start = bench_now();
	double deadline = job->duration_s > 0 ? start + job->duration_s : 0;
	for (uint32_t f = 0; ok; f++) {
		if (deadline > 0 ? bench_now() >= deadline : f >= job->count) {
			break;
		}
		int b = f % 2;
		while (ok && c->busy[b]) {
			b = !b;
			if (c->busy[b]) {
				ok = wl_display_dispatch(c->display) >= 0;
			}
		}
		if (!ok) {
			break;
		}
		bench_fill(map + (size_t)b * size, stride, job->height, f);
		wl_surface_attach(c->surface, c->buffers[b], 0, 0);
		wl_surface_damage_buffer(c->surface, 0, 0, (int32_t)job->width,
					 (int32_t)job->height);
		struct wl_callback *cb = wl_surface_frame(c->surface);
		wl_callback_add_listener(cb, &frame_listener, c);
		c->frame_done = false;
		c->busy[b] = true;
		wl_surface_commit(c->surface);
		double t0 = bench_now();
		ok = flush_all(c);
		while (ok && !c->frame_done) {
			ok = wl_display_dispatch(c->display) >= 0;
		}
		if (res->lat_count < BENCH_MAX_FRAME_SAMPLES) {
			res->lat_us[res->lat_count++] = (bench_now() - t0) * 1e6;
		}
		res->frames++;
	}
	res->frame_seconds = bench_now() - start;
	munmap(map, 2 * size);
	return ok || fail(res, "frame loop");
}

void bench_wl_run(const struct bench_job *job, struct bench_result *res) {
	struct wlc c = {0};
	if (!setup(&c, job, res)) {
		teardown(&c);
		return;
	}
	bool ok = false;
	switch (job->workload) {
	case BENCH_ROUNDTRIP:
		ok = roundtrips(&c, job, res);
		break;
	case BENCH_MSG_UP:
		ok = msg_up(&c, job, res);
		break;
	case BENCH_MSG_DOWN:
		ok = msg_down(&c, job, res);
		break;
	case BENCH_FRAMES:
		ok = frames(&c, job, res);
		break;
	}
	teardown(&c);
	res->ok = ok;
}
