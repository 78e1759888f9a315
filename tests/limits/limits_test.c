/*
 * Every named limit of crossway.conf(5), hit on purpose. Each test lowers one
 * limit with a policy file, drives a real crosswayd as a VMM and a guest
 * proxy would (tests/common/sim, tests/common/guest) against the recording
 * compositor running in this process, and checks three things: the ERROR the
 * backend gets names the limit, the compositor never saw the request that
 * went over it, and another context running at the same time still works.
 *
 * Damage is the exception: excess rectangles are folded into their bounding
 * box and clamped to the buffer, and the context goes on.
 *
 * The security-context tests check what crosswayd tells a compositor that
 * offers wp_security_context_manager_v1 (tests/limits/recorder_secctx.c) and
 * that "security-context = required" fails cleanly when none is offered.
 */
/* _GNU_SOURCE: pipe2 in the headers this file shares with sim.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crossway-config.h"
#include "tests/common/guest.h"
#include "tests/common/sim.h"
#include "tests/common/sim_recorder.h"
#include "tests/harness/bytes.h"
#include "tests/harness/test.h"
#include "tests/recorder/recorder.h"
#if HAVE_SECURITY_CONTEXT
#include "tests/limits/recorder_secctx.h"
#endif

#ifndef CROSSWAY_SANITIZED
#define CROSSWAY_SANITIZED 0
#endif

#define TIMEOUT 5000
#define SHM_XRGB8888 1 // wl_shm format
#define FOURCC(a, b, c, d)                                                                         \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define FOURCC_XR24 FOURCC('X', 'R', '2', '4')
#define FOURCC_R8 FOURCC('R', '8', ' ', ' ')

/* Request opcodes used here (wayland.xml, xdg-shell.xml). */
enum {
	WL_DISPLAY_SYNC = 0,
	WL_COMPOSITOR_CREATE_SURFACE = 0,
	WL_COMPOSITOR_CREATE_REGION = 1,
	WL_REGION_ADD = 1,
	WL_SURFACE_ATTACH = 1,
	WL_SURFACE_COMMIT = 6,
	WL_SURFACE_DAMAGE_BUFFER = 9,
	WL_SHM_CREATE_POOL = 0,
	WL_SHM_POOL_CREATE_BUFFER = 0,
	XDG_WM_BASE_GET_XDG_SURFACE = 2,
	XDG_SURFACE_GET_TOPLEVEL = 1,
	XDG_TOPLEVEL_SET_TITLE = 2,
	WL_DATA_DEVICE_MANAGER_CREATE_DATA_SOURCE = 0,
	WL_DATA_DEVICE_MANAGER_GET_DATA_DEVICE = 1,
	WL_DATA_SOURCE_OFFER = 0,
	WL_DATA_DEVICE_SET_SELECTION = 1,
	WL_DATA_OFFER_RECEIVE = 1,
	WL_SEAT_GET_KEYBOARD = 1,
};
/* Event opcodes. */
enum {
	WL_DATA_DEVICE_SELECTION = 5,
	WL_DATA_SOURCE_SEND = 1,
};

struct fixture {
	struct recorder *rec;
	char conf[512];
	uint64_t region_adds; // wl_region.add records seen by the callback
	int32_t last_add_x;
	bool add_order_broken;
};

/* One simulated VM context: a crosswayd, its backend link and a guest. */
struct vm {
	struct sim sim;
	struct guest *g;
};

static const char *crosswayd(void) {
	return test_program("CROSSWAYD");
}

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void count_records(void *data, const struct recorder_record *r) {
	struct fixture *f = data;
	if (strcmp(r->name, "wl_region.add") != 0 || r->arg_count < 1) {
		return;
	}
	// Each flood message carries its running number as x.
	if (r->args[0].i != f->last_add_x + 1) {
		f->add_order_broken = true;
	}
	f->last_add_x = r->args[0].i;
	f->region_adds++;
}

/* Starts the recorder and writes the policy file: "[default]\n" + @conf. */
static void setup(struct fixture *f, const struct recorder_options *options, const char *conf) {
	memset(f, 0, sizeof(*f));
	struct recorder_options o = {0};
	if (options != NULL) {
		o = *options;
	}
	o.fast = true;
	o.skip_pixel_copy = true;
	o.record_func = count_records;
	o.record_data = f;
	f->rec = recorder_create(&o);
	test_assert_msg(f->rec != NULL, "the recording compositor did not start");
	snprintf(f->conf, sizeof(f->conf), "%s/crossway-limits.conf", getenv("XDG_RUNTIME_DIR"));
	FILE *file = fopen(f->conf, "we");
	test_assert(file != NULL);
	fprintf(file, "[default]\n%s\n", conf);
	test_assert(fclose(file) == 0);
}

static void teardown(struct fixture *f) {
	recorder_destroy(f->rec);
	unlink(f->conf);
}

/* Runs the compositor for @ms (the requests a dead context flushed land). */
static void settle(struct fixture *f, int ms) {
	int64_t end = now_ms() + ms;
	while (now_ms() < end) {
		recorder_dispatch(f->rec, 10);
	}
}

static void vm_spawn(struct fixture *f, struct vm *vm) {
	memset(vm, 0, sizeof(*vm));
	const char *args[] = {"--config", f->conf, "--render-node", "none", NULL};
	test_assert(sim_spawn(&vm->sim, crosswayd(), recorder_socket_name(f->rec), args, true));
	sim_attach_recorder(&vm->sim, f->rec);
	vm->g = calloc(1, sizeof(*vm->g));
	test_assert(vm->g != NULL);
	guest_init(vm->g, &vm->sim);
}

/* A context that has said HELLO, INIT and fetched the registry. */
static void vm_start(struct fixture *f, struct vm *vm, const char *name) {
	vm_spawn(f, vm);
	test_assert_msg(sim_hello(&vm->sim, name), "no HELLO_REPLY");
	test_assert_msg(sim_init(&vm->sim, 20, TIMEOUT), "INIT failed: %s", vm->sim.error_text);
	test_assert_msg(guest_registry(vm->g, TIMEOUT), "no registry round trip: %s",
			vm->sim.error_text);
}

static void vm_free(struct vm *vm) {
	guest_finish(vm->g);
	free(vm->g);
	vm->g = NULL;
}

/* Ends a healthy context with SHUTDOWN; it must exit 0. */
static void vm_stop(struct vm *vm) {
	test_assert_msg(!vm->sim.have_error, "unexpected ERROR: %s", vm->sim.error_text);
	sim_send_shutdown(&vm->sim);
	test_assert_msg(vm->sim.fault[0] == '\0', "crosswayd broke the link contract: %s",
			vm->sim.fault);
	test_assert_int_eq(sim_finish(&vm->sim, TIMEOUT), 0);
	vm_free(vm);
}

/*
 * The context must end with an ERROR containing @text (and in its log), as a
 * protocol error (-EPROTO, exit status 1).
 */
static void expect_error(struct fixture *f, struct vm *vm, const char *text) {
	test_assert_msg(sim_wait_error(&vm->sim, TIMEOUT), "no ERROR (wanted \"%s\")", text);
	test_assert_str_contains(vm->sim.error_text, text);
	test_assert_int_eq(vm->sim.error_code, -EPROTO);
	static char log[65536];
	sim_read_stderr(&vm->sim, log, sizeof(log), 200);
	test_assert_str_contains(log, text);
	test_assert_int_eq(sim_finish(&vm->sim, TIMEOUT), 1);
	vm_free(vm);
	settle(f, 200);
}

/* The other context still completes a round trip. */
static void expect_alive(struct vm *other) {
	test_assert_msg(guest_roundtrip(other->g, TIMEOUT), "the other context stopped working: %s",
			other->sim.error_text);
	vm_stop(other);
}

/* Sends @b as one SEND without identifiers. */
static void send_bytes(struct vm *vm, const struct bytes *b) {
	test_assert(sim_send_wayland(&vm->sim, b->data, (uint32_t)b->len, NULL, NULL, 0));
}

static void msg0(struct bytes *b, uint32_t object, uint16_t opcode) {
	wl_end(b, wl_begin(b, object, opcode));
}

static void msg1(struct bytes *b, uint32_t object, uint16_t opcode, uint32_t a) {
	size_t at = wl_begin(b, object, opcode);
	bytes_u32(b, a);
	wl_end(b, at);
}

static void msg_words(struct bytes *b, uint32_t object, uint16_t opcode, int n, const uint32_t *w) {
	size_t at = wl_begin(b, object, opcode);
	for (int i = 0; i < n; i++) {
		bytes_u32(b, w[i]);
	}
	wl_end(b, at);
}

static uint32_t bind(struct vm *vm, const char *iface, uint32_t version) {
	uint32_t id = guest_bind(vm->g, iface, version);
	test_assert_msg(id != 0, "%s is not offered", iface);
	return id;
}

/* A wl_shm pool of @size bytes backed by a crosswayd blob. */
static uint32_t make_pool(struct vm *vm, uint32_t shm, uint32_t size, int *blob_fd) {
	struct cross_domain_image_requirements req;
	test_assert_msg(sim_image_requirements(&vm->sim, size, 1, FOURCC_R8, &req, TIMEOUT),
			"GET_IMAGE_REQUIREMENTS failed: %s", vm->sim.error_text);
	uint32_t resource;
	struct crossway_backend_blob_reply reply;
	*blob_fd = sim_create_blob(&vm->sim, req.blob_id, req.size, &resource, &reply, TIMEOUT);
	test_assert_msg(*blob_fd >= 0, "CREATE_BLOB failed: %s", vm->sim.error_text);
	uint32_t pool = guest_new_id(vm->g);
	uint32_t args[] = {pool, size};
	uint32_t ids[] = {resource}, types[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB};
	test_assert(
		guest_request(vm->g, shm, WL_SHM_CREATE_POOL, args, sizeof(args), ids, types, 1));
	return pool;
}

/* ------------------------------------------------------------------ */
/* Wayland message size                                               */

TEST(message_size_limit) {
	struct fixture f;
	setup(&f, NULL, "max-message-bytes = 256");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-msg");
	vm_start(&f, &other, "vm-other");
	uint32_t compositor = bind(&vm, "wl_compositor", 4);
	uint32_t wm_base = bind(&vm, "xdg_wm_base", 1);
	struct bytes b = {.len = 0};
	uint32_t surface = guest_new_id(vm.g), xdg_surface = guest_new_id(vm.g);
	uint32_t toplevel = guest_new_id(vm.g);
	msg1(&b, compositor, WL_COMPOSITOR_CREATE_SURFACE, surface);
	msg_words(&b, wm_base, XDG_WM_BASE_GET_XDG_SURFACE, 2,
		  (const uint32_t[]){xdg_surface, surface});
	msg1(&b, xdg_surface, XDG_SURFACE_GET_TOPLEVEL, toplevel);
	// 8 + 4 + 240 = 252 bytes: under the limit.
	char title[300];
	memset(title, 'a', sizeof(title));
	title[239] = '\0';
	size_t at = wl_begin(&b, toplevel, XDG_TOPLEVEL_SET_TITLE);
	bytes_string(&b, title);
	wl_end(&b, at);
	send_bytes(&vm, &b);
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	test_assert_int_eq(recorder_count(f.rec, "xdg_toplevel.set_title"), 1);
	// 8 + 4 + 248 = 260 bytes: over it.
	b.len = 0;
	title[239] = 'b';
	title[247] = '\0';
	at = wl_begin(&b, toplevel, XDG_TOPLEVEL_SET_TITLE);
	bytes_string(&b, title);
	wl_end(&b, at);
	test_assert_int_eq(b.len, 260);
	send_bytes(&vm, &b);
	expect_error(&f, &vm, "260 > limit 256");
	test_assert_int_eq(recorder_count(f.rec, "xdg_toplevel.set_title"), 1);
	expect_alive(&other);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Identifiers (fds) per message: 28, or 4 in the legacy layout       */

struct ident_case {
	uint32_t layout, count;
	const char *text;
};

static const struct ident_case ident_cases[] = {
	{28, 29, "SEND: 29 identifiers > max 28"},
	{4, 5, "SEND: 5 identifiers > max 4"},
};

TEST_P(identifiers_per_send_limit, ident_cases) {
	struct fixture f;
	setup(&f, NULL, "");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-fds");
	vm_start(&f, &other, "vm-other");
	uint32_t before = (uint32_t)recorder_record_count(f.rec);
	// A SEND that is full for its layout, then its count raised by one
	// (no encoder makes such a command: it is a guest lying).
	uint32_t ids[28] = {0}, types[28] = {0}, sizes[28] = {0};
	for (uint32_t i = 0; i < data->layout; i++) {
		ids[i] = 1000 + i;
		types[i] = CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB;
	}
	uint8_t sync[12];
	uint32_t words[3] = {1, 12u << 16 | WL_DISPLAY_SYNC, guest_new_id(vm.g)};
	memcpy(sync, words, sizeof(words));
	uint8_t cmd[1024];
	size_t n = cross_domain_encode_send(cmd, sizeof(cmd), data->layout, data->layout, ids,
					    types, sizes, sync, sizeof(sync));
	test_assert(n > 0);
	memcpy(cmd + 8, &data->count, 4); // num_identifiers
	test_assert(sim_send_submit(&vm.sim, cmd, (uint32_t)n));
	expect_error(&f, &vm, data->text);
	// Nothing of that SEND reached the compositor.
	for (size_t i = before; i < recorder_record_count(f.rec); i++) {
		const struct recorder_record *r = recorder_record_get(f.rec, i);
		test_assert_msg(strcmp(r->name, "wl_display.sync") != 0 || r->client != 0,
				"the refused SEND reached the compositor");
	}
	expect_alive(&other);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Live objects                                                       */

TEST(object_limit) {
	struct fixture f;
	setup(&f, NULL, "max-objects = 16");
	struct vm vm, other;
	// ids: 1 display, 2 registry, 3 its sync callback (gone), 4 compositor.
	vm_start(&f, &vm, "vm-objects");
	vm_start(&f, &other, "vm-other");
	uint32_t compositor = bind(&vm, "wl_compositor", 4);
	test_assert_int_eq(compositor, 4);
	// 12 regions (ids 5..16) and one in the freed id 3: 16 live objects.
	struct bytes b = {.len = 0};
	msg1(&b, compositor, WL_COMPOSITOR_CREATE_REGION, 3);
	for (int i = 0; i < 12; i++) {
		msg1(&b, compositor, WL_COMPOSITOR_CREATE_REGION, guest_new_id(vm.g));
	}
	send_bytes(&vm, &b);
	int64_t end = now_ms() + TIMEOUT;
	while (recorder_count(f.rec, "wl_compositor.create_region") < 13 && now_ms() < end) {
		recorder_dispatch(f.rec, 10);
		sim_handle_message(&vm.sim, 0);
	}
	test_assert_int_eq(recorder_count(f.rec, "wl_compositor.create_region"), 13);
	test_assert(!vm.sim.have_error);
	// The 17th.
	b.len = 0;
	msg1(&b, compositor, WL_COMPOSITOR_CREATE_REGION, guest_new_id(vm.g));
	send_bytes(&vm, &b);
	expect_error(&f, &vm, "object limit (16) reached");
	test_assert_int_eq(recorder_count(f.rec, "wl_compositor.create_region"), 13);
	expect_alive(&other);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Toplevels                                                          */

static void add_toplevel(struct vm *vm, struct bytes *b, uint32_t compositor, uint32_t wm_base) {
	uint32_t surface = guest_new_id(vm->g), xdg_surface = guest_new_id(vm->g);
	msg1(b, compositor, WL_COMPOSITOR_CREATE_SURFACE, surface);
	msg_words(b, wm_base, XDG_WM_BASE_GET_XDG_SURFACE, 2,
		  (const uint32_t[]){xdg_surface, surface});
	msg1(b, xdg_surface, XDG_SURFACE_GET_TOPLEVEL, guest_new_id(vm->g));
}

TEST(toplevel_limit) {
	struct fixture f;
	setup(&f, NULL, "max-toplevels = 2");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-toplevels");
	vm_start(&f, &other, "vm-other");
	uint32_t compositor = bind(&vm, "wl_compositor", 4);
	uint32_t wm_base = bind(&vm, "xdg_wm_base", 1);
	struct bytes b = {.len = 0};
	add_toplevel(&vm, &b, compositor, wm_base);
	add_toplevel(&vm, &b, compositor, wm_base);
	send_bytes(&vm, &b);
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	test_assert_int_eq(recorder_count(f.rec, "xdg_surface.get_toplevel"), 2);
	b.len = 0;
	add_toplevel(&vm, &b, compositor, wm_base);
	send_bytes(&vm, &b);
	expect_error(&f, &vm, "toplevel limit (2) reached");
	test_assert_int_eq(recorder_count(f.rec, "xdg_surface.get_toplevel"), 2);
	expect_alive(&other);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Items (guest-visible identifiers)                                  */

TEST(image_requirement_limit) {
	struct fixture f;
	setup(&f, NULL, "max-image-requirements = 4");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-images");
	vm_start(&f, &other, "vm-other");
	struct cross_domain_image_requirements req;
	for (uint32_t i = 0; i < 4; i++) {
		test_assert_msg(
			sim_image_requirements(&vm.sim, 16 + i, 16, FOURCC_XR24, &req, TIMEOUT),
			"image %" PRIu32 ": %s", i, vm.sim.error_text);
	}
	// The same shape again is the same answer: nothing new is kept.
	test_assert(sim_image_requirements(&vm.sim, 16, 16, FOURCC_XR24, &req, TIMEOUT));
	size_t records = recorder_record_count(f.rec);
	test_assert(!sim_image_requirements(&vm.sim, 20, 16, FOURCC_XR24, &req, TIMEOUT));
	expect_error(&f, &vm,
		     "GET_IMAGE_REQUIREMENTS: 4 distinct image shapes asked about (limit "
		     "max-image-requirements)");
	// Nothing of this reaches the compositor; the context's end does.
	for (size_t i = records; i < recorder_record_count(f.rec); i++) {
		const struct recorder_record *r = recorder_record_get(f.rec, i);
		test_assert_msg(r->direction == RECORDER_DIRECTION_EVENT ||
					strcmp(r->name, "wl_registry.bind") != 0,
				"unexpected request %s", r->text);
	}
	expect_alive(&other);
	teardown(&f);
}

/* Items are what the guest has not taken yet: here keymaps (one memory fd
 * per wl_keyboard) that the guest never turns into blobs. */
TEST(item_limit) {
	struct fixture f;
	setup(&f, &(struct recorder_options){.seat = true}, "max-items = 4");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-items");
	vm_start(&f, &other, "vm-other");
	uint32_t seat = bind(&vm, "wl_seat", 1);
	for (int i = 0; i < 4; i++) {
		uint32_t keyboard = guest_new_id(vm.g);
		test_assert(guest_request(vm.g, seat, WL_SEAT_GET_KEYBOARD, &keyboard, 4, NULL,
					  NULL, 0));
		test_assert_msg(guest_roundtrip(vm.g, TIMEOUT), "keyboard %d: %s", i,
				vm.sim.error_text);
	}
	uint32_t keyboard = guest_new_id(vm.g);
	test_assert(guest_request(vm.g, seat, WL_SEAT_GET_KEYBOARD, &keyboard, 4, NULL, NULL, 0));
	test_assert(!guest_roundtrip(vm.g, TIMEOUT));
	expect_error(&f, &vm, "item limit (4) reached");
	expect_alive(&other);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Host memory for the guest: per buffer and in total                 */

TEST(buffer_bytes_limit) {
	struct fixture f;
	setup(&f, NULL, "max-buffer-bytes = 64K");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-bytes");
	vm_start(&f, &other, "vm-other");
	struct cross_domain_image_requirements req;
	// 128 x 128 x 4 = 64 KiB exactly: allowed.
	test_assert(sim_image_requirements(&vm.sim, 128, 128, FOURCC_XR24, &req, TIMEOUT));
	test_assert_int_eq(req.size, 65536);
	test_assert(!sim_image_requirements(&vm.sim, 128, 129, FOURCC_XR24, &req, TIMEOUT));
	expect_error(&f, &vm, "per-buffer limit of 65536");
	expect_alive(&other);
	teardown(&f);
}

TEST(total_bytes_limit) {
	struct fixture f;
	setup(&f, NULL, "max-buffer-bytes = 64K\nmax-total-bytes = 128K");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-total");
	vm_start(&f, &other, "vm-other");
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&vm.sim, 128, 128, FOURCC_XR24, &req, TIMEOUT));
	int fds[2];
	for (int i = 0; i < 2; i++) {
		fds[i] = sim_create_blob(&vm.sim, req.blob_id, req.size, NULL, NULL, TIMEOUT);
		test_assert_msg(fds[i] >= 0, "blob %d: %s", i, vm.sim.error_text);
	}
	uint32_t serial = sim_send_create_blob(&vm.sim, vm.sim.next_resource++, req.blob_id,
					       req.size);
	expect_error(&f, &vm, "CREATE_BLOB: memory limit reached (131072 of 131072 bytes in use)");
	test_assert_int_eq(sim_take_blob_reply(&vm.sim, serial, NULL), -1);
	close(fds[0]);
	close(fds[1]);
	expect_alive(&other);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Buffer dimensions                                                  */

TEST(dimension_limit_image) {
	struct fixture f;
	setup(&f, NULL, "max-buffer-dimension = 64");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-dim");
	vm_start(&f, &other, "vm-other");
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&vm.sim, 64, 64, FOURCC_XR24, &req, TIMEOUT));
	test_assert(!sim_image_requirements(&vm.sim, 65, 8, FOURCC_XR24, &req, TIMEOUT));
	expect_error(&f, &vm, "dimensions must be 1..64");
	expect_alive(&other);
	teardown(&f);
}

TEST(dimension_limit_shm_buffer) {
	struct fixture f;
	setup(&f, NULL, "max-buffer-dimension = 64");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-dim");
	vm_start(&f, &other, "vm-other");
	uint32_t shm = bind(&vm, "wl_shm", 1);
	int blob_fd;
	uint32_t pool = make_pool(&vm, shm, 65536, &blob_fd);
	struct bytes b = {.len = 0};
	msg_words(&b, pool, WL_SHM_POOL_CREATE_BUFFER, 6,
		  (const uint32_t[]){guest_new_id(vm.g), 0, 64, 64, 256, SHM_XRGB8888});
	send_bytes(&vm, &b);
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	test_assert_int_eq(recorder_count(f.rec, "wl_shm_pool.create_buffer"), 1);
	b.len = 0;
	msg_words(&b, pool, WL_SHM_POOL_CREATE_BUFFER, 6,
		  (const uint32_t[]){guest_new_id(vm.g), 0, 65, 1, 260, SHM_XRGB8888});
	send_bytes(&vm, &b);
	expect_error(&f, &vm, "buffer 65x1 outside 1..64");
	test_assert_int_eq(recorder_count(f.rec, "wl_shm_pool.create_buffer"), 1);
	close(blob_fd);
	expect_alive(&other);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Damage rectangles per commit                                       */

static void assert_rect(const struct recorder_record *r, int32_t x, int32_t y, int32_t w,
			int32_t h) {
	test_assert(r != NULL && r->arg_count == 4);
	test_assert_msg(
		r->args[0].i == x && r->args[1].i == y && r->args[2].i == w && r->args[3].i == h,
		"%s, wanted %" PRId32 ", %" PRId32 ", %" PRId32 ", %" PRId32, r->text, x, y, w, h);
}

TEST(damage_collapsed_and_clamped) {
	struct fixture f;
	setup(&f, NULL, "max-damage-rects = 4");
	struct vm vm;
	vm_start(&f, &vm, "vm-damage");
	uint32_t compositor = bind(&vm, "wl_compositor", 4);
	uint32_t shm = bind(&vm, "wl_shm", 1);
	int blob_fd;
	uint32_t pool = make_pool(&vm, shm, 32 * 16 * 4, &blob_fd);
	uint32_t buffer = guest_new_id(vm.g), surface = guest_new_id(vm.g);
	struct bytes b = {.len = 0};
	msg_words(&b, pool, WL_SHM_POOL_CREATE_BUFFER, 6,
		  (const uint32_t[]){buffer, 0, 32, 16, 128, SHM_XRGB8888});
	msg1(&b, compositor, WL_COMPOSITOR_CREATE_SURFACE, surface);
	msg_words(&b, surface, WL_SURFACE_ATTACH, 3, (const uint32_t[]){buffer, 0, 0});
	// On a 32 x 16 buffer: four within the limit (two clamped), one wholly
	// outside (dropped, not counted), two over the limit (one clamped).
	static const int32_t rects[][4] = {
		{0, 0, 4, 4}, {-3, -3, 10, 10}, {30, 14, 10, 10}, {100, 100, 5, 5},
		{8, 8, 2, 2}, {20, 2, 4, 4},    {28, 12, 10, 10},
	};
	for (size_t i = 0; i < sizeof(rects) / sizeof(rects[0]); i++) {
		msg_words(&b, surface, WL_SURFACE_DAMAGE_BUFFER, 4, (const uint32_t *)rects[i]);
	}
	msg0(&b, surface, WL_SURFACE_COMMIT);
	send_bytes(&vm, &b);
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	test_assert_int_eq(recorder_count(f.rec, "wl_surface.commit"), 1);
	test_assert_int_eq(recorder_count(f.rec, "wl_surface.damage_buffer"), 5);
	assert_rect(recorder_find(f.rec, "wl_surface.damage_buffer", 0), 0, 0, 4, 4);
	assert_rect(recorder_find(f.rec, "wl_surface.damage_buffer", 1), 0, 0, 7, 7);
	assert_rect(recorder_find(f.rec, "wl_surface.damage_buffer", 2), 30, 14, 2, 2);
	assert_rect(recorder_find(f.rec, "wl_surface.damage_buffer", 3), 8, 8, 2, 2);
	// The bounding box of (20,2 4x4) and (28,12 4x4, clamped).
	const struct recorder_record *box = recorder_find(f.rec, "wl_surface.damage_buffer", 4);
	assert_rect(box, 20, 2, 12, 14);
	test_assert(box->seq < recorder_find(f.rec, "wl_surface.commit", 0)->seq);
	// The count starts again at each commit.
	b.len = 0;
	for (int i = 0; i < 4; i++) {
		msg_words(&b, surface, WL_SURFACE_DAMAGE_BUFFER, 4,
			  (const uint32_t[]){(uint32_t)i, 0, 1, 1});
	}
	msg0(&b, surface, WL_SURFACE_COMMIT);
	send_bytes(&vm, &b);
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	test_assert_int_eq(recorder_count(f.rec, "wl_surface.damage_buffer"), 9);
	assert_rect(recorder_find(f.rec, "wl_surface.damage_buffer", 8), 3, 0, 1, 1);
	close(blob_fd);
	vm_stop(&vm);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Guest -> compositor queue: backpressure on the backend link        */

/* Region adds per SEND: 24 bytes each, under a SEND's 64 KiB. */
#define FLOOD_PER_SEND 2600

static long vm_rss_kib(pid_t pid) {
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *file = fopen(path, "re");
	long kib = -1;
	while (file != NULL && fgets(line, sizeof(line), file) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) {
			break;
		}
	}
	if (file != NULL) {
		fclose(file);
	}
	return kib;
}

/* Sends one flood SEND without blocking; false when the link is full. */
static bool flood_once(struct vm *vm, uint32_t region, int32_t *next_x) {
	static uint8_t data[FLOOD_PER_SEND * 24];
	static uint8_t cmd[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE];
	for (int i = 0; i < FLOOD_PER_SEND; i++) {
		uint32_t w[6] = {region, 24u << 16 | WL_REGION_ADD, (uint32_t)(*next_x + i), 0, 1,
				 1};
		memcpy(data + 24 * i, w, sizeof(w));
	}
	size_t n = cross_domain_encode_send(cmd, sizeof(cmd), vm->sim.layout, 0, NULL, NULL, NULL,
					    data, sizeof(data));
	test_assert(n > 0);
	if (!sim_send_submit(&vm->sim, cmd, (uint32_t)n)) {
		test_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "link: %s",
				strerror(errno));
		return false;
	}
	*next_x += FLOOD_PER_SEND;
	return true;
}

TEST(guest_queue_backpressure) {
	test_set_timeout(60);
	struct fixture f;
	setup(&f, NULL, "guest-queue-bytes = 64K");
	struct vm vm;
	vm_start(&f, &vm, "vm-flood");
	uint32_t compositor = bind(&vm, "wl_compositor", 4);
	uint32_t region = guest_new_id(vm.g);
	struct bytes b = {.len = 0};
	msg1(&b, compositor, WL_COMPOSITOR_CREATE_REGION, region);
	send_bytes(&vm, &b);
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	long rss_before = vm_rss_kib(vm.sim.pid);
	// The compositor stops reading.
	vm.sim.extra_fd = -1;
	int flags = fcntl(vm.sim.fd, F_GETFL);
	test_assert(fcntl(vm.sim.fd, F_SETFL, flags | O_NONBLOCK) == 0);
	int32_t sent = 1; // the next x; region adds carry 1, 2, 3...
	f.last_add_x = 0;
	int sends = 0;
	// Send until the link stays full: unbounded reading would take this
	// all (or overflow the queue and end the context).
	int quiet = 0;
	while (sends < 2000 && quiet < 3) {
		if (flood_once(&vm, region, &sent)) {
			sends++;
			quiet = 0;
		} else {
			quiet++;
			usleep(200 * 1000);
		}
		while (sim_handle_message(&vm.sim, 0) > 0) {
		}
	}
	test_assert_msg(sends < 2000, "crosswayd read %d SENDs with the compositor stalled", sends);
	// Still full a while later: crosswayd has stopped reading the link.
	usleep(500 * 1000);
	test_assert(!flood_once(&vm, region, &sent));
	while (sim_handle_message(&vm.sim, 0) > 0) {
	}
	test_assert_msg(!vm.sim.have_error && !vm.sim.closed, "the context ended: %s",
			vm.sim.error_text);
	long rss_stalled = vm_rss_kib(vm.sim.pid);
	test_note("%d SENDs (%d bytes of requests) taken before the link filled; RSS %ld -> %ld "
		  "KiB",
		  sends, sends * FLOOD_PER_SEND * 24, rss_before, rss_stalled);
	if (!CROSSWAY_SANITIZED && rss_before > 0 && rss_stalled > 0) {
		// The queue's cap plus its slack, not the flood.
		test_assert_msg(rss_stalled - rss_before < 4096, "RSS grew by %ld KiB",
				rss_stalled - rss_before);
	}
	// The compositor catches up: everything arrives, once and in order.
	vm.sim.extra_fd = recorder_get_fd(f.rec);
	uint64_t want = (uint64_t)sends * FLOOD_PER_SEND;
	int64_t end = now_ms() + 20000;
	while (f.region_adds < want && now_ms() < end) {
		recorder_dispatch(f.rec, 5);
		sim_handle_message(&vm.sim, 0);
	}
	test_assert_int_eq(f.region_adds, want);
	test_assert(!f.add_order_broken);
	test_assert(fcntl(vm.sim.fd, F_SETFL, flags) == 0);
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	vm_stop(&vm);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Compositor -> guest queue: the compositor is no longer read        */

#define SYNCS 5000 // 12 bytes each way; 24 bytes of events each

static void send_syncs(struct vm *vm) {
	static uint8_t data[SYNCS * 12];
	for (int i = 0; i < SYNCS; i++) {
		uint32_t w[3] = {1, 12u << 16 | WL_DISPLAY_SYNC, guest_new_id(vm->g)};
		memcpy(data + 12 * i, w, sizeof(w));
	}
	test_assert(sim_send_wayland(&vm->sim, data, sizeof(data), NULL, NULL, 0));
}

TEST(host_queue_stall_ends_context) {
	test_set_timeout(60);
	struct fixture f;
	setup(&f, NULL, "host-queue-bytes = 8K");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-stall");
	vm_start(&f, &other, "vm-other");
	send_syncs(&vm);
	// The guest never polls again. crosswayd reads until more than the
	// limit is queued, stops reading the compositor, and after the stall
	// timeout (10 s) gives up on the guest.
	test_assert_msg(sim_wait_error(&vm.sim, 20000), "no ERROR");
	test_assert_str_contains(vm.sim.error_text, "guest stopped polling");
	test_assert_str_contains(vm.sim.error_text, "(limit 8192)");
	size_t queued = 0;
	test_assert(sscanf(vm.sim.error_text, "guest stopped polling: %zu bytes", &queued) == 1);
	test_note("%zu bytes were queued for the guest", queued);
	test_assert(queued > 8192);
	// At most one read past the limit, never the whole answer.
	test_assert(queued <= 8192 + 65536 + 4096);
	test_assert(queued < (size_t)SYNCS * 24);
	test_assert_int_eq(sim_finish(&vm.sim, TIMEOUT), 1);
	vm_free(&vm);
	expect_alive(&other);
	teardown(&f);
}

TEST(host_queue_resumes) {
	test_set_timeout(60);
	struct fixture f;
	setup(&f, NULL, "host-queue-bytes = 8K");
	struct vm vm;
	vm_start(&f, &vm, "vm-slow");
	size_t done_before = recorder_count(f.rec, "wl_callback.done");
	send_syncs(&vm);
	// A slow guest: nothing for a second, then it catches up.
	int64_t end = now_ms() + 1000;
	while (now_ms() < end) {
		recorder_dispatch(f.rec, 10);
		sim_handle_message(&vm.sim, 0);
	}
	test_assert(!vm.sim.have_error);
	uint64_t bytes = 0;
	struct cross_domain_record rec;
	while (bytes < (uint64_t)SYNCS * 24 && sim_poll_record(&vm.sim, &rec, TIMEOUT)) {
		bytes += rec.data_size;
	}
	test_assert_int_eq(bytes, (uint64_t)SYNCS * 24);
	test_assert_int_eq(recorder_count(f.rec, "wl_callback.done"), done_before + SYNCS);
	vm.g->partial_len = 0;
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	vm_stop(&vm);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Clipboard transfer caps and pipes                                  */

static const struct recorder_options clipboard_options = {.seat = true, .data_device = true};

static char clip_data[1000];

/* Binds the seat and a data device. Returns the device id. */
static uint32_t data_device(struct vm *vm, uint32_t *manager_out, uint32_t *seat_out) {
	uint32_t seat = bind(vm, "wl_seat", 1);
	if (seat_out != NULL) {
		*seat_out = seat;
	}
	uint32_t manager = bind(vm, "wl_data_device_manager", 3);
	if (manager_out != NULL) {
		*manager_out = manager;
	}
	uint32_t device = guest_new_id(vm->g);
	uint32_t args[] = {device, seat};
	test_assert(guest_request(vm->g, manager, WL_DATA_DEVICE_MANAGER_GET_DATA_DEVICE, args,
				  sizeof(args), NULL, NULL, 0));
	test_assert(guest_roundtrip(vm->g, TIMEOUT));
	return device;
}

/* The host offers a selection; returns the guest's wl_data_offer id. */
static uint32_t host_selection(struct fixture *f, struct vm *vm, uint32_t device) {
	for (size_t i = 0; i < sizeof(clip_data); i++) {
		clip_data[i] = (char)('a' + i % 26);
	}
	test_assert(recorder_offer_selection(f->rec, "text/plain", clip_data, sizeof(clip_data)));
	for (int64_t end = now_ms() + TIMEOUT; now_ms() < end;) {
		for (uint32_t i = 0; i < vm->g->event_count; i++) {
			const struct guest_event *e = &vm->g->events[i];
			if (e->object == device && e->opcode == WL_DATA_DEVICE_SELECTION &&
			    guest_event_word(e, 0) != 0) {
				return guest_event_word(e, 0);
			}
		}
		test_assert(guest_poll(vm->g, TIMEOUT));
	}
	test_fail(__FILE__, __LINE__, "no selection reached the guest");
}

/* wl_data_offer.receive("text/plain", a new read pipe). */
static void receive(struct vm *vm, uint32_t offer) {
	struct bytes b = {.len = 0};
	bytes_string(&b, "text/plain");
	uint32_t ids[] = {sim_next_read_pipe(&vm->sim)};
	uint32_t types[] = {CROSS_DOMAIN_ID_TYPE_READ_PIPE};
	test_assert(guest_request(vm->g, offer, WL_DATA_OFFER_RECEIVE, b.data, (uint32_t)b.len, ids,
				  types, 1));
}

TEST(clipboard_cap_host_to_guest) {
	struct fixture f;
	setup(&f, &clipboard_options, "clipboard = both\nclipboard-text-bytes = 100");
	struct vm vm;
	vm_start(&f, &vm, "vm-clip");
	uint32_t device = data_device(&vm, NULL, NULL);
	uint32_t offer = host_selection(&f, &vm, device);
	receive(&vm, offer);
	for (int64_t end = now_ms() + TIMEOUT; !vm.g->read_hang_up && now_ms() < end;) {
		test_assert(guest_poll(vm.g, TIMEOUT));
	}
	test_assert_msg(vm.g->read_hang_up, "the transfer never ended");
	test_assert_int_eq(vm.g->read_len, 100);
	test_assert(memcmp(vm.g->read_data, clip_data, 100) == 0);
	test_assert_int_eq(recorder_count(f.rec, "wl_data_offer.receive"), 1);
	// A truncation, not an error: the context goes on and says why.
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	char log[16384];
	sim_read_stderr(&vm.sim, log, sizeof(log), 200);
	test_assert_str_contains(log, "truncated at 100 bytes");
	vm_stop(&vm);
	teardown(&f);
}

/*
 * The guest copies @len bytes of @payload as text/plain (with focus, as
 * rule 11 wants) and the host pastes it; returns what arrived in @got (at
 * most @cap bytes) before the pipe closed. WRITEs go in chunks of 4096, the
 * last one hanging up.
 */
/* The guest copies @mime (with focus, as rule 11 wants) and the host
 * pastes it: returns the host's read end, and the guest's write pipe in
 * *pipe_id. */
static int start_paste(struct fixture *f, struct vm *vm, const char *mime, uint32_t *pipe_id) {
	uint32_t manager, seat;
	uint32_t device = data_device(vm, &manager, &seat);
	uint32_t source = guest_new_id(vm->g);
	test_assert(guest_request(vm->g, manager, WL_DATA_DEVICE_MANAGER_CREATE_DATA_SOURCE,
				  &source, 4, NULL, NULL, 0));
	struct bytes b = {.len = 0};
	bytes_string(&b, mime);
	test_assert(guest_request(vm->g, source, WL_DATA_SOURCE_OFFER, b.data, (uint32_t)b.len,
				  NULL, NULL, 0));
	uint32_t serial = guest_take_focus(vm->g, seat, TIMEOUT);
	test_assert_msg(serial != 0, "the guest got no keyboard focus");
	uint32_t sel[] = {source, serial};
	test_assert(guest_request(vm->g, device, WL_DATA_DEVICE_SET_SELECTION, sel, sizeof(sel),
				  NULL, NULL, 0));
	test_assert(guest_roundtrip(vm->g, TIMEOUT));
	test_assert(recorder_client_selection(f->rec) != NULL);
	int fd = recorder_receive_selection(f->rec, mime);
	test_assert(fd >= 0);
	int i = guest_wait_event(vm->g, source, WL_DATA_SOURCE_SEND, TIMEOUT);
	test_assert_msg(i >= 0, "no wl_data_source.send");
	const struct guest_event *e = &vm->g->events[i];
	test_assert_int_eq(e->id_count, 1);
	test_assert_int_eq(e->types[0], CROSS_DOMAIN_ID_TYPE_WRITE_PIPE);
	*pipe_id = e->ids[0];
	return fd;
}

static size_t guest_to_host(struct fixture *f, struct vm *vm, const char *payload, size_t len,
			    char *got, size_t cap) {
	uint32_t pipe_id;
	int fd = start_paste(f, vm, "text/plain", &pipe_id);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	size_t sent = 0, n_got = 0;
	for (int64_t end = now_ms() + 4 * TIMEOUT; now_ms() < end;) {
		if (sent < len) {
			uint32_t chunk = len - sent > 4096 ? 4096 : (uint32_t)(len - sent);
			test_assert(sim_send_write(&vm->sim, pipe_id, payload + sent, chunk,
						   sent + chunk == len));
			sent += chunk;
		}
		ssize_t n = read(fd, got + n_got, cap - n_got);
		if (n == 0) {
			break;
		}
		if (n > 0) {
			n_got += (size_t)n;
			continue;
		}
		test_assert(errno == EAGAIN);
		sim_handle_message(&vm->sim, sent < len ? 0 : 10);
		recorder_dispatch(f->rec, 0);
	}
	close(fd);
	return n_got;
}

TEST(clipboard_cap_guest_to_host) {
	struct fixture f;
	setup(&f, &clipboard_options, "clipboard-text-bytes = 100");
	struct vm vm;
	vm_start(&f, &vm, "vm-clip");
	for (size_t k = 0; k < sizeof(clip_data); k++) {
		clip_data[k] = (char)('A' + k % 26);
	}
	char got[2000];
	size_t len = guest_to_host(&f, &vm, clip_data, sizeof(clip_data), got, sizeof(got));
	test_assert_int_eq(len, 100);
	test_assert(memcmp(got, clip_data, 100) == 0);
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	char log[16384];
	sim_read_stderr(&vm.sim, log, sizeof(log), 200);
	test_assert_str_contains(log, "truncated at 100 bytes");
	vm_stop(&vm);
	teardown(&f);
}

/*
 * Host clients pasting the guest's selection make the write pipes, so the
 * pipe limit is not the guest's doing: past it, a paste is refused (its
 * reader sees EOF at once, logged) and the context goes on. The guest got an
 * identifier already closed: its WRITEs there are dropped as late ones.
 */
TEST(host_pastes_past_the_pipe_limit_are_refused) {
	struct fixture f;
	setup(&f, &clipboard_options, "max-pipes = 2");
	struct vm vm;
	vm_start(&f, &vm, "vm-clip");
	uint32_t first;
	int fds[3];
	fds[0] = start_paste(&f, &vm, "text/plain", &first);
	// The send event of the first paste names the guest's source.
	int last = -1;
	for (uint32_t k = 0; k < vm.g->event_count && last < 0; k++) {
		const struct guest_event *e = &vm.g->events[k];
		if (e->opcode == WL_DATA_SOURCE_SEND && e->id_count == 1 && e->ids[0] == first) {
			last = (int)k;
		}
	}
	test_assert(last >= 0);
	uint32_t source = vm.g->events[last].object;
	uint32_t ids[3] = {first, 0, 0};
	for (int n = 1; n < 3; n++) {
		fds[n] = recorder_receive_selection(f.rec, "text/plain");
		test_assert(fds[n] >= 0);
		int i = -1;
		for (int64_t end = now_ms() + TIMEOUT; i < 0 && now_ms() < end;) {
			test_assert(guest_roundtrip(vm.g, TIMEOUT));
			i = guest_find_event(vm.g, source, WL_DATA_SOURCE_SEND, (uint32_t)last + 1);
		}
		test_assert_msg(i >= 0, "no wl_data_source.send for paste %d", n + 1);
		ids[n] = vm.g->events[i].ids[0];
		last = i;
	}
	// The third paste is over the limit: its reader sees EOF.
	char c;
	fcntl(fds[2], F_SETFL, O_NONBLOCK);
	ssize_t got = -1;
	for (int64_t end = now_ms() + TIMEOUT; got != 0 && now_ms() < end;) {
		got = read(fds[2], &c, 1);
		recorder_dispatch(f.rec, 10);
	}
	test_assert_int_eq(got, 0);
	test_assert(sim_send_write(&vm.sim, ids[2], "late", 4, true));
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	char log[16384];
	sim_read_stderr(&vm.sim, log, sizeof(log), 200);
	test_assert_str_contains(log, "Transfer to the host refused");
	for (int n = 0; n < 3; n++) {
		close(fds[n]);
	}
	vm_stop(&vm);
	teardown(&f);
}

/*
 * crossway-backend(7): nothing follows SHUTDOWN. While the context lingers
 * for an open transfer (a host paste waiting on the guest), a request after
 * SHUTDOWN is a link error: it was handled as if nothing had ended.
 */
TEST(request_after_shutdown_is_an_error) {
	struct fixture f;
	setup(&f, &clipboard_options, "");
	struct vm vm;
	vm_start(&f, &vm, "vm-clip");
	uint32_t pipe_id;
	int fd = start_paste(&f, &vm, "text/plain", &pipe_id);
	test_assert(sim_send_shutdown(&vm.sim));
	uint8_t fence[64];
	size_t n = backend_link_encode_fence(fence, sizeof(fence), ++vm.sim.serial, 7,
					     CROSSWAY_BACKEND_RING_QUERY);
	test_assert(sim_send_raw(&vm.sim, fence, n, -1));
	expect_error(&f, &vm, "FENCE after SHUTDOWN");
	close(fd);
	teardown(&f);
}

/*
 * H-54 clipboard-oversize: with the default policy a guest's 256 001-byte
 * text copy reaches the host as its first 64 000 bytes, then EOF; the rest of
 * the stream is dropped, not buffered, and the context goes on.
 */
TEST(H_54_clipboard_oversize) {
	test_set_timeout(60);
	struct fixture f;
	setup(&f, &clipboard_options, "");
	struct vm vm;
	vm_start(&f, &vm, "vm-clip");
	enum { LEN = 256001 };
	char *payload = malloc(LEN), *got = malloc(LEN);
	test_assert(payload != NULL && got != NULL);
	for (size_t k = 0; k < LEN; k++) {
		payload[k] = (char)('a' + k % 26);
	}
	long rss_before = vm_rss_kib(vm.sim.pid);
	size_t len = guest_to_host(&f, &vm, payload, LEN, got, LEN);
	test_assert_int_eq(len, CROSSWAY_DEFAULT_CLIPBOARD_TEXT_BYTES);
	test_assert(memcmp(got, payload, len) == 0);
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	long rss_after = vm_rss_kib(vm.sim.pid);
	test_note("H-54: %zu of %d bytes arrived; context VmRSS %ld -> %ld KiB", len, LEN,
		  rss_before, rss_after);
	char log[16384];
	sim_read_stderr(&vm.sim, log, sizeof(log), 200);
	test_assert_str_contains(log, "truncated at 64000 bytes");
	free(payload);
	free(got);
	vm_stop(&vm);
	teardown(&f);
}

/*
 * H-55 pipe-stall: the host writes 1 MiB into a paste the guest asked for,
 * and the guest never polls. crosswayd does not read the pipe for it (no
 * buffering: its memory stays flat, the host writer simply waits); another
 * VM is unaffected; when the guest polls again every byte arrives in order.
 */
TEST(H_55_pipe_stall) {
	test_set_timeout(60);
	struct fixture f;
	setup(&f, &clipboard_options, "clipboard = both");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-stall");
	vm_start(&f, &other, "vm-other");
	uint32_t device = data_device(&vm, NULL, NULL);
	enum { LEN = 1 << 20 };
	char *payload = malloc(LEN);
	test_assert(payload != NULL);
	for (size_t k = 0; k < LEN; k++) {
		payload[k] = (char)(k * 7 + (k >> 12));
	}
	static const char mime[] = "application/octet-stream";
	test_assert(recorder_offer_selection(f.rec, mime, payload, LEN));
	uint32_t offer = 0;
	for (int64_t end = now_ms() + TIMEOUT; offer == 0 && now_ms() < end;) {
		for (uint32_t i = 0; i < vm.g->event_count && offer == 0; i++) {
			const struct guest_event *e = &vm.g->events[i];
			if (e->object == device && e->opcode == WL_DATA_DEVICE_SELECTION) {
				offer = guest_event_word(e, 0);
			}
		}
		if (offer == 0) {
			test_assert(guest_poll(vm.g, TIMEOUT));
		}
	}
	test_assert_msg(offer != 0, "no selection reached the guest");
	struct bytes b = {.len = 0};
	bytes_string(&b, mime);
	uint32_t ids[] = {sim_next_read_pipe(&vm.sim)};
	uint32_t types[] = {CROSS_DOMAIN_ID_TYPE_READ_PIPE};
	test_assert(guest_request(vm.g, offer, WL_DATA_OFFER_RECEIVE, b.data, (uint32_t)b.len, ids,
				  types, 1));
	long rss_before = vm_rss_kib(vm.sim.pid);
	// Two seconds of the host writing and the guest not polling.
	for (int64_t end = now_ms() + 2000; now_ms() < end;) {
		recorder_dispatch(f.rec, 10);
		sim_handle_message(&vm.sim, 0);
	}
	long rss_stalled = vm_rss_kib(vm.sim.pid);
	test_assert_int_eq(recorder_count(f.rec, "wl_data_offer.receive"), 1);
	test_assert_msg(recorder_transfer_count(f.rec) == 1,
			"the host's write is not waiting (%zu transfers)",
			recorder_transfer_count(f.rec));
	test_assert_msg(rss_stalled - rss_before < 256, "context VmRSS grew %ld -> %ld KiB",
			rss_before, rss_stalled);
	expect_alive(&other); // and stops it
	// The guest polls again: the whole megabyte, in order.
	for (int64_t end = now_ms() + 4 * TIMEOUT; !vm.g->read_hang_up && now_ms() < end;) {
		recorder_dispatch(f.rec, 0);
		test_assert(guest_poll(vm.g, TIMEOUT));
	}
	test_assert_msg(vm.g->read_hang_up, "the transfer never ended");
	test_note("H-55: VmRSS %ld KiB before, %ld KiB after 2 s stalled; %u bytes in %llu READs",
		  rss_before, rss_stalled, vm.g->read_len, (unsigned long long)vm.g->reads);
	test_assert_int_eq(vm.g->read_len, LEN);
	test_assert(memcmp(vm.g->read_data, payload, LEN) == 0);
	free(payload);
	vm_stop(&vm);
	teardown(&f);
}

/*
 * A host reader that takes nothing: the guest fills the pipe, then keeps
 * writing a byte now and then. Only the reader's progress restarts the
 * stall clock, so the transfer is dropped after the stall time (10 s)
 * however the guest keeps writing; the context goes on.
 */
TEST(write_pipe_stall_despite_guest_writes) {
	test_set_timeout(60);
	struct fixture f;
	setup(&f, &clipboard_options, "");
	struct vm vm;
	vm_start(&f, &vm, "vm-dribble");
	uint32_t pipe_id;
	int fd = start_paste(&f, &vm, "application/octet-stream", &pipe_id);
	static char fill[96 * 1024]; // more than the kernel's pipe buffer
	memset(fill, 'x', sizeof(fill));
	for (size_t sent = 0; sent < sizeof(fill); sent += 4096) {
		test_assert(sim_send_write(&vm.sim, pipe_id, fill + sent, 4096, false));
	}
	char log[16384] = "";
	size_t log_len = 0;
	int64_t start = now_ms(), dropped_at = 0;
	for (int64_t next = start; now_ms() < start + 16000 && dropped_at == 0;) {
		if (now_ms() >= next) {
			test_assert(sim_send_write(&vm.sim, pipe_id, "y", 1, false));
			next += 500;
		}
		sim_handle_message(&vm.sim, 50);
		recorder_dispatch(f.rec, 0);
		log_len += sim_read_stderr(&vm.sim, log + log_len, sizeof(log) - log_len, 0);
		if (strstr(log, "took nothing for") != NULL) {
			dropped_at = now_ms();
		}
	}
	test_assert_msg(dropped_at != 0, "the transfer was never dropped: %s", log);
	test_note("dropped %.1f s after the pipe filled", (double)(dropped_at - start) / 1000);
	test_assert(dropped_at - start >= 9000);
	test_assert(guest_roundtrip(vm.g, TIMEOUT));
	close(fd);
	vm_stop(&vm);
	teardown(&f);
}

TEST(pipe_limit) {
	struct fixture f;
	setup(&f, &clipboard_options, "clipboard = both\nmax-pipes = 2");
	struct vm vm, other;
	vm_start(&f, &vm, "vm-pipes");
	vm_start(&f, &other, "vm-other");
	uint32_t device = data_device(&vm, NULL, NULL);
	uint32_t offer = host_selection(&f, &vm, device);
	// The guest does not poll: the transfers stay open.
	receive(&vm, offer);
	receive(&vm, offer);
	int64_t end = now_ms() + TIMEOUT;
	while (recorder_count(f.rec, "wl_data_offer.receive") < 2 && now_ms() < end) {
		recorder_dispatch(f.rec, 10);
		sim_handle_message(&vm.sim, 0);
	}
	test_assert_int_eq(recorder_count(f.rec, "wl_data_offer.receive"), 2);
	receive(&vm, offer);
	expect_error(&f, &vm, "pipe limit (2) reached");
	test_assert_int_eq(recorder_count(f.rec, "wl_data_offer.receive"), 2);
	expect_alive(&other);
	teardown(&f);
}

/* ------------------------------------------------------------------ */
/* Security context                                                   */

TEST(security_context_required_but_absent) {
	struct fixture f;
	setup(&f, NULL, "security-context = required");
	struct vm vm;
	vm_spawn(&f, &vm);
	test_assert(sim_send_hello(&vm.sim, "vm-sec", 0));
	test_assert_msg(sim_wait_error(&vm.sim, TIMEOUT), "no ERROR");
	test_assert_str_contains(vm.sim.error_text, "requires a security context");
	test_assert_int_eq(vm.sim.error_code, -EPIPE);
	test_assert_int_eq(sim_finish(&vm.sim, TIMEOUT), 3);
	vm_free(&vm);
	settle(&f, 100);
	// No client of the compositor got further than the registry.
	test_assert_int_eq(recorder_count(f.rec, "wl_compositor.create_surface"), 0);
	teardown(&f);
}

#if HAVE_SECURITY_CONTEXT
static bool hello_or_end(struct sim *sim, void *data) {
	(void)data;
	return sim->have_hello_reply || sim->have_error || sim->closed;
}

/* HELLO with context id @ctx_id (the sim's helper always sends 1). */
static bool hello_ctx(struct vm *vm, const char *name, uint32_t ctx_id) {
	uint8_t buf[256];
	size_t n = backend_link_encode_hello(buf, sizeof(buf), ++vm->sim.serial, ctx_id, 0, name,
					     "limits");
	return n > 0 && sim_send_raw(&vm->sim, buf, n, -1) &&
	       sim_wait(&vm->sim, hello_or_end, NULL, TIMEOUT) && vm->sim.have_hello_reply;
}

static void secctx_run(bool required) {
	struct fixture f;
	setup(&f, NULL,
	      required ? "security-context = required\nsecurity-context-app-id = test.{vm}.app"
		       : "security-context-app-id = test.{vm}.app");
	struct secctx_recorder *sc = secctx_recorder_create(f.rec);
	test_assert(sc != NULL);
	struct vm vm;
	vm_spawn(&f, &vm);
	test_assert_msg(hello_ctx(&vm, "vm-sec", 7), "no HELLO_REPLY: %s", vm.sim.error_text);
	test_assert_msg(sim_init(&vm.sim, 20, TIMEOUT), "INIT failed: %s", vm.sim.error_text);
	test_assert(guest_registry(vm.g, TIMEOUT));
	const struct secctx_recorder_context *c = secctx_recorder_last(sc);
	test_assert_msg(c != NULL, "crosswayd made no security context");
	test_assert(c->committed);
	test_assert_str_eq(c->sandbox_engine, "crossway");
	test_assert_str_eq(c->app_id, "test.vm-sec.app");
	test_assert_str_eq(c->instance_id, "vm-sec-7");
	test_assert_int_eq(secctx_recorder_connections(sc), 1);
	// The guest's traffic went through the accepted connection, not the
	// one that set it up.
	const struct recorder_record *setup_rec = recorder_find(
		f.rec, "wp_security_context_manager_v1.create_listener", 0);
	const struct recorder_record *guest_rec = recorder_last(f.rec, "wl_display.get_registry");
	test_assert(setup_rec != NULL && guest_rec != NULL);
	test_assert(guest_rec->client != setup_rec->client);
	// The guest is not shown the manager.
	test_assert(guest_find_global(vm.g, "wp_security_context_manager_v1") == NULL);
	vm_stop(&vm);
	settle(&f, 100);
	secctx_recorder_destroy(sc);
	teardown(&f);
}

TEST(security_context_optional) {
	secctx_run(false);
}

TEST(security_context_required) {
	secctx_run(true);
}
#else
TEST(security_context_offered) {
	test_skip("built without wp_security_context_v1 (wayland-protocols < 1.32); "
		  "tests/limits/with-new-protocols.sh runs this with 1.43");
}
#endif
