/*
 * Buffers through the ring: a simulated VMM and guest kernel (tests/common/sim)
 * and a byte-level guest client (tests/common/guest) drive a real crosswayd
 * against the recording compositor in this process.
 *
 * crosswayd runs with --render-node none: the memfd allocator, whatever GPU the
 * machine has. That allocator makes linear buffers of the formats listed in
 * daemon/image.c and nothing else (image_allocator_can: modifier LINEAR and a
 * known fourcc), so of the recorder's format table
 *   XR24/LINEAR, AR24/LINEAR, XR24/I915_X_TILED, AR24/I915_X_TILED,
 *   XR24/INVALID, AR24/INVALID
 * exactly the two linear pairs may reach the guest, and the v3 format event
 * (implicit modifier, DRM_FORMAT_MOD_INVALID) never does.
 */
/* _GNU_SOURCE: memfd_create and the seal flags for the read-only keymap seat. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wayland-server-core.h>
#include <wayland-server-protocol.h>

#include "daemon/compositor.h"
#include "daemon/devprobe.h"
#include "tests/common/guest.h"
#include "tests/common/sim.h"
#include "tests/common/sim_recorder.h"
#include "tests/harness/test.h"
#include "tests/recorder/recorder.h"

#define TIMEOUT 5000

#define FOURCC(a, b, c, d)                                                                         \
	((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define FORMAT_XRGB8888 FOURCC('X', 'R', '2', '4')
#define FORMAT_ARGB8888 FOURCC('A', 'R', '2', '4')
#define FORMAT_NV12 FOURCC('N', 'V', '1', '2')
#define FORMAT_R8 FOURCC('R', '8', ' ', ' ')
#define MOD_LINEAR 0ull
#define MOD_I915_X_TILED ((1ull << 56) | 1)
#define SHM_XRGB8888 1u // wl_shm format
#define PAGE 4096u

/* zwp_linux_dmabuf_v1 and friends: opcodes from linux-dmabuf-unstable-v1.xml. */
#define DMABUF_CREATE_PARAMS 1
#define DMABUF_GET_DEFAULT_FEEDBACK 2
#define DMABUF_EVT_FORMAT 0
#define DMABUF_EVT_MODIFIER 1
#define PARAMS_DESTROY 0
#define PARAMS_ADD 1
#define PARAMS_CREATE 2
#define PARAMS_CREATE_IMMED 3
#define PARAMS_EVT_CREATED 0
#define FEEDBACK_EVT_DONE 0
#define FEEDBACK_EVT_FORMAT_TABLE 1
#define FEEDBACK_EVT_MAIN_DEVICE 2
#define FEEDBACK_EVT_TRANCHE_DONE 3
#define FEEDBACK_EVT_TRANCHE_TARGET_DEVICE 4
#define FEEDBACK_EVT_TRANCHE_FORMATS 5
#define FEEDBACK_EVT_TRANCHE_FLAGS 6
#define DISPLAY_EVT_DELETE_ID 1

/* What the memfd allocator can make, in the recorder's table order. */
static const struct recorder_dmabuf_format memfd_formats[] = {
	{FORMAT_XRGB8888, MOD_LINEAR},
	{FORMAT_ARGB8888, MOD_LINEAR},
};
#define MEMFD_FORMAT_COUNT (sizeof(memfd_formats) / sizeof(memfd_formats[0]))

struct fixture {
	struct recorder *rec;
	struct sim sim;
	struct guest g;
};

static const char *crosswayd(void) {
	return test_program("CROSSWAYD");
}

/* crosswayd on the memfd allocator, talking to an already created recorder. */
static void start_on(struct fixture *f) {
	static const char *const args[] = {"--render-node", "none", NULL};
	test_assert(sim_spawn(&f->sim, crosswayd(), recorder_socket_path(f->rec), args, true));
	sim_attach_recorder(&f->sim, f->rec);
	test_assert_msg(sim_hello(&f->sim, "vm-buffers"), "no HELLO_REPLY");
	test_assert_int_eq(f->sim.hello_reply.caps.supports_dmabuf, 0);
	test_assert_msg(sim_init(&f->sim, 20, TIMEOUT), "INIT failed: %s", f->sim.error_text);
	guest_init(&f->g, &f->sim);
}

static void start(struct fixture *f, const struct recorder_options *opts) {
	memset(f, 0, sizeof(*f));
	f->rec = recorder_create(opts);
	test_assert(f->rec != NULL);
	start_on(f);
}

static void stop(struct fixture *f) {
	test_assert_msg(!f->sim.have_error, "ERROR: %s", f->sim.error_text);
	test_assert(sim_send_shutdown(&f->sim));
	test_assert_msg(f->sim.fault[0] == '\0', "crosswayd broke the link contract: %s",
			f->sim.fault);
	test_assert_int_eq(sim_finish(&f->sim, TIMEOUT), 0);
	guest_finish(&f->g);
	recorder_destroy(f->rec);
}

/* Argument words of a request, @n of them. */
static bool request(struct fixture *f, uint32_t object, uint16_t opcode, const uint32_t *words,
		    uint32_t n) {
	return guest_request(&f->g, object, opcode, words, 4 * n, NULL, NULL, 0);
}

/* A request carrying one blob resource as its fd. */
static bool request_blob(struct fixture *f, uint32_t object, uint16_t opcode, const uint32_t *words,
			 uint32_t n, uint32_t resource) {
	uint32_t ids[] = {resource}, types[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB};
	return guest_request(&f->g, object, opcode, words, 4 * n, ids, types, 1);
}

/* The first event from @object with @opcode at index @from or later, polling
 * for up to TIMEOUT. -1 if none came. */
static int wait_event_from(struct guest *g, uint32_t object, uint16_t opcode, uint32_t from) {
	for (int tries = 0; tries < 200; tries++) {
		int i = guest_find_event(g, object, opcode, from);
		if (i >= 0) {
			return i;
		}
		if (g->eof || !guest_poll(g, TIMEOUT)) {
			return -1;
		}
	}
	return -1;
}

/* The bytes of an event's array argument that starts at word @word. */
static const uint8_t *event_array(const struct guest_event *e, unsigned word, uint32_t *len) {
	*len = guest_event_word(e, word);
	size_t at = 8 + 4 * (size_t)word + 4;
	test_assert_msg(at + *len <= e->size, "array of %" PRIu32 " bytes overruns its event",
			*len);
	return e->data + at;
}

static uint64_t round_up(uint64_t v, uint64_t to) {
	return (v + to - 1) / to * to;
}

/* The recorder's format table as it sends it (linux-dmabuf v4: u32 format,
 * u32 padding, u64 modifier). Returns the byte count. */
static size_t recorder_table(uint8_t *out, size_t cap) {
	size_t count;
	const struct recorder_dmabuf_format *formats = recorder_dmabuf_formats(&count);
	test_assert(count * 16 <= cap);
	memset(out, 0, count * 16);
	for (size_t i = 0; i < count; i++) {
		memcpy(out + 16 * i, &formats[i].format, 4);
		memcpy(out + 16 * i + 8, &formats[i].modifier, 8);
	}
	return count * 16;
}

/* Index of (@format, @modifier) in the recorder's table, failing if absent. */
static uint16_t table_index(uint32_t format, uint64_t modifier) {
	size_t count;
	const struct recorder_dmabuf_format *formats = recorder_dmabuf_formats(&count);
	for (size_t i = 0; i < count; i++) {
		if (formats[i].format == format && formats[i].modifier == modifier) {
			return (uint16_t)i;
		}
	}
	test_fail(__FILE__, __LINE__, "the recorder does not offer 0x%08" PRIx32 "/0x%" PRIx64,
		  format, modifier);
}

/* ------------------------------------------------------------------ */
/* linux-dmabuf v4: default feedback                                  */

struct feedback {
	uint32_t dmabuf, feedback;
	uint32_t first; // index of the first feedback event
	int done;       // index of feedback.done
};

static void get_default_feedback(struct fixture *f, struct feedback *fb) {
	test_assert(guest_registry(&f->g, TIMEOUT));
	const struct guest_global *gl = guest_find_global(&f->g, "zwp_linux_dmabuf_v1");
	test_assert_msg(gl != NULL, "zwp_linux_dmabuf_v1 is not offered to the guest");
	test_assert_int_eq(gl->version, 4);
	fb->dmabuf = guest_bind(&f->g, "zwp_linux_dmabuf_v1", 4);
	test_assert(fb->dmabuf != 0);
	fb->feedback = guest_new_id(&f->g);
	fb->first = f->g.event_count;
	test_assert(request(f, fb->dmabuf, DMABUF_GET_DEFAULT_FEEDBACK, &fb->feedback, 1));
	fb->done = wait_event_from(&f->g, fb->feedback, FEEDBACK_EVT_DONE, fb->first);
	test_assert_msg(fb->done >= 0, "no zwp_linux_dmabuf_feedback_v1.done");
}

TEST(v4_format_table_arrives_as_a_read_only_blob_with_the_compositors_bytes) {
	struct fixture f;
	start(&f, &(struct recorder_options){.dmabuf_version = 4});
	struct feedback fb;
	get_default_feedback(&f, &fb);
	int i = guest_find_event(&f.g, fb.feedback, FEEDBACK_EVT_FORMAT_TABLE, fb.first);
	test_assert_msg(i >= 0, "no format_table event");
	const struct guest_event *e = &f.g.events[i];
	uint8_t want[4096];
	size_t want_len = recorder_table(want, sizeof(want));
	// The fd travels as an identifier, the size as the one word left.
	test_assert_int_eq(e->size, 12);
	test_assert_int_eq(guest_event_word(e, 0), want_len);
	test_assert_int_eq(e->id_count, 1);
	test_assert_int_eq(e->types[0], CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB);
	test_assert_int_eq(e->sizes[0], want_len);

	struct crossway_backend_blob_reply reply;
	uint64_t blob_size = round_up(want_len, PAGE);
	int fd = sim_create_blob(&f.sim, e->ids[0], blob_size, NULL, &reply, TIMEOUT);
	test_assert_msg(fd >= 0, "CREATE_BLOB of the format table: %s", f.sim.error_text);
	test_assert_int_eq(reply.handle_type, CROSSWAY_BACKEND_HANDLE_SHM);
	test_assert_int_eq(reply.size, blob_size);
	// The recorder seals its table against writes: the guest may only read.
	test_assert_int_eq(reply.map_info,
			   CROSSWAY_BACKEND_MAP_CACHE_CACHED | CROSSWAY_BACKEND_MAP_ACCESS_READ);
	uint8_t *map = mmap(NULL, blob_size, PROT_READ, MAP_SHARED, fd, 0);
	test_assert(map != MAP_FAILED);
	test_assert_msg(memcmp(map, want, want_len) == 0,
			"the guest reads other bytes than the compositor's format table");
	// The entries the tranche keeps are there, at the indices it names.
	for (size_t k = 0; k < MEMFD_FORMAT_COUNT; k++) {
		uint16_t idx = table_index(memfd_formats[k].format, memfd_formats[k].modifier);
		uint32_t format;
		uint64_t modifier;
		memcpy(&format, map + 16 * idx, 4);
		memcpy(&modifier, map + 16 * idx + 8, 8);
		test_assert_int_eq(format, memfd_formats[k].format);
		test_assert_int_eq(modifier, memfd_formats[k].modifier);
	}
	munmap(map, blob_size);
	void *w = mmap(NULL, blob_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	test_assert_msg(w == MAP_FAILED, "the format table blob can be mapped writable");
	close(fd);
	stop(&f);
}

TEST(v4_feedback_tranche_keeps_only_what_the_memfd_allocator_can_make) {
	struct fixture f;
	start(&f, &(struct recorder_options){.dmabuf_version = 4});
	struct feedback fb;
	get_default_feedback(&f, &fb);
	// The feedback, in the recorder's order, one tranche.
	static const uint16_t order[] = {
		FEEDBACK_EVT_FORMAT_TABLE,
		FEEDBACK_EVT_MAIN_DEVICE,
		FEEDBACK_EVT_TRANCHE_TARGET_DEVICE,
		FEEDBACK_EVT_TRANCHE_FORMATS,
		FEEDBACK_EVT_TRANCHE_FLAGS,
		FEEDBACK_EVT_TRANCHE_DONE,
		FEEDBACK_EVT_DONE,
	};
	size_t n = 0;
	for (uint32_t i = fb.first; i <= (uint32_t)fb.done; i++) {
		const struct guest_event *e = &f.g.events[i];
		if (e->object != fb.feedback) {
			continue;
		}
		test_assert_msg(n < sizeof(order) / sizeof(order[0]), "extra feedback event %u",
				e->opcode);
		test_assert_int_eq(e->opcode, order[n]);
		n++;
	}
	test_assert_int_eq(n, sizeof(order) / sizeof(order[0]));

	dev_t want_dev = makedev(RECORDER_DMABUF_MAIN_DEVICE_MAJOR,
				 RECORDER_DMABUF_MAIN_DEVICE_MINOR);
	static const uint16_t devices[] = {FEEDBACK_EVT_MAIN_DEVICE,
					   FEEDBACK_EVT_TRANCHE_TARGET_DEVICE};
	for (size_t k = 0; k < 2; k++) {
		int i = guest_find_event(&f.g, fb.feedback, devices[k], fb.first);
		test_assert(i >= 0);
		uint32_t len;
		const uint8_t *dev = event_array(&f.g.events[i], 0, &len);
		test_assert_int_eq(len, sizeof(dev_t));
		test_assert_msg(memcmp(dev, &want_dev, sizeof(dev_t)) == 0,
				"device of event %u changed on the way", devices[k]);
	}
	int flags = guest_find_event(&f.g, fb.feedback, FEEDBACK_EVT_TRANCHE_FLAGS, fb.first);
	test_assert_int_eq(guest_event_word(&f.g.events[flags], 0), 0);

	// The tranche: exactly the linear pairs, in the compositor's order.
	int t = guest_find_event(&f.g, fb.feedback, FEEDBACK_EVT_TRANCHE_FORMATS, fb.first);
	uint32_t len;
	const uint8_t *indices = event_array(&f.g.events[t], 0, &len);
	test_assert_int_eq(len, 2 * MEMFD_FORMAT_COUNT);
	for (size_t k = 0; k < MEMFD_FORMAT_COUNT; k++) {
		uint16_t got;
		memcpy(&got, indices + 2 * k, 2);
		test_assert_int_eq(got,
				   table_index(memfd_formats[k].format, memfd_formats[k].modifier));
	}
	// ... while the compositor sent its whole table.
	size_t count;
	recorder_dmabuf_formats(&count);
	const struct recorder_record *sent = recorder_last(
		f.rec, "zwp_linux_dmabuf_feedback_v1.tranche_formats");
	test_assert(sent != NULL && sent->direction == RECORDER_DIRECTION_EVENT);
	test_assert_int_eq(sent->args[0].a.size, 2 * count);
	// v4 has no format or modifier events.
	test_assert_int_eq(guest_find_event(&f.g, fb.dmabuf, DMABUF_EVT_FORMAT, 0), -1);
	test_assert_int_eq(guest_find_event(&f.g, fb.dmabuf, DMABUF_EVT_MODIFIER, 0), -1);
	stop(&f);
}

/* ------------------------------------------------------------------ */
/* linux-dmabuf v3: format and modifier events                        */

TEST(v3_format_and_modifier_events_keep_only_what_the_memfd_allocator_can_make) {
	struct fixture f;
	start(&f, &(struct recorder_options){.dmabuf_version = 3});
	test_assert(guest_registry(&f.g, TIMEOUT));
	uint32_t first = f.g.event_count;
	uint32_t dmabuf = guest_bind(&f.g, "zwp_linux_dmabuf_v1", 3);
	test_assert(dmabuf != 0);
	test_assert(guest_roundtrip(&f.g, TIMEOUT));
	// The implicit-modifier format events: the memfd allocator cannot
	// promise a layout it does not choose, so none gets through.
	test_assert_int_eq(guest_find_event(&f.g, dmabuf, DMABUF_EVT_FORMAT, first), -1);
	size_t k = 0;
	for (uint32_t i = first; i < f.g.event_count; i++) {
		const struct guest_event *e = &f.g.events[i];
		if (e->object != dmabuf || e->opcode != DMABUF_EVT_MODIFIER) {
			continue;
		}
		test_assert_msg(k < MEMFD_FORMAT_COUNT,
				"extra modifier event 0x%08" PRIx32 " 0x%08" PRIx32 "%08" PRIx32,
				guest_event_word(e, 0), guest_event_word(e, 1),
				guest_event_word(e, 2));
		uint64_t modifier = (uint64_t)guest_event_word(e, 1) << 32 | guest_event_word(e, 2);
		test_assert_int_eq(guest_event_word(e, 0), memfd_formats[k].format);
		test_assert_int_eq(modifier, memfd_formats[k].modifier);
		k++;
	}
	test_assert_int_eq(k, MEMFD_FORMAT_COUNT);
	// The compositor sent them all.
	size_t count;
	recorder_dmabuf_formats(&count);
	test_assert_int_eq(recorder_count(f.rec, "zwp_linux_dmabuf_v1.modifier"), count);
	test_assert_int_eq(recorder_count(f.rec, "zwp_linux_dmabuf_v1.format"), 2);
	stop(&f);
}

/* ------------------------------------------------------------------ */
/* A guest dmabuf buffer from a memfd blob                            */

struct image {
	struct cross_domain_image_requirements req;
	struct crossway_backend_blob_reply reply;
	uint32_t resource;
	int fd;
	uint32_t planes;
};

static void make_image(struct fixture *f, struct image *im, uint32_t width, uint32_t height,
		       uint32_t fourcc) {
	test_assert_msg(sim_image_requirements(&f->sim, width, height, fourcc, &im->req, TIMEOUT),
			"GET_IMAGE_REQUIREMENTS: %s", f->sim.error_text);
	test_assert_int_eq(im->req.modifier, MOD_LINEAR);
	im->fd = sim_create_blob(&f->sim, im->req.blob_id, im->req.size, &im->resource, &im->reply,
				 TIMEOUT);
	test_assert_msg(im->fd >= 0, "CREATE_BLOB: %s", f->sim.error_text);
	test_assert_int_eq(im->reply.handle_type, CROSSWAY_BACKEND_HANDLE_SHM);
	test_assert_int_eq(im->reply.modifier, im->req.modifier);
	im->planes = fourcc == FORMAT_NV12 ? 2 : 1;
	for (uint32_t i = 0; i < im->planes; i++) {
		test_assert_int_eq(im->reply.strides[i], im->req.strides[i]);
		test_assert_int_eq(im->reply.offsets[i], im->req.offsets[i]);
	}
}

static uint32_t create_params(struct fixture *f, uint32_t dmabuf) {
	uint32_t params = guest_new_id(&f->g);
	test_assert(request(f, dmabuf, DMABUF_CREATE_PARAMS, &params, 1));
	return params;
}

static bool add_plane(struct fixture *f, uint32_t params, uint32_t resource, uint32_t plane,
		      uint32_t offset, uint32_t stride, uint64_t modifier) {
	uint32_t a[] = {plane, offset, stride, (uint32_t)(modifier >> 32), (uint32_t)modifier};
	return request_blob(f, params, PARAMS_ADD, a, 5, resource);
}

static bool same_file(int a, int b) {
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

struct buffer_case {
	const char *name;
	uint32_t fourcc;
	uint32_t width, height;
	bool immed;
};

static const struct buffer_case buffer_cases[] = {
	{"XR24 create", FORMAT_XRGB8888, 64, 32, false},
	{"XR24 create_immed", FORMAT_XRGB8888, 64, 32, true},
	{"NV12 create (two planes, one blob)", FORMAT_NV12, 64, 32, false},
	{"NV12 create_immed (two planes, one blob)", FORMAT_NV12, 64, 32, true},
};

TEST_P(memfd_blob_planes_reach_the_compositor_unchanged, buffer_cases) {
	struct fixture f;
	start(&f, &(struct recorder_options){.dmabuf_version = 4});
	test_assert(guest_registry(&f.g, TIMEOUT));
	uint32_t dmabuf = guest_bind(&f.g, "zwp_linux_dmabuf_v1", 4);
	uint32_t compositor = guest_bind(&f.g, "wl_compositor", 4);
	test_assert(dmabuf != 0 && compositor != 0);
	struct image im;
	make_image(&f, &im, data->width, data->height, data->fourcc);
	// The guest writes; the compositor's plane must show the same bytes.
	uint8_t *px = mmap(NULL, im.req.size, PROT_READ | PROT_WRITE, MAP_SHARED, im.fd, 0);
	test_assert(px != MAP_FAILED);
	for (size_t i = 0; i < im.req.size; i++) {
		px[i] = (uint8_t)(i * 31 + 7);
	}
	munmap(px, im.req.size);

	uint32_t params = create_params(&f, dmabuf);
	for (uint32_t i = 0; i < im.planes; i++) {
		test_assert(add_plane(&f, params, im.resource, i, im.req.offsets[i],
				      im.req.strides[i], im.req.modifier));
	}
	uint32_t buffer;
	uint32_t from = f.g.event_count;
	if (data->immed) {
		buffer = guest_new_id(&f.g);
		uint32_t a[] = {buffer, data->width, data->height, data->fourcc, 0};
		test_assert(request(&f, params, PARAMS_CREATE_IMMED, a, 5));
		test_assert(guest_roundtrip(&f.g, TIMEOUT));
	} else {
		uint32_t a[] = {data->width, data->height, data->fourcc, 0};
		test_assert(request(&f, params, PARAMS_CREATE, a, 4));
		int i = wait_event_from(&f.g, params, PARAMS_EVT_CREATED, from);
		test_assert_msg(i >= 0, "no zwp_linux_buffer_params_v1.created");
		buffer = guest_event_word(&f.g.events[i], 0);
		test_assert_msg(buffer >= 0xff000000u, "created(%" PRIu32 ") is no server id",
				buffer);
	}
	test_assert_msg(!f.sim.have_error, "ERROR: %s", f.sim.error_text);
	test_assert(request(&f, params, PARAMS_DESTROY, NULL, 0));

	const struct recorder_dmabuf *d = recorder_last_dmabuf(f.rec);
	test_assert_msg(d != NULL, "the compositor made no dmabuf buffer");
	test_assert_int_eq(d->immed, data->immed);
	test_assert_int_eq(d->width, data->width);
	test_assert_int_eq(d->height, data->height);
	test_assert_int_eq(d->format, data->fourcc);
	test_assert_int_eq(d->flags, 0);
	test_assert_int_eq(d->plane_count, im.planes);
	if (!data->immed) {
		test_assert_int_eq(d->buffer_id, buffer); // server ids are the same on both sides
	}
	for (uint32_t i = 0; i < im.planes; i++) {
		const struct recorder_dmabuf_plane *p = &d->planes[i];
		test_assert_msg(same_file(p->fd, im.fd),
				"plane %" PRIu32 " is not the memfd the guest got", i);
		test_assert_int_eq(p->offset, im.req.offsets[i]);
		test_assert_int_eq(p->stride, im.req.strides[i]);
		test_assert_int_eq(p->modifier, im.req.modifier);
		uint8_t got[64];
		test_assert_int_eq(pread(p->fd, got, sizeof(got), p->offset), (ssize_t)sizeof(got));
		for (size_t k = 0; k < sizeof(got); k++) {
			test_assert_int_eq(got[k], (uint8_t)((p->offset + k) * 31 + 7));
		}
	}

	// And it is a buffer the compositor takes.
	uint32_t surface = guest_new_id(&f.g);
	test_assert(request(&f, compositor, 0 /* create_surface */, &surface, 1));
	uint32_t attach[] = {buffer, 0, 0};
	test_assert(request(&f, surface, 1 /* attach */, attach, 3));
	test_assert(request(&f, surface, 6 /* commit */, NULL, 0));
	test_assert(guest_roundtrip(&f.g, TIMEOUT));
	struct recorder_pixels pix;
	test_assert(recorder_surface_pixels(f.rec, -1, 0, &pix));
	test_assert(pix.dmabuf);
	test_assert_int_eq(pix.width, data->width);
	test_assert_int_eq(pix.format, data->fourcc);
	close(im.fd);
	stop(&f);
}

/* ------------------------------------------------------------------ */
/* Hostile params: each ends the context, nothing is created          */

struct add_op {
	uint32_t plane, offset, stride;
	uint64_t modifier;
};

enum create_kind { CREATE_NONE, CREATE, CREATE_IMMED };

struct hostile_case {
	const char *name;
	struct add_op adds[2];
	uint32_t add_count;
	uint32_t adds_allowed; // adds the compositor may see (the ones before the bad one)
	enum create_kind create;
	const char *request; // the message the ERROR names
	const char *rule;
};

/* The blob: 64x32 XR24, stride 256, 8192 bytes. */
static const struct hostile_case hostile_cases[] = {
	{"plane index 4",
	 {{0, 0, 256, MOD_LINEAR}, {4, 0, 256, MOD_LINEAR}},
	 2,
	 1,
	 CREATE_IMMED,
	 "add(opcode 1)",
	 "plane index 4 is out of range (0..3)"},
	{"duplicate plane",
	 {{0, 0, 256, MOD_LINEAR}, {0, 0, 256, MOD_LINEAR}},
	 2,
	 1,
	 CREATE_IMMED,
	 "add(opcode 1)",
	 "plane 0 was already added"},
	{"plane past the blob end (create)",
	 {{0, 4096, 256, MOD_LINEAR}},
	 1,
	 1,
	 CREATE,
	 "create(opcode 2)",
	 "plane 0 ends at byte 12288, past its buffer's 8192"},
	{"plane past the blob end (create_immed)",
	 {{0, 4, 256, MOD_LINEAR}},
	 1,
	 1,
	 CREATE_IMMED,
	 "create_immed(opcode 3)",
	 "plane 0 ends at byte 8196, past its buffer's 8192"},
	{"modifiers differ across planes",
	 {{0, 0, 256, MOD_LINEAR}, {1, 0, 256, MOD_I915_X_TILED}},
	 2,
	 1,
	 CREATE_IMMED,
	 "add(opcode 1)",
	 "plane 1 has modifier 0x100000000000001, plane 0 0x0"},
};

static bool have_error(struct sim *sim, void *data) {
	(void)data;
	return sim->have_error || sim->closed;
}

TEST_P(hostile_params_end_the_context_and_create_nothing, hostile_cases) {
	struct fixture f;
	start(&f, &(struct recorder_options){.dmabuf_version = 4});
	test_assert(guest_registry(&f.g, TIMEOUT));
	uint32_t dmabuf = guest_bind(&f.g, "zwp_linux_dmabuf_v1", 4);
	test_assert(dmabuf != 0);
	struct image im;
	make_image(&f, &im, 64, 32, FORMAT_XRGB8888);
	test_assert_int_eq(im.req.size, 8192);
	test_assert_int_eq(im.req.strides[0], 256);
	uint32_t params = create_params(&f, dmabuf);
	for (uint32_t i = 0; i < data->add_count; i++) {
		const struct add_op *op = &data->adds[i];
		test_assert(add_plane(&f, params, im.resource, op->plane, op->offset, op->stride,
				      op->modifier));
		if (i + 1 == data->adds_allowed) {
			// What came before the bad request is at the compositor.
			test_assert(guest_roundtrip(&f.g, TIMEOUT));
		}
	}
	if (data->create == CREATE) {
		uint32_t a[] = {64, 32, FORMAT_XRGB8888, 0};
		request(&f, params, PARAMS_CREATE, a, 4);
	} else {
		uint32_t a[] = {guest_new_id(&f.g), 64, 32, FORMAT_XRGB8888, 0};
		request(&f, params, PARAMS_CREATE_IMMED, a, 5);
	}
	// Keep the compositor reading while the context ends, so anything
	// crosswayd let through would be recorded.
	sim_wait(&f.sim, have_error, NULL, TIMEOUT);
	test_assert_msg(sim_wait_error(&f.sim, TIMEOUT), "no ERROR (wanted \"%s\")", data->rule);
	char want[256];
	snprintf(want, sizeof(want), "zwp_linux_buffer_params_v1#%" PRIu32 ".%s: %s", params,
		 data->request, data->rule);
	test_assert_str_contains(f.sim.error_text, want);
	char log[16384];
	sim_read_stderr(&f.sim, log, sizeof(log), 200);
	test_assert_str_contains(log, want);
	test_assert_int_eq(sim_finish(&f.sim, TIMEOUT), 1);
	for (int i = 0; i < 20 && recorder_client_count(f.rec) > 0; i++) {
		recorder_dispatch(f.rec, 10);
	}
	test_assert_int_eq(recorder_count(f.rec, "zwp_linux_buffer_params_v1.add"),
			   data->adds_allowed);
	test_assert_int_eq(recorder_count(f.rec, "zwp_linux_buffer_params_v1.create"), 0);
	test_assert_int_eq(recorder_count(f.rec, "zwp_linux_buffer_params_v1.create_immed"), 0);
	test_assert(recorder_last_dmabuf(f.rec) == NULL);
	close(im.fd);
	guest_finish(&f.g);
	recorder_destroy(f.rec);
}

/* ------------------------------------------------------------------ */
/* fd and memory hygiene over many wl_shm buffers                     */

#define SHM_BUFFERS 10000
#define SHM_BATCH 100
#define SHM_WARMUP 1000
/* VmRSS may move by a few pages (malloc arenas, the kernel's accounting of
 * the rings and socket buffers); anything past this is a leak. Under ASan the
 * allocator and its shadow grow in steps of about 300 kB per 10 000 buffers
 * even with the quarantine off (the plain build stays flat over 30 000), so
 * sanitized builds get 1 MiB: still under 100 bytes a buffer. */
#if CROSSWAY_SANITIZED
#define RSS_SLACK_KB 1024
#else
#define RSS_SLACK_KB 256
#endif

/* The context process: crosswayd forks its sandboxed worker (when it has a
 * PID namespace to fork into); else crosswayd itself. */
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
	return child > 0 ? child : pid;
}

static int count_fds(pid_t pid) {
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	test_assert_msg(d != NULL, "cannot read %s: %s", path, strerror(errno));
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		n += e->d_name[0] != '.';
	}
	closedir(d);
	return n;
}

static long rss_kb(pid_t pid) {
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	test_assert_msg(f != NULL, "cannot read %s", path);
	long kb = -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
			break;
		}
	}
	fclose(f);
	test_assert(kb > 0);
	return kb;
}

struct shm_counts {
	uint64_t pools, buffers, buffer_destroys, pool_destroys;
};

static void count_shm(void *data, const struct recorder_record *r) {
	struct shm_counts *c = data;
	if (r->direction != RECORDER_DIRECTION_REQUEST) {
		return;
	}
	c->pools += strcmp(r->name, "wl_shm.create_pool") == 0;
	c->buffers += strcmp(r->name, "wl_shm_pool.create_buffer") == 0;
	c->buffer_destroys += strcmp(r->name, "wl_buffer.destroy") == 0;
	c->pool_destroys += strcmp(r->name, "wl_shm_pool.destroy") == 0;
}

struct live {
	size_t buffers, pools;
};

static enum wl_iterator_result count_live(struct wl_resource *r, void *data) {
	struct live *l = data;
	l->buffers += strcmp(wl_resource_get_class(r), "wl_buffer") == 0;
	l->pools += strcmp(wl_resource_get_class(r), "wl_shm_pool") == 0;
	return WL_ITERATOR_CONTINUE;
}

static struct live live_shm_objects(struct recorder *rec) {
	struct live l = {0};
	struct wl_client *c;
	wl_client_for_each(c, wl_display_get_client_list(recorder_display(rec))) {
		wl_client_for_each_resource(c, count_live, &l);
	}
	return l;
}

/* Polls until wl_display.delete_id has come for every id in [lo, hi): only
 * then may a client use them again. */
static void wait_deleted(struct guest *g, uint32_t lo, uint32_t hi) {
	uint32_t seen = 0, from = 0;
	for (int tries = 0; seen < hi - lo && tries < 1000; tries++) {
		for (; from < g->event_count; from++) {
			const struct guest_event *e = &g->events[from];
			uint32_t id = guest_event_word(e, 0);
			seen += e->object == 1 && e->opcode == DISPLAY_EVT_DELETE_ID && id >= lo &&
				id < hi;
		}
		if (seen < hi - lo) {
			test_assert(guest_poll(g, TIMEOUT));
		}
	}
	test_assert_msg(seen == hi - lo, "%" PRIu32 " of %" PRIu32 " ids were deleted", seen,
			hi - lo);
}

/* One batch of buffers as a guest proxy shadows wl_shm pools (see
 * crossway-vmsim): an R8 x size blob per pool, create_pool with it, a buffer,
 * destroy both, UNREF the blob. Object ids are reused batch after batch. */
static void shm_batch(struct fixture *f, uint32_t shm, uint32_t first_id, int n, int *made) {
	struct guest *g = &f->g;
	g->next_id = first_id;
	for (int i = 0; i < n; i++, (*made)++) {
		// A few pool sizes, as apps have: 16 to 64 KiB.
		uint32_t pool_size = 16384u * (1 + (uint32_t)*made % 4);
		struct cross_domain_image_requirements req;
		test_assert_msg(
			sim_image_requirements(&f->sim, pool_size, 1, FORMAT_R8, &req, TIMEOUT),
			"buffer %d: GET_IMAGE_REQUIREMENTS: %s", *made, f->sim.error_text);
		uint32_t resource;
		int fd = sim_create_blob(&f->sim, req.blob_id, req.size, &resource, NULL, TIMEOUT);
		test_assert_msg(fd >= 0, "buffer %d: CREATE_BLOB: %s", *made, f->sim.error_text);
		close(fd);
		uint32_t pool = guest_new_id(g);
		uint32_t pa[] = {pool, pool_size};
		test_assert(request_blob(f, shm, 0 /* create_pool */, pa, 2, resource));
		uint32_t buffer = guest_new_id(g);
		uint32_t ba[] = {buffer, 0, 64, 64, 256, SHM_XRGB8888};
		test_assert(request(f, pool, 0 /* create_buffer */, ba, 6));
		test_assert(request(f, buffer, 0 /* destroy */, NULL, 0));
		test_assert(request(f, pool, 1 /* destroy */, NULL, 0));
		test_assert(sim_send_unref(&f->sim, resource));
	}
	test_assert(guest_roundtrip(g, TIMEOUT));
	wait_deleted(g, first_id, g->next_id);
	test_assert_msg(!f->sim.have_error, "ERROR: %s", f->sim.error_text);
	guest_finish(g); // forget the events of this batch
}

TEST(ten_thousand_shm_buffers_leave_fds_rss_and_compositor_objects_as_they_were) {
	test_set_timeout(600);
#if CROSSWAY_SANITIZED
	// Freed memory would sit in ASan's quarantine and count as RSS.
	const char *old = getenv("ASAN_OPTIONS");
	char opts[512];
	snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=0", old ? old : "", old ? ":" : "");
	setenv("ASAN_OPTIONS", opts, 1);
#endif
	struct shm_counts counts = {0};
	struct fixture f;
	memset(&f, 0, sizeof(f));
	f.rec = recorder_create(&(struct recorder_options){
		.max_records = 1024, .record_func = count_shm, .record_data = &counts});
	test_assert(f.rec != NULL);
	start_on(&f);
	test_assert(guest_registry(&f.g, TIMEOUT));
	uint32_t shm = guest_bind(&f.g, "wl_shm", 1);
	test_assert(shm != 0);
	test_assert(guest_roundtrip(&f.g, TIMEOUT));
	uint32_t first_id = guest_new_id(&f.g);
	pid_t worker = context_pid(f.sim.pid);
	int fds_start = count_fds(worker);
	int made = 0;
	// Warm-up: what crosswayd and malloc touch once (item slots, arenas,
	// queues) is part of the starting point for RSS; fds must not move at all.
	while (made < SHM_WARMUP) {
		shm_batch(&f, shm, first_id, SHM_BATCH, &made);
	}
	int fds_before = count_fds(worker);
	long rss_before = rss_kb(worker);
	while (made < SHM_WARMUP + SHM_BUFFERS) {
		shm_batch(&f, shm, first_id, SHM_BATCH, &made);
	}
	int fds_after = count_fds(worker);
	long rss_after = rss_kb(worker);
	struct live live = live_shm_objects(f.rec);
	test_note("crosswayd worker %d: %d fds at the start, %d after %d warm-up buffers, %d "
		  "after %d more",
		  (int)worker, fds_start, fds_before, SHM_WARMUP, fds_after, SHM_BUFFERS);
	test_note("crosswayd worker VmRSS: %ld kB after the warm-up, %ld kB after %d more buffers "
		  "(slack %d kB)",
		  rss_before, rss_after, SHM_BUFFERS, RSS_SLACK_KB);
	test_note("compositor: %" PRIu64 " pools, %" PRIu64 " buffers created, %" PRIu64
		  " and %" PRIu64 " destroyed; %zu buffers and %zu pools live",
		  counts.pools, counts.buffers, counts.buffer_destroys, counts.pool_destroys,
		  live.buffers, live.pools);
	test_assert_int_eq(made, SHM_WARMUP + SHM_BUFFERS);
	test_assert_int_eq(counts.pools, made);
	test_assert_int_eq(counts.buffers, made);
	test_assert_int_eq(counts.buffer_destroys, made);
	test_assert_int_eq(counts.pool_destroys, made);
	test_assert_int_eq(live.buffers, 0);
	test_assert_int_eq(live.pools, 0);
	test_assert_msg(fds_before == fds_start && fds_after == fds_start,
			"crosswayd had %d fds at the start, %d after the warm-up, %d at the end",
			fds_start, fds_before, fds_after);
	test_assert_msg(rss_after <= rss_before + RSS_SLACK_KB,
			"crosswayd's RSS grew from %ld kB to %ld kB", rss_before, rss_after);
	stop(&f);
}

/* ------------------------------------------------------------------ */
/* map_info of a received keymap                                      */

/*
 * ring_test's keymap_arrives_as_a_blob checks that a keymap becomes a blob
 * with the right bytes. Here: that the guest may only read it, whatever the
 * fd allows. The recorder's
 * seat sends a write-sealed memfd (or an unsealed one); the O_RDONLY case
 * needs a seat of our own, since the recorder never sends one.
 */
static const char ro_keymap[] = "xkb_keymap { xkb_keycodes { }; }; // read-only";

/* What the keyboard of the seat of our own sends as its keymap. */
enum own_keymap {
	KEYMAP_READ_ONLY, // ro_keymap in a memfd reopened O_RDONLY
	KEYMAP_PIPE,      // a pipe's write end where memory belongs
	KEYMAP_SHORT,     // ro_keymap in a memfd, with a size of 64 KiB
};
static enum own_keymap own_keymap;

static void own_keyboard_release(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static const struct wl_keyboard_interface own_keyboard_impl = {.release = own_keyboard_release};

static void own_seat_get_keyboard(struct wl_client *client, struct wl_resource *resource,
				  uint32_t id) {
	struct wl_resource *r = wl_resource_create(client, &wl_keyboard_interface,
						   wl_resource_get_version(resource), id);
	test_assert(r != NULL);
	wl_resource_set_implementation(r, &own_keyboard_impl, NULL, NULL);
	int fd, spare = -1;
	uint32_t size = own_keymap == KEYMAP_READ_ONLY ? sizeof(ro_keymap) : 65536;
	if (own_keymap == KEYMAP_PIPE) {
		int p[2];
		test_assert(pipe2(p, O_CLOEXEC) == 0);
		fd = p[1];
		spare = p[0];
	} else {
		fd = memfd_create("dmabuf-test-keymap", MFD_CLOEXEC);
		test_assert(fd >= 0);
		test_assert_int_eq(write(fd, ro_keymap, sizeof(ro_keymap)),
				   (ssize_t)sizeof(ro_keymap));
	}
	if (own_keymap == KEYMAP_READ_ONLY) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		spare = fd;
		fd = open(path, O_RDONLY | O_CLOEXEC);
		test_assert(fd >= 0);
	}
	wl_keyboard_send_keymap(r, WL_KEYBOARD_KEYMAP_FORMAT_XKB_V1, fd, size);
	close(fd);
	if (spare >= 0) {
		close(spare);
	}
}

static void own_seat_unsupported(struct wl_client *client, struct wl_resource *resource,
				 uint32_t id) {
	wl_resource_post_error(resource, WL_SEAT_ERROR_MISSING_CAPABILITY, "keyboard only");
}

static void own_seat_release(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static const struct wl_seat_interface own_seat_impl = {
	.get_pointer = own_seat_unsupported,
	.get_keyboard = own_seat_get_keyboard,
	.get_touch = own_seat_unsupported,
	.release = own_seat_release,
};

static void own_seat_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
	struct wl_resource *r = wl_resource_create(client, &wl_seat_interface, (int)version, id);
	test_assert(r != NULL);
	wl_resource_set_implementation(r, &own_seat_impl, NULL, NULL);
	wl_seat_send_capabilities(r, WL_SEAT_CAPABILITY_KEYBOARD);
}

/* Starts the recorder (@opts), with a seat of our own sending @own when
 * @opts has none, and crosswayd; the guest binds wl_seat and asks for a
 * keyboard, whose id is returned. */
static uint32_t guest_keyboard(struct fixture *f, const struct recorder_options *opts,
			       enum own_keymap own) {
	memset(f, 0, sizeof(*f));
	f->rec = recorder_create(opts);
	test_assert(f->rec != NULL);
	if (!opts->seat) {
		own_keymap = own;
		test_assert(wl_global_create(recorder_display(f->rec), &wl_seat_interface, 5, NULL,
					     own_seat_bind) != NULL);
	}
	start_on(f);
	test_assert(guest_registry(&f->g, TIMEOUT));
	uint32_t seat = guest_bind(&f->g, "wl_seat", 5);
	test_assert(seat != 0);
	uint32_t keyboard = guest_new_id(&f->g);
	test_assert(request(f, seat, 1 /* get_keyboard */, &keyboard, 1));
	return keyboard;
}

struct keymap_case {
	const char *name;
	bool own_seat;         // the O_RDONLY seat above instead of the recorder's
	bool unsealed;         // recorder_options.keymap_unsealed
	bool writable_mapping; // whether the fd itself maps shared and writable
};

static const struct keymap_case keymap_cases[] = {
	{"write-sealed memfd", false, false, false},
	{"O_RDONLY memfd", true, false, false},
	// A compositor may give every client the same writable keymap: the
	// guest still only reads it (a guest writing it would change other
	// host clients' keymap).
	{"unsealed read-write memfd", false, true, true},
};

TEST_P(received_keymap_is_read_only_for_the_guest, keymap_cases) {
	struct fixture f;
	uint32_t keyboard = guest_keyboard(
		&f,
		&(struct recorder_options){.seat = !data->own_seat,
					   .keymap_unsealed = data->unsealed},
		KEYMAP_READ_ONLY);
	int i = guest_wait_event(&f.g, keyboard, 0 /* keymap */, TIMEOUT);
	test_assert_msg(i >= 0, "no keymap");
	const struct guest_event *e = &f.g.events[i];
	test_assert_int_eq(e->id_count, 1);
	test_assert_int_eq(e->types[0], CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB);
	uint32_t size = guest_event_word(e, 1);
	struct crossway_backend_blob_reply reply;
	int fd = sim_create_blob(&f.sim, e->ids[0], round_up(size, PAGE), NULL, &reply, TIMEOUT);
	test_assert_msg(fd >= 0, "CREATE_BLOB of the keymap: %s", f.sim.error_text);
	test_assert_int_eq(reply.map_info & CROSSWAY_BACKEND_MAP_ACCESS_MASK,
			   CROSSWAY_BACKEND_MAP_ACCESS_READ);
	test_assert_int_eq(reply.map_info & CROSSWAY_BACKEND_MAP_CACHE_MASK,
			   CROSSWAY_BACKEND_MAP_CACHE_CACHED);
	// The fd itself is what the compositor sent.
	void *w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	test_assert_int_eq(w != MAP_FAILED, data->writable_mapping);
	if (w != MAP_FAILED) {
		munmap(w, size);
	}
	if (data->own_seat) {
		char got[sizeof(ro_keymap)];
		test_assert_int_eq(size, sizeof(ro_keymap));
		test_assert_int_eq(pread(fd, got, sizeof(got), 0), (ssize_t)sizeof(got));
		test_assert(memcmp(got, ro_keymap, sizeof(got)) == 0);
	}
	close(fd);
	stop(&f);
}

/*
 * A keymap event whose fd the guest cannot use loses the event (logged and
 * counted): a pipe where memory belongs, or memory smaller than the size the
 * event gives (the guest's reader would fault past its end).
 */
struct bad_keymap_case {
	const char *name;
	enum own_keymap keymap;
	const char *logged;
};

static const struct bad_keymap_case bad_keymap_cases[] = {
	{"pipe", KEYMAP_PIPE, "where memory belongs"},
	{"short memfd", KEYMAP_SHORT, "smaller than the size the event gives"},
};

TEST_P(keymap_the_guest_cannot_use_is_dropped, bad_keymap_cases) {
	struct fixture f;
	uint32_t keyboard = guest_keyboard(&f, &(struct recorder_options){0}, data->keymap);
	test_assert(guest_roundtrip(&f.g, TIMEOUT));
	test_assert_msg(guest_wait_event(&f.g, keyboard, 0 /* keymap */, 200) < 0,
			"the guest got the keymap");
	char log[16384];
	sim_read_stderr(&f.sim, log, sizeof(log), 200);
	test_assert_str_contains(log, "Dropped wl_keyboard#");
	test_assert_str_contains(log, data->logged);
	stop(&f);
}

/* ---------------------------------------------------------------------- */
/* The compositor's main device (daemon/devprobe.c)                       */

struct probe_result {
	bool ok;
	dev_t dev;
	char error[256];
};

/* Runs devprobe_main_device in a child (it blocks) while this process serves
 * the recorder. */
static struct probe_result probe_recorder(const struct recorder_options *opts) {
	struct recorder *rec = recorder_create(opts);
	test_assert(rec != NULL);
	int fds[2];
	test_assert(pipe2(fds, O_CLOEXEC) == 0);
	pid_t pid = fork();
	test_assert(pid >= 0);
	if (pid == 0) {
		struct probe_result r = {0};
		char err[200];
		int fd = compositor_connect(recorder_socket_path(rec), err, sizeof(err));
		if (fd < 0) {
			snprintf(r.error, sizeof(r.error), "connect: %s", err);
		} else {
			r.ok = devprobe_main_device(fd, TIMEOUT, &r.dev, r.error, sizeof(r.error));
		}
		_exit(write(fds[1], &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(fds[1]);
	struct probe_result r = {0};
	size_t got = 0;
	for (int i = 0; i < TIMEOUT / 10 && got < sizeof(r); i++) {
		recorder_dispatch(rec, 10);
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		if (poll(&pfd, 1, 0) == 1) {
			ssize_t n = read(fds[0], (char *)&r + got, sizeof(r) - got);
			if (n <= 0) {
				break;
			}
			got += (size_t)n;
		}
	}
	close(fds[0]);
	int status;
	test_assert(waitpid(pid, &status, 0) == pid);
	test_assert_msg(got == sizeof(r), "the probe did not report");
	// The probe's connection is gone and left nothing behind.
	for (int i = 0; i < 50 && recorder_client_count(rec) > 0; i++) {
		recorder_dispatch(rec, 10);
	}
	test_assert_int_eq(recorder_client_count(rec), 0);
	recorder_destroy(rec);
	return r;
}

TEST(main_device_comes_from_v4_default_feedback) {
	struct probe_result r = probe_recorder(&(struct recorder_options){.dmabuf_version = 4});
	test_assert_msg(r.ok, "probe failed: %s", r.error);
	test_assert_int_eq(major(r.dev), RECORDER_DMABUF_MAIN_DEVICE_MAJOR);
	test_assert_int_eq(minor(r.dev), RECORDER_DMABUF_MAIN_DEVICE_MINOR);
}

TEST(main_device_is_unknown_without_linux_dmabuf_v4) {
	struct probe_result r = probe_recorder(&(struct recorder_options){.dmabuf_version = 3});
	test_assert(!r.ok);
	test_assert_str_contains(r.error, "no linux-dmabuf version 4");
	r = probe_recorder(&(struct recorder_options){0});
	test_assert(!r.ok);
	test_assert_str_contains(r.error, "no linux-dmabuf version 4");
}

/* The render node chosen is the one whose device the compositor names,
 * by its primary or its render node; else none (the caller takes the
 * first). */
TEST(main_device_picks_the_matching_render_node) {
	const struct devprobe_node nodes[] = {
		{"/dev/dri/renderD128", {makedev(226, 0), makedev(226, 128)}},
		{"/dev/dri/renderD129", {makedev(226, 1), makedev(226, 129)}},
		{"/dev/dri/renderD130", {0, makedev(226, 130)}},
	};
	test_assert_int_eq(devprobe_pick(nodes, 3, makedev(226, 1)), 1);
	test_assert_int_eq(devprobe_pick(nodes, 3, makedev(226, 129)), 1);
	test_assert_int_eq(devprobe_pick(nodes, 3, makedev(226, 130)), 2);
	test_assert_int_eq(devprobe_pick(nodes, 3, makedev(226, 0)), 0);
	test_assert_int_eq(devprobe_pick(nodes, 3, makedev(226, 2)), -1);
	test_assert_int_eq(devprobe_pick(nodes, 3, 0), -1); // 0 never matches an absent node
}
