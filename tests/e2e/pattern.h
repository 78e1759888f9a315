/*
 * The picture tests/e2e/pattern_client.c draws and buffers_test.c expects.
 */
#ifndef CROSSWAY_TESTS_E2E_PATTERN_H
#define CROSSWAY_TESTS_E2E_PATTERN_H

#include <stdint.h>

/* Frame @frame's band: rows [*y0, *y1), moving down the picture. */
static inline void pattern_band(int height, int frame, int *y0, int *y1) {
	int band = height / 16 > 0 ? height / 16 : 1;
	*y0 = (int)(((int64_t)frame * 37 * band / 8) % height);
	*y1 = *y0 + band > height ? height : *y0 + band;
}

/* XRGB8888 pixel (x, y) of frame @frame. */
static inline uint32_t pattern_pixel(int x, int y, int height, int frame) {
	int y0, y1;
	pattern_band(height, frame, &y0, &y1);
	if (y >= y0 && y < y1) {
		return 0xff000000u | (uint32_t)((frame * 53) & 0xff) << 16 |
		       (uint32_t)((frame * 101) & 0xff) << 8 | 0x40u;
	}
	return 0xff000000u | (uint32_t)(x & 0xff) << 16 | (uint32_t)(y & 0xff) << 8 |
	       (uint32_t)((x ^ y) >> 4 & 0xff);
}

#endif
