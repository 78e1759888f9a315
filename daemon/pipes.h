/*
 * Pipe relays for clipboard and drag-and-drop data.
 *
 * Read pipes (compositor -> guest): a guest names a READ_PIPE identifier in a
 * SEND (ids 0x80000001, 0x80000002 ... in SEND order). crosswayd creates a
 * real pipe, gives the write end to the compositor and reads the read end
 * only when the guest has a poll fence for the data: no buffering, so a guest
 * that stops polling stops crosswayd reading the pipe.
 *
 * Write pipes (guest -> compositor): the compositor sends the write end of a
 * pipe (wl_data_source.send); it becomes a WRITE_PIPE item, and WRITE commands
 * from the guest are written into it, non-blocking, with a bounded buffer for
 * what the reader has not taken yet. hang_up closes it after the buffer
 * drains. A reader that takes nothing for the stall timeout loses the pipe.
 *
 * Every pipe fd is owned by its relay and closed when the relay goes.
 */
#ifndef CROSSWAY_DAEMON_PIPES_H
#define CROSSWAY_DAEMON_PIPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wayland-util.h>

#include "daemon/queue.h"
#include "wire/wire_error.h"

struct wl_event_loop;
struct wl_event_source;

struct pipes;

struct read_pipe {
	struct pipes *owner;
	struct wl_list link; // pipes.reads
	uint32_t id;         // the guest's identifier
	int fd;              // read end, owned
	// NULL once the writer closed: the pipe then stays readable to the EOF
	struct wl_event_source *source;
	bool ready;     // readable (data or EOF); waiting for a poll fence
	uint64_t inode; // of the pipe, to find the relay from its write end
	uint64_t cap;   // bytes this transfer may carry
	uint64_t total; // bytes read so far
};

struct write_pipe {
	struct pipes *owner;
	struct wl_list link; // pipes.writes
	uint32_t item_id;
	int fd; // write end, owned
	struct wl_event_source *source;
	struct wl_event_source *stall_timer;
	struct byte_queue pending;
	bool hang_up;      // close once pending is written
	uint64_t written;  // bytes so far
	uint64_t cap;      // bytes this transfer may carry
	uint64_t accepted; // bytes taken from the guest
	bool stall_armed;  // the stall timer runs (restarted only by progress)
	bool truncated;    // over the cap: said once
};

/** A read pipe became ready: the context may deliver a READ record. */
typedef void (*pipes_ready_func_t)(void *data);
/** A write pipe drained below its limit, or went away: resume the backend. */
typedef void (*pipes_drained_func_t)(void *data);
/** A write pipe went away (its item must be removed by the context). */
typedef void (*pipes_write_closed_func_t)(void *data, uint32_t item_id);

struct pipes {
	struct wl_event_loop *loop;
	struct wl_list reads;  // struct read_pipe.link
	struct wl_list writes; // struct write_pipe.link
	uint32_t count;        // reads + writes
	uint32_t max;
	uint32_t next_read_id; // the id the guest must use next
	size_t buffer_limit;   // bytes buffered per write pipe
	uint64_t default_cap;  // transfer cap until policy names one
	uint32_t stall_ms;
	pipes_ready_func_t on_ready;
	pipes_drained_func_t on_drained;
	pipes_write_closed_func_t on_write_closed;
	void *data;
};

void pipes_init(struct pipes *p, struct wl_event_loop *loop, uint32_t max, size_t buffer_limit,
		uint64_t default_cap, uint32_t stall_ms, pipes_ready_func_t on_ready,
		pipes_drained_func_t on_drained, pipes_write_closed_func_t on_write_closed,
		void *data);
/** Closes every pipe (no callbacks). */
void pipes_finish(struct pipes *p);

/**
 * Creates the relay for a guest READ_PIPE identifier. @id must be the next
 * id in sequence. On success *write_end is a new fd the caller owns (it goes
 * to the compositor).
 */
bool pipes_add_read(struct pipes *p, uint32_t id, int *write_end, struct wire_error *err);

/** A read pipe with data or EOF waiting, round-robin; NULL when none. */
struct read_pipe *pipes_next_ready(struct pipes *p);

/**
 * Reads up to @cap bytes from a ready pipe into @buf. Returns the count and
 * sets *hang_up when the writer closed (the relay is then destroyed), or -1
 * when nothing was there after all (the relay waits for readiness again).
 */
ssize_t pipes_read(struct pipes *p, struct read_pipe *rp, uint8_t *buf, size_t cap, bool *hang_up);

/** Wraps a compositor write end (@fd taken, even on failure). NULL with
 * errno EMFILE at the pipe limit, ENOMEM when memory ran out.
 * @cap: bytes the transfer may carry (0: the default cap). */
struct write_pipe *pipes_add_write(struct pipes *p, uint32_t item_id, int fd, uint64_t cap);

/** Sets the cap of the read relay whose pipe @fd (its other end) belongs to. */
void pipes_set_read_cap(struct pipes *p, int fd, uint64_t cap);

/**
 * Writes guest data into a write pipe, buffering what the reader has not
 * taken. Returns false when the buffer is over its limit: the caller should
 * stop reading guest input until on_drained. A reader that went away just
 * drops the data. @hang_up closes the pipe once the data is out.
 */
bool pipes_write(struct pipes *p, struct write_pipe *wp, const void *data, size_t len,
		 bool hang_up);

/** Whether any write pipe is over its buffer limit. */
bool pipes_blocked(const struct pipes *p);

/** Closes a write pipe now (on_write_closed is called). */
void pipes_close_write(struct pipes *p, struct write_pipe *wp);

/** Closes every read pipe (when nobody can receive their data any more). */
void pipes_close_reads(struct pipes *p);

static inline bool pipes_idle(const struct pipes *p) {
	return p->count == 0;
}

#endif
