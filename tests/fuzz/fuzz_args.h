/*
 * Argument values for the fuzz targets that build Wayland messages from
 * tables (fuzz_policy.c, fuzz_e2e.c): selectors read from the input pick
 * small integers, values from a list of interesting ones, raw 32-bit
 * values, and strings (raw, or from a list of hostile ones).
 *
 *   integers [b]: b < 0x80 is the value b, 0x80..0xef an entry of
 *            interesting[], 0xf0.. a u32 from the input;
 *   strings  [b]: 0xff null, >= 0xc0 an entry of strings[], else b raw
 *            bytes (NULs become '?');
 *   arrays   [len] [bytes].
 *
 * The lists are part of the seeds' meaning: append, never reorder.
 * Include once per fuzz target, after fuzz.h and wire/wayland_msg.h.
 */
#ifndef CROSSWAY_TESTS_FUZZ_FUZZ_ARGS_H
#define CROSSWAY_TESTS_FUZZ_FUZZ_ARGS_H

#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "wire/wayland_msg.h"

static const uint32_t interesting[] = {
	0,
	1,
	2,
	3,
	4,
	7,
	8,
	9,
	15,
	16,
	31,
	32,
	64,
	100,
	128,
	255,
	256,
	257,
	1000,
	1024,
	4095,
	4096,
	4097,
	10000,
	16383,
	16384,
	16385,
	32767,
	32768,
	65535,
	65536,
	1u << 20,
	0x7fffffffu,
	0x80000000u,
	0xfffffffeu,
	0xffffffffu,
	0xffffff00u,
	(uint32_t)-256,
	0xff000000u,
	0xff000001u,
	0xfeffffffu,
	0x34325258u,
	/* XR24 */ 0x34325241u,
	/* AR24 */ 0x3231564eu, /* NV12 */
};
#define INTERESTING (sizeof(interesting) / sizeof(interesting[0]))

static const char *const strings[] = {
	"text/plain",
	"text/plain;charset=utf-8",
	"UTF8_STRING",
	"image/png",
	"application/x-evil",
	"Hello",
	"[host] Password",
	"\u202eevil\u202c",
	"tab\there\nline\x1b[31m",
	"\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xff",
	"org.kde.konsole",
	"../../x",
	"",
	"wl_compositor",
	"zwlr_screencopy_manager_v1",
	"\xc2\x85\xc2\x9f\xef\xbb\xbf\xe2\x80\xa8",
	"caf\xc3\xa9 \xf0\x9f\x98\x80",
};
#define STRINGS (sizeof(strings) / sizeof(strings[0]))

static uint32_t take8(struct fuzz_input *in) {
	uint8_t v = 0;
	fuzz_take_u8(in, &v);
	return v;
}

static uint32_t take32(struct fuzz_input *in) {
	uint16_t lo = 0, hi = 0;
	fuzz_take_u16(in, &lo);
	fuzz_take_u16(in, &hi);
	return (uint32_t)hi << 16 | lo;
}

static uint32_t take_int(struct fuzz_input *in) {
	uint32_t b = take8(in);
	if (b < 0x80) {
		return b;
	}
	if (b < 0xf0) {
		return interesting[(b - 0x80) % INTERESTING];
	}
	return take32(in);
}

/* Fills a string or array argument; storage in @buf (256 bytes). */
static void take_bytes(struct fuzz_input *in, bool string, char *buf, union wayland_value *v) {
	uint32_t b = take8(in);
	if (string && b == 0xff) {
		v->bytes.data = NULL;
		v->bytes.len = 0;
		return;
	}
	if (string && b >= 0xc0) {
		v->bytes.data = strings[(b - 0xc0) % STRINGS];
		v->bytes.len = (uint32_t)strlen(v->bytes.data) + 1;
		return;
	}
	const uint8_t *p;
	size_t n = fuzz_take_bytes(in, b, &p);
	memcpy(buf, p, n);
	if (string) {
		for (size_t i = 0; i < n; i++) {
			if (buf[i] == '\0') {
				buf[i] = '?';
			}
		}
		buf[n++] = '\0';
	}
	v->bytes.data = buf;
	v->bytes.len = (uint32_t)n;
}

#endif
