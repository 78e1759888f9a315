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

/* The text of a message, written piece by piece without a printf call per
 * piece (it runs for every logged message and, in the fuzz targets, for
 * every message). `len` counts what would have been written, as
 * vsnprintf's result does, so a truncated text shows as len >= cap. */
struct fmt {
	char *buf;
	size_t cap;
	size_t len;
};

static void put_bytes(struct fmt *f, const char *s, size_t n) {
	if (f->len + 1 < f->cap) {
		size_t room = f->cap - 1 - f->len;
		size_t k = n < room ? n : room;
		memcpy(f->buf + f->len, s, k);
		f->buf[f->len + k] = '\0';
	}
	f->len += n;
}

static void put(struct fmt *f, const char *s) {
	put_bytes(f, s, strlen(s));
}

static void put_u32(struct fmt *f, uint32_t v) {
	char digits[10];
	size_t n = 0;
	do {
		digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	put_bytes(f, digits + sizeof(digits) - n, n);
}

static void put_i32(struct fmt *f, int32_t v) {
	if (v < 0) {
		put_bytes(f, "-", 1);
		put_u32(f, 0u - (uint32_t)v);
	} else {
		put_u32(f, (uint32_t)v);
	}
}

/* A guest's or compositor's string, len bytes with the NUL. Control
 * characters are escaped so a peer cannot forge log lines; runs of plain
 * characters go in one copy. */
static void put_escaped(struct fmt *f, const char *s, uint32_t len) {
	static const char hex[] = "0123456789abcdef";
	uint32_t i = 0;
	uint32_t start = 0;
	for (; i + 1 < len && f->len < f->cap; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch != '"' && ch != '\\' && ch >= 0x20 && ch != 0x7f) {
			continue;
		}
		put_bytes(f, s + start, i - start);
		start = i + 1;
		if (ch == '"' || ch == '\\') {
			char esc[2] = {'\\', (char)ch};
			put_bytes(f, esc, 2);
		} else {
			char esc[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
			put_bytes(f, esc, 4);
		}
	}
	put_bytes(f, s + start, i - start);
}

static void put_string(struct fmt *f, const char *s, uint32_t len) {
	put_bytes(f, "\"", 1);
	put_escaped(f, s, len);
	put_bytes(f, "\"", 1);
}

void wayland_msg_format(char *buf, size_t cap, const uint8_t *msg, uint32_t object_id,
			const struct proto_interface *iface, const struct proto_message *m,
			const struct wayland_args *args) {
	if (cap == 0) {
		return;
	}
	buf[0] = '\0';
	struct fmt f = {.buf = buf, .cap = cap, .len = 0};
	put(&f, iface->name);
	put(&f, "#");
	put_u32(&f, object_id);
	put(&f, ".");
	put(&f, m->name);
	put(&f, "(");
	for (unsigned i = 0; i < m->arg_count; i++) {
		const struct proto_arg *a = &m->args[i];
		uint32_t v = args->value[i];
		if (i > 0) {
			put(&f, ", ");
		}
		switch (a->type) {
		case PROTO_ARG_INT:
			put_i32(&f, (int32_t)v);
			break;
		case PROTO_ARG_UINT:
			put_u32(&f, v);
			break;
		case PROTO_ARG_FIXED: {
			char num[32];
			int n = snprintf(num, sizeof(num), "%f", (int32_t)v / 256.0);
			put_bytes(&f, num, n > 0 ? (size_t)n : 0);
			break;
		}
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
				put(&f, a->interface ? a->interface->name : "object");
				put(&f, "#");
				put_u32(&f, v);
			}
			break;
		case PROTO_ARG_NEW_ID: {
			put(&f, "new id ");
			if (a->dynamic && i >= 2 && args->value[i - 2] != 0) {
				// The interface name the message itself carries.
				put_escaped(&f, (const char *)msg + args->offset[i - 2] + 4,
					    args->value[i - 2]);
			} else {
				put(&f, a->interface ? a->interface->name : "[unknown]");
			}
			put(&f, "#");
			put_u32(&f, v);
			break;
		}
		case PROTO_ARG_ARRAY:
			put(&f, "array[");
			put_u32(&f, v);
			put(&f, "]");
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
