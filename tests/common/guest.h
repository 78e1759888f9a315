/*
 * A minimal Wayland client that lives on the guest side of the ring: it
 * writes requests into SENDs and reads events out of RECEIVE records, through
 * a simulated backend (tests/common/sim.h) driving a real crosswayd. Tests use
 * it to do, byte for byte, what a guest proxy does.
 *
 * Events are kept in order as raw messages; fds that came with them are the
 * RECEIVE identifiers, in order (blobs can be turned into fds with
 * sim_create_blob).
 */
#ifndef CROSSWAY_TESTS_COMMON_GUEST_H
#define CROSSWAY_TESTS_COMMON_GUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/common/sim.h"

#define GUEST_MAX_EVENTS 4096
#define GUEST_MAX_GLOBALS 128

struct guest_event {
	uint32_t object;
	uint16_t opcode;
	uint16_t size;
	uint8_t *data; // the whole message (owned)
	// identifiers that arrived with the record carrying this message's
	// start: all of that record's, so a message that shares its record with
	// another fd-carrying message also lists the other's
	uint32_t ids[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t types[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t sizes[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t id_count;
};

struct guest_global {
	uint32_t name;
	char interface[64];
	uint32_t version;
};

struct guest {
	struct sim *sim;
	uint32_t next_id; // the next client object id
	uint32_t registry;
	struct guest_global globals[GUEST_MAX_GLOBALS];
	uint32_t global_count;
	struct guest_event events[GUEST_MAX_EVENTS];
	uint32_t event_count;
	uint8_t partial[65536]; // event bytes not yet a whole message
	uint32_t partial_len;
	// identifiers of the record that carried the start of the message in
	// partial[] (crosswayd sends a message's fds with its first part)
	uint32_t carry_ids[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t carry_types[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t carry_sizes[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t carry_count;
	bool eof;       // a 0-byte RECEIVE came
	uint64_t reads; // READ records seen (kept in the read_* fields below)
	uint32_t read_id;
	uint8_t read_data[65536 * 32];
	uint32_t read_len;
	bool read_hang_up;
};

void guest_init(struct guest *g, struct sim *sim);
void guest_finish(struct guest *g);

/** A fresh object id. */
uint32_t guest_new_id(struct guest *g);

/**
 * Sends one request: @object, @opcode and the argument words/bytes already
 * laid out in @args (@len bytes). @ids/@types: identifiers for its fds.
 */
bool guest_request(struct guest *g, uint32_t object, uint16_t opcode, const void *args,
		   uint32_t len, const uint32_t *ids, const uint32_t *types, uint32_t count);

/** Polls once and files what came (RECEIVE events or READ data). */
bool guest_poll(struct guest *g, int timeout_ms);

/** wl_display.sync and poll until its callback is done. */
bool guest_roundtrip(struct guest *g, int timeout_ms);

/** get_registry + roundtrip, collecting globals. */
bool guest_registry(struct guest *g, int timeout_ms);

/** The global offering @interface, or NULL. */
const struct guest_global *guest_find_global(const struct guest *g, const char *interface);

/** Binds a global (must have been advertised) and returns the new id. */
uint32_t guest_bind(struct guest *g, const char *interface, uint32_t version);

/** The index of the first event from @object with @opcode at or after @from, or -1. */
int guest_find_event(const struct guest *g, uint32_t object, uint16_t opcode, uint32_t from);

/** Polls until such an event arrives. Returns its index or -1. */
int guest_wait_event(struct guest *g, uint32_t object, uint16_t opcode, int timeout_ms);

/** The 32-bit argument word @i (0-based, after the header) of an event. */
uint32_t guest_event_word(const struct guest_event *e, unsigned i);

/**
 * Gives the guest keyboard focus the way a desktop does: binds wl_keyboard on
 * @seat and maps a 4x4 toplevel drawn from a host blob (the registry must
 * have been read). Returns the serial of the wl_keyboard.enter that follows,
 * which may authorise a selection, or 0 when something failed or no enter
 * came within @timeout_ms.
 */
uint32_t guest_take_focus(struct guest *g, uint32_t seat, int timeout_ms);

#endif
