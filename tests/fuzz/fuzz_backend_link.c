/*
 * Fuzz target for wire/backend_link.
 *
 * Input: [ctl] [packet ...]. ctl bit 0: direction (0: to crosswayd, the
 * backend's requests; 1: to the backend, crosswayd's replies and events);
 * bits 1-2: the number of fds that came with the packet (0, 1, 2; 3 counts as
 * 0); bit 3: a 4096-byte size limit instead of 65536 (as after a
 * HELLO_REPLY that lowered max_message_size). The packet is the rest of the
 * input and ends where the input ends, so AddressSanitizer sees any read
 * past it.
 *
 * For every packet backend_link_decode accepts, the target checks the framing
 * rules the header promises, then re-encodes the message with the matching
 * backend_link_encode_* function and requires the exact bytes back. Only
 * what no encoder argument can express is set aside first: HELLO's version
 * range and capset id, HELLO_REPLY's version (both negotiated by the
 * handshake, not by the framing), and bytes after the NUL of HELLO's
 * names ("should be zero" in crossway-backend(7)). Everything else the
 * decoder lets through must be what an encoder can produce; a difference
 * is a decoder/encoder disagreement and aborts. Each encoder must also
 * refuse a buffer one byte short (ERROR instead truncates its text, at a
 * UTF-8 boundary, and the result must still decode).
 */
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "wire/backend_link.h"
#include "wire/limits.h"

#define SMALL_MAX 4096u

static uint8_t out[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE + 8];
static uint8_t canon[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE + 8];

static uint32_t u32_at(const uint8_t *p, size_t off) {
	uint32_t v;
	memcpy(&v, p + off, 4);
	return v;
}

static void put_u32(uint8_t *p, size_t off, uint32_t v) {
	memcpy(p + off, &v, 4);
}

/* Zeroes the bytes after the NUL of a char[] field. */
static void canon_name(uint8_t *field, size_t cap) {
	size_t len = strnlen((const char *)field, cap);
	memset(field + len, 0, cap - len);
}

/* Encodes @msg again into @dst (cap bytes); returns the size or 0. */
static size_t encode(const struct backend_msg *msg, uint8_t *dst, size_t cap) {
	uint32_t serial = msg->hdr.serial;
	switch (msg->hdr.type) {
	case CROSSWAY_BACKEND_HELLO:
		return backend_link_encode_hello(dst, cap, serial, msg->hello.ctx_id,
						 msg->hello.flags, msg->hello.vm_name,
						 msg->hello.ctx_name);
	case CROSSWAY_BACKEND_ATTACH:
		return backend_link_encode_attach(dst, cap, serial, msg->attach.resource_id,
						  msg->attach.kind, msg->attach.size,
						  msg->attach.blob_mem, msg->attach.handle_type,
						  msg->attach.map_info);
	case CROSSWAY_BACKEND_DETACH:
	case CROSSWAY_BACKEND_UNREF:
		return backend_link_encode_resource(dst, cap, msg->hdr.type, serial,
						    msg->resource.resource_id);
	case CROSSWAY_BACKEND_SUBMIT:
		return backend_link_encode_submit(dst, cap, serial, msg->payload,
						  msg->payload_size);
	case CROSSWAY_BACKEND_FENCE:
		return backend_link_encode_fence(dst, cap, serial, msg->fence.fence_id,
						 msg->fence.ring_idx);
	case CROSSWAY_BACKEND_CREATE_BLOB:
		return backend_link_encode_create_blob(
			dst, cap, serial, msg->create_blob.resource_id, msg->create_blob.blob_mem,
			msg->create_blob.blob_flags, msg->create_blob.blob_id,
			msg->create_blob.size);
	case CROSSWAY_BACKEND_SHUTDOWN:
		return backend_link_encode_shutdown(dst, cap, serial);
	case CROSSWAY_BACKEND_HELLO_REPLY:
		return backend_link_encode_hello_reply(
			dst, cap, serial, msg->hello_reply.max_message_size, &msg->hello_reply.caps,
			msg->hello_reply.max_identifiers);
	case CROSSWAY_BACKEND_RING_WRITE:
		// An event: the encoder has no serial argument and writes 0.
		return backend_link_encode_ring_write(dst, cap, msg->ring_write.resource_id,
						      msg->ring_write.offset, msg->payload,
						      msg->payload_size);
	case CROSSWAY_BACKEND_FENCE_DONE:
		// An event, like RING_WRITE.
		return backend_link_encode_fence_done(dst, cap, msg->fence_done.fence_id,
						      msg->fence_done.ring_idx);
	case CROSSWAY_BACKEND_BLOB_REPLY:
		return backend_link_encode_blob_reply(dst, cap, serial, &msg->blob_reply);
	case CROSSWAY_BACKEND_ERROR:
		return backend_link_encode_error(dst, cap, serial, msg->error.code,
						 (const char *)msg->payload);
	}
	fuzz_check(false, "decoded unknown type 0x%x", (unsigned)msg->hdr.type);
	return 0;
}

/* The framing promises of backend_link_decode, for an accepted packet. */
static void check_accepted(const uint8_t *pkt, size_t len, size_t nfds, uint32_t max,
			   enum backend_link_direction dir, const struct backend_msg *msg) {
	fuzz_check(len >= CROSSWAY_BACKEND_HEADER_SIZE && len % 8 == 0 && len <= max &&
			   msg->hdr.size == len,
		   "accepted a packet of %zu bytes, header size %u, limit %u", len,
		   (unsigned)msg->hdr.size, (unsigned)max);
	fuzz_check(memcmp(&msg->hdr, pkt, sizeof(msg->hdr)) == 0 && msg->hdr.flags == 0,
		   "header copy or flags");
	fuzz_check(((msg->hdr.type & 0x8000u) != 0) == (dir == BACKEND_LINK_TO_BACKEND),
		   "type 0x%x accepted in the wrong direction", (unsigned)msg->hdr.type);
	fuzz_check(strcmp(backend_link_type_name(msg->hdr.type), "unknown") != 0,
		   "unknown type 0x%x accepted", (unsigned)msg->hdr.type);
	fuzz_check(msg->fd_count == nfds && msg->fd_count <= 1, "%zu fds accepted, message has %u",
		   nfds, (unsigned)msg->fd_count);
	if (msg->payload != NULL) {
		fuzz_check(msg->payload >= pkt + CROSSWAY_BACKEND_HEADER_SIZE &&
				   msg->payload + msg->payload_size <= pkt + len,
			   "payload outside the packet");
	} else {
		fuzz_check(msg->payload_size == 0, "payload size without a payload");
	}
}

/* The canonical form of an accepted packet: what an encoder would write. */
static void make_canon(const uint8_t *pkt, size_t len, const struct backend_msg *msg) {
	memcpy(canon, pkt, len);
	switch (msg->hdr.type) {
	case CROSSWAY_BACKEND_HELLO:
		put_u32(canon, offsetof(struct crossway_backend_hello, version_min),
			CROSSWAY_BACKEND_VERSION);
		put_u32(canon, offsetof(struct crossway_backend_hello, version_max),
			CROSSWAY_BACKEND_VERSION);
		put_u32(canon, offsetof(struct crossway_backend_hello, capset_id),
			CROSSWAY_BACKEND_CAPSET_CROSS_DOMAIN);
		canon_name(canon + offsetof(struct crossway_backend_hello, vm_name),
			   CROSSWAY_BACKEND_NAME_SIZE);
		canon_name(canon + offsetof(struct crossway_backend_hello, ctx_name),
			   CROSSWAY_BACKEND_NAME_SIZE);
		break;
	case CROSSWAY_BACKEND_HELLO_REPLY:
		put_u32(canon, offsetof(struct crossway_backend_hello_reply, version),
			CROSSWAY_BACKEND_VERSION);
		break;
	}
}

/* ERROR truncates its text to fit: the result must decode, be a prefix of
 * the original, and not end inside a UTF-8 sequence. */
static void check_error_truncation(const struct backend_msg *msg, size_t cap) {
	uint8_t *dst = malloc(cap);
	fuzz_check(dst != NULL, "out of memory");
	size_t n = encode(msg, dst, cap);
	if (cap - cap % 8 < sizeof(struct crossway_backend_error) + 8) {
		fuzz_check(n == 0, "ERROR encoded into %zu bytes", cap);
		free(dst);
		return;
	}
	fuzz_check(n > 0 && n <= cap, "truncated ERROR: %zu bytes for cap %zu", n, cap);
	struct backend_msg again;
	struct wire_error err = {{0}};
	fuzz_check(backend_link_decode(dst, n, 0, BACKEND_LINK_DEFAULT_MAX_MESSAGE,
				       BACKEND_LINK_TO_BACKEND, &again, &err),
		   "truncated ERROR does not decode: %s", err.text);
	uint32_t kept = again.payload_size - 1;
	fuzz_check(kept < msg->payload_size - 1 && memcmp(again.payload, msg->payload, kept) == 0 &&
			   again.error.code == msg->error.code,
		   "truncated ERROR is not a prefix of the original");
	// Cutting to nothing is fine when the text opens with continuation bytes.
	fuzz_check(kept == 0 || (msg->payload[kept] & 0xc0) != 0x80,
		   "ERROR text cut inside a UTF-8 sequence at %u", (unsigned)kept);
	free(dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if (size < 1) {
		return 0;
	}
	uint8_t ctl = data[0];
	enum backend_link_direction dir = ctl & 1 ? BACKEND_LINK_TO_BACKEND
						  : BACKEND_LINK_TO_CROSSWAYD;
	size_t nfds = ((ctl >> 1) & 3) % 3;
	uint32_t max = ctl & 8 ? SMALL_MAX : BACKEND_LINK_DEFAULT_MAX_MESSAGE;
	const uint8_t *pkt = data + 1;
	size_t len = size - 1;

	struct backend_msg msg;
	struct wire_error err = {{0}};
	bool ok = backend_link_decode(pkt, len, nfds, max, dir, &msg, &err);
	if (fuzz_verbose()) {
		fprintf(stderr, "%s\n", ok ? backend_link_type_name(msg.hdr.type) : err.text);
	}
	if (!ok) {
		fuzz_check(err.text[0] != '\0', "rejected without a reason");
		return 0;
	}
	check_accepted(pkt, len, nfds, max, dir, &msg);
	make_canon(pkt, len, &msg);
	size_t n = encode(&msg, out, sizeof(out));
	fuzz_check(n == len, "%s of %zu bytes re-encoded as %zu",
		   backend_link_type_name(msg.hdr.type), len, n);
	for (size_t k = 0; k < len; k += 4) {
		fuzz_check(u32_at(out, k) == u32_at(canon, k),
			   "%s: decoder and encoder disagree at byte %zu: packet 0x%08x, "
			   "re-encoded 0x%08x",
			   backend_link_type_name(msg.hdr.type), k, (unsigned)u32_at(canon, k),
			   (unsigned)u32_at(out, k));
	}

	// The re-encoded message decodes to the same message.
	struct backend_msg again;
	fuzz_check(backend_link_decode(out, n, nfds, max, dir, &again, &err),
		   "re-encoded %s does not decode: %s", backend_link_type_name(msg.hdr.type),
		   err.text);
	fuzz_check(again.payload_size == msg.payload_size && again.fd_count == msg.fd_count &&
			   (msg.payload_size == 0 ||
			    memcmp(again.payload, msg.payload, msg.payload_size) == 0),
		   "re-encoded %s decodes differently", backend_link_type_name(msg.hdr.type));

	// One byte short.
	if (msg.hdr.type == CROSSWAY_BACKEND_ERROR) {
		check_error_truncation(&msg, len - 1);
	} else {
		uint8_t *dst = malloc(len - 1);
		fuzz_check(dst != NULL, "out of memory");
		fuzz_check(encode(&msg, dst, len - 1) == 0, "%s encoded into %zu bytes, one short",
			   backend_link_type_name(msg.hdr.type), len - 1);
		free(dst);
	}
	return 0;
}
