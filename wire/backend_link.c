#include <inttypes.h>
#include <string.h>

#include "wire/backend_link.h"

const char *backend_link_type_name(uint32_t type) {
	switch (type) {
	case CROSSWAY_BACKEND_HELLO:
		return "HELLO";
	case CROSSWAY_BACKEND_ATTACH:
		return "ATTACH";
	case CROSSWAY_BACKEND_DETACH:
		return "DETACH";
	case CROSSWAY_BACKEND_SUBMIT:
		return "SUBMIT";
	case CROSSWAY_BACKEND_FENCE:
		return "FENCE";
	case CROSSWAY_BACKEND_CREATE_BLOB:
		return "CREATE_BLOB";
	case CROSSWAY_BACKEND_SHUTDOWN:
		return "SHUTDOWN";
	case CROSSWAY_BACKEND_UNREF:
		return "UNREF";
	case CROSSWAY_BACKEND_HELLO_REPLY:
		return "HELLO_REPLY";
	case CROSSWAY_BACKEND_RING_WRITE:
		return "RING_WRITE";
	case CROSSWAY_BACKEND_FENCE_DONE:
		return "FENCE_DONE";
	case CROSSWAY_BACKEND_BLOB_REPLY:
		return "BLOB_REPLY";
	case CROSSWAY_BACKEND_ERROR:
		return "ERROR";
	}
	return "unknown";
}

static uint64_t pad8(uint64_t n) {
	return (n + 7) & ~(uint64_t)7;
}

static bool all_zero(const uint8_t *p, size_t n) {
	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0) {
			return false;
		}
	}
	return true;
}

/* Fixed size of each message, or 0 for variable-size ones. */
static size_t fixed_size(uint32_t type) {
	switch (type) {
	case CROSSWAY_BACKEND_HELLO:
		return sizeof(struct crossway_backend_hello);
	case CROSSWAY_BACKEND_ATTACH:
		return sizeof(struct crossway_backend_attach);
	case CROSSWAY_BACKEND_DETACH:
	case CROSSWAY_BACKEND_UNREF:
		return sizeof(struct crossway_backend_resource);
	case CROSSWAY_BACKEND_FENCE:
		return sizeof(struct crossway_backend_fence);
	case CROSSWAY_BACKEND_CREATE_BLOB:
		return sizeof(struct crossway_backend_create_blob);
	case CROSSWAY_BACKEND_SHUTDOWN:
		return sizeof(struct crossway_backend_header);
	case CROSSWAY_BACKEND_HELLO_REPLY:
		return sizeof(struct crossway_backend_hello_reply);
	case CROSSWAY_BACKEND_FENCE_DONE:
		return sizeof(struct crossway_backend_fence_done);
	case CROSSWAY_BACKEND_BLOB_REPLY:
		return sizeof(struct crossway_backend_blob_reply);
	}
	return 0;
}

static bool valid_vm_name(const char *name, size_t cap) {
	size_t len = strnlen(name, cap);
	if (len == 0 || len == cap) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok) {
			return false;
		}
	}
	return true;
}

/* Checks a variable-size message: a fixed struct of @head bytes, then
 * @length payload bytes padded with zeros to a multiple of 8. */
static bool check_payload(const uint8_t *pkt, size_t len, size_t head, uint32_t length,
			  const char *name, struct wire_error *err) {
	if (pad8((uint64_t)head + length) != len) {
		return wire_error_set(err, "%s: length %" PRIu32 " does not match size %zu", name,
				      length, len);
	}
	if (!all_zero(pkt + head + length, len - head - length)) {
		return wire_error_set(err, "%s: padding is not zero", name);
	}
	return true;
}

/* The ATTACH fields that need no context state (crossway-backend(7), ATTACH). */
static bool check_attach(const struct crossway_backend_attach *a, struct wire_error *err) {
	if (a->resource_id == 0) {
		return wire_error_set(err, "ATTACH: resource id 0 is not valid");
	}
	if (a->blob_mem > CROSSWAY_BACKEND_BLOB_MEM_HOST3D_GUEST) {
		return wire_error_set(err,
				      "ATTACH: resource %" PRIu32 ": unknown blob_mem %" PRIu32,
				      a->resource_id, a->blob_mem);
	}
	uint32_t cache = a->map_info & CROSSWAY_BACKEND_MAP_CACHE_MASK;
	if ((a->map_info & ~(CROSSWAY_BACKEND_MAP_CACHE_MASK | CROSSWAY_BACKEND_MAP_ACCESS_MASK)) ||
	    cache > CROSSWAY_BACKEND_MAP_CACHE_WC) {
		return wire_error_set(err, "ATTACH: resource %" PRIu32 ": bad map_info 0x%" PRIx32,
				      a->resource_id, a->map_info);
	}
	switch (a->kind) {
	case CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY:
		if (a->blob_mem == CROSSWAY_BACKEND_BLOB_MEM_HOST3D) {
			return wire_error_set(err,
					      "ATTACH: resource %" PRIu32
					      ": kind 1 (guest memory) with blob_mem 2 (host3d)",
					      a->resource_id);
		}
		if (a->size == 0) {
			return wire_error_set(
				err, "ATTACH: resource %" PRIu32 ": guest memory of size 0",
				a->resource_id);
		}
		if (a->map_info != 0) {
			return wire_error_set(err,
					      "ATTACH: resource %" PRIu32
					      ": kind 1 (guest memory) with map_info 0x%" PRIx32,
					      a->resource_id, a->map_info);
		}
		break;
	case CROSSWAY_BACKEND_ATTACH_HOST_FD:
		if (a->handle_type < CROSSWAY_BACKEND_HANDLE_DMABUF ||
		    a->handle_type > CROSSWAY_BACKEND_HANDLE_OPAQUE) {
			return wire_error_set(err,
					      "ATTACH: resource %" PRIu32
					      ": kind 2 (host fd) needs "
					      "handle_type 1, 2 or 3, not %" PRIu32,
					      a->resource_id, a->handle_type);
		}
		return true;
	case CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB:
		if (a->blob_mem != 0 && a->blob_mem != CROSSWAY_BACKEND_BLOB_MEM_HOST3D) {
			return wire_error_set(err,
					      "ATTACH: resource %" PRIu32
					      ": kind 3 (crosswayd blob) with blob_mem %" PRIu32
					      " (only 0 or 2, host3d)",
					      a->resource_id, a->blob_mem);
		}
		break;
	}
	if (a->handle_type != 0) {
		return wire_error_set(err,
				      "ATTACH: resource %" PRIu32 ": handle_type %" PRIu32
				      " with kind %" PRIu32 " (only kind 2 has one)",
				      a->resource_id, a->handle_type, a->kind);
	}
	return true;
}

static bool decode_body(const uint8_t *pkt, size_t len, struct backend_msg *msg,
			struct wire_error *err) {
	uint32_t type = msg->hdr.type;
	const char *name = backend_link_type_name(type);
	size_t fixed = fixed_size(type);
	if (fixed != 0) {
		if (len != fixed) {
			return wire_error_set(err, "%s: size %zu != %zu", name, len, fixed);
		}
		// All fixed messages fit the union; copy the whole message.
		memcpy(&msg->hello, pkt, len);
	}
	msg->fd_count = 0;
	switch (type) {
	case CROSSWAY_BACKEND_HELLO: {
		struct crossway_backend_hello *h = &msg->hello;
		if (h->reserved != 0) {
			return wire_error_set(err, "HELLO: reserved field is not zero");
		}
		if (h->flags & ~CROSSWAY_BACKEND_HELLO_PROBE) {
			return wire_error_set(err, "HELLO: unknown flags 0x%" PRIx32, h->flags);
		}
		if (!valid_vm_name(h->vm_name, sizeof(h->vm_name))) {
			return wire_error_set(err, "HELLO: vm_name must be 1-63 characters of "
						   "[A-Za-z0-9._-], NUL-terminated");
		}
		if (strnlen(h->ctx_name, sizeof(h->ctx_name)) == sizeof(h->ctx_name)) {
			return wire_error_set(err, "HELLO: ctx_name is not NUL-terminated");
		}
		break;
	}
	case CROSSWAY_BACKEND_ATTACH: {
		const struct crossway_backend_attach *a = &msg->attach;
		if (a->reserved != 0) {
			return wire_error_set(err, "ATTACH: reserved field is not zero");
		}
		if (a->kind < CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY ||
		    a->kind > CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB) {
			return wire_error_set(err, "ATTACH: unknown kind %" PRIu32, a->kind);
		}
		if (!check_attach(a, err)) {
			return false;
		}
		msg->fd_count = a->kind == CROSSWAY_BACKEND_ATTACH_HOST_FD ? 1 : 0;
		break;
	}
	case CROSSWAY_BACKEND_DETACH:
	case CROSSWAY_BACKEND_UNREF:
		if (msg->resource.reserved != 0) {
			return wire_error_set(err, "%s: reserved field is not zero", name);
		}
		if (msg->resource.resource_id == 0) {
			return wire_error_set(err, "%s: resource id 0 is not valid", name);
		}
		break;
	case CROSSWAY_BACKEND_FENCE:
		if (msg->fence.flags != 0) {
			return wire_error_set(err, "FENCE: unknown flags 0x%" PRIx32,
					      msg->fence.flags);
		}
		break;
	case CROSSWAY_BACKEND_CREATE_BLOB:
		if (msg->create_blob.reserved != 0) {
			return wire_error_set(err, "CREATE_BLOB: reserved field is not zero");
		}
		if (msg->create_blob.resource_id == 0) {
			return wire_error_set(err, "CREATE_BLOB: resource id 0 is not valid");
		}
		if (msg->create_blob.blob_flags & ~CROSSWAY_BACKEND_BLOB_FLAGS_ALL) {
			return wire_error_set(
				err,
				"CREATE_BLOB: unknown blob_flags 0x%" PRIx32
				" (known: 0x1 mappable, 0x2 shareable, 0x4 cross-device)",
				msg->create_blob.blob_flags);
		}
		if (msg->create_blob.size == 0) {
			return wire_error_set(err, "CREATE_BLOB: size 0");
		}
		break;
	case CROSSWAY_BACKEND_SHUTDOWN:
		break;
	case CROSSWAY_BACKEND_SUBMIT:
		if (len < sizeof(struct crossway_backend_submit)) {
			return wire_error_set(err, "SUBMIT: size %zu < 24", len);
		}
		memcpy(&msg->submit, pkt, sizeof(msg->submit));
		if (msg->submit.reserved != 0) {
			return wire_error_set(err, "SUBMIT: reserved field is not zero");
		}
		if (!check_payload(pkt, len, sizeof(msg->submit), msg->submit.length, name, err)) {
			return false;
		}
		msg->payload = pkt + sizeof(msg->submit);
		msg->payload_size = msg->submit.length;
		break;
	case CROSSWAY_BACKEND_HELLO_REPLY:
		if (msg->hello_reply.reserved != 0) {
			return wire_error_set(err, "HELLO_REPLY: reserved field is not zero");
		}
		break;
	case CROSSWAY_BACKEND_RING_WRITE:
		if (len < sizeof(struct crossway_backend_ring_write)) {
			return wire_error_set(err, "RING_WRITE: size %zu < 32", len);
		}
		memcpy(&msg->ring_write, pkt, sizeof(msg->ring_write));
		if (msg->ring_write.reserved != 0) {
			return wire_error_set(err, "RING_WRITE: reserved field is not zero");
		}
		if (!check_payload(pkt, len, sizeof(msg->ring_write), msg->ring_write.length, name,
				   err)) {
			return false;
		}
		msg->payload = pkt + sizeof(msg->ring_write);
		msg->payload_size = msg->ring_write.length;
		break;
	case CROSSWAY_BACKEND_FENCE_DONE:
		if (msg->fence_done.reserved != 0) {
			return wire_error_set(err, "FENCE_DONE: reserved field is not zero");
		}
		break;
	case CROSSWAY_BACKEND_BLOB_REPLY:
		if (msg->blob_reply.reserved != 0) {
			return wire_error_set(err, "BLOB_REPLY: reserved field is not zero");
		}
		if (msg->blob_reply.status > 0) {
			return wire_error_set(err, "BLOB_REPLY: status %" PRId32 " > 0",
					      msg->blob_reply.status);
		}
		msg->fd_count = msg->blob_reply.status == 0 ? 1 : 0;
		break;
	case CROSSWAY_BACKEND_ERROR: {
		if (len < sizeof(struct crossway_backend_error)) {
			return wire_error_set(err, "ERROR: size %zu < 24", len);
		}
		memcpy(&msg->error, pkt, sizeof(msg->error));
		uint32_t n = msg->error.length;
		if (!check_payload(pkt, len, sizeof(msg->error), n, name, err)) {
			return false;
		}
		const uint8_t *text = pkt + sizeof(msg->error);
		if (n == 0 || text[n - 1] != '\0' || memchr(text, '\0', n - 1) != NULL) {
			return wire_error_set(err,
					      "ERROR: message is not one NUL-terminated string");
		}
		msg->payload = text;
		msg->payload_size = n;
		break;
	}
	default:
		return wire_error_set(err, "unknown message type 0x%04" PRIx32, type);
	}
	return true;
}

bool backend_link_decode(const uint8_t *pkt, size_t len, size_t nfds, uint32_t max_size,
			 enum backend_link_direction dir, struct backend_msg *msg,
			 struct wire_error *err) {
	memset(msg, 0, sizeof(*msg));
	if (len < CROSSWAY_BACKEND_HEADER_SIZE) {
		return wire_error_set(err, "packet of %zu bytes is shorter than the 16-byte header",
				      len);
	}
	memcpy(&msg->hdr, pkt, sizeof(msg->hdr));
	const char *name = backend_link_type_name(msg->hdr.type);
	if (msg->hdr.size != len) {
		return wire_error_set(err, "%s: header size %" PRIu32 " != packet length %zu", name,
				      msg->hdr.size, len);
	}
	if (len % 8 != 0) {
		return wire_error_set(err, "%s: size %zu is not a multiple of 8", name, len);
	}
	if (len > max_size) {
		return wire_error_set(err, "%s: size %zu > maximum %" PRIu32, name, len, max_size);
	}
	if (msg->hdr.flags != 0) {
		return wire_error_set(err, "%s: header flags 0x%" PRIx32 " are not zero", name,
				      msg->hdr.flags);
	}
	bool known = strcmp(name, "unknown") != 0;
	bool to_backend = (msg->hdr.type & 0x8000u) != 0;
	if (known && to_backend != (dir == BACKEND_LINK_TO_BACKEND)) {
		return wire_error_set(err, "%s: message goes the other way on the link", name);
	}
	bool event = msg->hdr.type == CROSSWAY_BACKEND_RING_WRITE ||
		     msg->hdr.type == CROSSWAY_BACKEND_FENCE_DONE;
	if (event && msg->hdr.serial != 0) {
		// Events answer no request; a serial there would be read as a reply.
		return wire_error_set(err, "%s: events carry serial 0, not %" PRIu32, name,
				      msg->hdr.serial);
	}
	if (!decode_body(pkt, len, msg, err)) {
		return false;
	}
	if (nfds != msg->fd_count) {
		return wire_error_set(err, "%s: carries %zu fds, needs %" PRIu32, name, nfds,
				      msg->fd_count);
	}
	return true;
}

static void put_header(uint8_t *out, uint32_t type, size_t size, uint32_t serial) {
	struct crossway_backend_header h = {
		.type = type, .size = (uint32_t)size, .serial = serial, .flags = 0};
	memcpy(out, &h, sizeof(h));
}

size_t backend_link_encode_hello(uint8_t *out, size_t cap, uint32_t serial, uint32_t ctx_id,
				 uint32_t flags, const char *vm_name, const char *ctx_name) {
	struct crossway_backend_hello h;
	if (cap < sizeof(h)) {
		return 0;
	}
	memset(&h, 0, sizeof(h));
	h.version_min = CROSSWAY_BACKEND_VERSION;
	h.version_max = CROSSWAY_BACKEND_VERSION;
	h.capset_id = CROSSWAY_BACKEND_CAPSET_CROSS_DOMAIN;
	h.ctx_id = ctx_id;
	h.flags = flags;
	strncpy(h.vm_name, vm_name ? vm_name : "", sizeof(h.vm_name) - 1);
	strncpy(h.ctx_name, ctx_name ? ctx_name : "", sizeof(h.ctx_name) - 1);
	memcpy(out, &h, sizeof(h));
	put_header(out, CROSSWAY_BACKEND_HELLO, sizeof(h), serial);
	return sizeof(h);
}

size_t backend_link_encode_hello_reply(uint8_t *out, size_t cap, uint32_t serial,
				       uint32_t max_message_size,
				       const struct crossway_backend_cross_domain_caps *caps,
				       uint32_t max_identifiers) {
	struct crossway_backend_hello_reply r;
	if (cap < sizeof(r)) {
		return 0;
	}
	memset(&r, 0, sizeof(r));
	r.version = CROSSWAY_BACKEND_VERSION;
	r.max_message_size = max_message_size;
	r.caps = *caps;
	r.max_identifiers = max_identifiers;
	memcpy(out, &r, sizeof(r));
	put_header(out, CROSSWAY_BACKEND_HELLO_REPLY, sizeof(r), serial);
	return sizeof(r);
}

size_t backend_link_encode_attach(uint8_t *out, size_t cap, uint32_t serial, uint32_t resource_id,
				  uint32_t kind, uint64_t size, uint32_t blob_mem,
				  uint32_t handle_type, uint32_t map_info) {
	struct crossway_backend_attach a;
	if (cap < sizeof(a)) {
		return 0;
	}
	memset(&a, 0, sizeof(a));
	a.resource_id = resource_id;
	a.kind = kind;
	a.size = size;
	a.blob_mem = blob_mem;
	a.handle_type = handle_type;
	a.map_info = map_info;
	memcpy(out, &a, sizeof(a));
	put_header(out, CROSSWAY_BACKEND_ATTACH, sizeof(a), serial);
	return sizeof(a);
}

size_t backend_link_encode_resource(uint8_t *out, size_t cap, uint32_t type, uint32_t serial,
				    uint32_t resource_id) {
	struct crossway_backend_resource r;
	if (cap < sizeof(r)) {
		return 0;
	}
	memset(&r, 0, sizeof(r));
	r.resource_id = resource_id;
	memcpy(out, &r, sizeof(r));
	put_header(out, type, sizeof(r), serial);
	return sizeof(r);
}

static size_t encode_with_payload(uint8_t *out, size_t cap, const void *head, size_t head_size,
				  const void *payload, uint32_t length) {
	uint64_t total = pad8((uint64_t)head_size + length);
	if (total > cap) {
		return 0;
	}
	memcpy(out, head, head_size);
	if (length > 0) {
		memcpy(out + head_size, payload, length);
	}
	memset(out + head_size + length, 0, (size_t)total - head_size - length);
	return (size_t)total;
}

size_t backend_link_encode_submit(uint8_t *out, size_t cap, uint32_t serial, const void *cmds,
				  uint32_t length) {
	struct crossway_backend_submit s;
	memset(&s, 0, sizeof(s));
	s.length = length;
	size_t n = encode_with_payload(out, cap, &s, sizeof(s), cmds, length);
	if (n > 0) {
		put_header(out, CROSSWAY_BACKEND_SUBMIT, n, serial);
	}
	return n;
}

size_t backend_link_encode_fence(uint8_t *out, size_t cap, uint32_t serial, uint64_t fence_id,
				 uint32_t ring_idx) {
	struct crossway_backend_fence f;
	if (cap < sizeof(f)) {
		return 0;
	}
	memset(&f, 0, sizeof(f));
	f.fence_id = fence_id;
	f.ring_idx = ring_idx;
	memcpy(out, &f, sizeof(f));
	put_header(out, CROSSWAY_BACKEND_FENCE, sizeof(f), serial);
	return sizeof(f);
}

size_t backend_link_encode_create_blob(uint8_t *out, size_t cap, uint32_t serial,
				       uint32_t resource_id, uint32_t blob_mem, uint32_t blob_flags,
				       uint64_t blob_id, uint64_t size) {
	struct crossway_backend_create_blob c;
	if (cap < sizeof(c)) {
		return 0;
	}
	memset(&c, 0, sizeof(c));
	c.resource_id = resource_id;
	c.blob_mem = blob_mem;
	c.blob_flags = blob_flags;
	c.blob_id = blob_id;
	c.size = size;
	memcpy(out, &c, sizeof(c));
	put_header(out, CROSSWAY_BACKEND_CREATE_BLOB, sizeof(c), serial);
	return sizeof(c);
}

size_t backend_link_encode_shutdown(uint8_t *out, size_t cap, uint32_t serial) {
	if (cap < CROSSWAY_BACKEND_HEADER_SIZE) {
		return 0;
	}
	put_header(out, CROSSWAY_BACKEND_SHUTDOWN, CROSSWAY_BACKEND_HEADER_SIZE, serial);
	return CROSSWAY_BACKEND_HEADER_SIZE;
}

size_t backend_link_encode_ring_write(uint8_t *out, size_t cap, uint32_t resource_id,
				      uint32_t offset, const void *bytes, uint32_t length) {
	struct crossway_backend_ring_write w;
	memset(&w, 0, sizeof(w));
	w.resource_id = resource_id;
	w.offset = offset;
	w.length = length;
	size_t n = encode_with_payload(out, cap, &w, sizeof(w), bytes, length);
	if (n > 0) {
		put_header(out, CROSSWAY_BACKEND_RING_WRITE, n, 0);
	}
	return n;
}

size_t backend_link_encode_fence_done(uint8_t *out, size_t cap, uint64_t fence_id,
				      uint32_t ring_idx) {
	struct crossway_backend_fence_done d;
	if (cap < sizeof(d)) {
		return 0;
	}
	memset(&d, 0, sizeof(d));
	d.fence_id = fence_id;
	d.ring_idx = ring_idx;
	memcpy(out, &d, sizeof(d));
	put_header(out, CROSSWAY_BACKEND_FENCE_DONE, sizeof(d), 0);
	return sizeof(d);
}

size_t backend_link_encode_blob_reply(uint8_t *out, size_t cap, uint32_t serial,
				      const struct crossway_backend_blob_reply *reply) {
	struct crossway_backend_blob_reply r = *reply;
	if (cap < sizeof(r)) {
		return 0;
	}
	r.reserved = 0;
	memcpy(out, &r, sizeof(r));
	put_header(out, CROSSWAY_BACKEND_BLOB_REPLY, sizeof(r), serial);
	return sizeof(r);
}

size_t backend_link_encode_error(uint8_t *out, size_t cap, uint32_t serial, int32_t code,
				 const char *message) {
	struct crossway_backend_error e;
	size_t usable = cap - cap % 8;
	if (usable < sizeof(e) + 8) {
		return 0;
	}
	// Longest text whose message (text, NUL, padding) fits in @usable.
	size_t n = strlen(message);
	size_t room = usable - sizeof(e) - 1;
	if (n > room) {
		n = room;
		// Do not cut a UTF-8 sequence in half.
		while (n > 0 && ((unsigned char)message[n] & 0xc0) == 0x80) {
			n--;
		}
	}
	memset(&e, 0, sizeof(e));
	e.code = code;
	e.length = (uint32_t)n + 1;
	size_t total = (size_t)pad8(sizeof(e) + (uint64_t)n + 1);
	memcpy(out, &e, sizeof(e));
	memcpy(out + sizeof(e), message, n);
	memset(out + sizeof(e) + n, 0, total - sizeof(e) - n);
	put_header(out, CROSSWAY_BACKEND_ERROR, total, serial);
	return total;
}
