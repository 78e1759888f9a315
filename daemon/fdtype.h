/*
 * What kind of file an fd is, as far as Wayland forwarding cares: shared
 * memory (memfd, regular file, dma-buf), a pipe end, or something that must
 * never cross a VM boundary (sockets, directories, devices, O_PATH fds ...).
 */
#ifndef CROSSWAY_DAEMON_FDTYPE_H
#define CROSSWAY_DAEMON_FDTYPE_H

#include <stdbool.h>
#include <stdint.h>

enum fdtype_kind {
	FDTYPE_OTHER = 0,
	FDTYPE_MEMORY,     // seekable memory: memfd, regular file, dma-buf
	FDTYPE_PIPE_READ,  // read end of a pipe
	FDTYPE_PIPE_WRITE, // write end of a pipe
};

struct fdtype {
	enum fdtype_kind kind;
	uint64_t size;      // memory: bytes (lseek SEEK_END)
	bool shrink_sealed; // memory: F_SEAL_SHRINK set (safe to map for wl_shm)
	bool dmabuf;        // memory: a dma-buf
};

/** Classifies @fd (borrowed). Returns false if fstat fails. */
bool fdtype_classify(int fd, struct fdtype *out);

/** A short name for logs ("memory", "pipe (read end)", "socket" ...). */
const char *fdtype_describe(int fd, char *buf, unsigned cap);

#endif
