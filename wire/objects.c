#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto_tables.h"
#include "wire/limits.h"
#include "wire/objects.h"

/*
 * Storage: client-range objects live in `client[]`, indexed by upstream id;
 * `down_to_up[]` maps downstream ids to upstream ids (0: free). Server-range
 * objects live in `server[]`, indexed by id - WAYLAND_SERVER_ID_START. All
 * three arrays grow by doubling up to the object limit.
 */
struct objects {
	struct object *client; // index: upstream id
	uint32_t client_len;   // ids [0, client_len) have been handed out
	uint32_t client_cap;
	uint32_t *free_up; // upstream ids released by delete_id, reused LIFO
	uint32_t free_up_len;
	uint32_t free_up_cap;

	uint32_t *down_to_up; // index: downstream id
	uint32_t down_len;    // downstream ids [0, down_len) have been used
	uint32_t down_cap;

	struct object *server; // index: id - WAYLAND_SERVER_ID_START
	uint32_t server_cap;

	uint32_t count; // objects in any state but free
	uint32_t max;
};

static bool grow(void **array, uint32_t *cap, uint32_t need, size_t elem) {
	if (need <= *cap) {
		return true;
	}
	uint32_t n = *cap ? *cap : 64;
	while (n < need) {
		n *= 2;
	}
	void *p = realloc(*array, (size_t)n * elem);
	if (p == NULL) {
		return false;
	}
	memset((char *)p + (size_t)*cap * elem, 0, (size_t)(n - *cap) * elem);
	*array = p;
	*cap = n;
	return true;
}

struct objects *objects_create(uint32_t max_objects) {
	struct objects *objs = calloc(1, sizeof(*objs));
	if (objs == NULL) {
		return NULL;
	}
	objs->max = max_objects < 2 ? 2 : max_objects;
	if (!grow((void **)&objs->client, &objs->client_cap, 2, sizeof(struct object)) ||
	    !grow((void **)&objs->down_to_up, &objs->down_cap, 2, sizeof(uint32_t))) {
		objects_destroy(objs);
		return NULL;
	}
	struct object *display = &objs->client[1];
	display->interface = &proto_wl_display;
	display->version = 1;
	display->down_id = 1;
	display->up_id = 1;
	display->state = OBJECT_LIVE;
	objs->client_len = 2;
	objs->down_to_up[1] = 1;
	objs->down_len = 2;
	objs->count = 1;
	return objs;
}

void objects_destroy(struct objects *objs) {
	if (objs == NULL) {
		return;
	}
	free(objs->client);
	free(objs->free_up);
	free(objs->down_to_up);
	free(objs->server);
	free(objs);
}

uint32_t objects_count(const struct objects *objs) {
	return objs->count;
}

struct object *objects_lookup_up(struct objects *objs, uint32_t up_id) {
	struct object *obj = NULL;
	if (up_id >= WAYLAND_SERVER_ID_START) {
		uint32_t i = up_id - WAYLAND_SERVER_ID_START;
		if (i < objs->server_cap) {
			obj = &objs->server[i];
		}
	} else if (up_id < objs->client_len) {
		obj = &objs->client[up_id];
	}
	return obj != NULL && obj->state != OBJECT_FREE ? obj : NULL;
}

struct object *objects_lookup_down(struct objects *objs, uint32_t down_id) {
	if (down_id >= WAYLAND_SERVER_ID_START) {
		struct object *obj = objects_lookup_up(objs, down_id);
		return obj;
	}
	if (down_id >= objs->down_len || objs->down_to_up[down_id] == 0) {
		return NULL;
	}
	return &objs->client[objs->down_to_up[down_id]];
}

static void init_object(struct object *obj, const struct proto_interface *iface, uint32_t version,
			uint32_t down_id, uint32_t up_id) {
	*obj = (struct object){
		.interface = iface,
		.version = version,
		.down_id = down_id,
		.up_id = up_id,
		.state = OBJECT_LIVE,
	};
}

/* Allocates an upstream client id as libwayland-client would. */
static struct object *alloc_up(struct objects *objs, struct wire_error *err) {
	if (objs->count >= objs->max) {
		wire_error_set(err, "object limit (%" PRIu32 ") reached", objs->max);
		return NULL;
	}
	uint32_t up;
	if (objs->free_up_len > 0) {
		up = objs->free_up[--objs->free_up_len];
	} else {
		if (!grow((void **)&objs->client, &objs->client_cap, objs->client_len + 1,
			  sizeof(struct object))) {
			wire_error_set(err, "out of memory for objects");
			return NULL;
		}
		up = objs->client_len++;
	}
	objs->count++;
	return &objs->client[up];
}

/* Frees a client-range object on both sides; its upstream id becomes reusable. */
static void free_client(struct objects *objs, struct object *obj) {
	uint32_t up = obj->up_id;
	if (!obj->internal && obj->down_id < objs->down_len &&
	    objs->down_to_up[obj->down_id] == up) {
		objs->down_to_up[obj->down_id] = 0;
	}
	*obj = (struct object){0};
	objs->count--;
	// free_up never holds more than client_len entries.
	if (grow((void **)&objs->free_up, &objs->free_up_cap, objs->free_up_len + 1,
		 sizeof(uint32_t))) {
		objs->free_up[objs->free_up_len++] = up;
	}
	// On allocation failure the id is simply never reused.
}

struct object *objects_add_down(struct objects *objs, uint32_t down_id,
				const struct proto_interface *iface, uint32_t version,
				struct wire_error *err) {
	if (down_id == 0 || down_id >= WAYLAND_SERVER_ID_START) {
		wire_error_set(err, "new id %" PRIu32 " is not in the client range", down_id);
		return NULL;
	}
	if (down_id < objs->down_len) {
		uint32_t up = objs->down_to_up[down_id];
		if (up != 0) {
			struct object *old = &objs->client[up];
			if (old->state != OBJECT_DELETED) {
				wire_error_set(err, "new id %" PRIu32 " is already in use (%s)",
					       down_id,
					       old->state == OBJECT_ZOMBIE
						       ? "destroyed, deletion not yet confirmed"
						       : "live object");
				return NULL;
			}
			free_client(objs, old);
		}
	} else if (down_id != objs->down_len) {
		wire_error_set(err, "new id %" PRIu32 " skips ahead (next free id is %" PRIu32 ")",
			       down_id, objs->down_len);
		return NULL;
	} else if (down_id > objs->max) {
		wire_error_set(err, "new id %" PRIu32 ": object limit (%" PRIu32 ") reached",
			       down_id, objs->max);
		return NULL;
	} else {
		if (!grow((void **)&objs->down_to_up, &objs->down_cap, down_id + 1,
			  sizeof(uint32_t))) {
			wire_error_set(err, "out of memory for objects");
			return NULL;
		}
		objs->down_len = down_id + 1;
	}
	struct object *obj = alloc_up(objs, err);
	if (obj == NULL) {
		return NULL;
	}
	uint32_t up = (uint32_t)(obj - objs->client);
	init_object(obj, iface, version, down_id, up);
	objs->down_to_up[down_id] = up;
	return obj;
}

struct object *objects_add_up(struct objects *objs, uint32_t up_id,
			      const struct proto_interface *iface, uint32_t version,
			      struct wire_error *err) {
	if (up_id < WAYLAND_SERVER_ID_START) {
		wire_error_set(err, "server new id %" PRIu32 " is not in the server range", up_id);
		return NULL;
	}
	uint32_t i = up_id - WAYLAND_SERVER_ID_START;
	if (i >= objs->max) {
		wire_error_set(err, "server new id %" PRIu32 ": object limit (%" PRIu32 ") reached",
			       up_id, objs->max);
		return NULL;
	}
	if (!grow((void **)&objs->server, &objs->server_cap, i + 1, sizeof(struct object))) {
		wire_error_set(err, "out of memory for objects");
		return NULL;
	}
	struct object *obj = &objs->server[i];
	if (obj->state == OBJECT_LIVE) {
		wire_error_set(err, "server new id %" PRIu32 " is already a live %s", up_id,
			       obj->interface->name);
		return NULL;
	}
	if (obj->state == OBJECT_FREE) {
		if (objs->count >= objs->max) {
			wire_error_set(err, "object limit (%" PRIu32 ") reached", objs->max);
			return NULL;
		}
		objs->count++;
	}
	init_object(obj, iface, version, up_id, up_id);
	return obj;
}

struct object *objects_add_internal(struct objects *objs, const struct proto_interface *iface,
				    uint32_t version, struct wire_error *err) {
	struct object *obj = alloc_up(objs, err);
	if (obj == NULL) {
		return NULL;
	}
	init_object(obj, iface, version, 0, (uint32_t)(obj - objs->client));
	obj->internal = true;
	return obj;
}

void objects_mark_destroyed(struct objects *objs, struct object *obj) {
	if (obj->up_id < WAYLAND_SERVER_ID_START && obj->state == OBJECT_DELETED) {
		free_client(objs, obj);
		return;
	}
	obj->state = OBJECT_ZOMBIE;
}

uint32_t objects_delete_id(struct objects *objs, uint32_t up_id, bool *was_internal) {
	*was_internal = false;
	if (up_id >= WAYLAND_SERVER_ID_START || up_id == 1) {
		return 0;
	}
	struct object *obj = objects_lookup_up(objs, up_id);
	if (obj == NULL) {
		return 0;
	}
	// Internal objects are the proxy's own: their delete_id never goes
	// to the guest.
	uint32_t down = obj->internal ? 0 : obj->down_id;
	*was_internal = obj->internal;
	if (obj->state == OBJECT_LIVE) {
		// The server released an id that is still held (no destructor
		// was seen): keep the mapping until the guest (or the proxy, for
		// its own objects) destroys it, so the id is never reused under
		// an owner that still refers to it.
		obj->state = OBJECT_DELETED;
		return down;
	}
	if (obj->state == OBJECT_DELETED) {
		return 0; // a second delete_id for the same id
	}
	free_client(objs, obj);
	return down;
}

static const struct proto_message *find_message(const struct proto_interface *iface, bool request,
						uint16_t opcode) {
	if (request) {
		return opcode < iface->request_count ? &iface->requests[opcode] : NULL;
	}
	return opcode < iface->event_count ? &iface->events[opcode] : NULL;
}

enum objects_result objects_resolve_request(struct objects *objs, uint32_t down_id, uint16_t opcode,
					    struct object **obj_out,
					    const struct proto_message **msg_out,
					    struct wire_error *err) {
	struct object *obj = objects_lookup_down(objs, down_id);
	*obj_out = obj;
	if (obj == NULL) {
		wire_error_set(err, "request (opcode %u) to unknown object %" PRIu32, opcode,
			       down_id);
		return OBJECTS_INVALID;
	}
	const struct proto_message *m = find_message(obj->interface, true, opcode);
	*msg_out = m;
	if (m == NULL) {
		wire_error_set(err, "%s#%" PRIu32 ": unknown request opcode %u",
			       obj->interface->name, down_id, opcode);
		return OBJECTS_INVALID;
	}
	if (m->since > obj->version) {
		wire_error_set(err,
			       "%s#%" PRIu32 ".%s(opcode %u): request needs version %" PRIu32
			       ", object has version %" PRIu32,
			       obj->interface->name, down_id, m->name, opcode, m->since,
			       obj->version);
		return OBJECTS_INVALID;
	}
	if (obj->state != OBJECT_LIVE) {
		return OBJECTS_DROP;
	}
	return OBJECTS_FORWARD;
}

enum objects_result objects_resolve_event(struct objects *objs, uint32_t up_id, uint16_t opcode,
					  struct object **obj_out,
					  const struct proto_message **msg_out,
					  struct wire_error *err) {
	struct object *obj = objects_lookup_up(objs, up_id);
	*obj_out = obj;
	if (obj == NULL) {
		wire_error_set(err, "event (opcode %u) from unknown object %" PRIu32, opcode,
			       up_id);
		return OBJECTS_INVALID;
	}
	const struct proto_message *m = find_message(obj->interface, false, opcode);
	*msg_out = m;
	if (m == NULL) {
		wire_error_set(err, "%s#%" PRIu32 ": unknown event opcode %u", obj->interface->name,
			       up_id, opcode);
		return OBJECTS_INVALID;
	}
	if (obj->state == OBJECT_DELETED) {
		// The compositor released this id with delete_id: it has no
		// object there to send from, and the guest may already have
		// reused the id for another one.
		wire_error_set(err,
			       "%s#%" PRIu32 ".%s: event after the compositor deleted the object",
			       obj->interface->name, up_id, m->name);
		return OBJECTS_INVALID;
	}
	if (m->since > obj->version) {
		wire_error_set(err,
			       "%s#%" PRIu32 ".%s(opcode %u): event needs version %" PRIu32
			       ", object has version %" PRIu32,
			       obj->interface->name, up_id, m->name, opcode, m->since,
			       obj->version);
		return OBJECTS_INVALID;
	}
	return obj->internal ? OBJECTS_DROP : OBJECTS_FORWARD;
}

__attribute__((format(printf, 6, 7))) static enum objects_result msg_error(
	struct wire_error *err, const struct proto_interface *sender_iface, uint32_t shown_id,
	const struct proto_message *m, const struct proto_arg *a, const char *fmt, ...) {
	char reason[128];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	wire_error_set(err, "%s#%" PRIu32 ".%s(opcode %u): argument '%s': %s", sender_iface->name,
		       shown_id, m->name, m->opcode, a->name, reason);
	return OBJECTS_INVALID;
}

enum objects_result objects_translate_request(struct objects *objs, uint8_t *msg,
					      struct object *sender, const struct proto_message *m,
					      struct wayland_args *args, struct object **created,
					      struct wire_error *err) {
	*created = NULL;
	// Adding an object may move the arrays: keep ids, not the pointer.
	uint32_t sender_down = sender->down_id;
	uint32_t sender_up = sender->up_id;
	uint32_t sender_version = sender->version;
	const struct proto_interface *sender_iface = sender->interface;
	for (unsigned i = 0; i < m->arg_count; i++) {
		const struct proto_arg *a = &m->args[i];
		uint32_t v = args->value[i];
		if (a->type == PROTO_ARG_OBJECT) {
			if (v == 0) {
				continue;
			}
			struct object *o = objects_lookup_down(objs, v);
			if (o == NULL) {
				return msg_error(err, sender_iface, sender_down, m, a,
						 "unknown object %" PRIu32, v);
			}
			if (o->state != OBJECT_LIVE) {
				return msg_error(err, sender_iface, sender_down, m, a,
						 "object %" PRIu32 " was destroyed", v);
			}
			if (a->interface != NULL && o->interface != a->interface) {
				return msg_error(err, sender_iface, sender_down, m, a,
						 "object %" PRIu32 " is a %s, not a %s", v,
						 o->interface->name, a->interface->name);
			}
			wayland_msg_set_u32(msg, args->offset[i], o->up_id);
			args->value[i] = o->up_id;
		} else if (a->type == PROTO_ARG_NEW_ID) {
			const struct proto_interface *iface = a->interface;
			uint32_t version = sender_version;
			if (a->dynamic) {
				const char *name = wayland_args_string(msg, args, i - 2);
				iface = name ? proto_find_interface(name) : NULL;
				if (iface == NULL) {
					return msg_error(err, sender_iface, sender_down, m, a,
							 "interface is not known to crossway");
				}
				version = args->value[i - 1];
				if (version == 0 || version > iface->version) {
					return msg_error(err, sender_iface, sender_down, m, a,
							 "version %" PRIu32
							 " is outside what crossway supports",
							 version);
				}
			}
			struct wire_error sub;
			struct object *o = objects_add_down(objs, v, iface, version, &sub);
			if (o == NULL) {
				wire_error_set(err, "%s#%" PRIu32 ".%s(opcode %u): %s",
					       sender_iface->name, sender_down, m->name, m->opcode,
					       sub.text);
				return OBJECTS_INVALID;
			}
			wayland_msg_set_u32(msg, args->offset[i], o->up_id);
			args->value[i] = o->up_id;
			*created = o;
		}
	}
	wayland_msg_set_u32(msg, 0, sender_up);
	if (m->destructor) {
		objects_mark_destroyed(objs, objects_lookup_up(objs, sender_up));
	}
	return OBJECTS_FORWARD;
}

enum objects_result objects_translate_event(struct objects *objs, uint8_t *msg,
					    struct object *sender, const struct proto_message *m,
					    const struct wayland_args *args,
					    struct object **created, struct wire_error *err) {
	*created = NULL;
	// Adding an object may move the arrays: keep ids, not the pointer.
	uint32_t sender_up = sender->up_id;
	uint32_t sender_down = sender->down_id;
	uint32_t sender_version = sender->version;
	const struct proto_interface *sender_iface = sender->interface;
	if (sender_iface == &proto_wl_display && m->opcode == PROTO_WL_DISPLAY_EVT_DELETE_ID) {
		bool internal;
		uint32_t down = objects_delete_id(objs, args->value[0], &internal);
		if (down == 0) {
			return OBJECTS_DROP;
		}
		wayland_msg_set_u32(msg, args->offset[0], down);
		return OBJECTS_FORWARD;
	}
	for (unsigned i = 0; i < m->arg_count; i++) {
		const struct proto_arg *a = &m->args[i];
		uint32_t v = args->value[i];
		if (a->type == PROTO_ARG_OBJECT) {
			if (v == 0) {
				continue;
			}
			struct object *o = objects_lookup_up(objs, v);
			if (o == NULL) {
				return msg_error(err, sender_iface, sender_up, m, a,
						 "unknown object %" PRIu32, v);
			}
			if (o->internal) {
				return msg_error(err, sender_iface, sender_up, m, a,
						 "object %" PRIu32 " is internal to crossway", v);
			}
			if (a->interface != NULL && o->interface != a->interface) {
				return msg_error(err, sender_iface, sender_up, m, a,
						 "object %" PRIu32 " has the wrong interface", v);
			}
			wayland_msg_set_u32(msg, args->offset[i], o->down_id);
		} else if (a->type == PROTO_ARG_NEW_ID) {
			if (a->dynamic || a->interface == NULL) {
				return msg_error(err, sender_iface, sender_up, m, a,
						 "untyped new id %" PRIu32 " in an event", v);
			}
			struct wire_error sub;
			struct object *o = objects_add_up(objs, v, a->interface, sender_version,
							  &sub);
			if (o == NULL) {
				wire_error_set(err, "%s#%" PRIu32 ".%s(opcode %u): %s",
					       sender_iface->name, sender_up, m->name, m->opcode,
					       sub.text);
				return OBJECTS_INVALID;
			}
			*created = o;
		}
	}
	wayland_msg_set_u32(msg, 0, sender_down);
	if (m->destructor) {
		objects_mark_destroyed(objs, objects_lookup_up(objs, sender_up));
	}
	return OBJECTS_FORWARD;
}
