/*
 * daemon/drm_format: the rows of each plane of the multi-planar YUV formats,
 * and no rows for planes a format does not have (a modifier's auxiliary
 * planes).
 */
#include "daemon/drm_format.h"
#include "daemon/image.h"
#include "tests/harness/test.h"

static uint32_t rows_of(uint32_t fourcc, unsigned plane, uint32_t height) {
	uint32_t rows = 0xdeadbeef;
	test_assert_msg(drm_format_plane_rows(fourcc, plane, height, &rows),
			"plane %u of %.4s has no rows", plane, (const char *)&fourcc);
	return rows;
}

TEST(chroma_planes_follow_the_vertical_subsampling) {
	// 4:2:0: half, rounded up (an odd height keeps its last chroma row).
	test_assert_int_eq(rows_of(IMAGE_FOURCC('N', 'V', '1', '2'), 1, 1080), 540);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('N', 'V', '1', '2'), 1, 7), 4);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('P', '0', '1', '0'), 1, 7), 4);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('Y', 'U', '1', '2'), 2, 480), 240);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('Y', 'V', '1', '2'), 1, 5), 3);
	// 4:2:2, 4:4:4 and 4:1:1: full height.
	test_assert_int_eq(rows_of(IMAGE_FOURCC('N', 'V', '1', '6'), 1, 7), 7);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('N', 'V', '2', '4'), 1, 7), 7);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('Y', 'U', '2', '4'), 2, 9), 9);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('Y', 'U', '1', '1'), 2, 9), 9);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('S', '0', '1', '0'), 2, 7), 4);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('S', '2', '1', '6'), 2, 7), 7);
	// 4:1:0: a quarter, rounded up.
	test_assert_int_eq(rows_of(IMAGE_FOURCC('Y', 'U', 'V', '9'), 1, 9), 3);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('Y', 'V', 'U', '9'), 2, 8), 2);
	// The largest height does not overflow.
	test_assert_int_eq(rows_of(IMAGE_FOURCC('Y', 'U', 'V', '9'), 1, UINT32_MAX), 1u << 30);
}

TEST(plane_zero_is_the_full_height_of_any_format) {
	test_assert_int_eq(rows_of(IMAGE_FOURCC('X', 'R', '2', '4'), 0, 1080), 1080);
	test_assert_int_eq(rows_of(IMAGE_FOURCC('N', 'V', '1', '2'), 0, 1080), 1080);
	test_assert_int_eq(rows_of(0x5a5a5a5a, 0, 3), 3);
}

TEST(planes_a_format_does_not_have_have_no_rows) {
	uint32_t rows = 77;
	test_assert(!drm_format_plane_rows(IMAGE_FOURCC('X', 'R', '2', '4'), 1, 64, &rows));
	test_assert(!drm_format_plane_rows(IMAGE_FOURCC('N', 'V', '1', '2'), 2, 64, &rows));
	test_assert(!drm_format_plane_rows(IMAGE_FOURCC('Y', 'U', '1', '2'), 3, 64, &rows));
	test_assert(!drm_format_plane_rows(0x5a5a5a5a, 1, 64, &rows));
	test_assert_int_eq(rows, 77); // untouched
}
