/*
 * Framing of the backend link (crossway-backend(7), wire/crossway-backend.h):
 * validation of received packets and encoding of every message. Used by
 * crosswayd (which decodes requests and encodes replies and events) and by
 * backends written in C, the VM simulator and the tests (the other way round).
 *
 * Pure: no I/O, no allocation, no logging.
 */
#ifndef CROSSWAY_WIRE_BACKEND_LINK_H
#define CROSSWAY_WIRE_BACKEND_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/crossway-backend.h"
#include "wire/wire_error.h"

/* A decoded message; the fixed part is copied, variable parts point into the
 * packet. */
struct backend_msg {
	struct crossway_backend_header hdr;
	union {
		struct crossway_backend_hello hello;
		struct crossway_backend_hello_reply hello_reply;
		struct crossway_backend_attach attach;
		struct crossway_backend_resource resource; // DETACH, UNREF
		struct crossway_backend_submit submit;
		struct crossway_backend_fence fence;
		struct crossway_backend_create_blob create_blob;
		struct crossway_backend_ring_write ring_write;
		struct crossway_backend_fence_done fence_done;
		struct crossway_backend_blob_reply blob_reply;
		struct crossway_backend_error error;
	};
	const uint8_t *payload; // SUBMIT commands, RING_WRITE bytes, ERROR text
	uint32_t payload_size;  // SUBMIT/RING_WRITE length, ERROR length (NUL included)
	uint32_t fd_count;      // fds this message carries (0 or 1)
};

enum backend_link_direction {
	BACKEND_LINK_TO_CROSSWAYD, // requests
	BACKEND_LINK_TO_BACKEND,   // replies and events
};

/** "SUBMIT", "RING_WRITE" ..., or "unknown". */
const char *backend_link_type_name(uint32_t type);

/**
 * Validates one received packet of @len bytes that came with @nfds fds,
 * travelling in @dir: header size equals the packet length, is a multiple of
 * 8, at least 16 and at most @max_size; flags, reserved fields and padding
 * are zero; the type belongs to @dir; fixed messages have their exact size
 * and variable ones a length that matches; names are NUL-terminated (HELLO's
 * vm_name non-empty and [A-Za-z0-9._-] only); enumerations are in range; and
 * the fd count is what the message needs.
 */
bool backend_link_decode(const uint8_t *pkt, size_t len, size_t nfds, uint32_t max_size,
			 enum backend_link_direction dir, struct backend_msg *msg,
			 struct wire_error *err);

/* Encoders. Each fills @out (cap bytes) and returns the message size, or 0
 * when it does not fit. Serial is the request's serial for replies, 0 for
 * events. */

size_t backend_link_encode_hello(uint8_t *out, size_t cap, uint32_t serial, uint32_t ctx_id,
				 uint32_t flags, const char *vm_name, const char *ctx_name);
size_t backend_link_encode_hello_reply(uint8_t *out, size_t cap, uint32_t serial,
				       uint32_t max_message_size,
				       const struct crossway_backend_cross_domain_caps *caps,
				       uint32_t max_identifiers);
size_t backend_link_encode_attach(uint8_t *out, size_t cap, uint32_t serial, uint32_t resource_id,
				  uint32_t kind, uint64_t size, uint32_t blob_mem,
				  uint32_t handle_type, uint32_t map_info);
/** DETACH or UNREF (@type). */
size_t backend_link_encode_resource(uint8_t *out, size_t cap, uint32_t type, uint32_t serial,
				    uint32_t resource_id);
size_t backend_link_encode_submit(uint8_t *out, size_t cap, uint32_t serial, const void *cmds,
				  uint32_t length);
size_t backend_link_encode_fence(uint8_t *out, size_t cap, uint32_t serial, uint64_t fence_id,
				 uint32_t ring_idx);
size_t backend_link_encode_create_blob(uint8_t *out, size_t cap, uint32_t serial,
				       uint32_t resource_id, uint32_t blob_mem, uint32_t blob_flags,
				       uint64_t blob_id, uint64_t size);
size_t backend_link_encode_shutdown(uint8_t *out, size_t cap, uint32_t serial);
size_t backend_link_encode_ring_write(uint8_t *out, size_t cap, uint32_t resource_id,
				      uint32_t offset, const void *bytes, uint32_t length);
size_t backend_link_encode_fence_done(uint8_t *out, size_t cap, uint64_t fence_id,
				      uint32_t ring_idx);
/** @reply: the fields after the header; its hdr member is ignored. */
size_t backend_link_encode_blob_reply(uint8_t *out, size_t cap, uint32_t serial,
				      const struct crossway_backend_blob_reply *reply);
/** ERROR; @message is truncated (at a UTF-8 boundary) to fit @cap. */
size_t backend_link_encode_error(uint8_t *out, size_t cap, uint32_t serial, int32_t code,
				 const char *message);

#endif
