/* _GNU_SOURCE: F_ADD_SEALS. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon/compositor.h"
#include "daemon/fd.h"
#include "daemon/fdtype.h"
#include "daemon/forward.h"
#include "daemon/log.h"
#include "proto_tables.h"
#include "wire/limits.h"

/* Room beyond a message for a policy rewrite: a longer title or app_id, or a
 * commit with a set_position for each of 64 subsurfaces (1 KiB) and the
 * collapsed damage before it. */
#define REWRITE_SLACK 2048

bool forward_init(struct forward *fw, struct compositor *comp, const struct policy_config *config,
		  const struct forward_limits *limits) {
	*fw = (struct forward){.comp = comp, .max_message = limits->max_message};
	fw->objs = objects_create(limits->max_objects);
	policy_init(&fw->policy, config, fw->objs);
	byte_queue_init(&fw->guest_in, 2 * (size_t)limits->max_message + 65536);
	byte_queue_init(&fw->guest_out, limits->guest_out + 2 * 65536);
	if (fw->objs == NULL || !fd_queue_init(&fw->guest_in_fds, limits->guest_fds) ||
	    !fd_queue_init(&fw->guest_out_fds, limits->guest_out_fds)) {
		forward_finish(fw);
		return false;
	}
	return true;
}

void forward_finish(struct forward *fw) {
	objects_destroy(fw->objs);
	fw->objs = NULL;
	policy_finish(&fw->policy);
	byte_queue_finish(&fw->guest_in);
	byte_queue_finish(&fw->guest_out);
	if (fw->guest_in_fds.ring) {
		fd_queue_finish(&fw->guest_in_fds);
	}
	if (fw->guest_out_fds.ring) {
		fd_queue_finish(&fw->guest_out_fds);
	}
}

static void trace(const char *dir, const uint8_t *msg, uint32_t id,
		  const struct proto_interface *iface, const struct proto_message *m,
		  const struct wayland_args *args, const char *note) {
	char text[1024];
	wayland_msg_format(text, sizeof(text), msg, id, iface, m, args);
	cw_trace("%s %s%s", dir, text, note);
}

bool forward_guest_fd(struct forward *fw, int fd, struct wire_error *err) {
	if (!fd_queue_push(&fw->guest_in_fds, fd, 0)) {
		fd_close(&fd);
		return wire_error_set(err, "more than %zu fds queued without a message to use them",
				      fw->guest_in_fds.cap);
	}
	return true;
}

static void drop_guest_fds(struct forward *fw, unsigned n) {
	for (unsigned i = 0; i < n; i++) {
		fd_queue_drop(&fw->guest_in_fds);
	}
	fw->fds_used += n;
}

/* Checks the fds a guest request passes (they are ours or the backend's on
 * the ring path, the guest's own on the socket path). */
static bool check_guest_fds(struct forward *fw, const uint8_t *msg, uint32_t down_id,
			    const struct object *sender, const struct proto_message *m,
			    const struct wayland_args *args, struct wire_error *err) {
	for (unsigned i = 0; i < m->arg_count; i++) {
		if (m->args[i].type != PROTO_ARG_FD) {
			continue;
		}
		int fd = fd_queue_peek(&fw->guest_in_fds, args->value[i])->fd;
		struct fdtype t;
		if (!fdtype_classify(fd, &t) || t.kind == FDTYPE_OTHER) {
			char what[64];
			return wire_error_set(
				err, "%s#%" PRIu32 ".%s(opcode %u): argument '%s' is a %s",
				sender->interface->name, down_id, m->name, m->opcode,
				m->args[i].name, fdtype_describe(fd, what, sizeof(what)));
		}
		if (sender->interface == &proto_wl_shm &&
		    m->opcode == PROTO_WL_SHM_REQ_CREATE_POOL) {
			int32_t size = (int32_t)args->value[2];
			if (t.kind != FDTYPE_MEMORY) {
				return wire_error_set(err,
						      "wl_shm#%" PRIu32
						      ".create_pool(opcode 0): the fd "
						      "is not shared memory",
						      down_id);
			}
			if (size <= 0 || (uint64_t)size > t.size) {
				return wire_error_set(
					err,
					"wl_shm#%" PRIu32 ".create_pool(opcode 0): pool "
					"size %" PRId32 " outside the fd's %" PRIu64 " bytes",
					down_id, size, t.size);
			}
			// Seal it ourselves when the sender allowed sealing (the
			// socket front end gets clients' own memfds): pools only grow.
			if (!t.shrink_sealed && !t.dmabuf &&
			    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) == 0) {
				t.shrink_sealed = true;
			}
			if (!t.shrink_sealed && !t.dmabuf) {
				// A pool fd that can shrink can crash a compositor
				// without a SIGBUS handler; policy decides.
				if (fw->policy.config->refuse_unsealed_shm) {
					return wire_error_set(
						err,
						"wl_shm#%" PRIu32
						".create_pool(opcode 0): the fd is not "
						"sealed against shrinking",
						down_id);
				}
				fw->unsealed_pools++;
			}
		}
		(void)msg;
	}
	return true;
}

/* Handles one whole guest message at @src (read-only). */
static bool guest_message(struct forward *fw, const uint8_t *src,
			  const struct wayland_msg_header *hdr, struct wire_error *err) {
	struct object *sender;
	const struct proto_message *m;
	enum objects_result r = objects_resolve_request(fw->objs, hdr->object_id, hdr->opcode,
							&sender, &m, err);
	if (r == OBJECTS_INVALID) {
		return false;
	}
	struct wayland_args args;
	if (!wayland_msg_decode(src, hdr, sender->interface, m, &args, err)) {
		return false;
	}
	if (fw->guest_in_fds.len < m->fd_count) {
		return wire_error_set(err,
				      "%s#%" PRIu32 ".%s(opcode %u): needs %u fds, %zu were sent",
				      sender->interface->name, hdr->object_id, m->name, hdr->opcode,
				      m->fd_count, fw->guest_in_fds.len);
	}
	if (fw->trace) {
		trace("->", src, hdr->object_id, sender->interface, m, &args,
		      r == OBJECTS_DROP ? " (to a destroyed object: dropped)" : "");
	}
	if (r == OBJECTS_DROP) {
		drop_guest_fds(fw, m->fd_count);
		fw->dropped++;
		if (m->destructor && sender->state == OBJECT_DELETED) {
			// The compositor released it first; the policy still
			// holds what it knew about it (its id will be reused).
			policy_forget(&fw->policy, sender);
		}
		return true;
	}
	if (m->fd_count > 0 && !check_guest_fds(fw, src, hdr->object_id, sender, m, &args, err)) {
		return false;
	}
	uint32_t down_id = hdr->object_id;
	struct compositor *comp = fw->comp;
	uint8_t *dst = byte_queue_reserve(&comp->out, hdr->size + REWRITE_SLACK);
	if (dst == NULL) {
		return wire_error_set(err, "compositor queue %s", byte_queue_why());
	}
	memcpy(dst, src, hdr->size);
	struct object *created;
	if (objects_translate_request(fw->objs, dst, sender, m, &args, &created, err) !=
	    OBJECTS_FORWARD) {
		return false;
	}
	// Adding an object may have moved the maps: find the sender again.
	sender = objects_lookup_up(fw->objs, wayland_msg_get_u32(dst, 0));
	int fds[PROTO_MAX_ARGS];
	for (unsigned i = 0; i < m->fd_count; i++) {
		fds[i] = fd_queue_peek(&fw->guest_in_fds, i)->fd;
	}
	uint8_t rewrite[WAYLAND_MSG_DEFAULT_MAX_SIZE + REWRITE_SLACK];
	struct policy_msg pm = {
		.bytes = dst,
		.hdr = *hdr,
		.sender = sender,
		.sender_down_id = down_id,
		.message = m,
		.args = &args,
		.created = created,
		.fds = fds,
		.rewrite = rewrite,
		.rewrite_cap = sizeof(rewrite),
	};
	size_t size = hdr->size;
	switch (policy_request(&fw->policy, &pm, err)) {
	case POLICY_PASS:
		break;
	case POLICY_DROP:
		drop_guest_fds(fw, m->fd_count);
		fw->dropped++;
		return true;
	case POLICY_REWRITE:
		if (pm.rewrite_size > (size_t)hdr->size + REWRITE_SLACK) {
			return wire_error_set(err, "rewritten message too large");
		}
		memcpy(dst, rewrite, pm.rewrite_size);
		size = pm.rewrite_size;
		break;
	case POLICY_FAIL:
		return false;
	}
	uint64_t pos = byte_queue_end(&comp->out);
	fw->fds_used += m->fd_count;
	for (unsigned i = 0; i < m->fd_count; i++) {
		int fd = fd_queue_pop(&fw->guest_in_fds);
		if (!fd_queue_push(&comp->out_fds, fd, pos)) {
			fd_close(&fd);
			return wire_error_set(err, "too many fds queued to the compositor");
		}
	}
	byte_queue_commit(&comp->out, size);
	fw->requests++;
	return true;
}

/* Handles whole messages in [data, data + len); returns bytes consumed or -1. */
static ssize_t guest_messages(struct forward *fw, const uint8_t *data, size_t len,
			      struct wire_error *err) {
	size_t pos = 0;
	while (pos < len) {
		struct wayland_msg_header hdr;
		enum wayland_msg_result r = wayland_msg_header_parse(data + pos, len - pos,
								     fw->max_message, &hdr, err);
		if (r == WAYLAND_MSG_INVALID) {
			return -1;
		}
		if (r == WAYLAND_MSG_INCOMPLETE || hdr.size > len - pos) {
			break;
		}
		if (!guest_message(fw, data + pos, &hdr, err)) {
			return -1;
		}
		pos += hdr.size;
	}
	return (ssize_t)pos;
}

bool forward_guest_bytes(struct forward *fw, const uint8_t *data, size_t len,
			 struct wire_error *err) {
	if (fw->guest_in.len == 0) {
		// Common case: parse straight from the caller's buffer.
		ssize_t used = guest_messages(fw, data, len, err);
		if (used < 0) {
			return false;
		}
		if ((size_t)used < len &&
		    !byte_queue_append(&fw->guest_in, data + used, len - (size_t)used)) {
			return wire_error_set(err, "guest input queue %s", byte_queue_why());
		}
		return true;
	}
	if (!byte_queue_append(&fw->guest_in, data, len)) {
		return wire_error_set(err, "guest input queue %s", byte_queue_why());
	}
	ssize_t used = guest_messages(fw, byte_queue_data(&fw->guest_in), fw->guest_in.len, err);
	if (used < 0) {
		return false;
	}
	byte_queue_consume(&fw->guest_in, (size_t)used);
	return true;
}

bool forward_guest_end(struct forward *fw, struct wire_error *err) {
	// fds are used in order: if fewer were used in this unit than were
	// carried into it, some carried fds are still waiting a second unit.
	uint64_t used = fw->fds_used - fw->fds_used_at_end;
	if (fw->carried_fds > 0 && used < fw->carried_fds) {
		return wire_error_set(err, "%zu fds were sent with no message to use them",
				      fw->carried_fds - (size_t)used);
	}
	fw->carried_fds = fw->guest_in_fds.len;
	fw->fds_used_at_end = fw->fds_used;
	return true;
}

/*
 * Why the compositor's @fd may not go to the guest with event @m, or NULL
 * when it may. A `send` event's fd is the write end of a pipe the guest
 * fills; every other event's (keymap, format_table ...) is memory the guest
 * reads, at least as large as the event's "size" argument says (a smaller
 * one would fault the guest's reader).
 */
static const char *event_fd_refused(int fd, const struct proto_message *m,
				    const struct wayland_args *args) {
	struct fdtype t;
	if (!fdtype_classify(fd, &t)) {
		return "";
	}
	if (strcmp(m->name, "send") == 0) {
		return t.kind == FDTYPE_PIPE_WRITE ? NULL : " where a pipe belongs";
	}
	if (t.kind != FDTYPE_MEMORY) {
		return " where memory belongs";
	}
	for (unsigned i = 0; i < m->arg_count; i++) {
		if (m->args[i].type == PROTO_ARG_UINT && strcmp(m->args[i].name, "size") == 0 &&
		    args->value[i] > t.size) {
			return " smaller than the size the event gives";
		}
	}
	return NULL;
}

static bool host_message(struct forward *fw, uint8_t *src, const struct wayland_msg_header *hdr,
			 struct wire_error *err) {
	struct compositor *comp = fw->comp;
	struct object *sender;
	const struct proto_message *m;
	enum objects_result r = objects_resolve_event(fw->objs, hdr->object_id, hdr->opcode,
						      &sender, &m, err);
	if (r == OBJECTS_INVALID) {
		return false;
	}
	struct wayland_args args;
	if (!wayland_msg_decode(src, hdr, sender->interface, m, &args, err)) {
		return false;
	}
	if (comp->in_fds.len < m->fd_count) {
		return wire_error_set(err, "%s#%" PRIu32 ".%s: event without its %u fds",
				      sender->interface->name, hdr->object_id, m->name,
				      m->fd_count);
	}
	if (r == OBJECTS_DROP) {
		// An event for one of crosswayd's own objects; a destructor
		// event ends it, and the compositor's delete_id then frees its id.
		for (unsigned i = 0; i < m->fd_count; i++) {
			fd_queue_drop(&comp->in_fds);
		}
		if (m->destructor) {
			objects_mark_destroyed(fw->objs, sender);
		}
		return true;
	}
	// Only the fds the event is for reach a guest (and guests know
	// identifier types 1 and 4 only); any other loses its message.
	for (unsigned i = 0; i < m->fd_count; i++) {
		int fd = fd_queue_peek(&comp->in_fds, i)->fd;
		const char *why = event_fd_refused(fd, m, &args);
		if (why != NULL) {
			char what[64];
			cw_log(CW_LOG_INFO,
			       "Dropped %s#%" PRIu32 ".%s from the compositor: it carries a %s%s",
			       sender->interface->name, hdr->object_id, m->name,
			       fdtype_describe(fd, what, sizeof(what)), why);
			for (unsigned k = 0; k < m->fd_count; k++) {
				fd_queue_drop(&comp->in_fds);
			}
			fw->fds_rejected++;
			return true;
		}
	}
	uint8_t *dst = byte_queue_reserve(&fw->guest_out, hdr->size + REWRITE_SLACK);
	if (dst == NULL) {
		return wire_error_set(err, "guest queue %s", byte_queue_why());
	}
	memcpy(dst, src, hdr->size);
	struct object *created;
	r = objects_translate_event(fw->objs, dst, sender, m, &args, &created, err);
	if (r == OBJECTS_INVALID) {
		return false;
	}
	if (r == OBJECTS_DROP) {
		fw->dropped++;
		return true; // a delete_id for one of our own objects; no fds
	}
	uint32_t down_id = wayland_msg_get_u32(dst, 0);
	// Adding an object may have moved the maps: find the sender again.
	sender = objects_lookup_up(fw->objs, hdr->object_id);
	uint64_t meta[PROTO_MAX_ARGS] = {0};
	int fds[PROTO_MAX_ARGS];
	for (unsigned i = 0; i < m->fd_count; i++) {
		fds[i] = fd_queue_peek(&comp->in_fds, i)->fd;
	}
	uint8_t rewrite[WAYLAND_MSG_DEFAULT_MAX_SIZE + REWRITE_SLACK];
	struct policy_msg pm = {
		.bytes = dst,
		.hdr = *hdr,
		.sender = sender,
		.sender_down_id = down_id,
		.message = m,
		.args = &args,
		.created = created,
		.fds = fds,
		.fd_meta = meta,
		.rewrite = rewrite,
		.rewrite_cap = sizeof(rewrite),
	};
	size_t size = hdr->size;
	switch (policy_event(&fw->policy, &pm, err)) {
	case POLICY_PASS:
		break;
	case POLICY_DROP:
		for (unsigned i = 0; i < m->fd_count; i++) {
			fd_queue_drop(&comp->in_fds);
		}
		fw->dropped++;
		return true;
	case POLICY_REWRITE:
		if (pm.rewrite_size > (size_t)hdr->size + REWRITE_SLACK) {
			return wire_error_set(err, "%s.%s: rewritten event too large",
					      sender->interface->name, m->name);
		}
		memcpy(dst, rewrite, pm.rewrite_size);
		size = pm.rewrite_size;
		break;
	case POLICY_FAIL:
		return false;
	}
	if (fw->trace) {
		trace("<-", dst, down_id, sender->interface, m, &args, "");
	}
	if (sender->interface == &proto_wl_display && m->opcode == PROTO_WL_DISPLAY_EVT_ERROR) {
		const char *text = wayland_args_string(dst, &args, 2);
		char clean[256];
		cw_log_sanitize(text ? text : "", clean, sizeof(clean));
		// The decoded values are still the compositor's ids (translation
		// rewrote the bytes); the text names the object as the guest does.
		struct object *culprit = objects_lookup_up(fw->objs, args.value[0]);
		snprintf(fw->protocol_error, sizeof(fw->protocol_error),
			 "protocol error on %s#%" PRIu32 ", code %" PRIu32 ": %s",
			 culprit != NULL ? culprit->interface->name : "object",
			 wayland_msg_get_u32(dst, args.offset[0]), args.value[1], clean);
		cw_log(CW_LOG_ERROR, "Compositor sent a %s", fw->protocol_error);
	}
	uint64_t pos = byte_queue_end(&fw->guest_out);
	for (unsigned i = 0; i < m->fd_count; i++) {
		int fd = fd_queue_pop(&comp->in_fds);
		if (!fd_queue_push(&fw->guest_out_fds, fd, pos)) {
			fd_close(&fd);
			return wire_error_set(err, "too many fds queued to the guest");
		}
		fd_queue_peek(&fw->guest_out_fds, fw->guest_out_fds.len - 1)->meta = meta[i];
	}
	byte_queue_commit(&fw->guest_out, size);
	fw->events++;
	return true;
}

bool forward_host_input(struct forward *fw, struct wire_error *err) {
	struct compositor *comp = fw->comp;
	size_t pos = 0;
	bool ok = true;
	while (pos < comp->in.len) {
		uint8_t *data = comp->in.data + comp->in.head + pos;
		struct wayland_msg_header hdr;
		enum wayland_msg_result r = wayland_msg_header_parse(data, comp->in.len - pos,
								     fw->max_message, &hdr, err);
		if (r == WAYLAND_MSG_INVALID) {
			wire_error_prefix(err, "compositor");
			ok = false;
			break;
		}
		if (r == WAYLAND_MSG_INCOMPLETE || hdr.size > comp->in.len - pos) {
			break;
		}
		if (!host_message(fw, data, &hdr, err)) {
			wire_error_prefix(err, "compositor");
			ok = false;
			break;
		}
		pos += hdr.size;
	}
	byte_queue_consume(&comp->in, pos);
	return ok;
}
