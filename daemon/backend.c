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

/* A request carries at most one fd; leave room to see (and reject) more. */
#define BACKEND_MAX_RECV_FDS 8
#define BACKEND_OUT_FDS 64

static void update_mask(struct backend *b) {
	if (b->source == NULL) {
		return;
	}
	uint32_t mask = 0;
	if (!b->paused && !b->closed) {
		mask |= WL_EVENT_READABLE;
	}
	if (b->want_write && !b->closed) {
		mask |= WL_EVENT_WRITABLE;
	}
	wl_event_source_fd_update(b->source, mask);
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
	update_mask(b);
	if (b->on_closed) {
		b->on_closed(b->data, error, false);
	}
}

/* A malformed message: stop reading, but the socket can still carry ERROR. */
static void reject(struct backend *b, const char *error) {
	if (b->closed || b->paused) {
		return;
	}
	b->paused = true;
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

/* Reads and dispatches one packet. Returns false when nothing more should
 * be read now; *empty says the socket had nothing to read. */
static bool read_one(struct backend *b, bool *empty) {
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * BACKEND_MAX_RECV_FDS)];
	} control;
	struct iovec iov = {.iov_base = b->in, .iov_len = b->in_cap};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	ssize_t n;
	do {
		n = recvmsg(b->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno == EAGAIN) {
			*empty = true;
			return false;
		}
		if (peer_closed(errno)) {
			fail(b, NULL);
			return false;
		}
		char text[128];
		snprintf(text, sizeof(text), "backend link: recvmsg: %s", strerror(errno));
		fail(b, text);
		return false;
	}
	int fds[BACKEND_MAX_RECV_FDS];
	int nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			continue;
		}
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (nfds < BACKEND_MAX_RECV_FDS) {
				fds[nfds++] = fd;
			} else {
				close(fd);
			}
		}
	}
	if (n == 0) {
		close_fds(fds, nfds);
		fail(b, NULL);
		return false;
	}
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		close_fds(fds, nfds);
		reject(b, mh.msg_flags & MSG_TRUNC
				  ? "backend link: packet larger than the maximum message size"
				  : "backend link: too many fds on one packet (control data "
				    "truncated)");
		return false;
	}
	struct backend_msg msg;
	struct wire_error err;
	if (!backend_link_decode(b->in, (size_t)n, (size_t)nfds, b->max_message,
				 BACKEND_LINK_TO_CROSSWAYD, &msg, &err)) {
		close_fds(fds, nfds);
		char text[WIRE_ERROR_TEXT_MAX + 32];
		snprintf(text, sizeof(text), "backend link: %s", err.text);
		reject(b, text);
		return false;
	}
	b->received++;
	int fd = nfds > 0 ? fds[0] : -1;
	return b->on_message(b->data, &msg, fd) && !b->paused && !b->closed;
}

/* Wake-ups read one packet at a time before the next full drain. */
#define BACKEND_SINGLE_WAKEUPS 16

/* Reads up to @max packets, stopping early at EAGAIN. Returns how many were
 * handled and whether the socket was seen empty. */
static int read_some(struct backend *b, int max, bool *empty) {
	int n = 0;
	*empty = false;
	while (n < max && !b->paused && !b->closed) {
		if (!read_one(b, empty)) {
			break;
		}
		n++;
	}
	return n;
}

void backend_dispatch(struct backend *b) {
	// Bounded per wake-up so one busy side cannot starve the other. The
	// epoll source is level-triggered: whatever is left wakes us again.
	// A guest that sends one packet at a time (a SEND, then a POLL) would
	// cost a recvmsg that finds nothing after every packet, so after a
	// wake-up that found exactly one packet the next ones read a single
	// packet and return; a full drain now and then (or a burst) switches
	// back to reading until EAGAIN.
	bool empty;
	if (b->single && b->singles < BACKEND_SINGLE_WAKEUPS) {
		b->singles++;
		read_some(b, 1, &empty);
		return;
	}
	int n = read_some(b, 256, &empty);
	b->single = empty && n == 1;
	b->singles = 0;
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
		bool empty;
		read_some(b, 256, &empty);
		fail(b, NULL);
	}
	return 0;
}

bool backend_init(struct backend *b, struct wl_event_loop *loop, int fd, uint32_t max_message,
		  backend_message_func_t on_message, backend_closed_func_t on_closed, void *data) {
	*b = (struct backend){.fd = fd};
	b->max_message = max_message;
	b->in_cap = max_message;
	b->in = malloc(b->in_cap);
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
	if (b->out.len > b->out_limit && !b->paused) {
		// The backend is not taking our output: stop taking its input.
		cw_log(CW_LOG_DEBUG, "Backend output queue full (%zu bytes), pausing", b->out.len);
	}
	return true;
}

bool backend_flush(struct backend *b) {
	while (b->out.len > 0 && !b->closed) {
		const uint8_t *pkt = byte_queue_data(&b->out);
		uint32_t size;
		memcpy(&size, pkt + 4, 4);
		bool with_fd = b->out_fds.len > 0 &&
			       fd_queue_peek(&b->out_fds, 0)->pos == b->out.start;
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(sizeof(int))];
		} control;
		struct iovec iov = {.iov_base = (void *)pkt, .iov_len = size};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		if (with_fd) {
			memset(&control, 0, sizeof(control));
			mh.msg_control = control.buf;
			mh.msg_controllen = sizeof(control.buf);
			struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			int fd = fd_queue_peek(&b->out_fds, 0)->fd;
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}
		ssize_t n;
		do {
			n = sendmsg(b->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
		if (n < 0) {
			if (errno == EAGAIN) {
				if (!b->want_write) {
					b->want_write = true;
					update_mask(b);
				}
				return true;
			}
			if (peer_closed(errno)) {
				fail(b, NULL);
				return false;
			}
			char text[128];
			snprintf(text, sizeof(text), "backend link: sendmsg: %s", strerror(errno));
			fail(b, text);
			return false;
		}
		if (with_fd) {
			fd_queue_drop(&b->out_fds);
		}
		byte_queue_consume(&b->out, size);
	}
	if (b->want_write) {
		b->want_write = false;
		update_mask(b);
	}
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
