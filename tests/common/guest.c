#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/guest.h"

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void guest_init(struct guest *g, struct sim *sim) {
	memset(g, 0, sizeof(*g));
	g->sim = sim;
	g->next_id = 2;
}

void guest_finish(struct guest *g) {
	for (uint32_t i = 0; i < g->event_count; i++) {
		free(g->events[i].data);
	}
	g->event_count = 0;
}

uint32_t guest_new_id(struct guest *g) {
	return g->next_id++;
}

bool guest_request(struct guest *g, uint32_t object, uint16_t opcode, const void *args,
		   uint32_t len, const uint32_t *ids, const uint32_t *types, uint32_t count) {
	uint8_t msg[8192];
	uint32_t size = 8 + len;
	uint32_t word = size << 16 | opcode;
	memcpy(msg, &object, 4);
	memcpy(msg + 4, &word, 4);
	if (len > 0) {
		memcpy(msg + 8, args, len);
	}
	return sim_send_wayland(g->sim, msg, size, ids, types, count);
}

static void set_ids(uint32_t *ids, uint32_t *types, uint32_t *sizes, uint32_t *count,
		    const struct cross_domain_record *rec) {
	*count = rec->num_identifiers > CROSS_DOMAIN_MAX_IDENTIFIERS ? CROSS_DOMAIN_MAX_IDENTIFIERS
								     : rec->num_identifiers;
	memcpy(ids, rec->identifiers, *count * 4);
	memcpy(types, rec->identifier_types, *count * 4);
	memcpy(sizes, rec->identifier_sizes, *count * 4);
}

/* Files the whole messages in partial[]; @carried bytes at its start came
 * with earlier records (their ids are in carry_*), the rest with @rec. */
static void file_messages(struct guest *g, uint32_t carried,
			  const struct cross_domain_record *rec) {
	uint32_t pos = 0;
	while (g->partial_len - pos >= 8) {
		uint32_t object, word;
		memcpy(&object, g->partial + pos, 4);
		memcpy(&word, g->partial + pos + 4, 4);
		uint32_t size = word >> 16;
		if (size < 8 || size > g->partial_len - pos || g->event_count == GUEST_MAX_EVENTS) {
			break;
		}
		struct guest_event *e = &g->events[g->event_count++];
		memset(e, 0, sizeof(*e));
		e->object = object;
		e->opcode = word & 0xffff;
		e->size = (uint16_t)size;
		e->data = malloc(size);
		memcpy(e->data, g->partial + pos, size);
		if (pos < carried) {
			e->id_count = g->carry_count;
			memcpy(e->ids, g->carry_ids, e->id_count * 4);
			memcpy(e->types, g->carry_types, e->id_count * 4);
			memcpy(e->sizes, g->carry_sizes, e->id_count * 4);
		} else {
			set_ids(e->ids, e->types, e->sizes, &e->id_count, rec);
		}
		pos += size;
	}
	if (pos >= carried && pos < g->partial_len) {
		// The rest starts in this record: its ids go with it.
		set_ids(g->carry_ids, g->carry_types, g->carry_sizes, &g->carry_count, rec);
	}
	memmove(g->partial, g->partial + pos, g->partial_len - pos);
	g->partial_len -= pos;
}

bool guest_poll(struct guest *g, int timeout_ms) {
	struct cross_domain_record rec;
	if (!sim_poll_record(g->sim, &rec, timeout_ms)) {
		return false;
	}
	if (rec.cmd == CROSS_DOMAIN_CMD_READ) {
		g->reads++;
		g->read_id = rec.identifier;
		if (g->read_len + rec.data_size <= sizeof(g->read_data)) {
			memcpy(g->read_data + g->read_len, rec.data, rec.data_size);
			g->read_len += rec.data_size;
		}
		g->read_hang_up = rec.hang_up != 0;
		return true;
	}
	if (rec.data_size == 0 && rec.num_identifiers == 0) {
		g->eof = true;
		return true;
	}
	if (g->partial_len + rec.data_size > sizeof(g->partial)) {
		return false;
	}
	uint32_t carried = g->partial_len;
	memcpy(g->partial + g->partial_len, rec.data, rec.data_size);
	g->partial_len += rec.data_size;
	file_messages(g, carried, &rec);
	return true;
}

int guest_find_event(const struct guest *g, uint32_t object, uint16_t opcode, uint32_t from) {
	for (uint32_t i = from; i < g->event_count; i++) {
		if (g->events[i].object == object && g->events[i].opcode == opcode) {
			return (int)i;
		}
	}
	return -1;
}

int guest_wait_event(struct guest *g, uint32_t object, uint16_t opcode, int timeout_ms) {
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		int i = guest_find_event(g, object, opcode, 0);
		if (i >= 0) {
			return i;
		}
		int64_t left = deadline - now_ms();
		if (left <= 0 || g->eof || !guest_poll(g, (int)left)) {
			return -1;
		}
	}
}

uint32_t guest_event_word(const struct guest_event *e, unsigned i) {
	uint32_t v = 0;
	if (8 + 4 * (size_t)i + 4 <= e->size) {
		memcpy(&v, e->data + 8 + 4 * i, 4);
	}
	return v;
}

bool guest_roundtrip(struct guest *g, int timeout_ms) {
	uint32_t cb = guest_new_id(g);
	if (!guest_request(g, 1, 0 /* sync */, &cb, 4, NULL, NULL, 0)) {
		return false;
	}
	return guest_wait_event(g, cb, 0 /* done */, timeout_ms) >= 0;
}

bool guest_registry(struct guest *g, int timeout_ms) {
	g->registry = guest_new_id(g);
	if (!guest_request(g, 1, 1 /* get_registry */, &g->registry, 4, NULL, NULL, 0) ||
	    !guest_roundtrip(g, timeout_ms)) {
		return false;
	}
	for (uint32_t i = 0; i < g->event_count; i++) {
		struct guest_event *e = &g->events[i];
		if (e->object != g->registry || e->opcode != 0 ||
		    g->global_count == GUEST_MAX_GLOBALS) {
			continue;
		}
		struct guest_global *gl = &g->globals[g->global_count++];
		gl->name = guest_event_word(e, 0);
		uint32_t len = guest_event_word(e, 1);
		if (len > sizeof(gl->interface) || 16 + len > e->size) {
			g->global_count--;
			continue;
		}
		memcpy(gl->interface, e->data + 16, len);
		gl->interface[len ? len - 1 : 0] = '\0';
		gl->version = guest_event_word(e, 2 + (len + 3) / 4);
	}
	return true;
}

const struct guest_global *guest_find_global(const struct guest *g, const char *interface) {
	for (uint32_t i = 0; i < g->global_count; i++) {
		if (strcmp(g->globals[i].interface, interface) == 0) {
			return &g->globals[i];
		}
	}
	return NULL;
}

uint32_t guest_bind(struct guest *g, const char *interface, uint32_t version) {
	const struct guest_global *gl = guest_find_global(g, interface);
	if (gl == NULL) {
		return 0;
	}
	uint8_t args[256];
	uint32_t len = (uint32_t)strlen(interface) + 1;
	uint32_t padded = (len + 3) / 4 * 4;
	uint32_t id = guest_new_id(g);
	uint32_t n = 0;
	memcpy(args + n, &gl->name, 4);
	n += 4;
	memcpy(args + n, &len, 4);
	n += 4;
	memset(args + n, 0, padded);
	memcpy(args + n, interface, len);
	n += padded;
	memcpy(args + n, &version, 4);
	n += 4;
	memcpy(args + n, &id, 4);
	n += 4;
	return guest_request(g, g->registry, 0 /* bind */, args, n, NULL, NULL, 0) ? id : 0;
}

uint32_t guest_take_focus(struct guest *g, uint32_t seat, int timeout_ms) {
	// A 4x4 XRGB window from a host blob: the pool a guest proxy shadows.
	enum { SIDE = 4, SIZE = SIDE * SIDE * 4 };
	uint32_t compositor = guest_bind(g, "wl_compositor", 4);
	uint32_t shm = guest_bind(g, "wl_shm", 1);
	uint32_t wm_base = guest_bind(g, "xdg_wm_base", 1);
	if (compositor == 0 || shm == 0 || wm_base == 0) {
		return 0;
	}
	uint32_t keyboard = guest_new_id(g);
	if (!guest_request(g, seat, 1 /* get_keyboard */, &keyboard, 4, NULL, NULL, 0)) {
		return 0;
	}
	struct cross_domain_image_requirements req;
	if (!sim_image_requirements(g->sim, SIZE, 1, 0x20203852 /* R8 */, &req, timeout_ms)) {
		return 0;
	}
	uint32_t resource;
	int fd = sim_create_blob(g->sim, req.blob_id, req.size, &resource, NULL, timeout_ms);
	if (fd < 0) {
		return 0;
	}
	close(fd); // the guest never draws: the pixels stay zero
	uint32_t pool = guest_new_id(g), buffer = guest_new_id(g);
	uint32_t surface = guest_new_id(g), xdg_surface = guest_new_id(g);
	uint32_t toplevel = guest_new_id(g);
	uint32_t pool_args[] = {pool, SIZE};
	uint32_t ids[] = {resource}, types[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB};
	uint32_t buffer_args[] = {buffer, 0, SIDE, SIDE, SIDE * 4, 1 /* XRGB8888 */};
	uint32_t xdg_args[] = {xdg_surface, surface};
	if (!guest_request(g, shm, 0, pool_args, sizeof(pool_args), ids, types, 1) ||
	    !guest_request(g, pool, 0, buffer_args, sizeof(buffer_args), NULL, NULL, 0) ||
	    !guest_request(g, compositor, 0, &surface, 4, NULL, NULL, 0) ||
	    !guest_request(g, wm_base, 2, xdg_args, sizeof(xdg_args), NULL, NULL, 0) ||
	    !guest_request(g, xdg_surface, 1, &toplevel, 4, NULL, NULL, 0) ||
	    !guest_request(g, surface, 6 /* commit */, NULL, 0, NULL, NULL, 0)) {
		return 0;
	}
	int i = guest_wait_event(g, xdg_surface, 0 /* configure */, timeout_ms);
	if (i < 0) {
		return 0;
	}
	uint32_t serial = guest_event_word(&g->events[i], 0);
	uint32_t attach[] = {buffer, 0, 0};
	if (!guest_request(g, xdg_surface, 4 /* ack_configure */, &serial, 4, NULL, NULL, 0) ||
	    !guest_request(g, surface, 1 /* attach */, attach, sizeof(attach), NULL, NULL, 0) ||
	    !guest_request(g, surface, 6 /* commit */, NULL, 0, NULL, NULL, 0)) {
		return 0;
	}
	i = guest_wait_event(g, keyboard, 1 /* enter */, timeout_ms);
	return i < 0 ? 0 : guest_event_word(&g->events[i], 0);
}
