#include <stdio.h>

#include "proto_tables.h"
#include "tests/harness/bytes.h"
#include "tests/harness/test.h"
#include "wire/limits.h"
#include "wire/wayland_msg.h"

struct header_case {
	uint32_t word; // size << 16 | opcode
	size_t avail;
	enum wayland_msg_result expect;
	const char *reason;
};

static const struct header_case header_cases[] = {
	{8u << 16, 8, WAYLAND_MSG_OK, NULL},
	{12u << 16 | 3, 8, WAYLAND_MSG_OK, NULL}, // header alone is enough to judge
	{4096u << 16, 8, WAYLAND_MSG_OK, NULL},
	{8u << 16, 7, WAYLAND_MSG_INCOMPLETE, NULL},
	{0u << 16, 8, WAYLAND_MSG_INVALID, "size 0 < 8"},          // H-11
	{4u << 16, 8, WAYLAND_MSG_INVALID, "size 4 < 8"},          // H-11
	{9u << 16, 8, WAYLAND_MSG_INVALID, "not a multiple of 4"}, // H-12
	{4095u << 16, 8, WAYLAND_MSG_INVALID, "not a multiple of 4"},
	{4100u << 16, 8, WAYLAND_MSG_INVALID, "size 4100 > limit 4096"}, // H-13
	{65532u << 16, 8, WAYLAND_MSG_INVALID, "size 65532 > limit 4096"},
};

TEST_P(header_parse, header_cases) {
	uint8_t buf[8];
	uint32_t id = 7;
	memcpy(buf, &id, 4);
	memcpy(buf + 4, &data->word, 4);
	struct wayland_msg_header hdr;
	struct wire_error err = {0};
	enum wayland_msg_result r = wayland_msg_header_parse(
		buf, data->avail, WAYLAND_MSG_DEFAULT_MAX_SIZE, &hdr, &err);
	test_assert_int_eq(r, data->expect);
	if (data->reason) {
		test_assert_str_contains(err.text, data->reason);
	}
	if (r == WAYLAND_MSG_OK) {
		test_assert_int_eq(hdr.object_id, 7);
		test_assert_int_eq(hdr.size, data->word >> 16);
		test_assert_int_eq(hdr.opcode, data->word & 0xffff);
	}
}

/* A decode case: a message of iface.requests/events[opcode] built by @build. */
struct decode_case {
	const char *name;
	const struct proto_interface *iface;
	bool event;
	uint16_t opcode;
	void (*build)(struct bytes *b);
	const char *reason; // NULL: must decode
};

static void attach_ok(struct bytes *b) {
	bytes_u32(b, 14); // buffer
	bytes_u32(b, 0);
	bytes_u32(b, 0);
}
static void attach_null_buffer(struct bytes *b) {
	bytes_u32(b, 0); // nullable
	bytes_u32(b, 1);
	bytes_u32(b, 2);
}
static void attach_short(struct bytes *b) {
	bytes_u32(b, 14);
	bytes_u32(b, 0);
}
static void attach_trailing(struct bytes *b) {
	attach_ok(b);
	bytes_u32(b, 0);
}
static void title_ok(struct bytes *b) {
	bytes_string(b, "hello");
}
static void title_empty(struct bytes *b) {
	bytes_string(b, "");
}
static void title_null(struct bytes *b) {
	bytes_u32(b, 0); // H-19
}
static void title_no_nul(struct bytes *b) {
	bytes_u32(b, 4); // H-18
	bytes_raw(b, "abcd", 4);
}
static void title_interior_nul(struct bytes *b) {
	bytes_u32(b, 4); // H-18
	bytes_raw(b, "a\0c\0", 4);
}
static void title_len_huge(struct bytes *b) {
	bytes_u32(b, 0xffffffffu); // H-17
	bytes_raw(b, "abcd", 4);
}
static void title_len_fffffffd(struct bytes *b) {
	bytes_u32(b, 0xfffffffdu); // H-17
}
static void title_len_past_end(struct bytes *b) {
	bytes_u32(b, 9);
	bytes_raw(b, "abcdefgh", 8);
}
static void bind_ok(struct bytes *b) {
	bytes_u32(b, 3);
	bytes_string(b, "wl_compositor");
	bytes_u32(b, 4);
	bytes_u32(b, 5);
}
static void bind_new_id_zero(struct bytes *b) {
	bytes_u32(b, 3);
	bytes_string(b, "wl_compositor");
	bytes_u32(b, 4);
	bytes_u32(b, 0); // H-19
}
static void sync_ok(struct bytes *b) {
	bytes_u32(b, 3);
}
static void enter_keys_ok(struct bytes *b) {
	bytes_u32(b, 1);           // serial
	bytes_u32(b, 0xff000001u); // surface
	bytes_u32(b, 8);           // array of two keys
	bytes_u32(b, 30);
	bytes_u32(b, 31);
}
static void enter_keys_overflow(struct bytes *b) {
	bytes_u32(b, 1);
	bytes_u32(b, 0xff000001u);
	bytes_u32(b, 0xfffffffcu); // H-20
	bytes_u32(b, 30);
}
static void enter_null_surface(struct bytes *b) {
	bytes_u32(b, 1);
	bytes_u32(b, 0); // surface is not nullable
	bytes_u32(b, 0);
}
static void create_pool_ok(struct bytes *b) {
	bytes_u32(b, 9); // new_id; the fd takes no bytes
	bytes_u32(b, 4096);
}
static void accept_null_mime(struct bytes *b) {
	bytes_u32(b, 5); // serial
	bytes_u32(b, 0); // nullable string
}
static void motion_ok(struct bytes *b) {
	bytes_u32(b, 100);
	bytes_u32(b, 10 * 256);
	bytes_u32(b, (uint32_t)(-3 * 256));
}

static const struct decode_case decode_cases[] = {
	{"attach", &proto_wl_surface, false, 1, attach_ok, NULL},
	{"attach null buffer", &proto_wl_surface, false, 1, attach_null_buffer, NULL},
	{"attach short", &proto_wl_surface, false, 1, attach_short, "message ends before"},
	{"attach trailing", &proto_wl_surface, false, 1, attach_trailing, "4 trailing bytes"},
	{"set_title", &proto_xdg_toplevel, false, 2, title_ok, NULL},
	{"set_title empty", &proto_xdg_toplevel, false, 2, title_empty, NULL},
	{"set_title null", &proto_xdg_toplevel, false, 2, title_null, "null string"},
	{"set_title no nul", &proto_xdg_toplevel, false, 2, title_no_nul, "not NUL-terminated"},
	{"set_title interior nul", &proto_xdg_toplevel, false, 2, title_interior_nul,
	 "embedded NUL"},
	{"set_title len 0xffffffff", &proto_xdg_toplevel, false, 2, title_len_huge,
	 "runs past the message"},
	{"set_title len 0xfffffffd", &proto_xdg_toplevel, false, 2, title_len_fffffffd,
	 "runs past the message"},
	{"set_title len past end", &proto_xdg_toplevel, false, 2, title_len_past_end,
	 "runs past the message"},
	{"bind", &proto_wl_registry, false, 0, bind_ok, NULL},
	{"bind new id 0", &proto_wl_registry, false, 0, bind_new_id_zero, "new id 0"},
	{"sync", &proto_wl_display, false, 0, sync_ok, NULL},
	{"keyboard enter", &proto_wl_keyboard, true, 1, enter_keys_ok, NULL},
	{"keyboard enter array overflow", &proto_wl_keyboard, true, 1, enter_keys_overflow,
	 "array length runs past"},
	{"keyboard enter null surface", &proto_wl_keyboard, true, 1, enter_null_surface,
	 "null object is not allowed"},
	{"create_pool", &proto_wl_shm, false, 0, create_pool_ok, NULL},
	{"accept null mime", &proto_wl_data_offer, false, 0, accept_null_mime, NULL},
	{"pointer motion", &proto_wl_pointer, true, 2, motion_ok, NULL},
};

TEST_P(decode, decode_cases) {
	struct bytes b = {0};
	size_t start = wl_begin(&b, 12, data->opcode);
	data->build(&b);
	wl_end(&b, start);
	struct wayland_msg_header hdr;
	struct wire_error err = {0};
	test_assert_int_eq(
		wayland_msg_header_parse(b.data, b.len, WAYLAND_MSG_DEFAULT_MAX_SIZE, &hdr, &err),
		WAYLAND_MSG_OK);
	const struct proto_message *m = data->event ? &data->iface->events[data->opcode]
						    : &data->iface->requests[data->opcode];
	struct wayland_args args;
	bool ok = wayland_msg_decode(b.data, &hdr, data->iface, m, &args, &err);
	if (data->reason == NULL) {
		test_assert_msg(ok, "%s: %s", data->name, err.text);
	} else {
		test_assert_msg(!ok, "%s decoded but should fail", data->name);
		test_assert_str_contains(err.text, data->reason);
		// The reason names interface#id.message(opcode N).
		char prefix[128];
		snprintf(prefix, sizeof(prefix), "%s#12.%s(opcode %u)", data->iface->name, m->name,
			 data->opcode);
		test_assert_str_contains(err.text, prefix);
	}
}

TEST(decode_values_and_fd_count) {
	struct bytes b = {0};
	size_t start = wl_begin(&b, 3, PROTO_WL_SHM_REQ_CREATE_POOL);
	create_pool_ok(&b);
	wl_end(&b, start);
	struct wayland_msg_header hdr;
	test_assert(wayland_msg_header_parse(b.data, b.len, 4096, &hdr, NULL) == WAYLAND_MSG_OK);
	const struct proto_message *m = &proto_wl_shm.requests[PROTO_WL_SHM_REQ_CREATE_POOL];
	test_assert_int_eq(m->fd_count, 1);
	struct wayland_args args;
	test_assert(wayland_msg_decode(b.data, &hdr, &proto_wl_shm, m, &args, NULL));
	test_assert_int_eq(args.value[0], 9);    // id
	test_assert_int_eq(args.value[1], 0);    // fd index 0
	test_assert_int_eq(args.value[2], 4096); // size
	test_assert_int_eq(args.offset[2], 12);
}

TEST(encode_roundtrip_with_new_string) {
	// Re-serialise xdg_toplevel.set_title with a longer title: size and
	// padding must be right and the result must decode.
	struct bytes b = {0};
	size_t start = wl_begin(&b, 20, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE);
	bytes_string(&b, "ab");
	wl_end(&b, start);
	struct wayland_msg_header hdr;
	test_assert(wayland_msg_header_parse(b.data, b.len, 4096, &hdr, NULL) == WAYLAND_MSG_OK);
	const struct proto_message *m =
		&proto_xdg_toplevel.requests[PROTO_XDG_TOPLEVEL_REQ_SET_TITLE];
	struct wayland_args args;
	test_assert(wayland_msg_decode(b.data, &hdr, &proto_xdg_toplevel, m, &args, NULL));
	union wayland_value values[PROTO_MAX_ARGS];
	wayland_args_to_values(b.data, m, &args, values);
	const char *title = "[vm-a] ab";
	values[0].bytes.data = title;
	values[0].bytes.len = (uint32_t)strlen(title) + 1;
	uint8_t out[64];
	size_t n = wayland_msg_encode(out, sizeof(out), 20, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE, m,
				      values);
	test_assert_int_eq(n, 8 + 4 + 12);
	test_assert(wayland_msg_header_parse(out, n, 4096, &hdr, NULL) == WAYLAND_MSG_OK);
	test_assert_int_eq(hdr.size, n);
	test_assert(wayland_msg_decode(out, &hdr, &proto_xdg_toplevel, m, &args, NULL));
	test_assert_str_eq(wayland_args_string(out, &args, 0), title);
	test_assert_int_eq(out[n - 1], 0); // padding
	// Too small a buffer: nothing is produced.
	test_assert_int_eq(
		wayland_msg_encode(out, 16, 20, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE, m, values), 0);
}

/* Parses and decodes the one message in @b, an @m of @iface on object @id,
 * into @args, and formats it into @text. */
static void decode_and_format(const struct bytes *b, uint32_t id,
			      const struct proto_interface *iface, const struct proto_message *m,
			      struct wayland_args *args, char *text, size_t cap) {
	struct wayland_msg_header hdr;
	test_assert(wayland_msg_header_parse(b->data, b->len, 4096, &hdr, NULL) == WAYLAND_MSG_OK);
	test_assert(wayland_msg_decode(b->data, &hdr, iface, m, args, NULL));
	wayland_msg_format(text, cap, b->data, id, iface, m, args);
}

TEST(format_like_wayland_debug) {
	struct bytes b = {0};
	struct wayland_args args;
	char text[128];
	size_t start = wl_begin(&b, 12, PROTO_WL_SURFACE_REQ_ATTACH);
	attach_ok(&b);
	wl_end(&b, start);
	const struct proto_message *m = &proto_wl_surface.requests[PROTO_WL_SURFACE_REQ_ATTACH];
	decode_and_format(&b, 12, &proto_wl_surface, m, &args, text, sizeof(text));
	test_assert_str_eq(text, "wl_surface#12.attach(wl_buffer#14, 0, 0)");

	b.len = 0;
	start = wl_begin(&b, 2, PROTO_WL_REGISTRY_REQ_BIND);
	bind_ok(&b);
	wl_end(&b, start);
	m = &proto_wl_registry.requests[0];
	decode_and_format(&b, 2, &proto_wl_registry, m, &args, text, sizeof(text));
	test_assert_str_eq(text,
			   "wl_registry#2.bind(3, \"wl_compositor\", 4, new id wl_compositor#5)");

	// Control characters are escaped; truncation is visible.
	b.len = 0;
	start = wl_begin(&b, 20, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE);
	bytes_string(&b, "a\nb\"");
	wl_end(&b, start);
	m = &proto_xdg_toplevel.requests[PROTO_XDG_TOPLEVEL_REQ_SET_TITLE];
	decode_and_format(&b, 20, &proto_xdg_toplevel, m, &args, text, sizeof(text));
	test_assert_str_eq(text, "xdg_toplevel#20.set_title(\"a\\x0ab\\\"\")");
	wayland_msg_format(text, 12, b.data, 20, &proto_xdg_toplevel, m, &args);
	test_assert_int_eq(strlen(text), 11);
	test_assert(strcmp(text + 8, "...") == 0);

	// Negative ints, fixed point, the largest uint, and a bound interface
	// name carrying a control character (escaped like any string).
	b.len = 0;
	start = wl_begin(&b, 12, PROTO_WL_SURFACE_REQ_ATTACH);
	bytes_u32(&b, 0);
	bytes_u32(&b, (uint32_t)INT32_MIN);
	bytes_u32(&b, (uint32_t)-7);
	wl_end(&b, start);
	m = &proto_wl_surface.requests[PROTO_WL_SURFACE_REQ_ATTACH];
	decode_and_format(&b, 4294967295u, &proto_wl_surface, m, &args, text, sizeof(text));
	test_assert_str_eq(text, "wl_surface#4294967295.attach(nil, -2147483648, -7)");

	b.len = 0;
	start = wl_begin(&b, 2, PROTO_WL_REGISTRY_REQ_BIND);
	bytes_u32(&b, 3);
	bytes_string(&b, "wl_\x1b[2J\\");
	bytes_u32(&b, 4);
	bytes_u32(&b, 5);
	wl_end(&b, start);
	m = &proto_wl_registry.requests[0];
	decode_and_format(&b, 2, &proto_wl_registry, m, &args, text, sizeof(text));
	test_assert_str_eq(text, "wl_registry#2.bind(3, \"wl_\\x1b[2J\\\\\", 4, "
				 "new id wl_\\x1b[2J\\\\#5)");
	// Every capacity: NUL-terminated within it, a prefix of the whole text
	// (up to the ellipsis), and exactly the whole text once it fits.
	char whole[128];
	snprintf(whole, sizeof(whole), "%s", text);
	for (size_t cap = 1; cap <= strlen(whole) + 1; cap++) {
		char small[128];
		memset(small, 'Z', sizeof(small));
		wayland_msg_format(small, cap, b.data, 2, &proto_wl_registry, m, &args);
		test_assert(memchr(small, '\0', cap) != NULL);
		test_assert_int_eq(small[cap], 'Z');
		size_t keep = cap > 4 ? cap - 4 : 0;
		test_assert(strncmp(small, whole, keep) == 0);
		if (cap == strlen(whole) + 1) {
			test_assert_str_eq(small, whole);
		} else if (cap > 3) {
			test_assert(strcmp(small + cap - 4, "...") == 0);
		}
	}

	b.len = 0;
	start = wl_begin(&b, 30, PROTO_WL_POINTER_EVT_MOTION);
	bytes_u32(&b, 1);
	bytes_u32(&b, (uint32_t)(-384)); // -1.5
	bytes_u32(&b, 256 * 100 + 64);   // 100.25
	wl_end(&b, start);
	m = &proto_wl_pointer.events[PROTO_WL_POINTER_EVT_MOTION];
	decode_and_format(&b, 30, &proto_wl_pointer, m, &args, text, sizeof(text));
	test_assert_str_eq(text, "wl_pointer#30.motion(1, -1.500000, 100.250000)");
}

TEST(find_interface) {
	test_assert(proto_find_interface("wl_surface") == &proto_wl_surface);
	test_assert(proto_find_interface("xdg_wm_base") == &proto_xdg_wm_base);
	test_assert(proto_find_interface("zwlr_screencopy_manager_v1") == NULL);
	test_assert(proto_find_interface("") == NULL);
	for (size_t i = 0; i < proto_interface_count; i++) {
		test_assert(proto_find_interface(proto_interfaces[i]->name) == proto_interfaces[i]);
		test_assert_int_eq(proto_interfaces[i]->index, i);
	}
}
