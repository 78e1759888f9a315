/*
 * The Wayland pipeline core, shared by every front end (the cross-domain
 * ring and the Wayland socket): the guest's byte stream and fds come in, are
 * reassembled into messages, validated against the protocol tables and the
 * object maps, translated to the compositor's ids, judged by policy and
 * queued to the compositor with their fds; the compositor's messages take the
 * way back into `guest_out`, from where the front end delivers them (ring
 * records or a socket).
 *
 *   guest bytes + fds --> forward_guest_fd/_bytes --> compositor.out
 *   compositor.in --> forward_host_input --> guest_out (+ guest_out_fds)
 *
 * A message that fails validation is never forwarded: the function returns
 * false with a reason naming object, interface and message, and the caller
 * ends the context.
 */
#ifndef CROSSWAY_DAEMON_FORWARD_H
#define CROSSWAY_DAEMON_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/policy.h"
#include "daemon/queue.h"
#include "wire/objects.h"
#include "wire/wire_error.h"

struct compositor;

struct forward_limits {
	uint32_t max_message; // Wayland message size cap, both directions
	uint32_t max_objects; // live objects on the connection
	size_t guest_fds;     // fds queued from the guest, not yet used by a message
	size_t guest_out;     // bytes queued towards the guest (soft; the caller pauses)
	size_t guest_out_fds; // fds queued towards the guest
};

struct forward {
	struct objects *objs; // owned
	struct policy policy;
	struct compositor *comp;       // borrowed
	struct byte_queue guest_in;    // a partial guest message, reassembled
	struct fd_queue guest_in_fds;  // guest fds waiting for their message (owned)
	struct byte_queue guest_out;   // whole validated messages for the guest
	struct fd_queue guest_out_fds; // host fds for the guest; pos = message start
	uint32_t max_message;
	bool trace;            // print every message (WAYLAND_DEBUG style)
	uint64_t requests;     // forwarded to the compositor
	uint64_t events;       // queued to the guest
	uint64_t dropped;      // valid but not forwarded
	uint64_t fds_rejected; // compositor messages dropped for a forbidden fd
	// The compositor's wl_display.error, if it sent one, as text that is
	// safe to log and to hand to the backend ("" if none).
	char protocol_error[320];
	size_t carried_fds;       // guest fds left over at the end of the last unit
	uint64_t fds_used;        // guest fds consumed by messages, in total
	uint64_t fds_used_at_end; // fds_used at the end of the last unit
	uint64_t unsealed_pools;  // shm pools whose fd could not be sealed
};

/**
 * Sets up the pipeline for one connection. @comp and @config are borrowed
 * and must outlive it. Returns false on allocation failure.
 */
bool forward_init(struct forward *fw, struct compositor *comp, const struct policy_config *config,
		  const struct forward_limits *limits);
/** Frees everything, closing queued fds. Tolerates a zeroed struct. */
void forward_finish(struct forward *fw);

/**
 * Queues an fd from the guest (taken, even on failure): the next message
 * that has fd arguments uses the queued fds in order.
 */
bool forward_guest_fd(struct forward *fw, int fd, struct wire_error *err);

/**
 * Feeds guest bytes: whole messages are validated and queued to the
 * compositor, a trailing partial message is kept for the next call.
 */
bool forward_guest_bytes(struct forward *fw, const uint8_t *data, size_t len,
			 struct wire_error *err);

/**
 * Ends one unit of guest input (a SEND, a socket read). fds may arrive one
 * unit before the message that uses them (a stream cut at a message
 * boundary, while the sender attached the fds to the start of its batch), so
 * leftover fds may wait one unit; fds still unused after that were sent with
 * no message to use them, which is an error.
 */
bool forward_guest_end(struct forward *fw, struct wire_error *err);

/** Processes every whole message in the compositor's in queue. */
bool forward_host_input(struct forward *fw, struct wire_error *err);

/** Bytes of a partial message at the head of guest_out already delivered. */
static inline size_t forward_guest_out_len(const struct forward *fw) {
	return fw->guest_out.len;
}

#endif
