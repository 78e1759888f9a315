#include "tests/harness/bytes.h"
#include "tests/harness/test.h"
#include "wire/cross_domain.h"

static void hdr(struct bytes *b, uint8_t cmd, uint16_t size) {
	uint8_t h[8] = {cmd, 0, 0, 0, 0, 0, 0, 0};
	memcpy(h + 2, &size, 2);
	bytes_raw(b, h, 8);
}

static void send_cmd(struct bytes *b, uint32_t layout, uint32_t count, uint32_t data_size,
		     int16_t size_delta) {
	hdr(b, CROSS_DOMAIN_CMD_SEND,
	    (uint16_t)(16 + 12 * layout + data_size + (uint32_t)(int32_t)size_delta));
	bytes_u32(b, count);
	bytes_u32(b, data_size);
	for (uint32_t i = 0; i < 3 * layout; i++) {
		bytes_u32(b, i < count ? 0x100 + i : 0);
	}
	for (uint32_t i = 0; i < data_size; i++) {
		b->data[b->len++] = (uint8_t)i;
	}
	if (size_delta > 0) {
		b->len += (size_t)size_delta;
	}
}

struct xd_case {
	const char *name;
	void (*build)(struct bytes *b);
	const char *reason; // NULL: every command decodes
	uint8_t first_cmd;
};

static void init16(struct bytes *b) {
	hdr(b, 1, 16);
	bytes_u32(b, 7);
	bytes_u32(b, 1);
}
static void init20(struct bytes *b) {
	hdr(b, 1, 20);
	bytes_u32(b, 7);
	bytes_u32(b, 8);
	bytes_u32(b, 1);
}
static void init24(struct bytes *b) {
	init20(b);
	b->data[2] = 24;
	bytes_u32(b, 1);
}
static void init36(struct bytes *b) {
	init20(b);
	b->data[2] = 36;
	for (int i = 0; i < 4; i++) {
		bytes_u32(b, 0);
	}
}
static void init28(struct bytes *b) {
	init24(b);
	b->data[2] = 28;
	bytes_u32(b, 0);
}
static void short_header(struct bytes *b) {
	bytes_raw(b, "\x03\0\x10\0\0", 5); // H-01
}
static void unknown_0(struct bytes *b) {
	hdr(b, 0, 8); // H-02
}
static void unknown_14(struct bytes *b) {
	hdr(b, 14, 8);
}
static void unknown_255(struct bytes *b) {
	hdr(b, 255, 16);
	bytes_u64(b, 0);
}
static void poll_size_zero(struct bytes *b) {
	hdr(b, CROSS_DOMAIN_CMD_POLL, 0); // H-03
	bytes_u64(b, 0);
}
static void send_size_zero(struct bytes *b) {
	hdr(b, CROSS_DOMAIN_CMD_SEND, 0); // H-03
	bytes_u64(b, 0);
}
static void poll_overrun(struct bytes *b) {
	hdr(b, CROSS_DOMAIN_CMD_POLL, 24); // H-04
	bytes_u64(b, 0);
}
static void poll_short(struct bytes *b) {
	hdr(b, CROSS_DOMAIN_CMD_POLL, 8); // H-04: smaller than the fixed part
}
static void poll_then_send(struct bytes *b) {
	hdr(b, CROSS_DOMAIN_CMD_POLL, 16);
	bytes_u64(b, 0);
	send_cmd(b, 28, 2, 12, 0);
}
static void send28(struct bytes *b) {
	send_cmd(b, 28, 3, 40, 0);
}
static void send4(struct bytes *b) {
	send_cmd(b, 4, 4, 40, 0);
}
static void send4_too_many(struct bytes *b) {
	send_cmd(b, 4, 5, 8, 0);
}
static void send28_too_many(struct bytes *b) {
	send_cmd(b, 28, 29, 8, 0); // H-06
}
static void send_count_huge(struct bytes *b) {
	send_cmd(b, 28, 0, 8, 0);
	uint32_t n = 0xffffffffu; // H-06
	memcpy(b->data + 8, &n, 4);
}
static void send_opaque_past_size(struct bytes *b) {
	send_cmd(b, 28, 0, 8, 0);
	uint32_t n = 0xffffffffu; // H-07
	memcpy(b->data + 12, &n, 4);
}
static void send_opaque_mismatch(struct bytes *b) {
	send_cmd(b, 28, 0, 8, 4);
}
static void gir(struct bytes *b) {
	hdr(b, CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS, 24);
	bytes_u32(b, 640);
	bytes_u32(b, 480);
	bytes_u32(b, 0x34325258);
	bytes_u32(b, 0x11);
}
static void gir_short(struct bytes *b) {
	hdr(b, CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS, 20);
	bytes_u32(b, 640);
	bytes_u32(b, 480);
	bytes_u32(b, 0x34325258);
}
static void write_ok(struct bytes *b) {
	hdr(b, CROSS_DOMAIN_CMD_WRITE, 24 + 5);
	bytes_u32(b, 9);
	bytes_u32(b, 1);
	bytes_u32(b, 5);
	bytes_u32(b, 0);
	bytes_raw(b, "hello", 5);
}
static void write_mismatch(struct bytes *b) {
	hdr(b, CROSS_DOMAIN_CMD_WRITE, 24 + 5);
	bytes_u32(b, 9);
	bytes_u32(b, 0);
	bytes_u32(b, 0xffffffffu);
	bytes_u32(b, 0);
	bytes_raw(b, "hello", 5);
}
static void receive_from_guest(struct bytes *b) {
	hdr(b, CROSS_DOMAIN_CMD_RECEIVE, 16);
	bytes_u64(b, 0);
}

static const struct xd_case xd_cases[] = {
	{"INIT 16", init16, NULL, 1},
	{"INIT 20", init20, NULL, 1},
	{"INIT 24", init24, NULL, 1},
	{"INIT 36", init36, NULL, 1},
	{"INIT 28", init28, "INIT: cmd_size 28 is none of 16, 20, 24, 36", 0},
	{"short header", short_header, "truncated command: 5 bytes left, a header needs 8", 0},
	{"cmd 0", unknown_0, "unknown command 0", 0},
	{"cmd 14", unknown_14, "unknown command 14", 0},
	{"cmd 255", unknown_255, "unknown command 255", 0},
	{"POLL cmd_size 0", poll_size_zero, "POLL (cmd 3): cmd_size 0 < 8", 0},
	{"SEND cmd_size 0", send_size_zero, "SEND (cmd 4): cmd_size 0 < 8", 0},
	{"POLL overrun", poll_overrun, "POLL (cmd 3): cmd_size 24 > 16 bytes left", 0},
	{"POLL short", poll_short, "POLL: cmd_size 8 != 16", 0},
	{"POLL + SEND", poll_then_send, NULL, CROSS_DOMAIN_CMD_POLL},
	{"SEND 28", send28, NULL, CROSS_DOMAIN_CMD_SEND},
	{"SEND 4", send4, NULL, CROSS_DOMAIN_CMD_SEND},
	{"SEND 4 with 5 ids", send4_too_many, "SEND: 5 identifiers > max 4", 0},
	{"SEND 28 with 29 ids", send28_too_many, "SEND: 29 identifiers > max 28", 0},
	{"SEND 0xffffffff ids", send_count_huge, "SEND: 4294967295 identifiers > max 28", 0},
	{"SEND opaque past size", send_opaque_past_size,
	 "SEND: opaque_data_size 4294967295 runs past cmd_size 360", 0},
	{"SEND opaque mismatch", send_opaque_mismatch,
	 "fits neither the 28- nor the 4-identifier layout", 0},
	{"GET_IMAGE_REQUIREMENTS", gir, NULL, CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS},
	{"GET_IMAGE_REQUIREMENTS short", gir_short, "GET_IMAGE_REQUIREMENTS: cmd_size 20 != 24", 0},
	{"WRITE", write_ok, NULL, CROSS_DOMAIN_CMD_WRITE},
	{"WRITE size mismatch", write_mismatch,
	 "WRITE: opaque_data_size 4294967295 does not match cmd_size 29", 0},
	{"RECEIVE from guest", receive_from_guest, "RECEIVE (cmd 5) is a host-to-guest record", 0},
};

TEST_P(decode_commands, xd_cases) {
	struct bytes b = {0};
	data->build(&b);
	struct cross_domain_reader r = cross_domain_reader_init(b.data, b.len);
	struct cross_domain_cmd cmd;
	struct wire_error err = {0};
	enum cross_domain_result res;
	int n = 0;
	while ((res = cross_domain_next(&r, &cmd, &err)) == CROSS_DOMAIN_OK) {
		if (n++ == 0) {
			test_assert_int_eq(cmd.cmd, data->first_cmd);
		}
	}
	if (data->reason) {
		test_assert_int_eq(res, CROSS_DOMAIN_INVALID);
		test_assert_str_contains(err.text, data->reason);
	} else {
		test_assert_msg(res == CROSS_DOMAIN_END, "%s: %s", data->name, err.text);
		test_assert(n >= 1);
	}
}

TEST(init_forms) {
	uint8_t buf[64];
	const uint32_t forms[] = {16, 20, 24, 36};
	for (int i = 0; i < 4; i++) {
		size_t n = cross_domain_encode_init(buf, sizeof(buf), forms[i], 3, 4, 1);
		test_assert_int_eq(n, forms[i]);
		struct cross_domain_reader r = cross_domain_reader_init(buf, n);
		struct cross_domain_cmd cmd;
		test_assert(cross_domain_next(&r, &cmd, NULL) == CROSS_DOMAIN_OK);
		test_assert_int_eq(cmd.init.query_ring_id, 3);
		// A 16-byte INIT means one ring shared by queries and channel.
		test_assert_int_eq(cmd.init.channel_ring_id, forms[i] == 16 ? 3 : 4);
		test_assert_int_eq(cmd.init.channel_type, 1);
		test_assert_int_eq(cmd.init.protocol_version, forms[i] == 24 ? 1 : 0);
	}
	test_assert_int_eq(cross_domain_encode_init(buf, sizeof(buf), 28, 3, 4, 1), 0);
}

TEST(send_layouts_roundtrip) {
	uint8_t buf[4096];
	uint32_t ids[3] = {11, 0x80000001u, 13}, types[3] = {1, 3, 1}, sizes[3] = {0, 0, 0};
	const uint32_t layouts[] = {28, 4};
	for (int l = 0; l < 2; l++) {
		size_t n = cross_domain_encode_send(buf, sizeof(buf), layouts[l], 3, ids, types,
						    sizes, "abcdefg", 7);
		test_assert_int_eq(n, 16 + 12 * layouts[l] + 7);
		struct cross_domain_reader r = cross_domain_reader_init(buf, n);
		struct cross_domain_cmd cmd;
		struct wire_error err;
		test_assert_msg(cross_domain_next(&r, &cmd, &err) == CROSS_DOMAIN_OK, "%s",
				err.text);
		test_assert_int_eq(cmd.send.layout, layouts[l]);
		test_assert_int_eq(cmd.send.num_identifiers, 3);
		test_assert_int_eq(cmd.send.identifiers[1], 0x80000001u);
		test_assert_int_eq(cmd.send.identifier_types[2], 1);
		test_assert_int_eq(cmd.send.data_size, 7);
		test_assert(memcmp(cmd.send.data, "abcdefg", 7) == 0);
		test_assert(cmd.send.data == buf + 16 + 12 * layouts[l]);
	}
	test_assert_int_eq(
		cross_domain_encode_send(buf, sizeof(buf), 4, 5, ids, types, sizes, "", 0), 0);
}

TEST(receive_record) {
	uint8_t ring[4096];
	memset(ring, 0xaa, sizeof(ring));
	uint32_t ids[2] = {5, 6}, types[2] = {1, 4}, sizes[2] = {4096, 0};
	size_t n = cross_domain_encode_receive(ring, sizeof(ring), 28, 2, ids, types, sizes, "xyz",
					       3);
	test_assert_int_eq(n, 352 + 3);
	test_assert_int_eq(ring[0], CROSS_DOMAIN_CMD_RECEIVE);
	for (int i = 1; i < 8; i++) {
		test_assert_int_eq(ring[i], 0); // WPV compares the whole first word
	}
	struct cross_domain_record rec;
	struct wire_error err;
	test_assert_msg(cross_domain_decode_record(ring, sizeof(ring), 28, &rec, &err), "%s",
			err.text);
	test_assert_int_eq(rec.num_identifiers, 2);
	test_assert_int_eq(rec.identifier_sizes[0], 4096);
	test_assert_int_eq(rec.identifier_types[1], 4);
	test_assert(rec.data_size == 3 && memcmp(rec.data, "xyz", 3) == 0);
	// Unused slots are zero.
	uint32_t slot;
	memcpy(&slot, ring + 16 + 4 * 2, 4);
	test_assert_int_eq(slot, 0);
	// Records that would not fit are refused.
	test_assert_int_eq(cross_domain_encode_receive(ring, 300, 28, 0, NULL, NULL, NULL, "", 0),
			   0);
	// A record whose data would run past the ring is refused by a guest.
	test_assert(!cross_domain_decode_record(ring, 354, 28, &rec, &err));
	test_assert_str_contains(err.text, "runs past the ring");
}

TEST(read_record) {
	uint8_t ring[4096];
	size_t n = cross_domain_encode_read(ring, sizeof(ring), 0x80000001u, 1, NULL, 0);
	test_assert_int_eq(n, 24);
	struct cross_domain_record rec;
	test_assert(cross_domain_decode_record(ring, sizeof(ring), 28, &rec, NULL));
	test_assert(rec.cmd == CROSS_DOMAIN_CMD_READ && rec.hang_up == 1 && rec.data_size == 0);
	test_assert_int_eq(rec.identifier, 0x80000001u);
	test_assert_int_eq(cross_domain_encode_read(ring, sizeof(ring), 1, 2, NULL, 0), 0);
	ring[1] = 1; // bytes 1..7 must be zero
	struct wire_error err;
	test_assert(!cross_domain_decode_record(ring, sizeof(ring), 28, &rec, &err));
	test_assert_str_contains(err.text, "bytes 1-7 are not zero");
}

TEST(image_requirements_layout) {
	struct cross_domain_image_requirements req = {
		.strides = {2560},
		.offsets = {0},
		.modifier = 0,
		.size = 2560 * 720,
		.blob_id = 9,
		.map_info = 1,
		.memory_idx = -1,
		.physical_device_idx = -1,
	};
	uint8_t ring[64];
	test_assert_int_eq(cross_domain_encode_image_requirements(ring, sizeof(ring), &req), 64);
	uint32_t stride0, blob_id;
	uint64_t size;
	memcpy(&stride0, ring, 4);
	memcpy(&size, ring + 40, 8);
	memcpy(&blob_id, ring + 48, 4);
	test_assert_int_eq(stride0, 2560); // sommelier and WPV read these offsets
	test_assert_int_eq(size, 2560 * 720);
	test_assert_int_eq(blob_id, 9);
	struct cross_domain_image_requirements back;
	test_assert(cross_domain_decode_image_requirements(ring, 64, &back));
	test_assert(memcmp(&back, &req, sizeof(req)) == 0);
	test_assert(!cross_domain_decode_image_requirements(ring, 60, &back));
}
