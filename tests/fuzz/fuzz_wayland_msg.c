/*
 * Fuzz target for wire/wayland_msg and wire/objects.
 *
 * Byte 0, bit 0 picks the mode.
 *
 * Stream mode (0): one proxied connection, driven by an action script in
 * the spirit of waypipe's protocol fuzzer. The rest of the input is a
 * sequence of
 *     [action] [length: u16 little-endian] [length bytes]
 * (a length past the end of the input is clipped). action & 3:
 *     0  bytes from the guest (requests)
 *     1  bytes from the compositor (events)
 *     2  the proxy creates an internal object; payload: u16 interface
 *        index, u8 version
 *     3  nothing
 * and action >> 2 is the number of fds that come with the bytes (one SEND,
 * or one recvmsg). Bytes join their direction's stream as a socket read
 * would; every complete message then goes through what the daemon does with
 * it: header (limit 4096), resolve, decode, format, fd accounting,
 * translate. The first invalid message ends the input, as it ends a
 * context, and so does the MAX_MESSAGES-th (per-input work is bounded; the
 * object limit is low enough to be reached within it). The checks: the
 * decoder's promises hold byte for byte, the translated ids match the
 * maps, and re-encoding reproduces the message exactly (padding aside: the
 * decoder accepts any padding, the encoder writes zeros), before and after
 * translation.
 *
 * Table mode (1): one message decoded against any interface and message of
 * the compiled tables:
 *     [1] [sel] (u16 index | NUL-terminated name) [opcode] [body ...]
 * sel bit 0: event instead of request; bit 1: the interface is named
 * (proto_find_interface) instead of indexed (proto_interfaces[i % count]).
 * The header is made up to fit the body, so every input reaches the argument
 * decoder.
 *
 * Built twice: fuzz-wayland_msg with both modes and every check above, and
 * fuzz-wayland_decode (ROUND_TRIPS 0): table mode for every input (whatever
 * byte 0 says) and no format or re-encode round trips. That is the argument
 * decoder over all tables and nothing else, at more than ten times the speed of
 * the stream mode's sessions, on the same corpus (corpus/wayland_decode
 * links to corpus/wayland_msg).
 */
#include <string.h>

#include "proto_tables.h"
#include "tests/fuzz/fuzz.h"
#include "wire/limits.h"
#include "wire/objects.h"
#include "wire/wayland_msg.h"

/* Per-input work is bounded so the fuzzer spends its time on many short
 * sessions rather than a few long ones (inputs of 64 KiB held thousands
 * of messages): at most MAX_MESSAGES messages are decoded, then the input
 * ends as a context would. The object limit is low enough to be reached
 * within that budget, and above 64, where the maps first grow (and move). */
#define MAX_MESSAGES 128u
#define MAX_OBJECTS 96u
#define MAX_MSG WAYLAND_MSG_DEFAULT_MAX_SIZE
/* A stream holds one partial message (< MAX_MSG) plus what a chunk adds. */
#define STREAM_CAP (2 * MAX_MSG)
#define FORMAT_CAP 1024u
#ifndef ROUND_TRIPS
#define ROUND_TRIPS 1
#endif

enum action {
	ACTION_GUEST = 0,
	ACTION_COMPOSITOR = 1,
	ACTION_INTERNAL = 2,
	ACTION_NOTHING = 3,
};

struct stream {
	uint8_t buf[STREAM_CAP];
	size_t len;
	size_t fds;           // received, not yet taken by a message
	size_t max_fds;       // queue limit
	uint64_t used;        // fds taken so far
	size_t carried;       // guest: fds queued at the end of the previous SEND
	uint64_t used_at_end; // guest: `used` at the end of the previous SEND
};

struct session {
	struct objects *objs;
	unsigned messages; // decoded so far (budget: MAX_MESSAGES)
	struct stream guest;
	struct stream comp;
};

static uint64_t padded(uint32_t len) {
	return ((uint64_t)len + 3) & ~(uint64_t)3;
}

/* Parses a header and checks the result against the rules, computed here. */
static enum wayland_msg_result parse_header(const uint8_t *p, size_t len, uint32_t max,
					    struct wayland_msg_header *hdr) {
	struct wire_error err = {{0}};
	enum wayland_msg_result r = wayland_msg_header_parse(p, len, max, hdr, &err);
	if (len < WAYLAND_MSG_HEADER_SIZE) {
		fuzz_check(r == WAYLAND_MSG_INCOMPLETE, "%zu bytes: result %d", len, (int)r);
		return r;
	}
	uint32_t id = wayland_msg_get_u32(p, 0);
	uint32_t word = wayland_msg_get_u32(p, 4);
	uint32_t size = word >> 16;
	bool valid = size >= WAYLAND_MSG_HEADER_SIZE && size % 4 == 0 && size <= max;
	fuzz_check(r == (valid ? WAYLAND_MSG_OK : WAYLAND_MSG_INVALID), "size %u max %u: result %d",
		   (unsigned)size, (unsigned)max, (int)r);
	fuzz_check(r != WAYLAND_MSG_INVALID || err.text[0] != '\0', "rejected without a reason");
	if (r == WAYLAND_MSG_INVALID) {
		fuzz_note("stop: %s", err.text);
	}
	if (r == WAYLAND_MSG_OK) {
		fuzz_check(hdr->object_id == id && hdr->opcode == (word & 0xffff) &&
				   hdr->size == size,
			   "header fields");
	}
	return r;
}

/* The decoder's promises, checked on the bytes. */
static void check_decoded(const uint8_t *msg, const struct wayland_msg_header *hdr,
			  const struct proto_message *m, const struct wayland_args *args) {
	uint64_t end = WAYLAND_MSG_HEADER_SIZE;
	uint32_t fd = 0;
	for (unsigned i = 0; i < m->arg_count; i++) {
		const struct proto_arg *a = &m->args[i];
		uint32_t v = args->value[i];
		if (a->type == PROTO_ARG_FD) {
			fuzz_check(v == fd, "%s.%s: fd index %u, expected %u", m->name, a->name,
				   (unsigned)v, (unsigned)fd);
			fd++;
			continue;
		}
		fuzz_check(args->offset[i] == end && end + 4 <= hdr->size,
			   "%s.%s: offset %u, expected %u", m->name, a->name,
			   (unsigned)args->offset[i], (unsigned)end);
		fuzz_check(v == wayland_msg_get_u32(msg, args->offset[i]), "%s.%s: value", m->name,
			   a->name);
		end += 4;
		switch (a->type) {
		case PROTO_ARG_OBJECT:
			fuzz_check(v != 0 || a->nullable, "%s.%s: null object accepted", m->name,
				   a->name);
			break;
		case PROTO_ARG_NEW_ID:
			fuzz_check(v != 0, "%s.%s: new id 0 accepted", m->name, a->name);
			break;
		case PROTO_ARG_STRING:
			if (v == 0) {
				fuzz_check(a->nullable, "%s.%s: null string accepted", m->name,
					   a->name);
				break;
			}
			fuzz_check(end + padded(v) <= hdr->size, "%s.%s: string past the end",
				   m->name, a->name);
			fuzz_check(msg[end + v - 1] == '\0' &&
					   memchr(msg + end, '\0', v - 1) == NULL,
				   "%s.%s: string termination", m->name, a->name);
			fuzz_check(wayland_args_string(msg, args, i) == (const char *)msg + end,
				   "%s.%s: string pointer", m->name, a->name);
			end += padded(v);
			break;
		case PROTO_ARG_ARRAY:
			fuzz_check(end + padded(v) <= hdr->size, "%s.%s: array past the end",
				   m->name, a->name);
			end += padded(v);
			break;
		default:
			break;
		}
	}
	fuzz_check(end == hdr->size, "%s: arguments end at %u, message at %u", m->name,
		   (unsigned)end, (unsigned)hdr->size);
	fuzz_check(fd == m->fd_count, "%s: %u fd arguments, table says %u", m->name, (unsigned)fd,
		   (unsigned)m->fd_count);
}

/* Formats into heap blocks of exactly the capacity, a roomy one and a
 * small one, so a write past the capacity is an ASan report. */
static void check_format(const char *tag, const uint8_t *msg, uint32_t object_id,
			 const struct proto_interface *iface, const struct proto_message *m,
			 const struct wayland_args *args, size_t small_cap) {
	size_t caps[2] = {FORMAT_CAP, small_cap};
	for (int k = 0; k < 2; k++) {
		char *buf = fuzz_block(1, caps[k]);
		wayland_msg_format(buf, caps[k], msg, object_id, iface, m, args);
		fuzz_check(memchr(buf, '\0', caps[k]) != NULL, "%s: format left no NUL (cap %zu)",
			   m->name, caps[k]);
		if (k == 0) {
			fuzz_note("%s %s", tag, buf);
		}
	}
}

/* Re-encodes a decoded message and compares it with the original: equal
 * except for padding, which the encoder writes as zeros. A capacity one
 * short must produce nothing. Both outputs go to blocks of exactly the
 * capacity, so a write past it is an ASan report. */
static void check_reencode(const uint8_t *msg, const struct wayland_msg_header *hdr,
			   const struct proto_message *m, const struct wayland_args *args) {
	union wayland_value values[PROTO_MAX_ARGS];
	wayland_args_to_values(msg, m, args, values);
	uint8_t *out = fuzz_block(1, hdr->size);
	uint32_t sender = wayland_msg_get_u32(msg, 0);
	size_t n = wayland_msg_encode(out, hdr->size, sender, hdr->opcode, m, values);
	fuzz_check(n == hdr->size, "%s: re-encoded %zu bytes, decoded %u", m->name, n,
		   (unsigned)hdr->size);
	// The expected bytes: the original with its padding zeroed.
	static uint8_t want[MAX_MSG];
	memcpy(want, msg, hdr->size);
	for (unsigned i = 0; i < m->arg_count; i++) {
		uint8_t t = m->args[i].type;
		if (t == PROTO_ARG_STRING || t == PROTO_ARG_ARRAY) {
			size_t start = (size_t)args->offset[i] + 4 + args->value[i];
			size_t stop = (size_t)args->offset[i] + 4 + (size_t)padded(args->value[i]);
			memset(want + start, 0, stop - start);
		}
	}
	if (memcmp(out, want, hdr->size) != 0) {
		size_t k = 0;
		while (out[k] == want[k]) {
			k++;
		}
		fuzz_fail(__FILE__, __LINE__, "out == want",
			  "%s: byte %zu: re-encoded %u, original %u (padding reads as 0)", m->name,
			  k, (unsigned)out[k], (unsigned)msg[k]);
	}
	out = fuzz_block(1, hdr->size - 1u);
	n = wayland_msg_encode(out, hdr->size - 1u, sender, hdr->opcode, m, values);
	fuzz_check(n == 0, "%s: encoded %zu bytes into %u", m->name, n, hdr->size - 1u);
}

/* Decodes a translated message again: same layout, same values except
 * ids (and wl_display.delete_id's uint, an id too), which must be what
 * translation wrote. Then the re-encode check. */
static void check_translated(const uint8_t *msg, const struct wayland_msg_header *hdr,
			     const struct proto_interface *iface, const struct proto_message *m,
			     const struct wayland_args *before) {
	bool delete_id = iface == &proto_wl_display &&
			 m->opcode == PROTO_WL_DISPLAY_EVT_DELETE_ID &&
			 m == &iface->events[m->opcode];
	struct wayland_args after;
	struct wire_error err = {{0}};
	fuzz_check(wayland_msg_decode(msg, hdr, iface, m, &after, &err),
		   "translated message no longer decodes: %s", err.text);
	for (unsigned i = 0; i < m->arg_count; i++) {
		uint8_t t = m->args[i].type;
		fuzz_check(after.offset[i] == before->offset[i], "%s: offset of argument %u",
			   m->name, i);
		if (t != PROTO_ARG_OBJECT && t != PROTO_ARG_NEW_ID && !delete_id) {
			fuzz_check(after.value[i] == before->value[i],
				   "%s: translation changed argument %u", m->name, i);
		}
	}
	check_reencode(msg, hdr, m, &after);
}

static bool take_fds(struct stream *st, unsigned n) {
	if (st->fds < n) {
		return false; // H-21: the daemon ends the context
	}
	st->fds -= n;
	st->used += n;
	return true;
}

/* Checks the ids a request translation wrote against the maps. */
static void check_request_ids(struct objects *objs, const uint8_t *msg,
			      const struct wayland_msg_header *hdr, const struct proto_message *m,
			      const struct wayland_args *args, uint32_t sender_version,
			      const struct object *created) {
	struct object *sender = objects_lookup_down(objs, hdr->object_id);
	fuzz_check(sender != NULL && sender->up_id == wayland_msg_get_u32(msg, 0),
		   "%s: sender %u not translated to its upstream id", m->name,
		   (unsigned)hdr->object_id);
	fuzz_check(objects_lookup_up(objs, sender->up_id) == sender, "sender: up/down maps differ");
	if (m->destructor) {
		fuzz_check(sender->state == OBJECT_ZOMBIE, "%s: destructor left state %u", m->name,
			   (unsigned)sender->state);
	}
	bool made = false;
	for (unsigned i = 0; i < m->arg_count; i++) {
		const struct proto_arg *a = &m->args[i];
		uint32_t v = args->value[i];
		uint32_t w = a->type == PROTO_ARG_FD ? 0
						     : wayland_msg_get_u32(msg, args->offset[i]);
		if (a->type == PROTO_ARG_OBJECT) {
			if (v == 0) {
				fuzz_check(w == 0, "%s.%s: null became %u", m->name, a->name,
					   (unsigned)w);
				continue;
			}
			struct object *o = objects_lookup_down(objs, v);
			fuzz_check(o != NULL && o->up_id == w, "%s.%s: %u translated to %u",
				   m->name, a->name, (unsigned)v, (unsigned)w);
			fuzz_check(a->interface == NULL || o->interface == a->interface,
				   "%s.%s: object of the wrong interface passed", m->name, a->name);
			fuzz_check(o->state == OBJECT_LIVE || (o == sender && m->destructor),
				   "%s.%s: object in state %u passed", m->name, a->name,
				   (unsigned)o->state);
		} else if (a->type == PROTO_ARG_NEW_ID) {
			struct object *o = objects_lookup_down(objs, v);
			fuzz_check(o != NULL && o == created && o->up_id == w && o->down_id == v,
				   "%s.%s: new id %u", m->name, a->name, (unsigned)v);
			fuzz_check(o->state == OBJECT_LIVE && !o->internal,
				   "%s.%s: new object state", m->name, a->name);
			fuzz_check(v < WAYLAND_SERVER_ID_START && w < WAYLAND_SERVER_ID_START,
				   "%s.%s: client id %u -> %u out of the client range", m->name,
				   a->name, (unsigned)v, (unsigned)w);
			fuzz_check(objects_lookup_up(objs, w) == o,
				   "new object: up/down maps differ");
			const struct proto_interface *want = a->interface;
			uint32_t version = sender_version;
			if (a->dynamic) {
				want = proto_find_interface(wayland_args_string(msg, args, i - 2));
				version = args->value[i - 1];
				fuzz_check(version >= 1 && version <= want->version,
					   "bind version %u accepted", (unsigned)version);
			}
			fuzz_check(o->interface == want && o->version == version,
				   "%s.%s: new object has the wrong interface or version", m->name,
				   a->name);
			made = true;
		}
	}
	fuzz_check(made == (created != NULL), "%s: created object reported wrongly", m->name);
}

static bool guest_message(struct session *s, const uint8_t *src,
			  const struct wayland_msg_header *hdr) {
	uint8_t *msg = fuzz_block(0, hdr->size); // exactly the message: ASan guards its end
	memcpy(msg, src, hdr->size);
	bool ok = false;
	struct wire_error err = {{0}};
	struct object *sender;
	const struct proto_message *m;
	enum objects_result r = objects_resolve_request(s->objs, hdr->object_id, hdr->opcode,
							&sender, &m, &err);
	if (r == OBJECTS_INVALID) {
		fuzz_check(err.text[0] != '\0', "request rejected without a reason");
		goto out;
	}
	fuzz_check(sender != NULL && m != NULL && sender->interface != NULL, "resolve");
	fuzz_check(hdr->opcode < sender->interface->request_count &&
			   m == &sender->interface->requests[hdr->opcode] &&
			   m->opcode == hdr->opcode,
		   "resolve returned the wrong request");
	fuzz_check(m->since <= sender->version, "request newer than the object accepted");
	fuzz_check((r == OBJECTS_DROP) == (sender->state != OBJECT_LIVE),
		   "resolve: result %d for state %u", (int)r, (unsigned)sender->state);
	fuzz_check(!sender->internal, "a guest id resolved to an internal object");
	const struct proto_interface *iface = sender->interface;
	uint32_t sender_version = sender->version;
	struct wayland_args args;
	if (!wayland_msg_decode(msg, hdr, iface, m, &args, &err)) {
		fuzz_check(err.text[0] != '\0', "decode failed without a reason");
		goto out;
	}
	check_decoded(msg, hdr, m, &args);
	check_format("->", msg, hdr->object_id, iface, m, &args, 1 + hdr->size % 61);
	check_reencode(msg, hdr, m, &args);
	if (!take_fds(&s->guest, m->fd_count)) {
		fuzz_note("stop: %s needs %u fds, %zu queued", m->name, (unsigned)m->fd_count,
			  s->guest.fds);
		goto out;
	}
	if (r == OBJECTS_DROP) {
		ok = true; // dropped like libwayland-server does; its fds are closed
		goto out;
	}
	struct object *created;
	struct wayland_args down = args; // the guest's ids, before translation
	r = objects_translate_request(s->objs, msg, sender, m, &args, &created, &err);
	// `sender` may dangle now: adding an object can move the maps.
	if (r == OBJECTS_INVALID) {
		fuzz_check(err.text[0] != '\0', "translation failed without a reason");
		goto out;
	}
	fuzz_check(r == OBJECTS_FORWARD, "translate_request returned %d", (int)r);
	check_request_ids(s->objs, msg, hdr, m, &down, sender_version, created);
	check_translated(msg, hdr, iface, m, &down);
	// The decoded arguments were translated with the message.
	for (unsigned i = 0; i < m->arg_count; i++) {
		uint8_t t = m->args[i].type;
		fuzz_check(t != PROTO_ARG_OBJECT && t != PROTO_ARG_NEW_ID
				   ? args.value[i] == down.value[i]
				   : args.value[i] == wayland_msg_get_u32(msg, args.offset[i]),
			   "%s: argument %u of the decoded request not translated", m->name, i);
	}
	ok = true;
out:
	if (!ok && err.text[0] != '\0') {
		fuzz_note("stop: %s", err.text);
	}
	return ok;
}

/* Checks the ids an event translation wrote against the maps. */
static void check_event_ids(struct objects *objs, const uint8_t *msg, const struct proto_message *m,
			    const struct wayland_args *args, uint32_t sender_up,
			    uint32_t sender_down, uint32_t sender_version,
			    const struct object *created) {
	fuzz_check(wayland_msg_get_u32(msg, 0) == sender_down, "%s: sender %u not translated to %u",
		   m->name, (unsigned)sender_up, (unsigned)sender_down);
	bool made = false;
	for (unsigned i = 0; i < m->arg_count; i++) {
		const struct proto_arg *a = &m->args[i];
		uint32_t v = args->value[i];
		uint32_t w = a->type == PROTO_ARG_FD ? 0
						     : wayland_msg_get_u32(msg, args->offset[i]);
		if (a->type == PROTO_ARG_OBJECT) {
			if (v == 0) {
				fuzz_check(w == 0, "%s.%s: null became %u", m->name, a->name,
					   (unsigned)w);
				continue;
			}
			struct object *o = objects_lookup_up(objs, v);
			fuzz_check(o != NULL && !o->internal && o->down_id == w && w != 0,
				   "%s.%s: %u translated to %u", m->name, a->name, (unsigned)v,
				   (unsigned)w);
			// A server new id may replace a zombie this argument named:
			// then the interface seen here is the new object's.
			fuzz_check(a->interface == NULL || o->interface == a->interface ||
					   o == created,
				   "%s.%s: object of the wrong interface passed", m->name, a->name);
		} else if (a->type == PROTO_ARG_NEW_ID) {
			struct object *o = objects_lookup_up(objs, v);
			fuzz_check(o != NULL && o == created && w == v && o->down_id == v &&
					   o->up_id == v && v >= WAYLAND_SERVER_ID_START,
				   "%s.%s: server new id %u", m->name, a->name, (unsigned)v);
			fuzz_check(o->interface == a->interface && o->version == sender_version,
				   "%s.%s: new object has the wrong interface or version", m->name,
				   a->name);
			fuzz_check(o->state == OBJECT_LIVE || (m->destructor && v == sender_up),
				   "%s.%s: new object in state %u", m->name, a->name,
				   (unsigned)o->state);
			made = true;
		}
	}
	fuzz_check(made == (created != NULL), "%s: created object reported wrongly", m->name);
}

static bool compositor_message(struct session *s, const uint8_t *src,
			       const struct wayland_msg_header *hdr) {
	uint8_t *msg = fuzz_block(0, hdr->size);
	memcpy(msg, src, hdr->size);
	bool ok = false;
	struct wire_error err = {{0}};
	struct object *sender;
	const struct proto_message *m;
	enum objects_result r = objects_resolve_event(s->objs, hdr->object_id, hdr->opcode, &sender,
						      &m, &err);
	if (r == OBJECTS_INVALID) {
		fuzz_check(err.text[0] != '\0', "event rejected without a reason");
		goto out;
	}
	fuzz_check(sender != NULL && m != NULL && sender->interface != NULL, "resolve");
	fuzz_check(hdr->opcode < sender->interface->event_count &&
			   m == &sender->interface->events[hdr->opcode] && m->opcode == hdr->opcode,
		   "resolve returned the wrong event");
	fuzz_check(m->since <= sender->version, "event newer than the object accepted");
	fuzz_check((r == OBJECTS_DROP) == sender->internal, "resolve: result %d, internal %d",
		   (int)r, (int)sender->internal);
	fuzz_check(sender->up_id == hdr->object_id, "resolve: wrong object");
	const struct proto_interface *iface = sender->interface;
	uint32_t sender_up = sender->up_id;
	uint32_t sender_down = sender->down_id;
	uint32_t sender_version = sender->version;
	struct wayland_args args;
	if (!wayland_msg_decode(msg, hdr, iface, m, &args, &err)) {
		fuzz_check(err.text[0] != '\0', "decode failed without a reason");
		goto out;
	}
	check_decoded(msg, hdr, m, &args);
	check_format("<-", msg, hdr->object_id, iface, m, &args, 1 + hdr->size % 61);
	check_reencode(msg, hdr, m, &args);
	if (!take_fds(&s->comp, m->fd_count)) {
		fuzz_note("stop: %s needs %u fds, %zu queued", m->name, (unsigned)m->fd_count,
			  s->comp.fds);
		goto out;
	}
	if (r == OBJECTS_DROP) {
		// An event for one of the proxy's own objects; a destructor ends
		// it, as daemon/forward.c does.
		if (m->destructor) {
			objects_mark_destroyed(s->objs, sender);
			fuzz_check(objects_lookup_up(s->objs, sender_up) == NULL ||
					   objects_lookup_up(s->objs, sender_up)->state ==
						   OBJECT_ZOMBIE,
				   "%s: destructor event on an own object", m->name);
		}
		ok = true;
		goto out;
	}
	struct object *created;
	uint32_t count_before = objects_count(s->objs);
	r = objects_translate_event(s->objs, msg, sender, m, &args, &created, &err);
	if (r == OBJECTS_INVALID) {
		fuzz_check(err.text[0] != '\0', "translation failed without a reason");
		goto out;
	}
	bool delete_id = iface == &proto_wl_display && m->opcode == PROTO_WL_DISPLAY_EVT_DELETE_ID;
	if (delete_id) {
		struct object *gone = objects_lookup_up(s->objs, args.value[0]);
		if (r == OBJECTS_FORWARD) {
			uint32_t down = wayland_msg_get_u32(msg, args.offset[0]);
			fuzz_check(down != 0 && down < WAYLAND_SERVER_ID_START,
				   "delete_id forwarded as %u", (unsigned)down);
			fuzz_check(gone == NULL || gone->state == OBJECT_DELETED,
				   "delete_id of %u left state %u", (unsigned)args.value[0],
				   (unsigned)gone->state);
			fuzz_check(gone != NULL || objects_count(s->objs) == count_before - 1,
				   "delete_id freed %u objects",
				   (unsigned)(count_before - objects_count(s->objs)));
			check_translated(msg, hdr, iface, m, &args);
		} else {
			fuzz_check(r == OBJECTS_DROP, "delete_id result %d", (int)r);
			fuzz_check(gone == NULL || gone->state == OBJECT_DELETED ||
					   args.value[0] == 1 ||
					   args.value[0] >= WAYLAND_SERVER_ID_START,
				   "delete_id dropped but object %u still held",
				   (unsigned)args.value[0]);
		}
		fuzz_check(created == NULL, "delete_id created an object");
		ok = true;
		goto out;
	}
	fuzz_check(r == OBJECTS_FORWARD, "translate_event returned %d", (int)r);
	check_event_ids(s->objs, msg, m, &args, sender_up, sender_down, sender_version, created);
	if (m->destructor) {
		struct object *o = objects_lookup_up(s->objs, sender_up);
		fuzz_check(o == NULL || o->state == OBJECT_ZOMBIE,
			   "%s: destructor event left state %u", m->name, (unsigned)o->state);
	}
	check_translated(msg, hdr, iface, m, &args);
	ok = true;
out:
	if (!ok && err.text[0] != '\0') {
		fuzz_note("stop: %s", err.text);
	}
	return ok;
}

/* Runs every complete message of a stream; keeps a partial one. */
static bool drain(struct session *s, struct stream *st, bool guest) {
	size_t pos = 0;
	bool ok = true;
	while (pos < st->len) {
		struct wayland_msg_header hdr;
		enum wayland_msg_result r = parse_header(st->buf + pos, st->len - pos, MAX_MSG,
							 &hdr);
		if (r == WAYLAND_MSG_INVALID) {
			ok = false;
			break;
		}
		if (r == WAYLAND_MSG_INCOMPLETE || hdr.size > st->len - pos) {
			break;
		}
		if (s->messages++ == MAX_MESSAGES) {
			fuzz_note("stop: %u messages, the budget of one input", MAX_MESSAGES);
			ok = false;
			break;
		}
		ok = guest ? guest_message(s, st->buf + pos, &hdr)
			   : compositor_message(s, st->buf + pos, &hdr);
		if (!ok) {
			break;
		}
		pos += hdr.size;
		fuzz_check(objects_count(s->objs) <= MAX_OBJECTS, "%u objects, limit %u",
			   (unsigned)objects_count(s->objs), MAX_OBJECTS);
	}
	memmove(st->buf, st->buf + pos, st->len - pos);
	st->len -= pos;
	fuzz_check(!ok || st->len < MAX_MSG, "%zu bytes left over", st->len);
	return ok;
}

static bool feed(struct session *s, bool guest, const uint8_t *bytes, size_t n, size_t nfds) {
	struct stream *st = guest ? &s->guest : &s->comp;
	if (nfds > WAYLAND_MAX_FDS_PER_SENDMSG || st->fds + nfds > st->max_fds) {
		fuzz_note("stop: %zu fds in one chunk, %zu queued", nfds, st->fds);
		return false; // H-23: more fds than one SEND or recvmsg brings
	}
	st->fds += nfds;
	size_t done = 0;
	while (done < n) {
		size_t k = n - done < STREAM_CAP - st->len ? n - done : STREAM_CAP - st->len;
		memcpy(st->buf + st->len, bytes + done, k);
		st->len += k;
		done += k;
		if (!drain(s, st, guest)) {
			return false;
		}
	}
	if (guest) {
		// The daemon's rule at the end of each SEND: fds carried into it
		// from the previous one must have been used (H-22).
		uint64_t used = st->used - st->used_at_end;
		if (st->carried > 0 && used < st->carried) {
			fuzz_note("stop: %zu fds sent with no message to use them", st->carried);
			return false;
		}
		st->carried = st->fds;
		st->used_at_end = st->used;
	}
	return true;
}

static bool add_internal(struct session *s, const uint8_t *p, size_t n) {
	if (n < 3) {
		return true;
	}
	const struct proto_interface *iface =
		proto_interfaces[(size_t)(p[0] | p[1] << 8) % proto_interface_count];
	uint32_t version = 1 + p[2] % iface->version;
	struct wire_error err = {{0}};
	struct object *o = objects_add_internal(s->objs, iface, version, &err);
	if (o == NULL) {
		fuzz_check(objects_count(s->objs) >= MAX_OBJECTS, "internal object refused: %s",
			   err.text);
		return true;
	}
	fuzz_check(o->internal && o->down_id == 0 && o->state == OBJECT_LIVE &&
			   o->interface == iface && o->version == version,
		   "internal object fields");
	fuzz_check(o->up_id > 1 && o->up_id < WAYLAND_SERVER_ID_START &&
			   objects_lookup_up(s->objs, o->up_id) == o,
		   "internal object id %u", (unsigned)o->up_id);
	return true;
}

static void run_stream(struct fuzz_input *in) {
	static struct session s; // 16 KiB of stream buffers; reset below
	s.objs = objects_create(MAX_OBJECTS);
	s.messages = 0;
	fuzz_check(s.objs != NULL, "out of memory");
	s.guest = (struct stream){.max_fds = CROSSWAY_DEFAULT_GUEST_QUEUE_FDS};
	s.comp = (struct stream){.max_fds = CROSSWAY_DEFAULT_HOST_QUEUE_FDS};
	uint8_t action;
	uint16_t len;
	while (fuzz_take_u8(in, &action) && fuzz_take_u16(in, &len)) {
		const uint8_t *p;
		size_t n = fuzz_take_bytes(in, len, &p);
		size_t nfds = action >> 2;
		bool ok = true;
		switch (action & 3) {
		case ACTION_GUEST:
			ok = feed(&s, true, p, n, nfds);
			break;
		case ACTION_COMPOSITOR:
			ok = feed(&s, false, p, n, nfds);
			break;
		case ACTION_INTERNAL:
			ok = add_internal(&s, p, n);
			break;
		case ACTION_NOTHING:
			break;
		}
		if (!ok) {
			break; // the context would end here
		}
	}
	objects_destroy(s.objs);
	s.objs = NULL;
}

static void run_table(struct fuzz_input *in) {
	uint8_t sel, op;
	const struct proto_interface *iface;
	if (!fuzz_take_u8(in, &sel)) {
		return;
	}
	if (sel & 2) {
		char name[65];
		size_t k = 0;
		uint8_t ch = 1;
		while (k < sizeof(name) && fuzz_take_u8(in, &ch) && ch != 0) {
			name[k++] = (char)ch;
		}
		if (ch != 0 || k == sizeof(name)) {
			return;
		}
		name[k] = '\0';
		iface = proto_find_interface(name);
		if (iface == NULL) {
			return;
		}
		fuzz_check(strcmp(iface->name, name) == 0 &&
				   proto_interfaces[iface->index] == iface,
			   "proto_find_interface(%s) found %s", name, iface->name);
	} else {
		uint16_t index;
		if (!fuzz_take_u16(in, &index)) {
			return;
		}
		iface = proto_interfaces[index % proto_interface_count];
	}
	if (!fuzz_take_u8(in, &op)) {
		return;
	}
	bool event = sel & 1;
	uint16_t count = event ? iface->event_count : iface->request_count;
	if (count == 0) {
		return;
	}
	const struct proto_message *m = event ? &iface->events[op % count]
					      : &iface->requests[op % count];
	fuzz_check(m->arg_count <= PROTO_MAX_ARGS && m->opcode == op % count, "table entry %s.%s",
		   iface->name, m->name);
	const uint8_t *body;
	size_t n = fuzz_take_bytes(in, MAX_MSG - WAYLAND_MSG_HEADER_SIZE, &body);
	n -= n % 4;
	size_t size = WAYLAND_MSG_HEADER_SIZE + n;
	uint8_t *msg = fuzz_block(0, size);
	uint32_t id = 7 + op;
	wayland_msg_set_u32(msg, 0, id);
	wayland_msg_set_u32(msg, 4, (uint32_t)size << 16 | m->opcode);
	memcpy(msg + WAYLAND_MSG_HEADER_SIZE, body, n);
	struct wayland_msg_header hdr;
	fuzz_check(parse_header(msg, size, MAX_MSG, &hdr) == WAYLAND_MSG_OK, "made-up header");
	struct wayland_args args;
	struct wire_error err = {{0}};
	if (wayland_msg_decode(msg, &hdr, iface, m, &args, &err)) {
		check_decoded(msg, &hdr, m, &args);
		if (ROUND_TRIPS) {
			check_format("table", msg, id, iface, m, &args, 1 + (size_t)op % 97);
			check_reencode(msg, &hdr, m, &args);
		}
	} else {
		fuzz_check(err.text[0] != '\0', "decode failed without a reason");
		fuzz_note("table: %s", err.text);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	struct fuzz_input in = {.data = data, .size = size, .pos = 0};
	uint8_t mode;
	if (!fuzz_take_u8(&in, &mode)) {
		return 0;
	}
	if ((mode & 1) || !ROUND_TRIPS) {
		run_table(&in);
	} else {
		run_stream(&in);
	}
	return 0;
}
