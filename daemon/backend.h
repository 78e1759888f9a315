/*
 * I/O on the backend link: one SOCK_SEQPACKET socket to the VMM's GPU
 * backend. Receives packets (with at most a few SCM_RIGHTS fds), validates
 * their framing with wire/backend_link, and hands each message to a handler
 * in order. Sends replies and events through a bounded output queue, one
 * packet per sendmsg, each with the fd it carries.
 *
 * The link never interprets messages; the context does (daemon/context.c).
 */
#ifndef CROSSWAY_DAEMON_BACKEND_H
#define CROSSWAY_DAEMON_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/queue.h"
#include "wire/backend_link.h"

struct wl_event_loop;
struct wl_event_source;
struct backend;

/**
 * Called for each valid message, in order. @fd is the message's fd (ownership
 * passes to the handler) or -1. Return false to stop reading (the handler
 * decided to end the context or pause).
 */
typedef bool (*backend_message_func_t)(void *data, const struct backend_msg *msg, int fd);
/**
 * Called once when the link fails: EOF (@error NULL), an I/O error, or a
 * malformed message. @can_send says whether an ERROR can still be sent
 * (true only for malformed messages: the socket itself still works).
 */
typedef void (*backend_closed_func_t)(void *data, const char *error, bool can_send);

/* Packets one recvmmsg takes; fds a packet may bring (one is valid; the
 * rest are read to be refused). */
#define BACKEND_RECV_BATCH 4
#define BACKEND_MAX_RECV_FDS 8

struct backend {
	int fd; // owned
	struct wl_event_source *source;
	uint8_t *in; // receive buffers, BACKEND_RECV_BATCH of in_cap bytes, owned
	size_t in_cap;
	uint32_t max_message;
	struct byte_queue out;   // queued packets, back to back
	struct fd_queue out_fds; // pos = stream position of the carrying packet
	size_t out_limit;        // pause reading above this many queued bytes
	bool paused;             // reading suspended by the owner
	bool rejected;           // a malformed packet: nothing more is read, ERROR may be sent
	bool closed;             // EOF or error seen; nothing more is read or sent
	bool want_write;
	uint32_t mask; // the event mask last given to the loop
	backend_message_func_t on_message;
	backend_closed_func_t on_closed;
	void *data;
	uint64_t received; // messages handled (for tests and logs)
	// Packets of the last recvmmsg, handled in order; those after a pause
	// wait here (with their fds) until the resume.
	struct backend_packet {
		size_t len;
		int flags; // msg_flags: MSG_TRUNC, MSG_CTRUNC
		int fds[BACKEND_MAX_RECV_FDS];
		int nfds;
	} batch[BACKEND_RECV_BATCH];
	unsigned batch_next, batch_count;
	struct wl_event_loop *loop;
	struct wl_event_source *idle; // handles the waiting packets after a resume
};

/**
 * Sets up the link on @fd (takes ownership) and registers it with @loop.
 * Returns false on failure (the fd is closed).
 */
bool backend_init(struct backend *b, struct wl_event_loop *loop, int fd, uint32_t max_message,
		  backend_message_func_t on_message, backend_closed_func_t on_closed, void *data);
/** Unregisters and closes everything, dropping queued output. */
void backend_finish(struct backend *b);

/**
 * Returns room for a packet of @n bytes at the end of the output queue, or
 * NULL when the queue is full (the context should end: the backend is not
 * reading). Encode into it, then call backend_commit.
 */
uint8_t *backend_reserve(struct backend *b, size_t n);
/** Queues the packet encoded into the reserved room, with @fd (taken; -1 for none). */
bool backend_commit(struct backend *b, size_t n, int fd);

/** Sends queued packets until done or the socket is full. False on a fatal error. */
bool backend_flush(struct backend *b);

/** Blocking flush with a deadline (used once, just before exiting). */
void backend_flush_blocking(struct backend *b, int timeout_ms);

/** Stops or resumes reading requests (backpressure). */
void backend_set_paused(struct backend *b, bool paused);

/**
 * Handles packets read before a pause, then reads and dispatches what is
 * pending, a recvmmsg batch at a time, up to 256. Whatever is left wakes the
 * loop again.
 */
void backend_dispatch(struct backend *b);

/**
 * Waits up to @timeout_ms for the first message on a fresh link and, if it
 * is a valid HELLO, copies it into @hello without consuming it (MSG_PEEK):
 * whoever serves the link still reads it first. Used to pick the VM's policy
 * before the compositor connection is made.
 */
bool backend_peek_hello(int fd, int timeout_ms, struct crossway_backend_hello *hello);

/* Blob replies (each with an fd) the backend may leave unread before
 * crosswayd stops reading its requests; twice this many fit in the queue. */
#define BACKEND_OUT_FDS_PAUSE 32

/*
 * True when the backend is not taking crosswayd's output fast enough: more
 * than out_limit bytes, or BACKEND_OUT_FDS_PAUSE fds, wait to be sent.
 * Reading its requests (which make more output) stops until the queue
 * drains, so the queue stays bounded; the backend does that itself.
 */
static inline bool backend_output_full(const struct backend *b) {
	return b->out.len > b->out_limit || b->out_fds.len >= BACKEND_OUT_FDS_PAUSE;
}

#endif
