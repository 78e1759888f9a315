/*
 * daemon/image_reqs: answers to GET_IMAGE_REQUIREMENTS keep their ids for
 * the life of the context, repeated questions find the same entry, and the
 * table stops at its limit.
 */
#include <errno.h>

#include "daemon/image_reqs.h"
#include "tests/harness/test.h"

static struct image_layout shape(uint32_t w, uint32_t h, uint32_t fourcc, uint32_t flags) {
	return (struct image_layout){.width = w,
				     .height = h,
				     .fourcc = fourcc,
				     .flags = flags,
				     .num_planes = 1,
				     .strides = {w * 4},
				     .size = (uint64_t)w * 4 * h};
}

TEST(same_shape_same_entry_other_shapes_other_ids) {
	struct image_reqs t;
	image_reqs_init(&t, 0);
	test_assert_int_eq(t.max, 65536);
	uint32_t id = 1;
	test_assert(image_reqs_find(&t, 64, 64, 1, 0x11, &id) == NULL);
	test_assert(image_reqs_get(&t, IMAGE_REQS_ID_BASE) == NULL);
	struct image_layout a = shape(64, 64, 1, 0x11);
	uint32_t ia = image_reqs_add(&t, &a);
	test_assert_int_eq(ia, IMAGE_REQS_ID_BASE);
	// Each field of the shape matters.
	struct image_layout others[] = {shape(65, 64, 1, 0x11), shape(64, 65, 1, 0x11),
					shape(64, 64, 2, 0x11), shape(64, 64, 1, 0x01)};
	uint32_t ids[4];
	for (int i = 0; i < 4; i++) {
		test_assert(image_reqs_find(&t, others[i].width, others[i].height, others[i].fourcc,
					    others[i].flags, &id) == NULL);
		ids[i] = image_reqs_add(&t, &others[i]);
		test_assert(ids[i] > ia && (i == 0 || ids[i] > ids[i - 1]));
	}
	const struct image_layout *l = image_reqs_find(&t, 64, 64, 1, 0x11, &id);
	test_assert(l != NULL && id == ia && l->size == a.size);
	for (int i = 0; i < 4; i++) {
		l = image_reqs_get(&t, ids[i]);
		test_assert(l != NULL && l->width == others[i].width &&
			    l->height == others[i].height && l->fourcc == others[i].fourcc &&
			    l->flags == others[i].flags);
	}
	// Ids it never gave out.
	test_assert(image_reqs_get(&t, 0) == NULL);
	test_assert(image_reqs_get(&t, IMAGE_REQS_ID_BASE - 1) == NULL);
	test_assert(image_reqs_get(&t, IMAGE_REQS_ID_BASE + 5) == NULL);
	test_assert(image_reqs_get(&t, ((uint64_t)1 << 32) | IMAGE_REQS_ID_BASE) == NULL);
	image_reqs_finish(&t);
}

TEST(many_shapes_keep_their_ids_up_to_the_limit) {
	struct image_reqs t;
	image_reqs_init(&t, 20000);
	for (uint32_t i = 0; i < 20000; i++) {
		struct image_layout l = shape(1 + i % 1000, 1 + i / 1000, 0x34325258, 0x11);
		test_assert_int_eq(image_reqs_add(&t, &l), IMAGE_REQS_ID_BASE + i);
	}
	struct image_layout extra = shape(5000, 5000, 0x34325258, 0x11);
	errno = 0;
	test_assert_int_eq(image_reqs_add(&t, &extra), 0);
	test_assert_int_eq(errno, ENOSPC);
	// Every entry is found by shape and by id, after all the growing.
	for (uint32_t i = 0; i < 20000; i++) {
		uint32_t id = 0;
		const struct image_layout *l = image_reqs_find(&t, 1 + i % 1000, 1 + i / 1000,
							       0x34325258, 0x11, &id);
		test_assert_msg(l != NULL && id == IMAGE_REQS_ID_BASE + i, "shape %u", i);
		test_assert(image_reqs_get(&t, id) == l);
	}
	image_reqs_finish(&t);
	// Finish leaves an empty table; finishing twice is harmless.
	image_reqs_finish(&t);
}
