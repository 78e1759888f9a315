/*
 * Object maps for one proxied Wayland connection, and the translation of
 * object ids between its two sides.
 *
 * A proxy sits between a downstream client (the guest) and an upstream server
 * (the host compositor). Server-allocated ids (>= 0xff000000) are the same on
 * both sides. Client-allocated ids are translated: the downstream client picks
 * its ids, and the proxy allocates the upstream ids itself, exactly as
 * libwayland-client would (reuse an id released by wl_display.delete_id, else
 * the next one). So the compositor never sees a guest-chosen id, and the proxy
 * can create objects of its own upstream ("internal" objects, for example a
 * decoration object for a guest toplevel) without colliding with the guest.
 *
 * Life of a client-allocated object (libwayland's wl_map rules):
 *   LIVE --destructor request or destructor event--> ZOMBIE
 *   ZOMBIE --delete_id--> freed on both sides (delete_id forwarded)
 *   LIVE --delete_id without a destructor--> DELETED: the server forgot it but
 *         the guest still holds the id until it destroys its proxy; requests to
 *         it are dropped, and the guest may reuse the id.
 * Server-allocated objects: LIVE --destructor--> ZOMBIE; the server may then
 * reuse the id for a new object.
 *
 * Downstream new ids must be the next unused id or one released by a
 * delete_id the proxy forwarded (libwayland's wl_map_reserve_new), and below
 * the object limit; so the maps stay dense and bounded.
 *
 * Pure data structure: allocates memory, does no I/O, never logs.
 */
#ifndef CROSSWAY_WIRE_OBJECTS_H
#define CROSSWAY_WIRE_OBJECTS_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/tables.h"
#include "wire/wayland_msg.h"
#include "wire/wire_error.h"

enum object_state {
	OBJECT_FREE = 0,
	OBJECT_LIVE,
	OBJECT_ZOMBIE,  // destroyed; waiting for the id to be released
	OBJECT_DELETED, // the server released the id; the guest has not
};

struct object {
	const struct proto_interface *interface; // NULL when free
	uint32_t version;
	uint32_t down_id; // downstream (guest) id; 0 for internal objects
	uint32_t up_id;   // upstream (compositor) id
	uint8_t state;    // enum object_state
	bool internal;    // created by the proxy; has no downstream id
	uint16_t tag;     // free for the owner (policy roles); 0 when created
	uint64_t aux;     // free for the owner; 0 when created
	void *data;       // free for the owner; borrowed; NULL when created
};

struct objects;

/**
 * Creates the maps for one connection, with wl_display as object 1 on both
 * sides. @max_objects bounds live, zombie and deleted objects together (and
 * with it the downstream id range). Returns NULL on allocation failure.
 */
struct objects *objects_create(uint32_t max_objects);

/** Frees the maps. Tolerates NULL. Owner data pointers are not touched. */
void objects_destroy(struct objects *objs);

/** Number of objects held (any state but free). */
uint32_t objects_count(const struct objects *objs);

/**
 * Looks up by downstream id / by upstream id. Returns NULL for ids that
 * are free or out of range (and, downstream, for internal objects).
 * The pointer is valid until the next call that adds or frees objects.
 */
struct object *objects_lookup_down(struct objects *objs, uint32_t down_id);
struct object *objects_lookup_up(struct objects *objs, uint32_t up_id);

/**
 * Registers a new id the downstream client chose (a new_id in a request) and
 * allocates its upstream id. Fails when the id is 0, in the server range,
 * neither the next id nor a released one, held by a LIVE or ZOMBIE object, or
 * when the limit is reached. An id in state DELETED is reused.
 */
struct object *objects_add_down(struct objects *objs, uint32_t down_id,
				const struct proto_interface *iface, uint32_t version,
				struct wire_error *err);

/**
 * Registers a new server-allocated id (a new_id in an event). Fails when the
 * id is not in the server range, is held by a LIVE object, or the limit is
 * reached. A ZOMBIE object with that id is replaced.
 */
struct object *objects_add_up(struct objects *objs, uint32_t up_id,
			      const struct proto_interface *iface, uint32_t version,
			      struct wire_error *err);

/** Creates an object of the proxy's own, upstream only. */
struct object *objects_add_internal(struct objects *objs, const struct proto_interface *iface,
				    uint32_t version, struct wire_error *err);

/**
 * Marks an object destroyed by a destructor request or event. A DELETED
 * client object (its upstream id already released) is freed at once.
 */
void objects_mark_destroyed(struct objects *objs, struct object *obj);

/**
 * Handles wl_display.delete_id(@up_id) from upstream. Returns the downstream
 * id to forward, or 0 when nothing must be forwarded (an internal object, or
 * an id the map does not hold). Sets *@was_internal accordingly.
 */
uint32_t objects_delete_id(struct objects *objs, uint32_t up_id, bool *was_internal);

/* Translation of whole messages. */

enum objects_result {
	OBJECTS_FORWARD = 0, // valid; ids rewritten; forward it
	OBJECTS_DROP,        // valid but must not be forwarded (see each function)
	OBJECTS_INVALID,     // protocol violation; reason in the wire_error
};

/**
 * Resolves the sender of a downstream request: looks up @down_id and the
 * message for @opcode, checking the opcode exists and is not newer than the
 * object's version. Returns DROP (with *obj set) for requests to ZOMBIE or
 * DELETED objects, which libwayland-server also drops silently; the caller
 * must still decode them to consume their fds.
 */
enum objects_result objects_resolve_request(struct objects *objs, uint32_t down_id, uint16_t opcode,
					    struct object **obj, const struct proto_message **msg,
					    struct wire_error *err);

/**
 * Resolves the sender of an upstream event (any state: events for zombies
 * are forwarded, the guest's libwayland discards them). Returns DROP with
 * *obj set when the sender is internal.
 */
enum objects_result objects_resolve_event(struct objects *objs, uint32_t up_id, uint16_t opcode,
					  struct object **obj, const struct proto_message **msg,
					  struct wire_error *err);

/**
 * Checks and translates the arguments of a decoded request in place
 * (downstream ids to upstream ids, sender included): object arguments must be
 * LIVE with the declared interface; a new_id is registered with the
 * interface the table (or, for wl_registry.bind, the interface string) says
 * and the sender's (or bind's) version. A destructor marks the sender.
 * The object and new_id values in @args are translated too, so what looks at
 * the message afterwards (the policy) sees the ids the compositor sees, as
 * for events. @created receives the new object, or NULL.
 */
enum objects_result objects_translate_request(struct objects *objs, uint8_t *msg,
					      struct object *sender, const struct proto_message *m,
					      struct wayland_args *args, struct object **created,
					      struct wire_error *err);

/**
 * Checks and translates the arguments of a decoded event in place (upstream
 * to downstream ids, sender included); registers server-allocated new ids;
 * applies destructor events and wl_display.delete_id. Returns DROP for a
 * delete_id of an internal object. Object arguments may name zombies (a race
 * the guest resolves) but not internal objects.
 */
enum objects_result objects_translate_event(struct objects *objs, uint8_t *msg,
					    struct object *sender, const struct proto_message *m,
					    const struct wayland_args *args,
					    struct object **created, struct wire_error *err);

#endif
