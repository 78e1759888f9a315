/* _GNU_SOURCE: MSG_CMSG_CLOEXEC. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <wayland-server-core.h>

#include "daemon/backend.h"
#include "daemon/fd.h"
#include "daemon/log.h"
#include "wire/limits.h"

#define BACKEND_OUT_FDS (2 * BACKEND_OUT_FDS_PAUSE)

/* Whether requests are read and handled now. */
static bool reading(const struct backend *b) {
	return !b->paused && !b->rejected && !b->closed && !backend_output_full(b);
}

static void resume_idle(void *data);

/* Reading goes on again: packets read before it stopped must not wait for
 * new ones (the socket may stay quiet), so an idle callback handles them. */
static void schedule_waiting(struct backend *b) {
	if (reading(b) && b->batch_next < b->batch_count && b->idle == NULL && b->loop != NULL) {
		b->idle = wl_event_loop_add_idle(b->loop, resume_idle, b);
	}
}

/* Sets the loop's event mask; whenever reading resumes (the owner's pause,
 * or our full output queue, ends), the waiting packets are scheduled. */
static void update_mask(struct backend *b) {
	if (b->source == NULL) {
		return;
	}
	uint32_t mask = 0;
	if (reading(b)) {
		mask |= WL_EVENT_READABLE;
	}
	if (b->want_write && !b->closed) {
		mask |= WL_EVENT_WRITABLE;
	}
	bool resumed = (mask & WL_EVENT_READABLE) && !(b->mask & WL_EVENT_READABLE);
	if (mask != b->mask) { // an epoll_ctl per change, not per call
		b->mask = mask;
		wl_event_source_fd_update(b->source, mask);
	}
	if (resumed) {
		schedule_waiting(b);
	}
}

/* The backend closed its end with our messages still unread in it: the
 * kernel says ECONNRESET (or EPIPE). Closing is always allowed
 * (crossway-backend(7)), so this is a clean end, not a link error. */
static bool peer_closed(int err) {
	return err == ECONNRESET || err == EPIPE;
}

static void fail(struct backend *b, const char *error) {
	if (b->closed) {
		return;
	}
	b->closed = true;
	// Not just an empty mask: epoll reports a hang-up regardless, and the
	// context may linger (open transfers) with the loop spinning on it.
	if (b->source != NULL) {
		wl_event_source_remove(b->source);
		b->source = NULL;
	}
	if (b->on_closed) {
		b->on_closed(b->data, error, false);
	}
}

/* A malformed message: stop reading, but the socket can still carry ERROR.
 * (Its own flag, not `paused`: the owner may have paused reading already, and
 * a resume must not read on past the bad packet.) */
static void reject(struct backend *b, const char *error) {
	if (b->closed || b->rejected) {
		return;
	}
	b->rejected = true;
	update_mask(b);
	if (b->on_closed) {
		b->on_closed(b->data, error, true);
	}
}

static void close_fds(int *fds, int n) {
	for (int i = 0; i < n; i++) {
		fd_close(&fds[i]);
	}
}

/* Closes the fds of packets read but not handled (the link is ending). */
static void drop_batch(struct backend *b) {
	for (unsigned i = b->batch_next; i < b->batch_count; i++) {
		close_fds(b->batch[i].fds, b->batch[i].nfds);
	}
	b->batch_next = b->batch_count = 0;
}

/* Decodes and dispatches packet @i of the batch; takes its fds. Returns
 * false when nothing more should be handled now. */
static bool handle_packet(struct backend *b, unsigned i) {
	struct backend_packet *pk = &b->batch[i];
	if (pk->len == 0) {
		close_fds(pk->fds, pk->nfds);
		fail(b, NULL);
		return false;
	}
	if (pk->flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_fds(pk->fds, pk->nfds);
		reject(b, pk->flags & MSG_TRUNC
				  ? "backend link: packet larger than the maximum message size"
				  : "backend link: too many fds on one packet (control data "
				    "truncated)");
		return false;
	}
	struct backend_msg msg;
	struct wire_error err;
	if (!backend_link_decode(b->in + (size_t)i * b->in_cap, pk->len, (size_t)pk->nfds,
				 b->max_message, BACKEND_LINK_TO_CROSSWAYD, &msg, &err)) {
		close_fds(pk->fds, pk->nfds);
		char text[WIRE_ERROR_TEXT_MAX + 32];
		snprintf(text, sizeof(text), "backend link: %s", err.text);
		reject(b, text);
		return false;
	}
	b->received++;
	int fd = pk->nfds > 0 ? pk->fds[0] : -1;
	return b->on_message(b->data, &msg, fd) && reading(b);
}

/* Handles the packets of the current batch in order until one says stop.
 * Returns true when the batch is used up. */
static bool handle_batch(struct backend *b) {
	while (b->batch_next < b->batch_count) {
		unsigned i = b->batch_next++;
		if (!handle_packet(b, i)) {
			if (b->closed) {
				drop_batch(b);
			}
			return b->batch_next == b->batch_count;
		}
	}
	return true;
}

/*
 * Reads up to BACKEND_RECV_BATCH packets with one recvmmsg into the batch.
 * Returns how many (0 when the socket is empty or the link failed).
 */
static unsigned read_batch(struct backend *b) {
	struct mmsghdr mm[BACKEND_RECV_BATCH];
	struct iovec iov[BACKEND_RECV_BATCH];
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * BACKEND_MAX_RECV_FDS)];
	} control[BACKEND_RECV_BATCH];
	for (unsigned i = 0; i < BACKEND_RECV_BATCH; i++) {
		iov[i] = (struct iovec){.iov_base = b->in + (size_t)i * b->in_cap,
					.iov_len = b->in_cap};
		mm[i] = (struct mmsghdr){.msg_hdr = {
						 .msg_iov = &iov[i],
						 .msg_iovlen = 1,
						 .msg_control = control[i].buf,
						 .msg_controllen = sizeof(control[i].buf),
					 }};
	}
	int n;
	do {
		n = recvmmsg(b->fd, mm, BACKEND_RECV_BATCH, MSG_CMSG_CLOEXEC | MSG_DONTWAIT, NULL);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN) {
			return 0;
		}
		if (peer_closed(errno)) {
			fail(b, NULL);
			return 0;
		}
		char text[128];
		snprintf(text, sizeof(text), "backend link: recvmmsg: %s", strerror(errno));
		fail(b, text);
		return 0;
	}
	for (int i = 0; i < n; i++) {
		struct backend_packet *pk = &b->batch[i];
		struct msghdr *mh = &mm[i].msg_hdr;
		pk->len = mm[i].msg_len;
		pk->flags = mh->msg_flags;
		pk->nfds = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
			if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
				continue;
			}
			size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t k = 0; k < count; k++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
				if (pk->nfds < BACKEND_MAX_RECV_FDS) {
					pk->fds[pk->nfds++] = fd;
				} else {
					close(fd);
				}
			}
		}
	}
	// A zero-length packet reads as EOF and ends the link there: the
	// packets after it (a backend may send an empty packet and go on) are
	// not handled, but their fds are already ours to close.
	for (int i = 0; i < n; i++) {
		if (b->batch[i].len == 0) {
			for (int k = i + 1; k < n; k++) {
				close_fds(b->batch[k].fds, b->batch[k].nfds);
			}
			n = i + 1;
			break;
		}
	}
	b->batch_next = 0;
	b->batch_count = (unsigned)n;
	return (unsigned)n;
}

/* Packets handled per wake-up at most, so one busy side cannot starve the
 * other; the epoll source is level-triggered, so the rest wakes us again. */
#define BACKEND_MAX_PER_WAKEUP 256

void backend_dispatch(struct backend *b) {
	// Nothing is handled while paused (the owner's queues or ours are at
	// their limits), nor after a malformed packet or the end of the link.
	if (!reading(b)) {
		return;
	}
	// Packets read before a pause come first.
	if (!handle_batch(b)) {
		return;
	}
	// One recvmmsg takes everything queued (up to a batch): packets that
	// arrive together (a POLL and its fence) cost one system call, and a
	// short batch means the socket is empty, with no extra call to learn
	// that it is.
	unsigned handled = 0;
	while (reading(b) && handled < BACKEND_MAX_PER_WAKEUP) {
		unsigned n = read_batch(b);
		if (n == 0 || !handle_batch(b)) {
			return;
		}
		handled += n;
		if (n < BACKEND_RECV_BATCH) {
			return;
		}
	}
}

/* After a resume, packets read before the pause must not wait for new ones. */
static void resume_idle(void *data) {
	struct backend *b = data;
	b->idle = NULL;
	backend_dispatch(b);
}

static int handle_event(int fd, uint32_t mask, void *data) {
	struct backend *b = data;
	if (mask & WL_EVENT_WRITABLE) {
		if (!backend_flush(b)) {
			return 0;
		}
	}
	if (mask & WL_EVENT_READABLE) {
		backend_dispatch(b);
	} else if (mask & (WL_EVENT_HANGUP | WL_EVENT_ERROR)) {
		// Read what is left first: a SHUTDOWN may precede the hang-up.
		backend_dispatch(b);
		fail(b, NULL);
	}
	return 0;
}

bool backend_init(struct backend *b, struct wl_event_loop *loop, int fd, uint32_t max_message,
		  backend_message_func_t on_message, backend_closed_func_t on_closed, void *data) {
	*b = (struct backend){.fd = fd};
	b->max_message = max_message;
	b->in_cap = max_message;
	// Untouched pages of the batch buffer cost no memory.
	b->in = malloc(b->in_cap * BACKEND_RECV_BATCH);
	b->loop = loop;
	b->on_message = on_message;
	b->on_closed = on_closed;
	b->data = data;
	b->out_limit = CROSSWAY_DEFAULT_BACKEND_QUEUE_BYTES;
	byte_queue_init(&b->out, CROSSWAY_DEFAULT_BACKEND_QUEUE_BYTES + 2 * (size_t)max_message);
	if (b->in == NULL || !fd_queue_init(&b->out_fds, BACKEND_OUT_FDS) || !fd_set_nonblock(fd)) {
		goto error;
	}
	b->source = wl_event_loop_add_fd(loop, fd, WL_EVENT_READABLE, handle_event, b);
	if (b->source == NULL) {
		goto error;
	}
	b->mask = WL_EVENT_READABLE;
	return true;
error:
	backend_finish(b);
	return false;
}

void backend_finish(struct backend *b) {
	if (b->source) {
		wl_event_source_remove(b->source);
		b->source = NULL;
	}
	if (b->idle) {
		wl_event_source_remove(b->idle);
		b->idle = NULL;
	}
	drop_batch(b);
	fd_close(&b->fd);
	free(b->in);
	b->in = NULL;
	byte_queue_finish(&b->out);
	if (b->out_fds.ring) {
		fd_queue_finish(&b->out_fds);
	}
}

uint8_t *backend_reserve(struct backend *b, size_t n) {
	if (b->closed) {
		return NULL;
	}
	return byte_queue_reserve(&b->out, n);
}

bool backend_commit(struct backend *b, size_t n, int fd) {
	if (fd >= 0 && !fd_queue_push(&b->out_fds, fd, byte_queue_end(&b->out))) {
		fd_close(&fd);
		return false;
	}
	byte_queue_commit(&b->out, n);
	if (backend_output_full(b) && (b->mask & WL_EVENT_READABLE)) {
		// The backend is not taking our output: stop taking its input.
		cw_log(CW_LOG_DEBUG, "Backend output queue full (%zu bytes, %zu fds), pausing",
		       b->out.len, b->out_fds.len);
		update_mask(b);
	}
	return true;
}

/* Packets handed to the kernel per sendmmsg (a record and its fence, or a
 * burst of them, leave in one system call). */
#define BACKEND_SEND_BATCH 16

bool backend_flush(struct backend *b) {
	while (b->out.len > 0 && !b->closed) {
		struct mmsghdr mm[BACKEND_SEND_BATCH];
		struct iovec iov[BACKEND_SEND_BATCH];
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(sizeof(int))];
		} control[BACKEND_SEND_BATCH];
		bool with_fd[BACKEND_SEND_BATCH];
		uint32_t sizes[BACKEND_SEND_BATCH];
		unsigned count = 0, fds_used = 0;
		size_t at = 0;
		const uint8_t *data = byte_queue_data(&b->out);
		while (count < BACKEND_SEND_BATCH && at < b->out.len) {
			uint32_t size;
			memcpy(&size, data + at + 4, 4);
			uint64_t pos = b->out.start + at;
			with_fd[count] = b->out_fds.len > fds_used &&
					 fd_queue_peek(&b->out_fds, fds_used)->pos == pos;
			iov[count] = (struct iovec){.iov_base = (void *)(data + at),
						    .iov_len = size};
			mm[count] = (struct mmsghdr){
				.msg_hdr = {.msg_iov = &iov[count], .msg_iovlen = 1}};
			if (with_fd[count]) {
				struct msghdr *mh = &mm[count].msg_hdr;
				memset(&control[count], 0, sizeof(control[count]));
				mh->msg_control = control[count].buf;
				mh->msg_controllen = sizeof(control[count].buf);
				struct cmsghdr *c = CMSG_FIRSTHDR(mh);
				c->cmsg_level = SOL_SOCKET;
				c->cmsg_type = SCM_RIGHTS;
				c->cmsg_len = CMSG_LEN(sizeof(int));
				int fd = fd_queue_peek(&b->out_fds, fds_used)->fd;
				memcpy(CMSG_DATA(c), &fd, sizeof(int));
				fds_used++;
			}
			sizes[count++] = size;
			at += size;
		}
		int n;
		do {
			n = sendmmsg(b->fd, mm, count, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN) {
				// (The queue may have fallen below its limit
				// meanwhile: update_mask resumes reading then.)
				b->want_write = true;
				update_mask(b);
				return true;
			}
			if (peer_closed(errno)) {
				fail(b, NULL);
				return false;
			}
			char text[128];
			snprintf(text, sizeof(text), "backend link: sendmmsg: %s", strerror(errno));
			fail(b, text);
			return false;
		}
		// Datagram-like packets: each one went whole or not at all.
		for (int i = 0; i < n; i++) {
			if (with_fd[i]) {
				fd_queue_drop(&b->out_fds);
			}
			byte_queue_consume(&b->out, sizes[i]);
		}
		if ((unsigned)n < count) {
			continue; // the socket filled up mid-batch: EAGAIN next time
		}
	}
	b->want_write = false;
	update_mask(b); // also resumes reading if the queue was full
	return true;
}

void backend_flush_blocking(struct backend *b, int timeout_ms) {
	int waited = 0;
	while (b->out.len > 0 && !b->closed && waited < timeout_ms) {
		if (!backend_flush(b) || b->out.len == 0) {
			break;
		}
		struct pollfd pfd = {.fd = b->fd, .events = POLLOUT};
		poll(&pfd, 1, 50);
		waited += 50;
	}
}

void backend_set_paused(struct backend *b, bool paused) {
	if (b->paused == paused) {
		return;
	}
	b->paused = paused;
	update_mask(b);
}

bool backend_peek_hello(int fd, int timeout_ms, struct crossway_backend_hello *hello) {
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	if (poll(&pfd, 1, timeout_ms) <= 0 || !(pfd.revents & POLLIN)) {
		return false;
	}
	uint8_t buf[sizeof(struct crossway_backend_hello) + 8];
	union {
		struct cmsghdr hdr;
		char b[CMSG_SPACE(sizeof(int) * BACKEND_MAX_RECV_FDS)];
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.b,
		.msg_controllen = sizeof(control.b),
	};
	ssize_t n = recvmsg(fd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	// A peek installs copies of any fds: they are not ours to keep.
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k; i++) {
				int extra;
				memcpy(&extra, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(extra);
			}
		}
	}
	struct backend_msg msg;
	if (n <= 0 || (mh.msg_flags & MSG_TRUNC) ||
	    !backend_link_decode(buf, (size_t)n, 0, CROSSWAY_BACKEND_MAX_MESSAGE_SIZE,
				 BACKEND_LINK_TO_CROSSWAYD, &msg, NULL) ||
	    msg.hdr.type != CROSSWAY_BACKEND_HELLO) {
		return false;
	}
	*hello = msg.hello;
	return true;
}
