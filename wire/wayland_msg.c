#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "wire/cursor.h"
#include "wire/limits.h"
#include "wire/wayland_msg.h"

enum wayland_msg_result wayland_msg_header_parse(const uint8_t *data, size_t len, uint32_t max_size,
						 struct wayland_msg_header *hdr,
						 struct wire_error *err) {
	if (len < WAYLAND_MSG_HEADER_SIZE) {
		return WAYLAND_MSG_INCOMPLETE;
	}
	uint32_t id, word;
	memcpy(&id, data, 4);
	memcpy(&word, data + 4, 4);
	uint32_t size = word >> 16;
	hdr->object_id = id;
	hdr->opcode = word & 0xffff;
	hdr->size = (uint16_t)size;
	if (size < WAYLAND_MSG_HEADER_SIZE) {
		wire_error_set(err,
			       "message to object %" PRIu32 " (opcode %u): size %" PRIu32 " < 8",
			       id, hdr->opcode, size);
		return WAYLAND_MSG_INVALID;
	}
	if (size % 4 != 0) {
		wire_error_set(err,
			       "message to object %" PRIu32 " (opcode %u): size %" PRIu32
			       " is not a multiple of 4",
			       id, hdr->opcode, size);
		return WAYLAND_MSG_INVALID;
	}
	if (size > max_size) {
		wire_error_set(err,
			       "message to object %" PRIu32 " (opcode %u): size %" PRIu32
			       " > limit %" PRIu32,
			       id, hdr->opcode, size, max_size);
		return WAYLAND_MSG_INVALID;
	}
	return WAYLAND_MSG_OK;
}

static bool arg_error(struct wire_error *err, const struct wayland_msg_header *hdr,
		      const struct proto_interface *iface, const struct proto_message *m,
		      const struct proto_arg *a, const char *reason) {
	return wire_error_set(err, "%s#%" PRIu32 ".%s(opcode %u): argument '%s': %s", iface->name,
			      hdr->object_id, m->name, hdr->opcode, a->name, reason);
}

bool wayland_msg_decode(const uint8_t *msg, const struct wayland_msg_header *hdr,
			const struct proto_interface *iface, const struct proto_message *m,
			struct wayland_args *args, struct wire_error *err) {
	struct cursor c = cursor_init(msg, hdr->size);
	cursor_skip(&c, WAYLAND_MSG_HEADER_SIZE);
	uint32_t fd_index = 0;
	for (unsigned i = 0; i < m->arg_count; i++) {
		const struct proto_arg *a = &m->args[i];
		if (a->type == PROTO_ARG_FD) {
			args->offset[i] = 0;
			args->value[i] = fd_index++;
			continue;
		}
		args->offset[i] = (uint16_t)c.pos;
		uint32_t v;
		if (!cursor_read_u32(&c, &v)) {
			return arg_error(err, hdr, iface, m, a, "message ends before the argument");
		}
		args->value[i] = v;
		switch (a->type) {
		case PROTO_ARG_OBJECT:
			if (v == 0 && !a->nullable) {
				return arg_error(err, hdr, iface, m, a,
						 "null object is not allowed");
			}
			break;
		case PROTO_ARG_NEW_ID:
			if (v == 0) {
				return arg_error(err, hdr, iface, m, a, "new id 0");
			}
			break;
		case PROTO_ARG_STRING: {
			if (v == 0) {
				if (!a->nullable) {
					return arg_error(err, hdr, iface, m, a,
							 "null string is not allowed");
				}
				break;
			}
			// 64-bit arithmetic: v may be 0xffffffff.
			uint64_t padded = ((uint64_t)v + 3) & ~(uint64_t)3;
			const uint8_t *s;
			if (padded > cursor_remaining(&c) || !cursor_take(&c, (size_t)padded, &s)) {
				return arg_error(err, hdr, iface, m, a,
						 "string length runs past the message");
			}
			if (s[v - 1] != '\0') {
				return arg_error(err, hdr, iface, m, a,
						 "string is not NUL-terminated");
			}
			if (memchr(s, '\0', v - 1) != NULL) {
				return arg_error(err, hdr, iface, m, a,
						 "string has an embedded NUL");
			}
			break;
		}
		case PROTO_ARG_ARRAY: {
			uint64_t padded = ((uint64_t)v + 3) & ~(uint64_t)3;
			if (padded > cursor_remaining(&c)) {
				return arg_error(err, hdr, iface, m, a,
						 "array length runs past the message");
			}
			cursor_skip(&c, (size_t)padded);
			break;
		}
		default:
			break;
		}
	}
	if (cursor_remaining(&c) != 0) {
		return wire_error_set(err, "%s#%" PRIu32 ".%s(opcode %u): %zu trailing bytes",
				      iface->name, hdr->object_id, m->name, hdr->opcode,
				      cursor_remaining(&c));
	}
	return true;
}

uint32_t wayland_msg_get_u32(const uint8_t *msg, size_t offset) {
	uint32_t v;
	memcpy(&v, msg + offset, 4);
	return v;
}

void wayland_msg_set_u32(uint8_t *msg, size_t offset, uint32_t value) {
	memcpy(msg + offset, &value, 4);
}

size_t wayland_msg_encode(uint8_t *out, size_t cap, uint32_t object_id, uint16_t opcode,
			  const struct proto_message *m, const union wayland_value *values) {
	size_t limit = cap < WAYLAND_MSG_HARD_MAX_SIZE ? cap : WAYLAND_MSG_HARD_MAX_SIZE;
	struct writer w = writer_init(out, limit);
	if (!writer_put_u32(&w, object_id) || !writer_put_u32(&w, 0)) {
		return 0;
	}
	for (unsigned i = 0; i < m->arg_count; i++) {
		const union wayland_value *v = &values[i];
		switch (m->args[i].type) {
		case PROTO_ARG_FD:
			break;
		case PROTO_ARG_STRING:
		case PROTO_ARG_ARRAY: {
			uint32_t len = v->bytes.len;
			size_t pad = ((size_t)len + 3) / 4 * 4 - len;
			if (!writer_put_u32(&w, len) || !writer_put_bytes(&w, v->bytes.data, len) ||
			    !writer_put_zeros(&w, pad)) {
				return 0;
			}
			break;
		}
		default:
			if (!writer_put_u32(&w, v->u)) {
				return 0;
			}
			break;
		}
	}
	uint32_t word = (uint32_t)w.pos << 16 | opcode;
	memcpy(out + 4, &word, 4);
	return w.pos;
}

void wayland_args_to_values(const uint8_t *msg, const struct proto_message *m,
			    const struct wayland_args *args, union wayland_value *values) {
	for (unsigned i = 0; i < m->arg_count; i++) {
		switch (m->args[i].type) {
		case PROTO_ARG_STRING:
		case PROTO_ARG_ARRAY:
			values[i].bytes.len = args->value[i];
			values[i].bytes.data = msg + args->offset[i] + 4;
			break;
		default:
			values[i].u = args->value[i];
			break;
		}
	}
}

struct fmt {
	char *buf;
	size_t cap;
	size_t len;
};

__attribute__((format(printf, 2, 3))) static void put(struct fmt *f, const char *fmt, ...) {
	if (f->len >= f->cap) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(f->buf + f->len, f->cap - f->len, fmt, ap);
	va_end(ap);
	if (n > 0) {
		f->len += (size_t)n;
	}
}

static void put_string(struct fmt *f, const char *s, uint32_t len) {
	put(f, "\"");
	// len includes the NUL. Control characters are escaped so a guest
	// cannot forge log lines.
	for (uint32_t i = 0; i + 1 < len && f->len < f->cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\') {
			put(f, "\\%c", ch);
		} else if (ch < 0x20 || ch == 0x7f) {
			put(f, "\\x%02x", ch);
		} else {
			put(f, "%c", ch);
		}
	}
	put(f, "\"");
}

void wayland_msg_format(char *buf, size_t cap, const uint8_t *msg, uint32_t object_id,
			const struct proto_interface *iface, const struct proto_message *m,
			const struct wayland_args *args) {
	if (cap == 0) {
		return;
	}
	buf[0] = '\0';
	struct fmt f = {.buf = buf, .cap = cap, .len = 0};
	put(&f, "%s#%" PRIu32 ".%s(", iface->name, object_id, m->name);
	for (unsigned i = 0; i < m->arg_count; i++) {
		const struct proto_arg *a = &m->args[i];
		uint32_t v = args->value[i];
		if (i > 0) {
			put(&f, ", ");
		}
		switch (a->type) {
		case PROTO_ARG_INT:
			put(&f, "%" PRId32, (int32_t)v);
			break;
		case PROTO_ARG_UINT:
			put(&f, "%" PRIu32, v);
			break;
		case PROTO_ARG_FIXED:
			put(&f, "%f", (int32_t)v / 256.0);
			break;
		case PROTO_ARG_STRING:
			if (v == 0) {
				put(&f, "nil");
			} else {
				put_string(&f, (const char *)msg + args->offset[i] + 4, v);
			}
			break;
		case PROTO_ARG_OBJECT:
			if (v == 0) {
				put(&f, "nil");
			} else {
				put(&f, "%s#%" PRIu32, a->interface ? a->interface->name : "object",
				    v);
			}
			break;
		case PROTO_ARG_NEW_ID: {
			const char *name = a->interface ? a->interface->name : NULL;
			if (a->dynamic && i >= 2 && args->value[i - 2] != 0) {
				name = (const char *)msg + args->offset[i - 2] + 4;
			}
			put(&f, "new id %s#%" PRIu32, name ? name : "[unknown]", v);
			break;
		}
		case PROTO_ARG_ARRAY:
			put(&f, "array[%" PRIu32 "]", v);
			break;
		case PROTO_ARG_FD:
			put(&f, "fd");
			break;
		}
	}
	put(&f, ")");
	if (f.len >= cap) {
		// Truncated: end with an ellipsis so it is visibly cut.
		size_t end = cap - 1;
		for (size_t k = 0; k < 3 && end > k; k++) {
			buf[end - 1 - k] = '.';
		}
	}
}
