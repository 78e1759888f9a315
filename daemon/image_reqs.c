#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "daemon/hash.h"
#include "daemon/image_reqs.h"
#include "wire/limits.h"

void image_reqs_init(struct image_reqs *t, uint32_t max) {
	*t = (struct image_reqs){0};
	if (max == 0 || max > IMAGE_REQS_MAX) {
		max = CROSSWAY_DEFAULT_MAX_IMAGE_REQUIREMENTS;
	}
	t->max = max;
	if (getrandom(&t->key, sizeof(t->key), GRND_NONBLOCK) != (ssize_t)sizeof(t->key)) {
		// No entropy yet (early boot): the table's address, the time
		// and the pid, none of which the guest sees.
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		t->key = hash_mix64((uint64_t)(uintptr_t)t ^ (uint64_t)now.tv_nsec << 20 ^
				    (uint64_t)getpid());
	}
}

void image_reqs_finish(struct image_reqs *t) {
	free(t->entries);
	free(t->slots);
	*t = (struct image_reqs){0};
}

/* Keyed with the table's random key: the guest picks the shapes, and with a
 * hash it could compute it could pick thousands that share a slot, making
 * each lookup walk the whole table (seconds of host CPU at the limit). */
static uint32_t shape_hash(const struct image_reqs *t, uint32_t width, uint32_t height,
			   uint32_t fourcc, uint32_t flags) {
	uint64_t h = hash_mix64(t->key ^ ((uint64_t)width << 32 | height));
	h = hash_mix64(h ^ ((uint64_t)fourcc << 32 | flags));
	return (uint32_t)h;
}

static bool same_shape(const struct image_layout *l, uint32_t width, uint32_t height,
		       uint32_t fourcc, uint32_t flags) {
	return l->width == width && l->height == height && l->fourcc == fourcc && l->flags == flags;
}

const struct image_layout *image_reqs_find(const struct image_reqs *t, uint32_t width,
					   uint32_t height, uint32_t fourcc, uint32_t flags,
					   uint32_t *id) {
	if (t->slot_count == 0) {
		return NULL;
	}
	uint32_t mask = t->slot_count - 1;
	for (uint32_t i = shape_hash(t, width, height, fourcc, flags) & mask;; i = (i + 1) & mask) {
		uint32_t s = t->slots[i];
		if (s == 0) {
			return NULL;
		}
		const struct image_layout *l = &t->entries[s - 1];
		if (same_shape(l, width, height, fourcc, flags)) {
			*id = IMAGE_REQS_ID_BASE + (s - 1);
			return l;
		}
	}
}

static void place(const struct image_reqs *t, uint32_t *slots, uint32_t slot_count,
		  const struct image_layout *l, uint32_t index) {
	uint32_t mask = slot_count - 1;
	uint32_t i = shape_hash(t, l->width, l->height, l->fourcc, l->flags) & mask;
	while (slots[i] != 0) {
		i = (i + 1) & mask;
	}
	slots[i] = index + 1;
}

uint32_t image_reqs_add(struct image_reqs *t, const struct image_layout *layout) {
	if (t->count >= t->max) {
		errno = ENOSPC;
		return 0;
	}
	if (t->count == t->cap) {
		uint32_t cap = t->cap == 0 ? 16 : t->cap * 2;
		if (cap > t->max) {
			cap = t->max;
		}
		struct image_layout *entries = realloc(t->entries, (size_t)cap * sizeof(*entries));
		if (entries == NULL) {
			errno = ENOMEM;
			return 0;
		}
		t->entries = entries;
		t->cap = cap;
	}
	// At most half full, so probes stay short and always end.
	if ((uint64_t)(t->count + 1) * 2 > t->slot_count) {
		uint32_t slot_count = t->slot_count == 0 ? 32 : t->slot_count * 2;
		uint32_t *slots = calloc(slot_count, sizeof(*slots));
		if (slots == NULL) {
			errno = ENOMEM;
			return 0;
		}
		for (uint32_t k = 0; k < t->count; k++) {
			place(t, slots, slot_count, &t->entries[k], k);
		}
		free(t->slots);
		t->slots = slots;
		t->slot_count = slot_count;
	}
	uint32_t index = t->count++;
	t->entries[index] = *layout;
	place(t, t->slots, t->slot_count, layout, index);
	return IMAGE_REQS_ID_BASE + index;
}

const struct image_layout *image_reqs_get(const struct image_reqs *t, uint64_t id) {
	if (id < IMAGE_REQS_ID_BASE || id - IMAGE_REQS_ID_BASE >= t->count) {
		return NULL;
	}
	return &t->entries[id - IMAGE_REQS_ID_BASE];
}
