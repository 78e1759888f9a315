/*
 * daemon/backend: the link's reading side on a socketpair, driven by hand:
 * packets after an empty one (the link's EOF) give back their fds, nothing
 * is handled while the owner has paused reading, and crosswayd stops
 * reading requests while the backend leaves replies with fds unread.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "daemon/backend.h"
#include "tests/common/sim.h"
#include "tests/harness/test.h"
#include "wire/backend_link.h"

struct link {
	struct wl_event_loop *loop;
	struct backend b;
	int peer; // the backend's end
	unsigned messages;
	uint16_t types[16];
	bool pause_on_first;
	bool closed;
	bool can_send;
	char error[256];
};

static bool on_message(void *data, const struct backend_msg *msg, int fd) {
	struct link *l = data;
	if (fd >= 0) {
		close(fd);
	}
	if (l->messages < 16) {
		l->types[l->messages] = msg->hdr.type;
	}
	l->messages++;
	if (l->pause_on_first && l->messages == 1) {
		backend_set_paused(&l->b, true);
	}
	return true;
}

static void on_closed(void *data, const char *error, bool can_send) {
	struct link *l = data;
	l->closed = true;
	l->can_send = can_send;
	snprintf(l->error, sizeof(l->error), "%s", error ? error : "");
}

static void link_open(struct link *l) {
	*l = (struct link){0};
	int sv[2];
	test_assert(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	l->loop = wl_event_loop_create();
	test_assert(l->loop != NULL);
	test_assert(backend_init(&l->b, l->loop, sv[0], CROSSWAY_BACKEND_MAX_MESSAGE_SIZE,
				 on_message, on_closed, l));
	l->peer = sv[1];
}

static void link_close(struct link *l) {
	backend_finish(&l->b);
	wl_event_loop_destroy(l->loop);
	if (l->peer >= 0) {
		close(l->peer);
	}
}

static void send_packet(int sock, const void *bytes, size_t len, int fd) {
	test_assert(sim_sendmsg(sock, bytes, len, fd));
}

/* Queues @n BLOB_REPLYs, each with a fresh memfd (taken by the queue). */
static void queue_fd_replies(struct backend *b, int n) {
	for (int i = 0; i < n; i++) {
		struct crossway_backend_blob_reply reply = {0};
		size_t cap = sizeof(reply);
		uint8_t *out = backend_reserve(b, cap);
		test_assert(out != NULL);
		int fd = memfd_create("blob", MFD_CLOEXEC);
		test_assert(fd >= 0);
		test_assert(backend_commit(
			b, backend_link_encode_blob_reply(out, cap, (uint32_t)i + 1, &reply), fd));
	}
}

/* Reads what crosswayd sent until none is left, closing the fds that came
 * with it; returns the packets and adds the fds to *fds. */
static int drain_peer(int peer, int *fds) {
	int n = 0;
	for (;;) {
		uint8_t buf[256];
		union {
			struct cmsghdr hdr;
			char b[CMSG_SPACE(sizeof(int))];
		} control;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control.b,
				    .msg_controllen = sizeof(control.b)};
		if (recvmsg(peer, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0) {
			return n;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				int fd;
				memcpy(&fd, CMSG_DATA(c), sizeof(int));
				close(fd);
				(*fds)++;
			}
		}
		n++;
	}
}

static void send_fence(struct link *l, uint64_t fence_id, int fd) {
	uint8_t buf[64];
	size_t n = backend_link_encode_fence(buf, sizeof(buf), 1, fence_id,
					     CROSSWAY_BACKEND_RING_CHANNEL);
	test_assert(n > 0);
	send_packet(l->peer, buf, n, fd);
}

/* A FENCE whose type field is unknown: malformed. */
static void send_malformed(struct link *l) {
	uint8_t buf[64];
	size_t n = backend_link_encode_fence(buf, sizeof(buf), 1, 9, CROSSWAY_BACKEND_RING_CHANNEL);
	uint16_t type = 0x7777;
	memcpy(buf, &type, sizeof(type));
	send_packet(l->peer, buf, n, -1);
}

static void run_loop(struct link *l) {
	for (int i = 0; i < 4; i++) {
		wl_event_loop_dispatch(l->loop, 0);
	}
}

/*
 * An empty packet reads as the end of the link. Packets after it in the
 * same read are not handled, but their fds were already received: they
 * must be closed (they stayed open until the process exited).
 */
TEST(packets_after_an_empty_one_give_back_their_fds) {
	int before = test_count_fds();
	struct link l;
	link_open(&l);
	send_fence(&l, 1, -1);
	send_packet(l.peer, "", 0, -1);
	int memfd = memfd_create("extra", MFD_CLOEXEC);
	test_assert(memfd >= 0);
	send_fence(&l, 2, memfd); // carries a copy of memfd
	close(memfd);
	backend_dispatch(&l.b);
	test_assert_int_eq(l.messages, 1);
	test_assert(l.closed);
	test_assert_str_eq(l.error, "");
	link_close(&l);
	test_assert_int_eq(test_count_fds(), before);
}

/*
 * Once the owner pauses reading (its queues are full), nothing more is
 * handled, even when the loop still reports the socket readable from
 * before the pause; a malformed packet waiting in the batch is refused once
 * reading resumes, and nothing after it is handled. (It was handled while
 * paused, and its refusal ignored, so it was skipped in silence.)
 */
TEST(nothing_is_handled_while_paused_and_a_bad_packet_still_ends_the_link) {
	struct link l;
	link_open(&l);
	l.pause_on_first = true;
	send_fence(&l, 1, -1);
	send_malformed(&l);
	send_fence(&l, 3, -1);
	backend_dispatch(&l.b);
	test_assert_int_eq(l.messages, 1);
	backend_dispatch(&l.b); // a READABLE event from before the pause
	test_assert_int_eq(l.messages, 1);
	test_assert(!l.closed);
	backend_set_paused(&l.b, false);
	run_loop(&l);
	test_assert(l.closed);
	test_assert(l.can_send);
	test_assert_str_contains(l.error, "backend link");
	test_assert_int_eq(l.messages, 1);
	link_close(&l);
}

/*
 * BLOB_REPLYs carry fds. A backend that sends CREATE_BLOBs without reading
 * the replies would fill crosswayd's fd queue (the reply then dropped, the
 * backend waiting for it forever): reading stops at BACKEND_OUT_FDS_PAUSE
 * queued fds and resumes by itself once they are sent.
 */
TEST(unread_replies_with_fds_stop_reading_until_sent) {
	struct link l;
	link_open(&l);
	queue_fd_replies(&l.b, BACKEND_OUT_FDS_PAUSE);
	test_assert(backend_output_full(&l.b));
	send_fence(&l, 1, -1);
	run_loop(&l);
	test_assert_int_eq(l.messages, 0);
	test_assert(backend_flush(&l.b));
	test_assert(!backend_output_full(&l.b));
	run_loop(&l);
	test_assert_int_eq(l.messages, 1);
	test_assert_int_eq(l.types[0], CROSSWAY_BACKEND_FENCE);
	// The replies arrived, each with its fd.
	int fds = 0;
	test_assert_int_eq(drain_peer(l.peer, &fds), BACKEND_OUT_FDS_PAUSE);
	test_assert_int_eq(fds, BACKEND_OUT_FDS_PAUSE);
	link_close(&l);
}

/*
 * The same, when the queue drains over several flushes (the socket fills:
 * EAGAIN) and reading stopped inside a batch: the packet waiting in the
 * batch is handled once the queue is below its limit, without the backend
 * sending anything new. (Resuming was only tied to the flush that emptied a
 * full queue; a flush ending in EAGAIN resumed nothing.)
 */
static bool fill_on_first(void *data, const struct backend_msg *msg, int fd) {
	struct link *l = data;
	bool ok = on_message(data, msg, fd);
	if (l->messages == 1) {
		queue_fd_replies(&l->b, BACKEND_OUT_FDS_PAUSE);
	}
	return ok;
}

TEST(a_batch_waiting_on_a_full_queue_resumes_after_partial_flushes) {
	struct link l;
	link_open(&l);
	l.b.on_message = fill_on_first;
	// A small send buffer: a few replies per flush, then EAGAIN.
	int small = 1;
	test_assert(setsockopt(l.b.fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
	send_fence(&l, 1, -1);
	send_fence(&l, 2, -1);
	backend_dispatch(&l.b);
	test_assert_int_eq(l.messages, 1); // reading stopped inside the batch
	int got = 0, fds = 0, flushes = 0;
	while (got < BACKEND_OUT_FDS_PAUSE && flushes < 1000) {
		test_assert(backend_flush(&l.b));
		flushes++;
		got += drain_peer(l.peer, &fds);
		run_loop(&l);
	}
	test_assert_int_eq(got, BACKEND_OUT_FDS_PAUSE);
	test_assert_int_eq(fds, BACKEND_OUT_FDS_PAUSE);
	test_note("%d flushes for %d replies", flushes, got);
	test_assert_msg(flushes > 1, "the socket never filled (the test needs EAGAIN)");
	run_loop(&l);
	test_assert_int_eq(l.messages, 2);
	test_assert_int_eq(l.types[1], CROSSWAY_BACKEND_FENCE);
	link_close(&l);
}
