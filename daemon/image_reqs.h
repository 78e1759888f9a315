/*
 * The image requirements a context has answered (GET_IMAGE_REQUIREMENTS),
 * each under the blob id the guest passes to CREATE_BLOB.
 *
 * Guests cache answers by shape and reuse the blob id for every later
 * allocation of that shape for as long as they run (sommelier's description
 * cache, wayland-proxy-virtwl's alloc cache), so an id must stay valid until
 * the context ends: entries are never removed. The same question gets the
 * same entry back (a hash on width, height, format and use flags), so the
 * table grows only with distinct shapes, up to a limit
 * (max-image-requirements in crossway.conf(5)); its memory grows with use.
 * Before this table image requirements were items (daemon/items.h): a guest
 * whose windows were resized through 4096 sizes lost its context.
 *
 * Ids are IMAGE_REQS_ID_BASE + index, a range of their own that
 * daemon/items ids never reach, so CREATE_BLOB can tell the two apart.
 */
#ifndef CROSSWAY_DAEMON_IMAGE_REQS_H
#define CROSSWAY_DAEMON_IMAGE_REQS_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/image.h"

#define IMAGE_REQS_ID_BASE 0x40000000u
/* Ids stay below CROSS_DOMAIN_PIPE_READ_START (0x80000000). */
#define IMAGE_REQS_MAX 0x3fffffffu

struct image_reqs {
	struct image_layout *entries; // owned; entries[id - IMAGE_REQS_ID_BASE]
	uint32_t count;
	uint32_t cap;        // entries allocated
	uint32_t max;        // entries allowed
	uint32_t *slots;     // owned; hash on the shape: entry index + 1, 0 = empty
	uint32_t slot_count; // a power of two, at least twice count
	uint64_t key;        // random, for the slots' hash (see image_reqs.c)
};

/** An empty table allowing @max entries (0: the default). Allocates nothing. */
void image_reqs_init(struct image_reqs *t, uint32_t max);
void image_reqs_finish(struct image_reqs *t);

/** The entry for a shape, or NULL; its id in @id. */
const struct image_layout *image_reqs_find(const struct image_reqs *t, uint32_t width,
					   uint32_t height, uint32_t fourcc, uint32_t flags,
					   uint32_t *id);

/**
 * Adds @layout (whose shape is not in the table yet); returns its id, or 0
 * when the table is full (errno ENOSPC) or memory ran out (ENOMEM).
 */
uint32_t image_reqs_add(struct image_reqs *t, const struct image_layout *layout);

/** The entry under @id, or NULL for an id this table never gave out. */
const struct image_layout *image_reqs_get(const struct image_reqs *t, uint64_t id);

#endif
