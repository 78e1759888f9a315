/*
 * Bounded reader and writer over a byte span. Every untrusted byte crossway
 * reads goes through a cursor_read_* call, which checks the remaining length
 * first and never reads out of bounds. Values are little-endian (the byte
 * order of every cross-domain guest and of the backend link; Wayland uses the
 * host's order, which is the same on every supported target).
 */
#ifndef CROSSWAY_WIRE_CURSOR_H
#define CROSSWAY_WIRE_CURSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "crossway's codecs assume a little-endian host (all cross-domain guests are)"
#endif

struct cursor {
	const uint8_t *data; // borrowed
	size_t size;
	size_t pos; // bytes consumed, <= size
};

static inline struct cursor cursor_init(const void *data, size_t size) {
	return (struct cursor){.data = data, .size = size, .pos = 0};
}

static inline size_t cursor_remaining(const struct cursor *c) {
	return c->size - c->pos;
}

static inline bool cursor_read_u8(struct cursor *c, uint8_t *out) {
	if (cursor_remaining(c) < 1) {
		return false;
	}
	*out = c->data[c->pos++];
	return true;
}

static inline bool cursor_read_u16(struct cursor *c, uint16_t *out) {
	if (cursor_remaining(c) < 2) {
		return false;
	}
	memcpy(out, c->data + c->pos, 2);
	c->pos += 2;
	return true;
}

static inline bool cursor_read_u32(struct cursor *c, uint32_t *out) {
	if (cursor_remaining(c) < 4) {
		return false;
	}
	memcpy(out, c->data + c->pos, 4);
	c->pos += 4;
	return true;
}

static inline bool cursor_read_i32(struct cursor *c, int32_t *out) {
	return cursor_read_u32(c, (uint32_t *)out);
}

static inline bool cursor_read_u64(struct cursor *c, uint64_t *out) {
	if (cursor_remaining(c) < 8) {
		return false;
	}
	memcpy(out, c->data + c->pos, 8);
	c->pos += 8;
	return true;
}

/* Copies @n bytes out. */
static inline bool cursor_read_bytes(struct cursor *c, void *out, size_t n) {
	if (cursor_remaining(c) < n) {
		return false;
	}
	memcpy(out, c->data + c->pos, n);
	c->pos += n;
	return true;
}

/* Borrows @n bytes in place (the pointer lives as long as the span). */
static inline bool cursor_take(struct cursor *c, size_t n, const uint8_t **out) {
	if (cursor_remaining(c) < n) {
		return false;
	}
	*out = c->data + c->pos;
	c->pos += n;
	return true;
}

static inline bool cursor_skip(struct cursor *c, size_t n) {
	if (cursor_remaining(c) < n) {
		return false;
	}
	c->pos += n;
	return true;
}

/* Writer: fails (and writes nothing) when the span is too small. */
struct writer {
	uint8_t *data; // borrowed
	size_t size;
	size_t pos;
};

static inline struct writer writer_init(void *data, size_t size) {
	return (struct writer){.data = data, .size = size, .pos = 0};
}

static inline bool writer_put_bytes(struct writer *w, const void *src, size_t n) {
	if (w->size - w->pos < n) {
		return false;
	}
	if (n > 0) {
		memcpy(w->data + w->pos, src, n);
	}
	w->pos += n;
	return true;
}

static inline bool writer_put_u32(struct writer *w, uint32_t v) {
	return writer_put_bytes(w, &v, 4);
}

static inline bool writer_put_u64(struct writer *w, uint64_t v) {
	return writer_put_bytes(w, &v, 8);
}

static inline bool writer_put_zeros(struct writer *w, size_t n) {
	if (w->size - w->pos < n) {
		return false;
	}
	memset(w->data + w->pos, 0, n);
	w->pos += n;
	return true;
}

#endif
