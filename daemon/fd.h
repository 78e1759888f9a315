/*
 * File descriptor ownership helpers (weston's fd-util idea). Fields holding
 * fds start at -1; ownership moves only through fd_move; fds are closed only
 * through fd_close (which resets to -1) or a destroy function.
 */
#ifndef CROSSWAY_DAEMON_FD_H
#define CROSSWAY_DAEMON_FD_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <unistd.h>

/** Closes *fd if it is open and sets it to -1. errno is preserved. */
static inline void fd_close(int *fd) {
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
		*fd = -1;
	}
}

/** Moves ownership: closes *dst, then *dst = *src and *src = -1. */
static inline void fd_move(int *dst, int *src) {
	if (dst == src) {
		return;
	}
	fd_close(dst);
	*dst = *src;
	*src = -1;
}

/** Returns a new fd that the caller owns (close-on-exec), or -1. */
static inline int fd_dup(int fd) {
	return fcntl(fd, F_DUPFD_CLOEXEC, 0);
}

static inline bool fd_set_nonblock(int fd) {
	int flags = fcntl(fd, F_GETFL);
	return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

static inline bool fd_set_cloexec(int fd) {
	int flags = fcntl(fd, F_GETFD);
	return flags >= 0 && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) == 0;
}

#endif
