/*
 * virtio-gpu resources the backend told us about (ATTACH, CREATE_BLOB),
 * keyed by the guest kernel's resource id. A SEND may only name resources
 * that are attached at that moment; DETACH is not destroy: blobs crosswayd
 * created keep their memory, detached, until UNREF.
 *
 * The table owns the fds it holds (host fds from ATTACH kind 2, blob memory
 * from CREATE_BLOB) and closes them on DETACH (kind 2) or UNREF.
 */
#ifndef CROSSWAY_DAEMON_RESOURCES_H
#define CROSSWAY_DAEMON_RESOURCES_H

#include <stdbool.h>
#include <stdint.h>

enum resource_kind {
	RESOURCE_GUEST_MEMORY = 1, // the rings: guest pages, no fd
	RESOURCE_HOST_FD = 2,      // a resource made elsewhere, with its fd
	RESOURCE_BLOB = 3,         // memory crosswayd created by CREATE_BLOB
};

struct resource {
	uint32_t id; // 0: free slot
	uint8_t kind;
	bool attached;
	int fd;        // owned; -1 for guest memory
	uint64_t size; // bytes
	uint32_t handle_type;
	bool tombstone; // hash table: a removed entry in a probe chain
};

struct resources {
	struct resource *table; // owned; open addressing, `cap` slots (power of two)
	uint32_t cap;
	uint32_t count;
	uint32_t used;       // count + tombstones
	uint32_t max;        // live resources allowed
	uint64_t blob_bytes; // memory of all RESOURCE_BLOB entries
	uint32_t key;        // random, for the slots' hash (see resources.c)
};

bool resources_init(struct resources *res, uint32_t max);
/** Closes every fd and frees the table. */
void resources_finish(struct resources *res);

struct resource *resources_get(struct resources *res, uint32_t id);
/** Adds an entry (id must be new and non-zero); NULL when full. @fd is taken
 * only on success. */
struct resource *resources_add(struct resources *res, uint32_t id, enum resource_kind kind, int fd,
			       uint64_t size);
/** Removes an entry and closes its fd. */
void resources_remove(struct resources *res, struct resource *r);

#endif
