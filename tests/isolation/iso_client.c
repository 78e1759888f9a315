/*
 * A deliberately misbehaving (or plain) Wayland client for the isolation
 * tests; it plays the guest application behind crosswayd --listen.
 *
 *   iso_client list                          prints "name interface version"
 *   iso_client bind NAME INTERFACE VERSION   binds a global by number
 *   iso_client bind-above INTERFACE          binds an advertised global one
 *                                            version above what it was shown
 *   iso_client windows N TITLE APP_ID SECS   maps N 64x64 toplevels, then
 *                                            stays connected SECS seconds
 *
 * Exit status: 0 when the connection stayed healthy, 3 when it ended with a
 * protocol error (libwayland prints the error text on stderr), 1 otherwise
 * (including a connection that was just closed).
 */
#define _GNU_SOURCE // memfd_create
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <wayland-client.h>

#include "xdg-shell-client-protocol.h"

#define MAX_GLOBALS 128
#define MAX_WINDOWS 8
#define SIZE 64

struct global {
	uint32_t name;
	char interface[64];
	uint32_t version;
};

struct window {
	struct wl_surface *surface;
	struct xdg_surface *xdg;
	struct xdg_toplevel *toplevel;
	struct wl_buffer *buffer;
	bool configured;
};

struct client {
	struct wl_display *display;
	struct wl_registry *registry;
	struct global globals[MAX_GLOBALS];
	size_t global_count;
	struct wl_compositor *compositor;
	struct wl_shm *shm;
	struct xdg_wm_base *wm_base;
	struct window windows[MAX_WINDOWS];
	struct wl_proxy *bound; // bind and bind-above: the new object
};

static void registry_global(void *data, struct wl_registry *registry, uint32_t name,
			    const char *interface, uint32_t version) {
	struct client *c = data;
	if (c->global_count < MAX_GLOBALS) {
		struct global *g = &c->globals[c->global_count++];
		g->name = name;
		snprintf(g->interface, sizeof(g->interface), "%s", interface);
		g->version = version;
	}
}

static void registry_global_remove(void *data, struct wl_registry *registry, uint32_t name) {
}

static const struct wl_registry_listener registry_listener = {
	.global = registry_global,
	.global_remove = registry_global_remove,
};

static void wm_base_ping(void *data, struct xdg_wm_base *wm_base, uint32_t serial) {
	xdg_wm_base_pong(wm_base, serial);
}

static const struct xdg_wm_base_listener wm_base_listener = {.ping = wm_base_ping};

static void xdg_surface_configure(void *data, struct xdg_surface *xdg, uint32_t serial) {
	struct window *w = data;
	xdg_surface_ack_configure(xdg, serial);
	if (!w->configured) {
		w->configured = true;
		wl_surface_attach(w->surface, w->buffer, 0, 0);
		wl_surface_damage(w->surface, 0, 0, SIZE, SIZE);
	}
	wl_surface_commit(w->surface);
}

static const struct xdg_surface_listener xdg_surface_listener = {
	.configure = xdg_surface_configure,
};

static void toplevel_configure(void *data, struct xdg_toplevel *toplevel, int32_t width,
			       int32_t height, struct wl_array *states) {
}

static void toplevel_close(void *data, struct xdg_toplevel *toplevel) {
}

static const struct xdg_toplevel_listener toplevel_listener = {
	.configure = toplevel_configure,
	.close = toplevel_close,
};

/* Exit status for the connection's state: 3 for a protocol error. */
static int finish(struct client *c) {
	int err = wl_display_get_error(c->display);
	int code = 0;
	// An error event on wl_display itself (how crosswayd and compositors
	// report a refused request) sets EINVAL, ENOMEM or EPROTO by its code.
	if (err == EPROTO || err == EINVAL || err == ENOMEM) {
		const struct wl_interface *iface;
		uint32_t id;
		uint32_t pcode = wl_display_get_protocol_error(c->display, &iface, &id);
		fprintf(stderr, "iso_client: protocol error %u on %s#%u\n", pcode,
			iface ? iface->name : "?", id);
		code = 3;
	} else if (err != 0) {
		fprintf(stderr, "iso_client: connection error: %s\n", strerror(err));
		code = 1;
	}
	for (int i = 0; i < MAX_WINDOWS; i++) {
		struct window *w = &c->windows[i];
		if (w->toplevel != NULL) {
			xdg_toplevel_destroy(w->toplevel);
			xdg_surface_destroy(w->xdg);
			wl_surface_destroy(w->surface);
		}
		if (w->buffer != NULL) {
			wl_buffer_destroy(w->buffer);
		}
	}
	if (c->wm_base != NULL) {
		xdg_wm_base_destroy(c->wm_base);
	}
	if (c->shm != NULL) {
		wl_shm_destroy(c->shm);
	}
	if (c->compositor != NULL) {
		wl_compositor_destroy(c->compositor);
	}
	if (c->bound != NULL) {
		wl_proxy_destroy(c->bound);
	}
	wl_registry_destroy(c->registry);
	wl_display_disconnect(c->display);
	return code;
}

static const struct global *find_global(const struct client *c, const char *interface) {
	for (size_t i = 0; i < c->global_count; i++) {
		if (strcmp(c->globals[i].interface, interface) == 0) {
			return &c->globals[i];
		}
	}
	return NULL;
}

/* An interface description with only a name: enough to marshal a bind. */
static struct wl_interface named_interface(const char *name, uint32_t version) {
	return (struct wl_interface){.name = name, .version = (int)version};
}

static int bind_global(struct client *c, uint32_t name, const char *interface, uint32_t version) {
	struct wl_interface iface = named_interface(interface, version);
	c->bound = wl_registry_bind(c->registry, name, &iface, version);
	wl_display_roundtrip(c->display);
	return finish(c);
}

static struct wl_buffer *make_buffer(struct client *c) {
	int stride = SIZE * 4, size = stride * SIZE;
	int fd = memfd_create("iso-client", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, size) != 0) {
		return NULL;
	}
	uint32_t *pixels = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pixels != MAP_FAILED) {
		for (int i = 0; i < SIZE * SIZE; i++) {
			pixels[i] = 0xff3060c0u;
		}
		munmap(pixels, (size_t)size);
	}
	struct wl_shm_pool *pool = wl_shm_create_pool(c->shm, fd, size);
	struct wl_buffer *buffer = wl_shm_pool_create_buffer(pool, 0, SIZE, SIZE, stride,
							     WL_SHM_FORMAT_XRGB8888);
	wl_shm_pool_destroy(pool);
	close(fd);
	return buffer;
}

static int windows(struct client *c, int count, const char *title, const char *app_id,
		   int seconds) {
	const struct global *comp = find_global(c, "wl_compositor");
	const struct global *shm = find_global(c, "wl_shm");
	const struct global *wm = find_global(c, "xdg_wm_base");
	if (comp == NULL || shm == NULL || wm == NULL) {
		fprintf(stderr, "iso_client: wl_compositor, wl_shm or xdg_wm_base missing\n");
		return 1;
	}
	c->compositor = wl_registry_bind(c->registry, comp->name, &wl_compositor_interface, 4);
	c->shm = wl_registry_bind(c->registry, shm->name, &wl_shm_interface, 1);
	c->wm_base = wl_registry_bind(c->registry, wm->name, &xdg_wm_base_interface, 1);
	xdg_wm_base_add_listener(c->wm_base, &wm_base_listener, c);
	for (int i = 0; i < count && i < MAX_WINDOWS; i++) {
		struct window *w = &c->windows[i];
		w->buffer = make_buffer(c);
		w->surface = wl_compositor_create_surface(c->compositor);
		w->xdg = xdg_wm_base_get_xdg_surface(c->wm_base, w->surface);
		xdg_surface_add_listener(w->xdg, &xdg_surface_listener, w);
		w->toplevel = xdg_surface_get_toplevel(w->xdg);
		xdg_toplevel_add_listener(w->toplevel, &toplevel_listener, w);
		xdg_toplevel_set_title(w->toplevel, title);
		xdg_toplevel_set_app_id(w->toplevel, app_id);
		wl_surface_commit(w->surface);
	}
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	printf("iso_client: windows requested\n");
	fflush(stdout);
	for (;;) {
		if (wl_display_roundtrip(c->display) < 0) {
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec >= seconds) {
			break;
		}
		struct pollfd pfd = {.fd = wl_display_get_fd(c->display), .events = POLLIN};
		poll(&pfd, 1, 100);
	}
	return finish(c);
}

int main(int argc, char *argv[]) {
	if (argc < 2) {
		fprintf(stderr, "usage: see the comment at the top of iso_client.c\n");
		return 1;
	}
	struct client c = {0};
	c.display = wl_display_connect(NULL);
	if (c.display == NULL) {
		fprintf(stderr, "iso_client: cannot connect: %s\n", strerror(errno));
		return 1;
	}
	c.registry = wl_display_get_registry(c.display);
	wl_registry_add_listener(c.registry, &registry_listener, &c);
	if (wl_display_roundtrip(c.display) < 0) {
		return finish(&c);
	}
	if (strcmp(argv[1], "list") == 0) {
		for (size_t i = 0; i < c.global_count; i++) {
			printf("%u %s %u\n", c.globals[i].name, c.globals[i].interface,
			       c.globals[i].version);
		}
		return finish(&c);
	}
	if (strcmp(argv[1], "bind") == 0 && argc == 5) {
		return bind_global(&c, (uint32_t)strtoul(argv[2], NULL, 10), argv[3],
				   (uint32_t)strtoul(argv[4], NULL, 10));
	}
	if (strcmp(argv[1], "bind-above") == 0 && argc == 3) {
		const struct global *g = find_global(&c, argv[2]);
		if (g == NULL) {
			fprintf(stderr, "iso_client: %s is not advertised\n", argv[2]);
			finish(&c);
			return 1;
		}
		printf("iso_client: binding %s (name %u) at version %u, advertised %u\n",
		       g->interface, g->name, g->version + 1, g->version);
		fflush(stdout);
		return bind_global(&c, g->name, g->interface, g->version + 1);
	}
	if (strcmp(argv[1], "windows") == 0 && argc == 6) {
		return windows(&c, atoi(argv[2]), argv[3], argv[4], atoi(argv[5]));
	}
	fprintf(stderr, "iso_client: bad arguments\n");
	finish(&c);
	return 1;
}
