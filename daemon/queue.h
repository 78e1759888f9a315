/*
 * Bounded queues for bytes and for fds, used on both sides of the pipeline.
 *
 * A byte_queue is one contiguous buffer (so a whole message can be read or
 * rewritten in place) that grows up to a hard cap. Positions in the stream
 * are counted from the start of the connection (`start` + offset) so fds can
 * be attached to the message they belong to.
 *
 * An fd_queue is a fixed-size ring of owned fds, each tagged with the stream
 * position of the message that uses it. Whatever is queued is closed by
 * fd_queue_finish: queued fds have exactly one owner, the queue.
 */
#ifndef CROSSWAY_DAEMON_QUEUE_H
#define CROSSWAY_DAEMON_QUEUE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct byte_queue {
	uint8_t *data; // owned; data[head, head + len) is queued
	size_t head;
	size_t len;
	size_t cap;
	size_t max;     // hard cap on len
	uint64_t start; // stream position of data[head]
};

/** Initialises an empty queue that may hold up to @max bytes. */
void byte_queue_init(struct byte_queue *q, size_t max);
void byte_queue_finish(struct byte_queue *q);

static inline const uint8_t *byte_queue_data(const struct byte_queue *q) {
	return q->data + q->head;
}

/** Stream position just past the last queued byte. */
static inline uint64_t byte_queue_end(const struct byte_queue *q) {
	return q->start + q->len;
}

/**
 * Returns room for @n more bytes at the tail (valid until the next call that
 * changes the queue), or NULL when the hard cap or memory would be exceeded.
 * Nothing is queued until byte_queue_commit.
 */
uint8_t *byte_queue_reserve(struct byte_queue *q, size_t n);
void byte_queue_commit(struct byte_queue *q, size_t n);

/**
 * Why the byte_queue_reserve or byte_queue_append just made failed: "out of
 * memory" (errno ENOMEM) or "overflow" (the hard cap, errno ENOBUFS). Read it
 * before anything else can change errno.
 */
static inline const char *byte_queue_why(void) {
	return errno == ENOMEM ? "out of memory" : "overflow";
}

/** Copies @n bytes in. Returns false (and queues nothing) when they do not fit. */
bool byte_queue_append(struct byte_queue *q, const void *p, size_t n);

/** Drops @n bytes from the head (n <= len). */
void byte_queue_consume(struct byte_queue *q, size_t n);

struct fd_queue_entry {
	int fd;
	uint64_t pos;  // stream position of the message that uses the fd
	uint64_t meta; // a note from producer to consumer (a transfer cap); 0 by default
};

struct fd_queue {
	struct fd_queue_entry *ring; // owned
	size_t cap;
	size_t head;
	size_t len;
};

bool fd_queue_init(struct fd_queue *q, size_t cap);
/** Closes every queued fd and frees the ring. */
void fd_queue_finish(struct fd_queue *q);

/** Takes ownership of @fd. Returns false when full (the fd is then NOT taken). */
bool fd_queue_push(struct fd_queue *q, int fd, uint64_t pos);

/** The i-th entry from the head (i < len). */
static inline struct fd_queue_entry *fd_queue_peek(struct fd_queue *q, size_t i) {
	return &q->ring[(q->head + i) % q->cap];
}

/** Removes the head entry; the caller owns the returned fd. Requires len > 0. */
int fd_queue_pop(struct fd_queue *q);

/** Closes and removes the head entry. */
void fd_queue_drop(struct fd_queue *q);

#endif
