#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "daemon/fd.h"
#include "daemon/resources.h"

/* Keyed with the table's random key: the guest's kernel picks resource ids,
 * and ids chosen to share a slot would make every lookup walk the table. */
static uint32_t hash(const struct resources *res, uint32_t id) {
	id ^= res->key;
	id ^= id >> 16;
	id *= 0x7feb352du;
	id ^= id >> 15;
	return id;
}

bool resources_init(struct resources *res, uint32_t max) {
	*res = (struct resources){.max = max};
	if (getrandom(&res->key, sizeof(res->key), GRND_NONBLOCK) != (ssize_t)sizeof(res->key)) {
		res->key = (uint32_t)(uintptr_t)res ^ (uint32_t)getpid() << 12; // no entropy yet
	}
	uint32_t cap = 16;
	while (cap < 2 * max) {
		cap *= 2;
	}
	res->table = calloc(cap, sizeof(*res->table));
	res->cap = cap;
	return res->table != NULL;
}

void resources_finish(struct resources *res) {
	if (res->table != NULL) {
		for (uint32_t i = 0; i < res->cap; i++) {
			if (res->table[i].id != 0) {
				fd_close(&res->table[i].fd);
			}
		}
	}
	free(res->table);
	*res = (struct resources){0};
}

struct resource *resources_get(struct resources *res, uint32_t id) {
	if (id == 0) {
		return NULL;
	}
	uint32_t mask = res->cap - 1;
	for (uint32_t i = hash(res, id) & mask, n = 0; n < res->cap; i = (i + 1) & mask, n++) {
		struct resource *r = &res->table[i];
		if (r->id == id) {
			return r;
		}
		if (r->id == 0 && !r->tombstone) {
			return NULL;
		}
	}
	return NULL;
}

static void rehash(struct resources *res) {
	// Only tombstones can fill the table up (live entries <= max < cap/2):
	// rebuilding in place without them is enough.
	struct resource *old = res->table;
	struct resource *fresh = calloc(res->cap, sizeof(*fresh));
	if (fresh == NULL) {
		return;
	}
	res->table = fresh;
	res->used = 0;
	uint32_t mask = res->cap - 1;
	for (uint32_t i = 0; i < res->cap; i++) {
		if (old[i].id == 0) {
			continue;
		}
		uint32_t j = hash(res, old[i].id) & mask;
		while (res->table[j].id != 0) {
			j = (j + 1) & mask;
		}
		res->table[j] = old[i];
		res->used++;
	}
	free(old);
}

struct resource *resources_add(struct resources *res, uint32_t id, enum resource_kind kind, int fd,
			       uint64_t size) {
	if (id == 0 || res->count >= res->max) {
		return NULL;
	}
	if (res->used + 1 > res->cap * 3 / 4) {
		rehash(res);
	}
	uint32_t mask = res->cap - 1;
	uint32_t i = hash(res, id) & mask;
	while (res->table[i].id != 0) {
		i = (i + 1) & mask;
	}
	struct resource *r = &res->table[i];
	bool was_tombstone = r->tombstone;
	*r = (struct resource){.id = id, .kind = (uint8_t)kind, .fd = fd, .size = size};
	res->count++;
	if (!was_tombstone) {
		res->used++;
	}
	if (kind == RESOURCE_BLOB) {
		res->blob_bytes += size;
	}
	return r;
}

void resources_remove(struct resources *res, struct resource *r) {
	fd_close(&r->fd);
	if (r->kind == RESOURCE_BLOB) {
		res->blob_bytes -= r->size;
	}
	*r = (struct resource){.fd = -1, .tombstone = true};
	res->count--;
}
