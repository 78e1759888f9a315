/*
 * Wayland socket I/O on byte and fd queues, shared by the compositor
 * connection and the Wayland-socket front end: receive bytes with their
 * SCM_RIGHTS fds, and send queued bytes with the fds of the messages they
 * carry (at most 28 per sendmsg, never after the bytes that use them).
 */
#ifndef CROSSWAY_DAEMON_SOCK_H
#define CROSSWAY_DAEMON_SOCK_H

#include <stddef.h>
#include <sys/types.h>

#include "daemon/queue.h"

enum sock_result {
	SOCK_DONE = 0, // everything sent / something received
	SOCK_AGAIN,    // would block
	SOCK_EOF,      // the peer closed
	SOCK_ERROR,    // errno set, or a reason in the text
};

/* fds one sock_recv can bring (libwayland sends at most 28 per sendmsg;
 * other peers may send more, up to this many, in one). */
#define SOCK_RECV_FDS_MAX 64

/**
 * Reads up to @chunk bytes into @in and the fds that came with them into
 * @fds (taken by the queue). Truncated control data (fds lost to a full fd
 * table) and a full fd queue are errors: carrying on would give later
 * messages the wrong fds. @why gets a reason on SOCK_ERROR.
 */
enum sock_result sock_recv(int fd, struct byte_queue *in, struct fd_queue *fds, size_t chunk,
			   size_t *received, const char **why);

/** Sends what @out holds with the fds in @fds (positions in @out's stream). */
enum sock_result sock_send(int fd, struct byte_queue *out, struct fd_queue *fds, size_t *sent);

#endif
