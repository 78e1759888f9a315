/*
 * Wayland messages: header parsing, argument decoding and validation against
 * the generated protocol tables, re-encoding, and WAYLAND_DEBUG-style
 * formatting. Pure functions over caller-supplied buffers; no I/O, no
 * allocation, no logging.
 *
 * Wire format (libwayland doc/publican Protocol.xml): a header of two 32-bit
 * words in host byte order, the sender object id and (size << 16 | opcode),
 * then the arguments, each padded to 32 bits. Strings and arrays carry a
 * 32-bit byte length first (for strings it counts the terminating NUL; 0 is a
 * null string). fds travel out of band and take no bytes.
 */
#ifndef CROSSWAY_WIRE_WAYLAND_MSG_H
#define CROSSWAY_WIRE_WAYLAND_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/tables.h"
#include "wire/wire_error.h"

struct wayland_msg_header {
	uint32_t object_id;
	uint16_t opcode;
	uint16_t size; // whole message in bytes, header included
};

enum wayland_msg_result {
	WAYLAND_MSG_OK = 0,
	WAYLAND_MSG_INCOMPLETE, // not enough bytes yet; read more and retry
	WAYLAND_MSG_INVALID,    // malformed; the reason is in the wire_error
};

/**
 * Parses the 8-byte header at the start of @data (@len bytes available).
 * Checks size >= 8, size % 4 == 0 and size <= @max_size, so a bad size is
 * rejected as soon as the header is in, without waiting for the body.
 * Returns INCOMPLETE when fewer than 8 bytes are available.
 */
enum wayland_msg_result wayland_msg_header_parse(const uint8_t *data, size_t len, uint32_t max_size,
						 struct wayland_msg_header *hdr,
						 struct wire_error *err);

/**
 * Decoded arguments of one message, indexed like proto_message.args.
 * For int, uint, fixed, object and new_id, value[] is the 32-bit word. For
 * strings and arrays it is the byte length on the wire (strings: including
 * the NUL; 0 means null) and the bytes start at offset[] + 4. For fds it is
 * the index of the fd among this message's fds (0, 1, ...).
 * offset[] is the byte offset of the argument's first word from the start of
 * the message (0 for fds, which take no bytes).
 */
struct wayland_args {
	uint32_t value[PROTO_MAX_ARGS];
	uint16_t offset[PROTO_MAX_ARGS];
};

/**
 * Decodes and validates the arguments of the complete message at @msg
 * (hdr->size bytes) as an instance of @m, a message of @iface:
 * every argument inside the message and no trailing bytes; strings
 * NUL-terminated at their declared length with no embedded NUL; null only
 * where nullable (strings, objects); new ids non-zero. Object ids are not
 * looked up here (see objects.h).
 * On failure the reason names iface#id.message(opcode N).
 */
bool wayland_msg_decode(const uint8_t *msg, const struct wayland_msg_header *hdr,
			const struct proto_interface *iface, const struct proto_message *m,
			struct wayland_args *args, struct wire_error *err);

/** Returns the string argument @i of a decoded message (NULL when null). */
static inline const char *wayland_args_string(const uint8_t *msg, const struct wayland_args *args,
					      unsigned i) {
	return args->value[i] == 0 ? NULL : (const char *)msg + args->offset[i] + 4;
}

/** Reads/writes a 32-bit word of a message in place (unaligned-safe). */
uint32_t wayland_msg_get_u32(const uint8_t *msg, size_t offset);
void wayland_msg_set_u32(uint8_t *msg, size_t offset, uint32_t value);

/** One argument for wayland_msg_encode. */
union wayland_value {
	uint32_t u;
	int32_t i;
	struct {
		const void *data; // string: the characters; array: the bytes
		uint32_t len;     // string: strlen + 1 (0 = null); array: bytes
	} bytes;
};

/**
 * Encodes a message from @values (one per argument of @m; fd arguments are
 * ignored) into @out. Returns the message size, or 0 when it would exceed
 * @cap or WAYLAND_MSG_HARD_MAX_SIZE. Strings must carry their NUL within len.
 */
size_t wayland_msg_encode(uint8_t *out, size_t cap, uint32_t object_id, uint16_t opcode,
			  const struct proto_message *m, const union wayland_value *values);

/**
 * Fills @values from a decoded message, so one argument can be replaced and
 * the message re-encoded. Pointers in @values point into @msg.
 */
void wayland_args_to_values(const uint8_t *msg, const struct proto_message *m,
			    const struct wayland_args *args, union wayland_value *values);

/**
 * Formats a decoded message WAYLAND_DEBUG-style into @buf:
 * `wl_surface#12.attach(wl_buffer#14, 0, 0)`. @object_id is printed for the
 * sender. Truncates to fit; always NUL-terminates when @cap > 0.
 */
void wayland_msg_format(char *buf, size_t cap, const uint8_t *msg, uint32_t object_id,
			const struct proto_interface *iface, const struct proto_message *m,
			const struct wayland_args *args);

#endif
