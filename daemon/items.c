#include <stdlib.h>
#include <string.h>

#include "daemon/fd.h"
#include "daemon/image_reqs.h"
#include "daemon/items.h"
#include "wire/limits.h"

#define SLOT_BITS 12
#define SLOT_MASK ((1u << SLOT_BITS) - 1)
/* Generations run 1..0x3ffff so ids stay below IMAGE_REQS_ID_BASE. */
#define GENERATION_MAX ((IMAGE_REQS_ID_BASE - 1) >> SLOT_BITS)

bool items_init(struct items *items, uint32_t max) {
	*items = (struct items){0};
	if (max == 0 || max > (1u << SLOT_BITS)) {
		max = CROSSWAY_DEFAULT_MAX_ITEMS;
	}
	items->slots = calloc(max, sizeof(*items->slots));
	items->max = max;
	items->generation = 1;
	return items->slots != NULL;
}

void items_finish(struct items *items) {
	if (items->slots != NULL) {
		for (uint32_t i = 0; i < items->max; i++) {
			if (items->slots[i].id != 0) {
				items_remove(items, &items->slots[i]);
			}
		}
	}
	free(items->slots);
	*items = (struct items){0};
}

struct item *items_add(struct items *items, enum item_kind kind) {
	if (items->count >= items->max) {
		return NULL;
	}
	for (uint32_t n = 0; n < items->max; n++) {
		uint32_t slot = items->next;
		items->next++;
		if (items->next == items->max) {
			items->next = 0;
			items->generation = items->generation == GENERATION_MAX
						    ? 1
						    : items->generation + 1;
		}
		struct item *it = &items->slots[slot];
		if (it->id == 0) {
			memset(it, 0, sizeof(*it));
			it->id = items->generation << SLOT_BITS | slot;
			it->kind = (uint8_t)kind;
			if (kind == ITEM_MEMORY) {
				it->memory.fd = -1;
			}
			items->count++;
			return it;
		}
	}
	return NULL;
}

struct item *items_get(struct items *items, uint32_t id) {
	uint32_t slot = id & SLOT_MASK;
	if (id == 0 || slot >= items->max || items->slots[slot].id != id) {
		return NULL;
	}
	return &items->slots[slot];
}

void items_remove(struct items *items, struct item *item) {
	if (item->kind == ITEM_MEMORY) {
		fd_close(&item->memory.fd);
	}
	memset(item, 0, sizeof(*item));
	items->count--;
}
