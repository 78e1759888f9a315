/*
 * A tiny byte builder for tests: write words, strings and raw bytes into a
 * fixed buffer, to craft well-formed and malformed messages by hand.
 */
#ifndef CROSSWAY_TESTS_HARNESS_BYTES_H
#define CROSSWAY_TESTS_HARNESS_BYTES_H

#include <stdint.h>
#include <string.h>

struct bytes {
	uint8_t data[8192];
	size_t len;
};

static inline void bytes_u32(struct bytes *b, uint32_t v) {
	memcpy(b->data + b->len, &v, 4);
	b->len += 4;
}

static inline void bytes_u64(struct bytes *b, uint64_t v) {
	memcpy(b->data + b->len, &v, 8);
	b->len += 8;
}

static inline void bytes_raw(struct bytes *b, const void *p, size_t n) {
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* A Wayland string: length (NUL included), bytes, NUL, padding to 4. */
static inline void bytes_string(struct bytes *b, const char *s) {
	uint32_t n = (uint32_t)strlen(s) + 1;
	bytes_u32(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	while (b->len % 4) {
		b->data[b->len++] = 0;
	}
}

/* Starts a Wayland message; wl_end fills in the size. Returns its offset. */
static inline size_t wl_begin(struct bytes *b, uint32_t id, uint16_t opcode) {
	size_t start = b->len;
	bytes_u32(b, id);
	bytes_u32(b, opcode);
	return start;
}

static inline void wl_end(struct bytes *b, size_t start) {
	uint32_t word;
	memcpy(&word, b->data + start + 4, 4);
	word = (uint32_t)(b->len - start) << 16 | (word & 0xffff);
	memcpy(b->data + start + 4, &word, 4);
}

#endif
