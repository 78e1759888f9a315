/*
 * The ring front end end to end: a scripted backend (tests/common/sim) and a
 * guest-side Wayland client (tests/common/guest) drive a real crosswayd,
 * byte for byte like a VMM and a guest proxy, against a real weston.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/guest.h"
#include "tests/common/host.h"
#include "tests/common/sim.h"
#include "tests/common/sim_recorder.h"
#include "tests/harness/bytes.h"
#include "tests/harness/test.h"
#include "tests/recorder/recorder.h"

#define TIMEOUT 5000
#define XRGB8888 1               // wl_shm format
#define DRM_XRGB8888 0x34325258u // the same layout as a DRM fourcc (XR24)
#define FILL 0xffe02080u

struct fixture {
	struct host host;
	struct sim sim;
	struct guest g;
};

static const char *crosswayd(void) {
	return test_program("CROSSWAYD");
}

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void start_host(struct fixture *f) {
	if (!host_start(&f->host, 640, 480)) {
		test_skip("weston is not installed or did not start");
	}
}

static void spawn(struct fixture *f, const char *const *args) {
	test_assert(sim_spawn(&f->sim, crosswayd(), f->host.display, args, true));
}

static void setup(struct fixture *f, uint32_t init_size, const char *const *args) {
	memset(f, 0, sizeof(*f));
	start_host(f);
	spawn(f, args);
	test_assert_msg(sim_hello(&f->sim, "vm-ring"), "no HELLO_REPLY");
	test_assert_msg(sim_init(&f->sim, init_size, TIMEOUT), "INIT failed: %s",
			f->sim.error_text);
	guest_init(&f->g, &f->sim);
}

static int teardown(struct fixture *f) {
	sim_send_shutdown(&f->sim);
	test_assert_msg(f->sim.fault[0] == '\0', "crosswayd broke the link contract: %s",
			f->sim.fault);
	int code = sim_finish(&f->sim, TIMEOUT);
	guest_finish(&f->g);
	host_stop(&f->host);
	return code;
}

/* Another context on the same compositor completes a round trip. */
static void others_still_served(struct fixture *f) {
	test_assert_msg(host_alive(&f->host), "the compositor died");
	struct sim other;
	test_assert(sim_spawn(&other, crosswayd(), f->host.display, NULL, false));
	test_assert(sim_hello(&other, "vm-other"));
	test_assert(sim_init(&other, 20, TIMEOUT));
	struct guest g;
	guest_init(&g, &other);
	test_assert_msg(guest_registry(&g, TIMEOUT), "a healthy context stopped working");
	guest_finish(&g);
	sim_send_shutdown(&other);
	test_assert_int_eq(sim_finish(&other, TIMEOUT), 0);
}

/* Waits for the ERROR, checks its text, the exit status and the others. */
static void expect_error(struct fixture *f, const char *text) {
	test_assert_msg(sim_wait_error(&f->sim, TIMEOUT), "no ERROR (wanted \"%s\")", text);
	test_assert_str_contains(f->sim.error_text, text);
	char log[16384];
	sim_read_stderr(&f->sim, log, sizeof(log), 200);
	test_assert_str_contains(log, text);
	test_assert_int_eq(sim_finish(&f->sim, TIMEOUT), 1);
	others_still_served(f);
	guest_finish(&f->g);
	host_stop(&f->host);
}

/* ------------------------------------------------------------------ */

TEST(probe_answers_and_exits) {
	struct sim sim;
	test_assert(sim_spawn(&sim, crosswayd(), "no-such-compositor", NULL, false));
	test_assert(sim_send_hello(&sim, "vm-probe", CROSSWAY_BACKEND_HELLO_PROBE));
	test_assert(sim_handle_message(&sim, TIMEOUT) == 1);
	test_assert(sim.have_hello_reply);
	test_assert_int_eq(sim.hello_reply.version, 1);
	test_assert_int_eq(sim.hello_reply.caps.supported_channels, 1u << 1);
	test_assert_int_eq(sim.hello_reply.max_identifiers, 28);
	test_assert_int_eq(sim_finish(&sim, TIMEOUT), 0);
}

TEST(no_compositor_is_exit_3) {
	struct sim sim;
	test_assert(sim_spawn(&sim, crosswayd(), "no-such-compositor", NULL, false));
	test_assert(sim_send_hello(&sim, "vm-x", 0));
	test_assert(sim_wait_error(&sim, TIMEOUT));
	test_assert_str_contains(sim.error_text, "no compositor");
	test_assert_int_eq(sim_finish(&sim, TIMEOUT), 3);
}

static const uint32_t init_sizes[] = {16, 20, 24, 36};

TEST_P(registry_through_each_init_size, init_sizes) {
	struct fixture f;
	setup(&f, *data, NULL);
	test_assert_msg(guest_registry(&f.g, TIMEOUT), "no registry round trip");
	test_assert(guest_find_global(&f.g, "wl_compositor") != NULL);
	test_assert(guest_find_global(&f.g, "xdg_wm_base") != NULL);
	test_assert(guest_find_global(&f.g, "weston_screenshooter") == NULL);
	test_assert(guest_find_global(&f.g, "weston_desktop_shell") == NULL);
	test_assert_int_eq(teardown(&f), 0);
}

/* Lays out request arguments (words and strings). */
static size_t words(uint8_t *buf, int n, const uint32_t *w) {
	memcpy(buf, w, 4 * (size_t)n);
	return 4 * (size_t)n;
}

struct window {
	uint32_t compositor, shm, wm_base, surface, xdg_surface, toplevel, pool, buffer;
	uint32_t blob_resource;
	int blob_fd;
	uint8_t *pixels;
	size_t size;
};

/* Makes a W x H window filled with FILL, drawn from a host blob. */
static void make_window(struct fixture *f, struct window *w, uint32_t width, uint32_t height) {
	struct guest *g = &f->g;
	test_assert(guest_registry(g, TIMEOUT));
	w->compositor = guest_bind(g, "wl_compositor", 4);
	w->shm = guest_bind(g, "wl_shm", 1);
	w->wm_base = guest_bind(g, "xdg_wm_base", 1);
	test_assert(w->compositor && w->shm && w->wm_base);
	// The pool shadow a guest proxy makes: R8, pool size x 1.
	w->size = (size_t)width * height * 4;
	struct cross_domain_image_requirements req;
	test_assert(
		sim_image_requirements(&f->sim, (uint32_t)w->size, 1, 0x20203852, &req, TIMEOUT));
	test_assert(req.size >= w->size && req.size % 4096 == 0);
	struct crossway_backend_blob_reply reply;
	w->blob_fd = sim_create_blob(&f->sim, req.blob_id, req.size, &w->blob_resource, &reply,
				     TIMEOUT);
	test_assert_msg(w->blob_fd >= 0, "CREATE_BLOB failed: %s", f->sim.error_text);
	test_assert_int_eq(reply.handle_type, CROSSWAY_BACKEND_HANDLE_SHM);
	w->pixels = mmap(NULL, req.size, PROT_READ | PROT_WRITE, MAP_SHARED, w->blob_fd, 0);
	test_assert(w->pixels != MAP_FAILED);
	for (size_t i = 0; i < w->size; i += 4) {
		uint32_t px = FILL;
		memcpy(w->pixels + i, &px, 4);
	}
	uint8_t a[64];
	w->pool = guest_new_id(g);
	uint32_t pool_args[] = {w->pool, (uint32_t)w->size};
	uint32_t ids[] = {w->blob_resource}, types[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB};
	test_assert(
		guest_request(g, w->shm, 0, a, (uint32_t)words(a, 2, pool_args), ids, types, 1));
	w->buffer = guest_new_id(g);
	uint32_t buf_args[] = {w->buffer, 0, width, height, width * 4, XRGB8888};
	test_assert(
		guest_request(g, w->pool, 0, a, (uint32_t)words(a, 6, buf_args), NULL, NULL, 0));
	w->surface = guest_new_id(g);
	test_assert(guest_request(g, w->compositor, 0, &w->surface, 4, NULL, NULL, 0));
	w->xdg_surface = guest_new_id(g);
	uint32_t xs[] = {w->xdg_surface, w->surface};
	test_assert(guest_request(g, w->wm_base, 2, a, (uint32_t)words(a, 2, xs), NULL, NULL, 0));
	w->toplevel = guest_new_id(g);
	test_assert(guest_request(g, w->xdg_surface, 1, &w->toplevel, 4, NULL, NULL, 0));
	test_assert(guest_request(g, w->surface, 6 /* commit */, NULL, 0, NULL, NULL, 0));
	int i = guest_wait_event(g, w->xdg_surface, 0 /* configure */, TIMEOUT);
	test_assert_msg(i >= 0, "no xdg_surface.configure");
	uint32_t serial = guest_event_word(&g->events[i], 0);
	test_assert(
		guest_request(g, w->xdg_surface, 4 /* ack_configure */, &serial, 4, NULL, NULL, 0));
	uint32_t attach[] = {w->buffer, 0, 0};
	test_assert(
		guest_request(g, w->surface, 1, a, (uint32_t)words(a, 3, attach), NULL, NULL, 0));
	uint32_t damage[] = {0, 0, width, height};
	test_assert(
		guest_request(g, w->surface, 2, a, (uint32_t)words(a, 4, damage), NULL, NULL, 0));
	test_assert(guest_request(g, w->surface, 6, NULL, 0, NULL, NULL, 0));
	test_assert(guest_roundtrip(g, TIMEOUT));
}

static size_t count_fill(const uint8_t *rgba, int width, int height) {
	size_t n = 0;
	for (int i = 0; i < width * height; i++) {
		const uint8_t *p = rgba + 4 * i;
		// FILL is XRGB 0xe02080 -> R 0xe0, G 0x20, B 0x80.
		if (p[0] == 0xe0 && p[1] == 0x20 && p[2] == 0x80) {
			n++;
		}
	}
	return n;
}

TEST(shm_window_shows_on_weston) {
	struct fixture f;
	setup(&f, 20, NULL);
	struct window w;
	make_window(&f, &w, 200, 150);
	// weston repaints on its own clock: look again for a while.
	size_t n = 0;
	for (int tries = 0; tries < 20 && n < 200 * 150 * 9 / 10; tries++) {
		nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
		uint8_t *rgba;
		int sw, sh;
		test_assert_msg(host_screenshot(&f.host, &rgba, &sw, &sh), "no screenshot");
		n = count_fill(rgba, sw, sh);
		free(rgba);
	}
	test_assert_msg(n >= 200 * 150 * 9 / 10, "%zu of %d pixels of the window are on screen", n,
			200 * 150);
	munmap(w.pixels, w.size);
	close(w.blob_fd);
	test_assert_int_eq(teardown(&f), 0);
}

TEST(legacy_four_identifier_sends) {
	struct fixture f;
	setup(&f, 20, NULL);
	f.sim.layout = CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY;
	struct window w;
	make_window(&f, &w, 64, 64);
	munmap(w.pixels, w.size);
	close(w.blob_fd);
	test_assert_int_eq(teardown(&f), 0);
}

TEST(sixteen_byte_init_with_one_shared_ring) {
	struct fixture f;
	setup(&f, 16, NULL);
	test_assert_int_eq(f.sim.layout, 4); // legacy guests predate the 28 layout
	struct window w;
	make_window(&f, &w, 64, 64);
	munmap(w.pixels, w.size);
	close(w.blob_fd);
	test_assert_int_eq(teardown(&f), 0);
}

TEST(send_split_mid_message) {
	struct fixture f;
	setup(&f, 20, NULL);
	struct bytes b = {0};
	size_t s = wl_begin(&b, 1, 1);
	bytes_u32(&b, 2);
	wl_end(&b, s);
	s = wl_begin(&b, 1, 0);
	bytes_u32(&b, 3);
	wl_end(&b, s);
	// 5 bytes, then 9, then the rest: every cut is inside a message.
	test_assert(sim_send_wayland(&f.sim, b.data, 5, NULL, NULL, 0));
	test_assert(sim_send_wayland(&f.sim, b.data + 5, 9, NULL, NULL, 0));
	test_assert(sim_send_wayland(&f.sim, b.data + 14, (uint32_t)b.len - 14, NULL, NULL, 0));
	f.g.next_id = 4;
	test_assert(guest_wait_event(&f.g, 3, 0, TIMEOUT) >= 0);
	test_assert(guest_find_event(&f.g, 2, 0, 0) >= 0); // globals came
	test_assert_int_eq(teardown(&f), 0);
}

TEST(blob_detached_and_reattached_between_sends) {
	struct fixture f;
	setup(&f, 20, NULL);
	struct window w;
	make_window(&f, &w, 32, 32);
	// A second pool from the same blob, in a later SEND: sim_send_wayland
	// re-attaches the resource before and detaches it after, as guests do.
	uint8_t a[16];
	uint32_t pool2 = guest_new_id(&f.g);
	uint32_t args[] = {pool2, 4096};
	uint32_t ids[] = {w.blob_resource}, types[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB};
	test_assert(guest_request(&f.g, w.shm, 0, a, (uint32_t)words(a, 2, args), ids, types, 1));
	test_assert(guest_roundtrip(&f.g, TIMEOUT));
	munmap(w.pixels, w.size);
	close(w.blob_fd);
	test_assert_int_eq(teardown(&f), 0);
}

TEST(keymap_arrives_as_a_blob) {
	struct fixture f;
	setup(&f, 20, NULL);
	if (!f.host.seat) {
		teardown(&f);
		test_skip("weston has no test seat (FAKE_SEAT not built)");
	}
	test_assert(guest_registry(&f.g, TIMEOUT));
	uint32_t seat = guest_bind(&f.g, "wl_seat", 5);
	test_assert(seat != 0);
	uint32_t keyboard = guest_new_id(&f.g);
	test_assert(guest_request(&f.g, seat, 1 /* get_keyboard */, &keyboard, 4, NULL, NULL, 0));
	int i = guest_wait_event(&f.g, keyboard, 0 /* keymap */, TIMEOUT);
	test_assert_msg(i >= 0, "no keymap");
	struct guest_event *e = &f.g.events[i];
	test_assert_int_eq(e->id_count, 1);
	test_assert_int_eq(e->types[0], CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB);
	uint32_t size = guest_event_word(e, 1);
	test_assert_int_eq(e->sizes[0], size);
	// A guest with 16 KiB pages rounds the blob up to its page.
	uint64_t blob_size = (size + 16383ull) / 16384 * 16384;
	struct crossway_backend_blob_reply reply;
	int fd = sim_create_blob(&f.sim, e->ids[0], blob_size, NULL, &reply, TIMEOUT);
	test_assert_msg(fd >= 0, "CREATE_BLOB of the keymap failed: %s", f.sim.error_text);
	// weston's keymap is a memfd (or a file), not a dma-buf.
	test_assert_int_eq(reply.handle_type, CROSSWAY_BACKEND_HANDLE_SHM);
	test_assert_int_eq(reply.size, blob_size);
	char text[64] = "";
	test_assert(pread(fd, text, sizeof(text) - 1, 0) > 0);
	test_assert_str_contains(text, "xkb_keymap");
	close(fd);
	test_assert_int_eq(teardown(&f), 0);
}

/* ------------------------------------------------------------------ */
/* Bad input: each ends its context with an exact ERROR.              */

struct bad_case {
	const char *name;
	void (*run)(struct fixture *f);
	const char *error;
	// A request the compositor must never receive from this context
	// (NULL: the case breaks the link or the ring, not a message).
	const char *never;
};

static void submit(struct fixture *f, const void *cmds, uint32_t len) {
	test_assert(sim_send_submit(&f->sim, cmds, len));
}

static void bad_unknown_command(struct fixture *f) {
	uint8_t cmd[8] = {14, 0, 8, 0, 0, 0, 0, 0};
	submit(f, cmd, sizeof(cmd));
}

static void bad_truncated_command(struct fixture *f) {
	uint8_t cmd[5] = {3, 0, 16, 0, 0};
	submit(f, cmd, sizeof(cmd));
}

static void bad_unknown_resource(struct fixture *f) {
	uint8_t cmd[512];
	uint32_t ids[] = {999}, types[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB}, sizes[] = {0};
	size_t n = cross_domain_encode_send(cmd, sizeof(cmd), 28, 1, ids, types, sizes, NULL, 0);
	submit(f, cmd, (uint32_t)n);
}

static void bad_detached_resource(struct fixture *f) {
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&f->sim, 4096, 1, 0x20203852, &req, TIMEOUT));
	uint32_t resource;
	int fd = sim_create_blob(&f->sim, req.blob_id, req.size, &resource, NULL, TIMEOUT);
	test_assert(fd >= 0);
	close(fd);
	// sim_create_blob left it detached, as a guest does; SEND it raw.
	uint8_t cmd[512];
	uint32_t ids[] = {resource}, types[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB}, sizes[] = {0};
	size_t n = cross_domain_encode_send(cmd, sizeof(cmd), 28, 1, ids, types, sizes, NULL, 0);
	submit(f, cmd, (uint32_t)n);
}

static void bad_read_pipe_id(struct fixture *f) {
	uint8_t cmd[512];
	uint32_t ids[] = {0x80000005u}, types[] = {CROSS_DOMAIN_ID_TYPE_READ_PIPE}, sizes[] = {0};
	size_t n = cross_domain_encode_send(cmd, sizeof(cmd), 28, 1, ids, types, sizes, NULL, 0);
	submit(f, cmd, (uint32_t)n);
}

static void bad_too_many_identifiers(struct fixture *f) {
	uint8_t cmd[512];
	size_t n = cross_domain_encode_send(cmd, sizeof(cmd), 28, 0, NULL, NULL, NULL, NULL, 0);
	uint32_t count = 29;
	memcpy(cmd + 8, &count, 4);
	submit(f, cmd, (uint32_t)n);
}

static void send_bytes(struct fixture *f, const struct bytes *b) {
	test_assert(sim_send_wayland(&f->sim, b->data, (uint32_t)b->len, NULL, NULL, 0));
}

static void bad_message_size(struct fixture *f) {
	struct bytes b = {0};
	bytes_u32(&b, 1);
	bytes_u32(&b, 6u << 16);
	send_bytes(f, &b);
}

static void bad_opcode(struct fixture *f) {
	struct bytes b = {0};
	size_t s = wl_begin(&b, 1, 7);
	wl_end(&b, s);
	send_bytes(f, &b);
}

static void bad_unterminated_string(struct fixture *f) {
	test_assert(guest_registry(&f->g, TIMEOUT));
	const struct guest_global *gl = guest_find_global(&f->g, "wl_compositor");
	struct bytes b = {0};
	size_t s = wl_begin(&b, f->g.registry, 0);
	bytes_u32(&b, gl->name);
	bytes_u32(&b, 4);
	bytes_raw(&b, "wl_c", 4); // no NUL where the length says
	bytes_u32(&b, 1);
	bytes_u32(&b, 20);
	wl_end(&b, s);
	send_bytes(f, &b);
}

static void bad_reused_new_id(struct fixture *f) {
	test_assert(guest_registry(&f->g, TIMEOUT)); // registry is object 2
	struct bytes b = {0};
	size_t s = wl_begin(&b, 1, 1);
	bytes_u32(&b, 2);
	wl_end(&b, s);
	send_bytes(f, &b);
}

static void bad_wrong_interface(struct fixture *f) {
	test_assert(guest_registry(&f->g, TIMEOUT));
	uint32_t comp = guest_bind(&f->g, "wl_compositor", 4);
	uint32_t surface = guest_new_id(&f->g);
	test_assert(guest_request(&f->g, comp, 0, &surface, 4, NULL, NULL, 0));
	struct bytes b = {0};
	size_t s = wl_begin(&b, surface, 1 /* attach */);
	bytes_u32(&b, f->g.registry); // a wl_registry, not a wl_buffer
	bytes_u32(&b, 0);
	bytes_u32(&b, 0);
	wl_end(&b, s);
	send_bytes(f, &b);
}

static void bad_missing_fd(struct fixture *f) {
	test_assert(guest_registry(&f->g, TIMEOUT));
	uint32_t shm = guest_bind(&f->g, "wl_shm", 1);
	uint32_t args[] = {guest_new_id(&f->g), 4096};
	test_assert(guest_request(&f->g, shm, 0, args, 8, NULL, NULL, 0));
}

static void bad_blob_size(struct fixture *f) {
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&f->sim, 4096, 1, 0x20203852, &req, TIMEOUT));
	sim_send_create_blob(&f->sim, f->sim.next_resource++, req.blob_id, 2 * req.size);
}

static void bad_ring_too_small(struct fixture *f) {
	// A context whose channel ring cannot hold one record header.
	struct sim *sim = &f->sim;
	uint32_t q = sim->next_resource++, c = sim->next_resource++;
	sim_send_attach(sim, q, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 4096, -1);
	sim_send_attach(sim, c, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 300, -1);
	uint8_t cmd[32];
	size_t n = cross_domain_encode_init(cmd, sizeof(cmd), 20, q, c, 1);
	submit(f, cmd, (uint32_t)n);
}

static void send_create_blob(struct fixture *f, uint32_t resource, uint32_t flags, uint64_t blob_id,
			     uint64_t size) {
	uint8_t pkt[sizeof(struct crossway_backend_create_blob)];
	size_t n = backend_link_encode_create_blob(pkt, sizeof(pkt), ++f->sim.serial, resource,
						   CROSSWAY_BACKEND_BLOB_MEM_HOST3D, flags, blob_id,
						   size);
	test_assert(sim_send_raw(&f->sim, pkt, n, -1));
}

static void bad_blob_resource_zero(struct fixture *f) {
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&f->sim, 4096, 1, 0x20203852, &req, TIMEOUT));
	send_create_blob(f, 0, 3, req.blob_id, req.size);
}

static void bad_blob_flags(struct fixture *f) {
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&f->sim, 4096, 1, 0x20203852, &req, TIMEOUT));
	send_create_blob(f, f->sim.next_resource++, 3 | 8, req.blob_id, req.size);
}

static void bad_blob_not_a_page_rounding(struct fixture *f) {
	// 20480 bytes: 24576 is no 4, 16 or 64 KiB rounding of it.
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&f->sim, 20000, 1, 0x20203852, &req, TIMEOUT));
	test_assert_int_eq(req.size, 20480);
	send_create_blob(f, f->sim.next_resource++, 3, req.blob_id, 24576);
}

static void send_attach(struct fixture *f, uint32_t resource, uint32_t kind, uint64_t size,
			uint32_t blob_mem, uint32_t handle_type, uint32_t map_info) {
	uint8_t pkt[sizeof(struct crossway_backend_attach)];
	size_t n = backend_link_encode_attach(pkt, sizeof(pkt), ++f->sim.serial, resource, kind,
					      size, blob_mem, handle_type, map_info);
	test_assert(sim_send_raw(&f->sim, pkt, n, -1));
}

static void bad_attach_resource_zero(struct fixture *f) {
	send_attach(f, 0, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 4096, 1, 0, 0);
}

static void bad_attach_handle_type(struct fixture *f) {
	send_attach(f, 77, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 4096, 1,
		    CROSSWAY_BACKEND_HANDLE_SHM, 0);
}

static void bad_attach_map_info(struct fixture *f) {
	send_attach(f, 77, CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, 0, 2, 0, 0x41);
}

static void bad_attach_blob_size(struct fixture *f) {
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&f->sim, 4096, 1, 0x20203852, &req, TIMEOUT));
	uint32_t resource;
	int fd = sim_create_blob(&f->sim, req.blob_id, req.size, &resource, NULL, TIMEOUT);
	test_assert(fd >= 0);
	close(fd);
	send_attach(f, resource, CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, 2 * req.size, 2, 0, 0);
}

static void bad_submit_after_release(struct fixture *f) {
	test_assert(sim_send_detach(&f->sim, f->sim.channel.resource_id));
	uint8_t cmd[CROSS_DOMAIN_POLL_SIZE];
	size_t n = cross_domain_encode_poll(cmd, sizeof(cmd));
	submit(f, cmd, (uint32_t)n);
}

static const struct bad_case bad_cases[] = {
	{"unknown command", bad_unknown_command, "unknown command 14"},
	{"truncated command", bad_truncated_command, "truncated command: 5 bytes left"},
	{"unknown resource", bad_unknown_resource, "identifier 0: unknown resource 999"},
	{"detached resource", bad_detached_resource, "is not attached"},
	{"wrong read pipe id", bad_read_pipe_id,
	 "read pipe id 0x80000005 is not the next one (0x80000001)"},
	{"too many identifiers", bad_too_many_identifiers, "SEND: 29 identifiers > max 28"},
	{"message size", bad_message_size, "message to object 1 (opcode 0): size 6 < 8",
	 "wl_display.sync"},
	{"unknown opcode", bad_opcode, "wl_display#1: unknown request opcode 7", NULL},
	{"unterminated string", bad_unterminated_string,
	 "wl_registry#2.bind(opcode 0): argument 'interface': string is not NUL-terminated",
	 "wl_registry.bind"},
	{"reused new id", bad_reused_new_id,
	 "wl_display#1.get_registry(opcode 1): new id 2 is already in use", NULL},
	{"wrong interface", bad_wrong_interface,
	 "argument 'buffer': object 2 is a wl_registry, not a wl_buffer", "wl_surface.attach"},
	{"missing fd", bad_missing_fd, "wl_shm#4.create_pool(opcode 0): needs 1 fds, 0 were sent",
	 "wl_shm.create_pool"},
	{"blob size", bad_blob_size, "CREATE_BLOB: size 8192 does not match blob"},
	{"blob size not a page rounding", bad_blob_not_a_page_rounding,
	 "CREATE_BLOB: size 24576 does not match blob"},
	{"blob resource 0", bad_blob_resource_zero, "CREATE_BLOB: resource id 0 is not valid"},
	{"blob flags", bad_blob_flags, "CREATE_BLOB: unknown blob_flags 0xb"},
	{"attach resource 0", bad_attach_resource_zero, "ATTACH: resource id 0 is not valid"},
	{"attach handle type", bad_attach_handle_type,
	 "ATTACH: resource 77: handle_type 2 with kind 1 (only kind 2 has one)"},
	{"attach map_info", bad_attach_map_info, "ATTACH: resource 77: bad map_info 0x41"},
	{"attach blob size", bad_attach_blob_size, "bytes, not 8192"},
	{"submit after release", bad_submit_after_release,
	 "SUBMIT: the guest released its rings already"},
};

TEST_P(bad_input_ends_the_context, bad_cases) {
	struct fixture f;
	setup(&f, 20, NULL);
	data->run(&f);
	expect_error(&f, data->error);
}

/* The same bad input against the recording compositor: what the bad
 * context sent before is there, the bad message never is, and a second
 * context on the same compositor still works. */
TEST_P(bad_input_never_reaches_the_compositor, bad_cases) {
	struct recorder *rec = recorder_create(NULL);
	test_assert(rec != NULL);
	struct fixture f;
	memset(&f, 0, sizeof(f));
	test_assert(sim_spawn(&f.sim, crosswayd(), recorder_socket_path(rec), NULL, true));
	sim_attach_recorder(&f.sim, rec);
	test_assert_msg(sim_hello(&f.sim, "vm-rec"), "no HELLO_REPLY");
	test_assert(sim_init(&f.sim, 20, TIMEOUT));
	guest_init(&f.g, &f.sim);
	data->run(&f);
	test_assert_msg(sim_wait_error(&f.sim, TIMEOUT), "no ERROR (wanted \"%s\")", data->error);
	test_assert_str_contains(f.sim.error_text, data->error);
	test_assert_int_eq(sim_finish(&f.sim, TIMEOUT), 1);
	guest_finish(&f.g);
	for (int i = 0; i < 20; i++) {
		recorder_dispatch(rec, 10);
	}
	if (data->never != NULL) {
		for (size_t i = 0; i < recorder_record_count(rec); i++) {
			const struct recorder_record *r = recorder_record_get(rec, i);
			if (r->direction != RECORDER_DIRECTION_REQUEST ||
			    strcmp(r->name, data->never)) {
				continue;
			}
			// The good requests of the same name that the case sent first
			// are fine; the bad one would be the last request.
			bool last = true;
			for (size_t j = i + 1; j < recorder_record_count(rec); j++) {
				const struct recorder_record *later = recorder_record_get(rec, j);
				last = last && (later->direction != RECORDER_DIRECTION_REQUEST ||
						later->client != r->client);
			}
			test_assert_msg(!last, "the compositor received the bad %s: %s",
					data->never, r->text);
		}
	}
	// Another context on the same compositor.
	struct sim other;
	test_assert(sim_spawn(&other, crosswayd(), recorder_socket_path(rec), NULL, false));
	sim_attach_recorder(&other, rec);
	test_assert(sim_hello(&other, "vm-other"));
	test_assert(sim_init(&other, 20, TIMEOUT));
	struct guest g;
	guest_init(&g, &other);
	test_assert_msg(guest_registry(&g, TIMEOUT), "a healthy context stopped working");
	guest_finish(&g);
	sim_send_shutdown(&other);
	test_assert_int_eq(sim_finish(&other, TIMEOUT), 0);
	recorder_destroy(rec);
}

TEST(ring_too_small_for_a_record) {
	struct fixture f;
	memset(&f, 0, sizeof(f));
	start_host(&f);
	spawn(&f, NULL);
	test_assert(sim_hello(&f.sim, "vm-ring"));
	guest_init(&f.g, &f.sim);
	bad_ring_too_small(&f);
	expect_error(&f, "INIT: channel ring resource 2 has 300 bytes, needs 416");
}

TEST(records_fit_a_small_ring) {
	// A 512-byte channel ring: every RING_WRITE must fit it (sim checks).
	struct fixture f;
	memset(&f, 0, sizeof(f));
	start_host(&f);
	spawn(&f, NULL);
	test_assert(sim_hello(&f.sim, "vm-ring"));
	struct sim *sim = &f.sim;
	sim->query.resource_id = sim->next_resource++;
	sim->query.size = SIM_RING_SIZE;
	sim->channel.resource_id = sim->next_resource++;
	sim->channel.size = 512;
	sim_send_attach(sim, sim->query.resource_id, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 4096,
			-1);
	sim_send_attach(sim, sim->channel.resource_id, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 512,
			-1);
	uint8_t cmd[32];
	size_t n = cross_domain_encode_init(cmd, sizeof(cmd), 20, sim->query.resource_id,
					    sim->channel.resource_id, 1);
	submit(&f, cmd, (uint32_t)n);
	guest_init(&f.g, sim);
	test_assert_msg(guest_registry(&f.g, TIMEOUT), "no registry through a small ring");
	test_assert(f.g.global_count > 5);
	test_assert_int_eq(teardown(&f), 0);
}

/* ------------------------------------------------------------------ */

/* The context process: spawned crosswayd forks into its PID namespace, so
 * the worker is its child (or itself, when not sandboxed). */
static pid_t context_pid(pid_t pid) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid, (int)pid);
	FILE *f = fopen(path, "r");
	int child = 0;
	if (f != NULL) {
		if (fscanf(f, "%d", &child) != 1) {
			child = 0;
		}
		fclose(f);
	}
	return child > 0 ? (pid_t)child : pid;
}

static int context_fd_count(pid_t pid) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)context_pid(pid));
	DIR *d = opendir(path);
	if (d == NULL) {
		return -1;
	}
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		n += e->d_name[0] != '.';
	}
	closedir(d);
	return n;
}

TEST(thousand_buffers_leave_no_fds) {
	test_set_timeout(120);
	struct fixture f;
	setup(&f, 20, NULL);
	test_assert(guest_registry(&f.g, TIMEOUT));
	uint32_t shm = guest_bind(&f.g, "wl_shm", 1);
	test_assert(guest_roundtrip(&f.g, TIMEOUT));
	int before = context_fd_count(f.sim.pid);
	test_assert(before > 0);
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&f.sim, 65536, 1, 0x20203852, &req, TIMEOUT));
	for (int i = 0; i < 1000; i++) {
		uint32_t resource;
		int fd = sim_create_blob(&f.sim, req.blob_id, req.size, &resource, NULL, TIMEOUT);
		test_assert_msg(fd >= 0, "buffer %d: %s", i, f.sim.error_text);
		close(fd);
		uint8_t a[32];
		uint32_t pool = guest_new_id(&f.g);
		uint32_t pa[] = {pool, 65536};
		uint32_t ids[] = {resource}, types[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB};
		test_assert(
			guest_request(&f.g, shm, 0, a, (uint32_t)words(a, 2, pa), ids, types, 1));
		uint32_t buffer = guest_new_id(&f.g);
		uint32_t ba[] = {buffer, 0, 64, 64, 256, XRGB8888};
		test_assert(
			guest_request(&f.g, pool, 0, a, (uint32_t)words(a, 6, ba), NULL, NULL, 0));
		test_assert(guest_request(&f.g, buffer, 0 /* destroy */, NULL, 0, NULL, NULL, 0));
		test_assert(guest_request(&f.g, pool, 1 /* destroy */, NULL, 0, NULL, NULL, 0));
		test_assert(sim_send_unref(&f.sim, resource));
		if (i % 100 == 99) {
			test_assert(guest_roundtrip(&f.g, TIMEOUT));
			guest_finish(&f.g); // drop the events seen so far
		}
	}
	test_assert(guest_roundtrip(&f.g, TIMEOUT));
	int after = context_fd_count(f.sim.pid);
	test_assert_msg(after == before, "crosswayd had %d fds before, %d after 1000 buffers",
			before, after);
	test_assert_int_eq(teardown(&f), 0);
}

/* A window dragged through 5000 sizes: every shape gets its own answer, the
 * same question gets the same blob id back, and the first answer still
 * allocates at the end (guests cache answers and reuse them for as long as
 * they run; with answers kept as items, the 4097th shape ended the context). */
TEST(window_resized_through_5000_sizes) {
	test_set_timeout(120);
	struct fixture f;
	setup(&f, 20, NULL);
	struct cross_domain_image_requirements first, req;
	test_assert(sim_image_requirements(&f.sim, 640, 480, DRM_XRGB8888, &first, TIMEOUT));
	for (uint32_t i = 1; i < 5000; i++) {
		uint32_t w = 640 + i % 1000, h = 480 + i / 1000;
		test_assert_msg(sim_image_requirements(&f.sim, w, h, DRM_XRGB8888, &req, TIMEOUT),
				"shape %u (%ux%u): %s", i, w, h, f.sim.error_text);
		test_assert_msg(req.blob_id != first.blob_id, "shape %u shares the first id", i);
		test_assert(req.strides[0] >= w * 4 && req.size >= (uint64_t)req.strides[0] * h);
	}
	// Asked again: the same answer under the same id.
	test_assert(sim_image_requirements(&f.sim, 640, 480, DRM_XRGB8888, &req, TIMEOUT));
	test_assert_int_eq(req.blob_id, first.blob_id);
	test_assert_int_eq(req.size, first.size);
	test_assert_int_eq(req.strides[0], first.strides[0]);
	uint32_t resource;
	struct crossway_backend_blob_reply reply;
	int fd = sim_create_blob(&f.sim, first.blob_id, first.size, &resource, &reply, TIMEOUT);
	test_assert_msg(fd >= 0, "the first answer no longer allocates: %s", f.sim.error_text);
	test_assert_int_eq(reply.width, 640);
	test_assert_int_eq(reply.height, 480);
	close(fd);
	test_assert(sim_send_unref(&f.sim, resource));
	test_assert_int_eq(teardown(&f), 0);
}

/* ------------------------------------------------------------------ */
/* The end of a context                                               */

/* A poll the guest leaves pending: SUBMIT POLL + a channel fence. */
static uint64_t start_poll(struct fixture *f) {
	uint8_t cmd[CROSS_DOMAIN_POLL_SIZE];
	size_t n = cross_domain_encode_poll(cmd, sizeof(cmd));
	submit(f, cmd, (uint32_t)n);
	return sim_send_fence(&f->sim, CROSSWAY_BACKEND_RING_CHANNEL);
}

static bool fence_is_done(const struct sim *sim, uint64_t id) {
	for (uint32_t i = 0; i < sim->done_count; i++) {
		if (sim->done_fences[i] == id) {
			return true;
		}
	}
	return false;
}

/* The channel ring holds an empty RECEIVE: the guests' end-of-file. */
static void assert_eof_record(struct fixture *f) {
	struct cross_domain_record rec;
	struct wire_error err;
	test_assert_msg(cross_domain_decode_record(f->sim.channel.mem, f->sim.channel.size,
						   f->sim.layout, &rec, &err),
			"bad record: %s", err.text);
	test_assert_int_eq(rec.cmd, CROSS_DOMAIN_CMD_RECEIVE);
	test_assert_int_eq(rec.data_size, 0);
	test_assert_int_eq(rec.num_identifiers, 0);
}

static bool link_closed(struct sim *sim, void *data) {
	(void)data;
	return sim->closed;
}

TEST(pending_poll_gets_an_eof_record_at_shutdown) {
	struct fixture f;
	setup(&f, 20, NULL);
	test_assert(guest_registry(&f.g, TIMEOUT));
	uint64_t writes = f.sim.ring_writes;
	memset(f.sim.channel.mem, 0xff, sizeof(f.sim.channel.mem));
	uint64_t poll = start_poll(&f);
	test_assert(sim_send_shutdown(&f.sim));
	test_assert(sim_wait(&f.sim, link_closed, NULL, TIMEOUT));
	test_assert_msg(fence_is_done(&f.sim, poll), "the pending poll was never completed");
	test_assert_int_eq(f.sim.ring_writes, writes + 1);
	assert_eof_record(&f);
	test_assert(!f.sim.have_error);
	test_assert_int_eq(teardown(&f), 0);
}

static bool fence_or_error(struct sim *sim, void *data) {
	return fence_is_done(sim, *(uint64_t *)data) || sim->have_error || sim->closed;
}

TEST(pending_poll_gets_an_eof_record_before_error) {
	struct fixture f;
	setup(&f, 20, NULL);
	test_assert(guest_registry(&f.g, TIMEOUT));
	memset(f.sim.channel.mem, 0xff, sizeof(f.sim.channel.mem));
	uint64_t poll = start_poll(&f);
	bad_unknown_command(&f);
	test_assert(sim_wait(&f.sim, fence_or_error, &poll, TIMEOUT));
	// The fence comes first, after its record; the ERROR after both.
	test_assert_msg(fence_is_done(&f.sim, poll), "ERROR came before the poll's FENCE_DONE");
	test_assert(!f.sim.have_error);
	assert_eof_record(&f);
	expect_error(&f, "unknown command 14");
}

struct release_case {
	const char *name;
	bool detach_first; // DETACH before UNREF, as a guest closing its DRM file
	bool query_first;  // the query ring goes first (the channel ring is still attached)
};

static const struct release_case release_cases[] = {
	{"detach channel, then unref", true, false},
	{"unref only", false, false},
	{"detach query first", true, true},
};

TEST_P(releasing_a_ring_ends_the_context_cleanly, release_cases) {
	struct fixture f;
	setup(&f, 20, NULL);
	struct window w;
	make_window(&f, &w, 32, 32);
	munmap(w.pixels, w.size);
	close(w.blob_fd);
	memset(f.sim.channel.mem, 0xff, sizeof(f.sim.channel.mem));
	uint64_t writes = f.sim.ring_writes;
	uint64_t poll = start_poll(&f);
	uint32_t first = data->query_first ? f.sim.query.resource_id : f.sim.channel.resource_id;
	uint32_t second = data->query_first ? f.sim.channel.resource_id : f.sim.query.resource_id;
	// What the guest kernel sends when the proxy closes its DRM file.
	if (data->detach_first) {
		test_assert(sim_send_detach(&f.sim, first));
		test_assert(sim_send_detach(&f.sim, second));
		test_assert(sim_send_detach(&f.sim, w.blob_resource));
	}
	test_assert(sim_send_unref(&f.sim, first));
	test_assert(sim_send_unref(&f.sim, second));
	test_assert(sim_send_unref(&f.sim, w.blob_resource));
	test_assert_msg(sim_wait_fence(&f.sim, poll, TIMEOUT), "the pending poll never completed");
	if (data->query_first) {
		// The channel ring was still attached: the poll got its EOF record.
		test_assert_int_eq(f.sim.ring_writes, writes + 1);
		assert_eof_record(&f);
	} else {
		test_assert_int_eq(f.sim.ring_writes, writes);
	}
	// A poll after the end completes at once, without a record.
	uint64_t late = sim_send_fence(&f.sim, CROSSWAY_BACKEND_RING_CHANNEL);
	test_assert(sim_wait_fence(&f.sim, late, TIMEOUT));
	test_assert_int_eq(f.sim.ring_writes, data->query_first ? writes + 1 : writes);
	test_assert_msg(!f.sim.have_error, "ERROR: %s", f.sim.error_text);
	test_assert(!f.sim.closed); // the link waits for SHUTDOWN
	char log[16384];
	sim_read_stderr(&f.sim, log, sizeof(log), 200);
	test_assert_str_contains(log, "the guest left, ending the context");
	test_assert_int_eq(teardown(&f), 0);
	test_assert(!f.sim.have_error);
}

TEST(blobs_rounded_to_larger_guest_pages) {
	struct fixture f;
	setup(&f, 20, NULL);
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&f.sim, 20000, 1, 0x20203852, &req, TIMEOUT));
	test_assert_int_eq(req.size, 20480);
	static const uint64_t sizes[] = {20480, 32768, 65536};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct crossway_backend_blob_reply reply;
		int fd = sim_create_blob(&f.sim, req.blob_id, sizes[i], NULL, &reply, TIMEOUT);
		test_assert_msg(fd >= 0, "CREATE_BLOB of %" PRIu64 " bytes: %s", sizes[i],
				f.sim.error_text);
		test_assert_int_eq(reply.size, sizes[i]);
		// The whole blob is backed: the guest maps all of it.
		off_t end = lseek(fd, 0, SEEK_END);
		test_assert_int_eq(end, (long long)sizes[i]);
		close(fd);
	}
	test_assert_int_eq(teardown(&f), 0);
}

TEST(ctx_name_is_logged_sanitised) {
	struct fixture f;
	memset(&f, 0, sizeof(f));
	start_host(&f);
	spawn(&f, NULL);
	test_assert(sim_hello_named(&f.sim, "vm-ring", "evil\n\x1b[31mfake line\x7f\xc3\xa9\\"));
	char log[16384];
	sim_read_stderr(&f.sim, log, sizeof(log), 500);
	test_assert_str_contains(log, "(evil\\x0a\\x1b[31mfake line\\x7f\\xc3\\xa9\\x5c) of VM");
	test_assert_msg(strchr(log, '\x1b') == NULL, "a raw escape reached the log");
	test_assert_msg(strstr(log, "evil\n") == NULL, "a raw newline reached the log");
	guest_init(&f.g, &f.sim);
	test_assert_int_eq(teardown(&f), 0);
}

/* ------------------------------------------------------------------ */
/* The gbm allocator: only where a render node exists.                */

static bool find_render_node(char *path, size_t cap) {
	DIR *dir = opendir("/dev/dri");
	if (dir == NULL) {
		return false;
	}
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, "renderD", 7) == 0) {
			snprintf(path, cap, "/dev/dri/%s", e->d_name);
			found = access(path, R_OK | W_OK) == 0;
		}
	}
	closedir(dir);
	return found;
}

TEST(gbm_images_are_dmabufs_on_a_render_node) {
	char node[300];
	if (!find_render_node(node, sizeof(node))) {
		test_skip("no usable /dev/dri/renderD* on this machine: the gbm allocator is "
			  "not exercised here, the memfd allocator carries every other test");
	}
	struct fixture f;
	memset(&f, 0, sizeof(f));
	start_host(&f);
	const char *args[] = {"--render-node", node, NULL};
	spawn(&f, args);
	test_assert_msg(sim_hello(&f.sim, "vm-gbm"), "no HELLO_REPLY");
	if (!f.sim.hello_reply.caps.supports_dmabuf) {
		char log[4096];
		sim_read_stderr(&f.sim, log, sizeof(log), 200);
		test_skip("%s exists but gbm cannot allocate on it (no driver?): %s", node, log);
	}
	test_assert(sim_init(&f.sim, 20, TIMEOUT));
	guest_init(&f.g, &f.sim);
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&f.sim, 256, 256, 0x34325258 /* XR24 */, &req, TIMEOUT));
	test_assert_msg(req.strides[0] >= 256 * 4, "stride %u for 256 pixels", req.strides[0]);
	test_assert_msg(req.size % 4096 == 0, "size %" PRIu64 " is not page aligned", req.size);
	struct crossway_backend_blob_reply reply;
	int fd = sim_create_blob(&f.sim, req.blob_id, req.size, NULL, &reply, TIMEOUT);
	test_assert_msg(fd >= 0, "CREATE_BLOB: %s", f.sim.error_text);
	test_assert_int_eq(reply.handle_type, CROSSWAY_BACKEND_HANDLE_DMABUF);
	test_assert_int_eq(reply.strides[0], req.strides[0]);
	test_assert_int_eq(reply.modifier, req.modifier);
	test_assert_msg(lseek(fd, 0, SEEK_END) >= (off_t)req.size,
			"the dmabuf is smaller than %" PRIu64, req.size);
	close(fd);
	test_assert_int_eq(teardown(&f), 0);
}

/* ------------------------------------------------------------------ */
/* Clipboard over the ring, against the recording compositor.         */

#define CLIP_MIME "application/octet-stream"
#define CLIP_TEXT_MIME "text/plain;charset=utf-8"
#define CLIP_TEXT_CAP 64000u     // the default clipboard-text-bytes
#define CLIP_SIZE (256u * 1024u) // many ring records and pipe buffers

struct clip {
	struct recorder *rec;
	struct fixture f;
	uint32_t device, ddm, seat;
	uint8_t *payload;
};

static void clip_setup(struct clip *c, const char *clipboard_mode) {
	memset(c, 0, sizeof(*c));
	struct recorder_options opts = {.seat = true, .data_device = true};
	c->rec = recorder_create(&opts);
	test_assert(c->rec != NULL);
	char conf[512];
	snprintf(conf, sizeof(conf), "%s/clip.conf", getenv("XDG_RUNTIME_DIR"));
	FILE *cf = fopen(conf, "w");
	test_assert(cf != NULL);
	fprintf(cf, "[default]\nclipboard = %s\n", clipboard_mode);
	fclose(cf);
	const char *args[] = {"--config", conf, NULL};
	test_assert(sim_spawn(&c->f.sim, crosswayd(), recorder_socket_path(c->rec), args, true));
	sim_attach_recorder(&c->f.sim, c->rec);
	test_assert(sim_hello(&c->f.sim, "vm-clip"));
	test_assert(sim_init(&c->f.sim, 20, TIMEOUT));
	guest_init(&c->f.g, &c->f.sim);
	struct guest *g = &c->f.g;
	test_assert(guest_registry(g, TIMEOUT));
	uint32_t seat = guest_bind(g, "wl_seat", 5);
	c->seat = seat;
	c->ddm = guest_bind(g, "wl_data_device_manager", 3);
	test_assert(seat != 0 && c->ddm != 0);
	c->device = guest_new_id(g);
	uint32_t args2[] = {c->device, seat};
	test_assert(guest_request(g, c->ddm, 1 /* get_data_device */, args2, 8, NULL, NULL, 0));
	test_assert(guest_roundtrip(g, TIMEOUT));
	c->payload = malloc(CLIP_SIZE);
	test_assert(c->payload != NULL);
	for (uint32_t i = 0; i < CLIP_SIZE; i++) {
		c->payload[i] = (uint8_t)(i * 7 + (i >> 8) * 13);
	}
}

/* Frees what clip_setup made; crosswayd must have been finished. */
static void clip_free(struct clip *c) {
	guest_finish(&c->f.g);
	recorder_destroy(c->rec);
	free(c->payload);
}

static void clip_teardown(struct clip *c) {
	sim_send_shutdown(&c->f.sim);
	test_assert_int_eq(sim_finish(&c->f.sim, TIMEOUT), 0);
	clip_free(c);
}

/* The host offers @size bytes as @mime; the guest asks for them with
 * wl_data_offer.receive and a read pipe, whose identifier is returned. */
static uint32_t ask_host_selection(struct clip *c, const char *mime, uint32_t size) {
	struct guest *g = &c->f.g;
	test_assert(recorder_offer_selection(c->rec, mime, c->payload, size));
	int sel = guest_wait_event(g, c->device, 5 /* selection */, TIMEOUT);
	test_assert_msg(sel >= 0, "no wl_data_device.selection reached the guest");
	uint32_t offer = guest_event_word(&g->events[sel], 0);
	test_assert_msg(offer != 0, "the selection is empty");
	// wl_data_offer.receive(mime, fd): the fd is a guest read pipe.
	struct bytes b = {0};
	bytes_string(&b, mime);
	uint32_t ids[] = {sim_next_read_pipe(&c->f.sim)};
	uint32_t types[] = {CROSS_DOMAIN_ID_TYPE_READ_PIPE};
	test_assert(
		guest_request(g, offer, 1 /* receive */, b.data, (uint32_t)b.len, ids, types, 1));
	return ids[0];
}

/* Offers CLIP_SIZE bytes as @mime on the host and reads them in the guest;
 * returns how many arrived before the hang-up (all checked against the
 * payload). */
static uint32_t paste_into_guest(struct clip *c, const char *mime) {
	struct guest *g = &c->f.g;
	uint32_t pipe_id = ask_host_selection(c, mime, CLIP_SIZE);
	for (int i = 0; i < 2000 && !g->read_hang_up; i++) {
		test_assert(guest_poll(g, TIMEOUT));
	}
	test_assert_msg(g->read_hang_up, "no hang-up after %u bytes", g->read_len);
	test_assert_int_eq(g->read_id, pipe_id);
	test_assert_msg(memcmp(g->read_data, c->payload, g->read_len) == 0,
			"the guest read other bytes than the host offered");
	test_note("%u bytes host -> guest as %s in %llu READ records", g->read_len, mime,
		  (unsigned long long)g->reads);
	return g->read_len;
}

TEST(clipboard_host_to_guest_over_the_ring) {
	struct clip c;
	clip_setup(&c, "both");
	test_assert_int_eq(paste_into_guest(&c, CLIP_MIME), CLIP_SIZE);
	clip_teardown(&c);
}

TEST(clipboard_text_to_the_guest_stops_at_its_cap) {
	struct clip c;
	clip_setup(&c, "both");
	test_assert_int_eq(paste_into_guest(&c, CLIP_TEXT_MIME), CLIP_TEXT_CAP);
	clip_teardown(&c);
}

static bool client_selection_offers(struct recorder *rec, const char *mime) {
	const char *const *mimes = recorder_client_selection(rec);
	for (size_t i = 0; mimes != NULL && mimes[i] != NULL; i++) {
		if (strcmp(mimes[i], mime) == 0) {
			return true;
		}
	}
	return false;
}

/* The guest sets a selection offering CLIP_MIME; returns its data source. */
static uint32_t set_guest_selection(struct clip *c) {
	struct guest *g = &c->f.g;
	uint32_t source = guest_new_id(g);
	test_assert(
		guest_request(g, c->ddm, 0 /* create_data_source */, &source, 4, NULL, NULL, 0));
	struct bytes b = {0};
	bytes_string(&b, CLIP_MIME);
	test_assert(
		guest_request(g, source, 0 /* offer */, b.data, (uint32_t)b.len, NULL, NULL, 0));
	// Only the serial of an input event on the guest's own window may set
	// the host's selection (rule 11).
	uint32_t serial = guest_take_focus(g, c->seat, TIMEOUT);
	test_assert_msg(serial != 0, "the guest got no keyboard focus");
	uint32_t sel[] = {source, serial};
	test_assert(guest_request(g, c->device, 1 /* set_selection */, sel, 8, NULL, NULL, 0));
	test_assert(guest_roundtrip(g, TIMEOUT));
	for (int i = 0; i < 50 && !client_selection_offers(c->rec, CLIP_MIME); i++) {
		recorder_dispatch(c->rec, 10);
	}
	test_assert_msg(client_selection_offers(c->rec, CLIP_MIME),
			"the compositor has no selection from the guest");
	return source;
}

/* A host app asks for the guest's selection: returns the read end it got and
 * sets *pipe_id to the write pipe the guest was given. */
static int ask_guest_selection(struct clip *c, uint32_t source, uint32_t *pipe_id) {
	struct guest *g = &c->f.g;
	uint32_t from = g->event_count;
	int fd = recorder_receive_selection(c->rec, CLIP_MIME);
	test_assert(fd >= 0);
	int send = -1;
	for (int64_t end = now_ms() + TIMEOUT; send < 0 && now_ms() < end;) {
		test_assert(guest_poll(g, TIMEOUT));
		send = guest_find_event(g, source, 1 /* send */, from);
	}
	test_assert_msg(send >= 0, "no wl_data_source.send reached the guest");
	const struct guest_event *e = &g->events[send];
	test_assert_int_eq(e->id_count, 1);
	test_assert_int_eq(e->types[0], CROSS_DOMAIN_ID_TYPE_WRITE_PIPE);
	*pipe_id = e->ids[0];
	return fd;
}

TEST(clipboard_guest_to_host_over_the_ring) {
	struct clip c;
	clip_setup(&c, "guest-to-host");
	uint32_t pipe_id;
	int fd = ask_guest_selection(&c, set_guest_selection(&c), &pipe_id);
	// Write in chunks as a guest does (<= one ring page each), reading the
	// host end as we go so the pipe never fills.
	uint8_t *got = malloc(CLIP_SIZE + 1);
	test_assert(got != NULL);
	size_t have = 0;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (uint32_t off = 0; off < CLIP_SIZE || have < CLIP_SIZE;) {
		if (off < CLIP_SIZE) {
			uint32_t n = CLIP_SIZE - off < 4072 ? CLIP_SIZE - off : 4072;
			test_assert(sim_send_write(&c.f.sim, pipe_id, c.payload + off, n,
						   off + n == CLIP_SIZE));
			off += n;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, off < CLIP_SIZE ? 0 : TIMEOUT) <= 0 && off >= CLIP_SIZE) {
			break;
		}
		ssize_t r = read(fd, got + have, CLIP_SIZE + 1 - have);
		if (r == 0) {
			break;
		}
		if (r > 0) {
			have += (size_t)r;
		}
	}
	// After hang_up the pipe closes: EOF follows the data.
	fcntl(fd, F_SETFL, 0);
	ssize_t r;
	while (have <= CLIP_SIZE && (r = read(fd, got + have, CLIP_SIZE + 1 - have)) > 0) {
		have += (size_t)r;
	}
	close(fd);
	test_assert_int_eq(have, CLIP_SIZE);
	test_assert_msg(memcmp(got, c.payload, CLIP_SIZE) == 0,
			"the host read other bytes than the guest wrote");
	free(got);
	clip_teardown(&c);
}

/* ------------------------------------------------------------------ */
/* A pipe end the host closed while the guest is not polling: epoll keeps
 * reporting the hang-up whatever the watch mask, and crosswayd must not spin
 * on it. */

/* CPU time (user + system) the context process has used, in ms. */
static int64_t context_cpu_ms(pid_t pid) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)context_pid(pid));
	FILE *f = fopen(path, "r");
	test_assert(f != NULL);
	char line[1024];
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	// Fields 14 and 15, counted after the command name in parentheses.
	const char *p = strrchr(line, ')');
	unsigned long utime = 0, stime = 0;
	test_assert(p != NULL &&
		    sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
			   &stime) == 2);
	return (int64_t)(utime + stime) * 1000 / sysconf(_SC_CLK_TCK);
}

/* About a second with the guest not polling (the compositor still served);
 * returns the context's CPU time over it: a spin uses all of it. */
static int64_t idle_cpu_ms(struct clip *c) {
	int64_t before = context_cpu_ms(c->f.sim.pid);
	for (int64_t end = now_ms() + 1000, left; (left = end - now_ms()) > 0;) {
		recorder_dispatch(c->rec, (int)left);
	}
	int64_t used = context_cpu_ms(c->f.sim.pid) - before;
	test_note("%lld ms of CPU time in an idle second", (long long)used);
	return used;
}

#define IDLE_CPU_MAX_MS 100 // a spin takes ~1000; idle is ~0

TEST(clipboard_host_reader_gone_before_the_guest_writes) {
	struct clip c;
	clip_setup(&c, "guest-to-host");
	uint32_t source = set_guest_selection(&c);
	uint32_t pipe_id;
	int fd = ask_guest_selection(&c, source, &pipe_id);
	// The paste gave up before the guest wrote anything.
	int fds_before = context_fd_count(c.f.sim.pid);
	close(fd);
	int64_t used = idle_cpu_ms(&c);
	test_assert_msg(used < IDLE_CPU_MAX_MS, "crosswayd spun: %lld ms of CPU time",
			(long long)used);
	test_assert_msg(context_fd_count(c.f.sim.pid) < fds_before, "the write pipe stayed open");
	// The guest writes late: dropped, not an error.
	test_assert(sim_send_write(&c.f.sim, pipe_id, c.payload, 1000, true));
	test_assert(guest_roundtrip(&c.f.g, TIMEOUT));
	test_assert(!c.f.sim.have_error);
	// The next paste gets the data.
	fd = ask_guest_selection(&c, source, &pipe_id);
	test_assert(sim_send_write(&c.f.sim, pipe_id, c.payload, 1000, true));
	uint8_t got[1001];
	size_t have = 0;
	ssize_t r;
	while (have < sizeof(got) && (r = read(fd, got + have, sizeof(got) - have)) > 0) {
		have += (size_t)r;
	}
	close(fd);
	test_assert_int_eq(have, 1000);
	test_assert(memcmp(got, c.payload, 1000) == 0);
	clip_teardown(&c);
}

/* The backend hangs up while a paste of the guest's selection is open:
 * crosswayd lingers for the transfer, and must not spin on the dead link
 * meanwhile (epoll reports its hang-up whatever the mask). Once the host
 * reader closes, it exits 0. */
TEST(backend_gone_while_a_transfer_lingers) {
	struct clip c;
	clip_setup(&c, "guest-to-host");
	uint32_t source = set_guest_selection(&c);
	uint32_t pipe_id;
	int fd = ask_guest_selection(&c, source, &pipe_id);
	close(c.f.sim.fd);
	c.f.sim.fd = -1;
	int64_t used = idle_cpu_ms(&c);
	test_assert_msg(used < IDLE_CPU_MAX_MS, "crosswayd spun: %lld ms of CPU time",
			(long long)used);
	close(fd);
	test_assert_int_eq(sim_finish(&c.f.sim, TIMEOUT), 0);
	clip_free(&c);
}

/* SHUTDOWN with a paste into the guest still open: nothing can carry its
 * data to the guest any more (nothing follows SHUTDOWN, and its polls were
 * completed), so crosswayd exits at once instead of lingering for it. */
TEST(shutdown_does_not_linger_for_a_paste_into_the_guest) {
	struct clip c;
	clip_setup(&c, "both");
	ask_host_selection(&c, CLIP_MIME, 10000);
	test_assert(guest_roundtrip(&c.f.g, TIMEOUT));
	sim_send_shutdown(&c.f.sim);
	int64_t t0 = now_ms();
	test_assert_int_eq(sim_finish(&c.f.sim, TIMEOUT), 0);
	int64_t took = now_ms() - t0;
	test_note("exited %lld ms after SHUTDOWN", (long long)took);
	test_assert_msg(took < 2000, "crosswayd lingered %lld ms after SHUTDOWN", (long long)took);
	clip_free(&c);
}

static bool receive_done(struct recorder *rec) {
	return recorder_count(rec, "wl_data_offer.receive") > 0 &&
	       recorder_transfer_count(rec) == 0;
}

TEST(clipboard_host_writer_gone_while_the_guest_waits) {
	struct clip c;
	clip_setup(&c, "both");
	struct guest *g = &c.f.g;
	// Several records' worth, all in the pipe buffer at once.
	const uint32_t size = 10000;
	uint32_t pipe_id = ask_host_selection(&c, CLIP_MIME, size);
	// The host app writes everything and closes; the guest is not polling.
	for (int64_t end = now_ms() + TIMEOUT; !receive_done(c.rec) && now_ms() < end;) {
		recorder_dispatch(c.rec, 10);
	}
	test_assert_msg(receive_done(c.rec), "the host never wrote the selection");
	int64_t used = idle_cpu_ms(&c);
	test_assert_msg(used < IDLE_CPU_MAX_MS, "crosswayd spun: %lld ms of CPU time",
			(long long)used);
	test_assert(guest_roundtrip(g, TIMEOUT));
	// Everything the host wrote, then EOF.
	for (int i = 0; i < 100 && !g->read_hang_up; i++) {
		test_assert(guest_poll(g, TIMEOUT));
	}
	test_assert_msg(g->read_hang_up, "no hang-up after %u bytes", g->read_len);
	test_assert_int_eq(g->read_id, pipe_id);
	test_assert_int_eq(g->read_len, size);
	test_assert(memcmp(g->read_data, c.payload, size) == 0);
	test_assert(!c.f.sim.have_error);
	clip_teardown(&c);
}
