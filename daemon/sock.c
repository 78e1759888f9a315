/* _GNU_SOURCE: MSG_CMSG_CLOEXEC. */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon/fd.h"
#include "daemon/sock.h"
#include "wire/limits.h"

enum sock_result sock_recv(int fd, struct byte_queue *in, struct fd_queue *fds, size_t chunk,
			   size_t *received, const char **why) {
	*received = 0;
	*why = NULL;
	uint8_t *dst = byte_queue_reserve(in, chunk);
	if (dst == NULL) {
		*why = errno == ENOMEM ? "out of memory" : "input queue full";
		return SOCK_ERROR;
	}
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * SOCK_RECV_FDS_MAX)];
	} control;
	struct iovec iov = {.iov_base = dst, .iov_len = chunk};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	ssize_t n;
	do {
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN) {
		return SOCK_AGAIN;
	}
	bool overflow = false;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
			continue;
		}
		size_t count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int received_fd;
			memcpy(&received_fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (!fd_queue_push(fds, received_fd, 0)) {
				fd_close(&received_fd);
				overflow = true;
			}
		}
	}
	if (n < 0) {
		return SOCK_ERROR;
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		*why = "fds were lost in transit (control data truncated: fd limit reached?)";
		return SOCK_ERROR;
	}
	if (overflow) {
		*why = "more fds queued than the limit";
		return SOCK_ERROR;
	}
	if (n == 0) {
		return SOCK_EOF;
	}
	byte_queue_commit(in, (size_t)n);
	*received = (size_t)n;
	return SOCK_DONE;
}

enum sock_result sock_send(int fd, struct byte_queue *out, struct fd_queue *fds, size_t *sent) {
	*sent = 0;
	while (out->len > 0) {
		// Send the fds at the head (at most 28) with every byte up to the
		// message that needs the next fd, so no fd lags its message.
		size_t nfds = 0;
		uint64_t end = byte_queue_end(out);
		while (nfds < fds->len) {
			struct fd_queue_entry *e = fd_queue_peek(fds, nfds);
			if (nfds == WAYLAND_MAX_FDS_PER_SENDMSG) {
				end = e->pos;
				break;
			}
			nfds++;
		}
		size_t len = (size_t)(end - out->start);
		if (len == 0) {
			// More than 28 fds for the message at the head: send
			// them with its first byte, the rest with the next.
			len = 1;
		}
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(sizeof(int) * WAYLAND_MAX_FDS_PER_SENDMSG)];
		} control;
		struct iovec iov = {.iov_base = (void *)byte_queue_data(out), .iov_len = len};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		if (nfds > 0) {
			memset(&control, 0, sizeof(control));
			mh.msg_control = control.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			for (size_t i = 0; i < nfds; i++) {
				int f = fd_queue_peek(fds, i)->fd;
				memcpy(CMSG_DATA(cm) + i * sizeof(int), &f, sizeof(int));
			}
		}
		ssize_t n;
		do {
			n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		} while (n < 0 && errno == EINTR);
		if (n < 0) {
			return errno == EAGAIN ? SOCK_AGAIN : SOCK_ERROR;
		}
		// Any accepted byte delivers the whole control message.
		for (size_t i = 0; i < nfds; i++) {
			fd_queue_drop(fds);
		}
		byte_queue_consume(out, (size_t)n);
		*sent += (size_t)n;
	}
	return SOCK_DONE;
}
