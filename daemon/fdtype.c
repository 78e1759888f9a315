/* _GNU_SOURCE: F_GET_SEALS and the seal flags. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "daemon/fdtype.h"

/* statfs magic of the dma-buf file system (linux/magic.h DMA_BUF_MAGIC). */
#define DMA_BUF_MAGIC 0x444d4142

bool fdtype_classify(int fd, struct fdtype *out) {
	*out = (struct fdtype){0};
	struct stat st;
	if (fstat(fd, &st) != 0) {
		return false;
	}
	int fl = fcntl(fd, F_GETFL);
	int mode = fl < 0 ? -1 : (fl & O_ACCMODE);
	if (S_ISFIFO(st.st_mode)) {
		out->kind = mode == O_WRONLY   ? FDTYPE_PIPE_WRITE
			    : mode == O_RDONLY ? FDTYPE_PIPE_READ
					       : FDTYPE_OTHER;
		return true;
	}
	if (fl >= 0 && (fl & O_PATH)) {
		return true; // OTHER
	}
	struct statfs sfs;
	bool dmabuf = fstatfs(fd, &sfs) == 0 && (unsigned long)sfs.f_type == DMA_BUF_MAGIC;
	if (!S_ISREG(st.st_mode) && !dmabuf) {
		return true; // sockets, directories, devices, eventfds ...: OTHER
	}
	off_t end = lseek(fd, 0, SEEK_END);
	if (end < 0) {
		return true;
	}
	lseek(fd, 0, SEEK_SET);
	out->kind = FDTYPE_MEMORY;
	out->size = (uint64_t)end;
	out->dmabuf = dmabuf;
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0) {
		seals = 0;
	}
	out->shrink_sealed = (seals & F_SEAL_SHRINK) != 0;
	return true;
}

const char *fdtype_describe(int fd, char *buf, unsigned cap) {
	struct fdtype t;
	struct stat st;
	if (!fdtype_classify(fd, &t) || fstat(fd, &st) != 0) {
		snprintf(buf, cap, "invalid fd");
		return buf;
	}
	switch (t.kind) {
	case FDTYPE_MEMORY:
		snprintf(buf, cap, "%s of %llu bytes", t.dmabuf ? "dma-buf" : "memory",
			 (unsigned long long)t.size);
		break;
	case FDTYPE_PIPE_READ:
		snprintf(buf, cap, "pipe (read end)");
		break;
	case FDTYPE_PIPE_WRITE:
		snprintf(buf, cap, "pipe (write end)");
		break;
	default:
		snprintf(buf, cap, "%s",
			 S_ISSOCK(st.st_mode)   ? "socket"
			 : S_ISDIR(st.st_mode)  ? "directory"
			 : S_ISCHR(st.st_mode)  ? "character device"
			 : S_ISBLK(st.st_mode)  ? "block device"
			 : S_ISFIFO(st.st_mode) ? "pipe opened read-write"
						: "unsupported file");
		break;
	}
	return buf;
}
