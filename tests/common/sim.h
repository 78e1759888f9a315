/*
 * A simulated guest kernel and VMM backend in one, for driving a real
 * crosswayd over its backend link exactly as a VMM would (crossway-backend(7)):
 * it owns the "guest memory" of the two rings, allocates resource ids like the
 * guest kernel, applies RING_WRITE to the rings (checking bounds, as a backend
 * must), tracks fences and collects replies.
 *
 * Two styles of use:
 *  - synchronous helpers (sim_hello, sim_init, sim_image_requirements,
 *    sim_create_blob, sim_wait_record ...) for scripted tests: they send and
 *    wait, dispatching an optional extra fd (an in-process compositor) while
 *    they wait;
 *  - sim_handle_message for event-driven users (the VM simulator): read one
 *    link message and update state, the caller decides what to do next.
 *
 * Everything here is test/simulator code: it trusts nothing crosswayd sends
 * and reports violations through sim->error.
 */
#ifndef CROSSWAY_TESTS_COMMON_SIM_H
#define CROSSWAY_TESTS_COMMON_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire/backend_link.h"
#include "wire/cross_domain.h"

#define SIM_RING_SIZE 4096u
#define SIM_MAX_BLOB_REPLIES 64
#define SIM_MAX_DONE_FENCES 256

struct sim_ring {
	uint32_t resource_id;
	uint8_t mem[SIM_RING_SIZE]; // the guest page
	uint32_t size;              // as ATTACHed (may be < SIM_RING_SIZE in tests)
};

struct sim_blob_reply {
	struct crossway_backend_blob_reply reply;
	int fd; // owned by the sim until taken
	bool used;
};

typedef void (*sim_dispatch_func_t)(void *data, int timeout_ms);

struct sim {
	int fd;        // our end of the link (owned)
	pid_t pid;     // crosswayd, when spawned (0 otherwise)
	int stderr_fd; // read end of crosswayd's stderr, when captured (owned)
	uint32_t serial;
	uint64_t next_fence;
	uint32_t next_resource; // next resource id, as the guest kernel would pick
	uint32_t next_read_pipe;
	uint32_t layout; // identifier slots the guest uses (28 or 4)
	struct sim_ring query;
	struct sim_ring channel;
	bool shared_ring; // 16-byte INIT: one ring for both

	// What came back.
	struct crossway_backend_hello_reply hello_reply;
	bool have_hello_reply;
	uint64_t done_fences[SIM_MAX_DONE_FENCES];
	uint32_t done_count;
	struct sim_blob_reply blob_replies[SIM_MAX_BLOB_REPLIES];
	char error_text[1024]; // the ERROR message, if one came
	int32_t error_code;
	bool have_error;
	bool closed; // crosswayd closed the link
	uint64_t ring_writes;
	uint64_t channel_records; // FENCE_DONEs on the channel ring
	char fault[512];          // a violation of the link contract by crosswayd

	// Optional: dispatched while waiting (an in-process compositor).
	int extra_fd;
	sim_dispatch_func_t extra_dispatch;
	void *extra_data;
};

/**
 * Starts @crosswayd with one end of a socketpair as --fd 3 and @args appended
 * (NULL-terminated, may be NULL). Environment is inherited, plus
 * @display as --wayland-display when non-NULL. If @capture_stderr, crosswayd's
 * stderr is kept for sim_read_stderr. Returns false on failure.
 */
bool sim_spawn(struct sim *sim, const char *crosswayd, const char *display, const char *const *args,
	       bool capture_stderr);

/** Sets up a sim on an already connected link fd (taken). */
void sim_init_fd(struct sim *sim, int fd);

/** Closes the link, waits for crosswayd (if spawned) and returns its exit
 * status (-1 if it was killed by a signal, -2 if not spawned). */
int sim_finish(struct sim *sim, int timeout_ms);

/** Kills crosswayd and cleans up without waiting for a clean end. */
void sim_kill(struct sim *sim);

/** Reads what crosswayd wrote on stderr so far (needs capture_stderr). */
size_t sim_read_stderr(struct sim *sim, char *buf, size_t cap, int timeout_ms);

/* Sending: each returns false if the link is broken. */
bool sim_send_raw(struct sim *sim, const void *pkt, size_t len, int fd);
/** The same on any socket @sock: one packet with @fd (not taken; -1: none). */
bool sim_sendmsg(int sock, const void *pkt, size_t len, int fd);
bool sim_send_hello(struct sim *sim, const char *vm, uint32_t flags);
bool sim_send_attach(struct sim *sim, uint32_t resource_id, uint32_t kind, uint64_t size, int fd);
bool sim_send_detach(struct sim *sim, uint32_t resource_id);
bool sim_send_unref(struct sim *sim, uint32_t resource_id);
bool sim_send_submit(struct sim *sim, const void *cmds, uint32_t len);
/** Sends a FENCE and returns its id. */
uint64_t sim_send_fence(struct sim *sim, uint32_t ring_idx);
/** Sends CREATE_BLOB and returns its serial. */
uint32_t sim_send_create_blob(struct sim *sim, uint32_t resource_id, uint64_t blob_id,
			      uint64_t size);
bool sim_send_shutdown(struct sim *sim);

/**
 * Reads and handles one message if one arrives within @timeout_ms.
 * Returns 1 if a message was handled, 0 on timeout, -1 if the link closed.
 */
int sim_handle_message(struct sim *sim, int timeout_ms);

/* Synchronous helpers. Each waits up to @timeout_ms (dispatching extra_fd). */

/** Waits until @cond(sim, data) is true. */
bool sim_wait(struct sim *sim, bool (*cond)(struct sim *, void *), void *data, int timeout_ms);
bool sim_wait_fence(struct sim *sim, uint64_t fence_id, int timeout_ms);
/** Waits for an ERROR (and the link closing). */
bool sim_wait_error(struct sim *sim, int timeout_ms);

/** HELLO + HELLO_REPLY. */
bool sim_hello(struct sim *sim, const char *vm);
/** HELLO with the guest debug name @ctx_name (any bytes, NUL-terminated,
 * at most 63) + HELLO_REPLY. */
bool sim_hello_named(struct sim *sim, const char *vm, const char *ctx_name);
/**
 * ATTACHes the rings (one shared ring for the 16-byte form) and SUBMITs INIT
 * in @init_size bytes, then a ring-0 fence to be sure it was handled.
 */
bool sim_init(struct sim *sim, uint32_t init_size, int timeout_ms);
/** GET_IMAGE_REQUIREMENTS + ring-0 fence; reads the reply from the query ring. */
bool sim_image_requirements(struct sim *sim, uint32_t width, uint32_t height, uint32_t format,
			    struct cross_domain_image_requirements *req, int timeout_ms);
/**
 * CREATE_BLOB for @blob_id into a new resource id, then ATTACH kind 3 as a
 * guest kernel would when the GEM handle is created, and DETACH right after
 * (the guest closes the handle once exported). Returns the blob fd (caller
 * owns) or -1; *resource_id receives the id.
 */
int sim_create_blob(struct sim *sim, uint64_t blob_id, uint64_t size, uint32_t *resource_id,
		    struct crossway_backend_blob_reply *reply, int timeout_ms);

/**
 * Sends Wayland bytes with identifiers as the guest proxy would: blob
 * identifiers are re-ATTACHed before the SUBMIT and DETACHed after it (the
 * GEM handle pattern). Types: CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB or _READ_PIPE.
 */
bool sim_send_wayland(struct sim *sim, const void *data, uint32_t len, const uint32_t *ids,
		      const uint32_t *types, uint32_t count);
/** The next guest read-pipe id (0x80000001, ...), consumed. */
uint32_t sim_next_read_pipe(struct sim *sim);
bool sim_send_write(struct sim *sim, uint32_t identifier, const void *data, uint32_t len,
		    bool hang_up);

/**
 * Issues a poll (SUBMIT POLL + channel fence) and waits for its record,
 * decoding it into @rec (pointers into sim->channel.mem, valid until the next
 * poll). Returns false on timeout or a bad record.
 */
bool sim_poll_record(struct sim *sim, struct cross_domain_record *rec, int timeout_ms);

/** Takes the fd of the BLOB_REPLY with @serial (caller owns), -1 if none. */
int sim_take_blob_reply(struct sim *sim, uint32_t serial,
			struct crossway_backend_blob_reply *reply);

#endif
