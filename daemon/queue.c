#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/fd.h"
#include "daemon/queue.h"

void byte_queue_init(struct byte_queue *q, size_t max) {
	*q = (struct byte_queue){.max = max};
}

void byte_queue_finish(struct byte_queue *q) {
	free(q->data);
	*q = (struct byte_queue){0};
}

uint8_t *byte_queue_reserve(struct byte_queue *q, size_t n) {
	if (n > q->max - q->len) {
		errno = ENOBUFS;
		return NULL;
	}
	// (An empty, never-used queue has no buffer yet: allocate one below.)
	if (q->data != NULL && q->head + q->len + n <= q->cap) {
		return q->data + q->head + q->len;
	}
	// Compact first: cheaper than growing, and keeps memory bounded.
	if (q->head > 0) {
		memmove(q->data, q->data + q->head, q->len);
		q->head = 0;
		if (q->len + n <= q->cap) {
			return q->data + q->len;
		}
	}
	size_t cap = q->cap ? q->cap : 4096;
	while (cap < q->len + n) {
		cap *= 2;
	}
	if (cap > q->max && q->max >= q->len + n) {
		cap = q->max;
	}
	uint8_t *p = realloc(q->data, cap);
	if (p == NULL) {
		errno = ENOMEM; // byte_queue_why() tells the two failures apart
		return NULL;
	}
	q->data = p;
	q->cap = cap;
	return q->data + q->len;
}

void byte_queue_commit(struct byte_queue *q, size_t n) {
	q->len += n;
}

bool byte_queue_append(struct byte_queue *q, const void *p, size_t n) {
	uint8_t *dst = byte_queue_reserve(q, n);
	if (dst == NULL) {
		return false;
	}
	memcpy(dst, p, n);
	byte_queue_commit(q, n);
	return true;
}

void byte_queue_consume(struct byte_queue *q, size_t n) {
	q->head += n;
	q->len -= n;
	q->start += n;
	if (q->len == 0) {
		q->head = 0;
	}
}

bool fd_queue_init(struct fd_queue *q, size_t cap) {
	*q = (struct fd_queue){0};
	q->ring = calloc(cap ? cap : 1, sizeof(*q->ring));
	if (q->ring == NULL) {
		return false;
	}
	q->cap = cap ? cap : 1;
	return true;
}

void fd_queue_finish(struct fd_queue *q) {
	while (q->len > 0) {
		fd_queue_drop(q);
	}
	free(q->ring);
	*q = (struct fd_queue){0};
}

bool fd_queue_push(struct fd_queue *q, int fd, uint64_t pos) {
	if (q->len == q->cap) {
		return false;
	}
	q->ring[(q->head + q->len) % q->cap] = (struct fd_queue_entry){.fd = fd, .pos = pos};
	q->len++;
	return true;
}

int fd_queue_pop(struct fd_queue *q) {
	int fd = q->ring[q->head].fd;
	q->head = (q->head + 1) % q->cap;
	q->len--;
	return fd;
}

void fd_queue_drop(struct fd_queue *q) {
	int fd = fd_queue_pop(q);
	fd_close(&fd);
}
