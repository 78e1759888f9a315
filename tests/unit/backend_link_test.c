#include "tests/harness/test.h"
#include "wire/backend_link.h"

static uint8_t buf[70000];

static void set_u32(size_t off, uint32_t v) {
	memcpy(buf + off, &v, 4);
}

struct link_case {
	const char *name;
	size_t (*build)(void); // returns the packet length
	size_t nfds;
	enum backend_link_direction dir;
	const char *reason; // NULL: decodes
};

static size_t hello(void) {
	return backend_link_encode_hello(buf, sizeof(buf), 1, 7, 0, "vm-a", "ctx");
}
static size_t hello_bad_name(void) {
	return backend_link_encode_hello(buf, sizeof(buf), 1, 7, 0, "vm a/..", "ctx");
}
static size_t hello_empty_name(void) {
	return backend_link_encode_hello(buf, sizeof(buf), 1, 7, 0, "", "ctx");
}
static size_t hello_unterminated(void) {
	size_t n = hello();
	memset(buf + 104, 'x', 64);
	return n;
}
static size_t hello_flags(void) {
	size_t n = hello();
	set_u32(12, 1);
	return n;
}
static size_t attach_host_fd(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5, CROSSWAY_BACKEND_ATTACH_HOST_FD,
					  4096, 2, CROSSWAY_BACKEND_HANDLE_SHM, 0);
}
static size_t attach_guest(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5,
					  CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 4096, 1, 0, 0);
}
static size_t attach_kind9(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5, 9, 4096, 1, 0, 0);
}
static size_t attach_id0(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 0,
					  CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 4096, 1, 0, 0);
}
static size_t attach_blob_mem4(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5,
					  CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 4096, 4, 0, 0);
}
static size_t attach_guest_host3d(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5,
					  CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 4096, 2, 0, 0);
}
static size_t attach_guest_empty(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5,
					  CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 0, 1, 0, 0);
}
static size_t attach_host_fd_handle0(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5, CROSSWAY_BACKEND_ATTACH_HOST_FD,
					  4096, 2, 0, 0);
}
static size_t attach_blob_handle(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5,
					  CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, 4096, 2,
					  CROSSWAY_BACKEND_HANDLE_SHM, 0);
}
static size_t attach_blob_map_info(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5,
					  CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, 4096, 2, 0, 0x31);
}
static size_t attach_blob_bad_cache(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5,
					  CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, 4096, 2, 0, 0x34);
}
static size_t attach_blob_guest_mem(void) {
	return backend_link_encode_attach(buf, sizeof(buf), 2, 5,
					  CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, 4096, 1, 0, 0);
}
static size_t detach_id0(void) {
	return backend_link_encode_resource(buf, sizeof(buf), CROSSWAY_BACKEND_DETACH, 1, 0);
}
static size_t create_blob(void) {
	return backend_link_encode_create_blob(buf, sizeof(buf), 9, 12, 2, 3, 0x1234, 8192);
}
static size_t create_blob_id0(void) {
	return backend_link_encode_create_blob(buf, sizeof(buf), 9, 0, 2, 3, 0x1234, 8192);
}
static size_t create_blob_flags(void) {
	return backend_link_encode_create_blob(buf, sizeof(buf), 9, 12, 2, 0x13, 0x1234, 8192);
}
static size_t create_blob_size0(void) {
	return backend_link_encode_create_blob(buf, sizeof(buf), 9, 12, 2, 3, 0x1234, 0);
}
static size_t submit(void) {
	return backend_link_encode_submit(buf, sizeof(buf), 3,
					  "\x03\0\x10\0\0\0\0\0\0\0\0\0\0\0\0\0", 16);
}
static size_t submit_odd(void) {
	return backend_link_encode_submit(buf, sizeof(buf), 3, "abcde", 5);
}
static size_t submit_length_lies(void) {
	size_t n = submit_odd();
	set_u32(16, 9);
	return n;
}
static size_t submit_dirty_padding(void) {
	size_t n = submit_odd();
	buf[n - 1] = 1;
	return n;
}
static size_t submit_huge(void) {
	static const uint8_t cmds[65536];
	return backend_link_encode_submit(buf, sizeof(buf), 3, cmds, sizeof(cmds));
}
static size_t short_packet(void) {
	return 12; // H-10
}
static size_t size_mismatch(void) {
	size_t n = hello();
	set_u32(4, 160);
	return n;
}
static size_t unaligned(void) {
	backend_link_encode_resource(buf, sizeof(buf), CROSSWAY_BACKEND_DETACH, 1, 5);
	set_u32(4, 20);
	return 20;
}
static size_t unknown_type(void) {
	size_t n = backend_link_encode_shutdown(buf, sizeof(buf), 1);
	set_u32(0, 0x42);
	return n;
}
static size_t wrong_direction(void) {
	return backend_link_encode_fence_done(buf, sizeof(buf), 5, 1);
}
static size_t fence(void) {
	return backend_link_encode_fence(buf, sizeof(buf), 4, 99, 1);
}
static size_t fence_flags(void) {
	size_t n = fence();
	set_u32(28, 2);
	return n;
}
static size_t detach_reserved(void) {
	size_t n = backend_link_encode_resource(buf, sizeof(buf), CROSSWAY_BACKEND_UNREF, 1, 5);
	set_u32(20, 1);
	return n;
}
static size_t error_msg(void) {
	return backend_link_encode_error(buf, sizeof(buf), 0, -22, "SEND: 5 identifiers > max 4");
}
static size_t error_no_nul(void) {
	size_t n = error_msg();
	uint32_t len;
	memcpy(&len, buf + 20, 4);
	buf[24 + len - 1] = 'x';
	return n;
}
static size_t blob_reply_ok(void) {
	struct crossway_backend_blob_reply r = {.status = 0, .resource_id = 3, .size = 4096};
	return backend_link_encode_blob_reply(buf, sizeof(buf), 6, &r);
}
static size_t blob_reply_failed(void) {
	struct crossway_backend_blob_reply r = {.status = -22, .resource_id = 3};
	return backend_link_encode_blob_reply(buf, sizeof(buf), 6, &r);
}

static const struct link_case cases[] = {
	{"HELLO", hello, 0, BACKEND_LINK_TO_CROSSWAYD, NULL},
	{"HELLO bad vm name", hello_bad_name, 0, BACKEND_LINK_TO_CROSSWAYD, "vm_name must be"},
	{"HELLO empty vm name", hello_empty_name, 0, BACKEND_LINK_TO_CROSSWAYD, "vm_name must be"},
	{"HELLO ctx_name unterminated", hello_unterminated, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "ctx_name is not NUL-terminated"},
	{"HELLO header flags", hello_flags, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "HELLO: header flags 0x1 are not zero"},
	{"HELLO with an fd", hello, 1, BACKEND_LINK_TO_CROSSWAYD, "HELLO: carries 1 fds, needs 0"},
	{"ATTACH host fd", attach_host_fd, 1, BACKEND_LINK_TO_CROSSWAYD, NULL},
	{"ATTACH host fd without fd", attach_host_fd, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "ATTACH: carries 0 fds, needs 1"},
	{"ATTACH guest memory", attach_guest, 0, BACKEND_LINK_TO_CROSSWAYD, NULL},
	{"ATTACH guest memory with fd", attach_guest, 1, BACKEND_LINK_TO_CROSSWAYD,
	 "carries 1 fds, needs 0"},
	{"ATTACH kind 9", attach_kind9, 0, BACKEND_LINK_TO_CROSSWAYD, "ATTACH: unknown kind 9"},
	{"ATTACH resource 0", attach_id0, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "ATTACH: resource id 0 is not valid"},
	{"ATTACH blob_mem 4", attach_blob_mem4, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "ATTACH: resource 5: unknown blob_mem 4"},
	{"ATTACH guest memory host3d", attach_guest_host3d, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "kind 1 (guest memory) with blob_mem 2 (host3d)"},
	{"ATTACH guest memory size 0", attach_guest_empty, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "ATTACH: resource 5: guest memory of size 0"},
	{"ATTACH host fd handle_type 0", attach_host_fd_handle0, 1, BACKEND_LINK_TO_CROSSWAYD,
	 "kind 2 (host fd) needs handle_type 1, 2 or 3, not 0"},
	{"ATTACH blob with handle_type", attach_blob_handle, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "handle_type 2 with kind 3 (only kind 2 has one)"},
	{"ATTACH blob map_info", attach_blob_map_info, 0, BACKEND_LINK_TO_CROSSWAYD, NULL},
	{"ATTACH blob bad cache type", attach_blob_bad_cache, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "ATTACH: resource 5: bad map_info 0x34"},
	{"ATTACH blob guest blob_mem", attach_blob_guest_mem, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "kind 3 (crosswayd blob) with blob_mem 1"},
	{"DETACH resource 0", detach_id0, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "DETACH: resource id 0 is not valid"},
	{"CREATE_BLOB", create_blob, 0, BACKEND_LINK_TO_CROSSWAYD, NULL},
	{"CREATE_BLOB resource 0", create_blob_id0, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "CREATE_BLOB: resource id 0 is not valid"},
	{"CREATE_BLOB flags", create_blob_flags, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "CREATE_BLOB: unknown blob_flags 0x13"},
	{"CREATE_BLOB size 0", create_blob_size0, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "CREATE_BLOB: size 0"},
	{"SUBMIT", submit, 0, BACKEND_LINK_TO_CROSSWAYD, NULL},
	{"SUBMIT odd length", submit_odd, 0, BACKEND_LINK_TO_CROSSWAYD, NULL},
	{"SUBMIT length lies", submit_length_lies, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "SUBMIT: length 9 does not match size 32"},
	{"SUBMIT padding", submit_dirty_padding, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "SUBMIT: padding is not zero"},
	{"SUBMIT over max", submit_huge, 0, BACKEND_LINK_TO_CROSSWAYD, "> maximum 65536"},
	{"short packet", short_packet, 0, BACKEND_LINK_TO_CROSSWAYD, "shorter than the 16-byte"},
	{"size mismatch", size_mismatch, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "HELLO: header size 160 != packet length 168"},
	{"unaligned", unaligned, 0, BACKEND_LINK_TO_CROSSWAYD, "not a multiple of 8"},
	{"unknown type", unknown_type, 0, BACKEND_LINK_TO_CROSSWAYD, "unknown message type 0x0042"},
	{"event sent to crosswayd", wrong_direction, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "FENCE_DONE: message goes the other way"},
	{"FENCE", fence, 0, BACKEND_LINK_TO_CROSSWAYD, NULL},
	{"FENCE flags", fence_flags, 0, BACKEND_LINK_TO_CROSSWAYD, "FENCE: unknown flags 0x2"},
	{"UNREF reserved", detach_reserved, 0, BACKEND_LINK_TO_CROSSWAYD,
	 "UNREF: reserved field is not zero"},
	{"ERROR", error_msg, 0, BACKEND_LINK_TO_BACKEND, NULL},
	{"ERROR unterminated", error_no_nul, 0, BACKEND_LINK_TO_BACKEND,
	 "not one NUL-terminated string"},
	{"BLOB_REPLY", blob_reply_ok, 1, BACKEND_LINK_TO_BACKEND, NULL},
	{"BLOB_REPLY failure", blob_reply_failed, 0, BACKEND_LINK_TO_BACKEND, NULL},
	{"BLOB_REPLY without fd", blob_reply_ok, 0, BACKEND_LINK_TO_BACKEND,
	 "BLOB_REPLY: carries 0 fds, needs 1"},
};

TEST_P(decode_link, cases) {
	memset(buf, 0, sizeof(buf));
	size_t n = data->build();
	test_assert(n > 0);
	struct backend_msg msg;
	struct wire_error err = {0};
	bool ok = backend_link_decode(buf, n, data->nfds, CROSSWAY_BACKEND_MAX_MESSAGE_SIZE,
				      data->dir, &msg, &err);
	if (data->reason) {
		test_assert_msg(!ok, "%s decoded", data->name);
		test_assert_str_contains(err.text, data->reason);
	} else {
		test_assert_msg(ok, "%s: %s", data->name, err.text);
	}
}

TEST(decoded_fields) {
	struct backend_msg msg;
	size_t n = backend_link_encode_create_blob(buf, sizeof(buf), 9, 12, 2, 3, 0x1234, 8192);
	test_assert(backend_link_decode(buf, n, 0, 65536, BACKEND_LINK_TO_CROSSWAYD, &msg, NULL));
	test_assert_int_eq(msg.hdr.serial, 9);
	test_assert_int_eq(msg.create_blob.resource_id, 12);
	test_assert_int_eq(msg.create_blob.blob_id, 0x1234);
	test_assert_int_eq(msg.create_blob.size, 8192);

	n = backend_link_encode_ring_write(buf, sizeof(buf), 4, 0, "hello", 5);
	test_assert_int_eq(n, 40);
	test_assert(backend_link_decode(buf, n, 0, 65536, BACKEND_LINK_TO_BACKEND, &msg, NULL));
	test_assert(msg.payload_size == 5 && memcmp(msg.payload, "hello", 5) == 0);

	n = backend_link_encode_hello(buf, sizeof(buf), 1, 77, CROSSWAY_BACKEND_HELLO_PROBE, "vm-b",
				      "guest ctx");
	test_assert(backend_link_decode(buf, n, 0, 65536, BACKEND_LINK_TO_CROSSWAYD, &msg, NULL));
	test_assert_str_eq(msg.hello.vm_name, "vm-b");
	test_assert_str_eq(msg.hello.ctx_name, "guest ctx");
	test_assert_int_eq(msg.hello.ctx_id, 77);
	test_assert_int_eq(msg.hello.flags, CROSSWAY_BACKEND_HELLO_PROBE);
}

TEST(error_truncates_at_utf8_boundary) {
	char text[200];
	memset(text, 'a', sizeof(text));
	// "é" (2 bytes) straddling the cut
	text[30] = (char)0xc3;
	text[31] = (char)0xa9;
	text[sizeof(text) - 1] = '\0';
	struct backend_msg msg;
	size_t n = backend_link_encode_error(buf, 56, 0, -5, text);
	test_assert_int_eq(n, 56);
	test_assert(backend_link_decode(buf, n, 0, 65536, BACKEND_LINK_TO_BACKEND, &msg, NULL));
	test_assert_int_eq(msg.payload_size, 31); // 30 bytes + NUL: the é is not cut in half
	test_assert_int_eq(backend_link_encode_error(buf, 16, 0, -5, "x"), 0);
}
