/*
 * The table of identifiers crosswayd hands to the guest: memory fds received
 * from the compositor (one CREATE_BLOB each) and write pipes from the
 * compositor (WRITE targets). Ids are slot + generation, so a stale id never
 * finds a newer item, lookups are O(1) and the table never grows past its
 * limit. Ids stay below IMAGE_REQS_ID_BASE (image requirements have the ids
 * from there, daemon/image_reqs.h) and so below CROSS_DOMAIN_PIPE_READ_START
 * (the guest's read-pipe ids).
 *
 * The table owns every fd it holds and closes it when the item goes.
 */
#ifndef CROSSWAY_DAEMON_ITEMS_H
#define CROSSWAY_DAEMON_ITEMS_H

#include <stdbool.h>
#include <stdint.h>

enum item_kind {
	ITEM_FREE = 0,
	ITEM_MEMORY,     // a memory fd for the guest to map (keymap, format table)
	ITEM_WRITE_PIPE, // the write end of a compositor pipe; see daemon/pipes.h
};

struct write_pipe;

struct item {
	uint32_t id; // 0 when free
	uint8_t kind;
	union {
		struct {
			int fd; // owned
			uint64_t size;
			bool dmabuf; // else plain memory (memfd, shm file)
		} memory;
		struct write_pipe *pipe; // owned by daemon/pipes
	};
};

struct items {
	struct item *slots; // owned, `max` entries
	uint32_t max;
	uint32_t count;
	uint32_t next;       // where the search for a free slot starts
	uint32_t generation; // bumped on each wrap of `next`
};

/** @max: at most 4096 (CROSSWAY_DEFAULT_MAX_ITEMS). */
bool items_init(struct items *items, uint32_t max);
/** Closes every fd held and frees the table. Write pipes must be gone already. */
void items_finish(struct items *items);

/** Adds an item of @kind; NULL when the table is full. The caller fills it. */
struct item *items_add(struct items *items, enum item_kind kind);

/** Finds a live item by id (NULL for unknown, stale or free ids). */
struct item *items_get(struct items *items, uint32_t id);

/** Removes an item, closing its memory fd if it still holds one. */
void items_remove(struct items *items, struct item *item);

#endif
