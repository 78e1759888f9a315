/*
 * F-10's fault injector, preloaded into crosswayd (LD_PRELOAD, with
 * --no-sandbox: the shim must not be filtered out of its own process).
 *
 * It wraps sendmsg, recvmsg, sendmmsg, recvmmsg, read and write and,
 * decided by a seeded PRNG
 * ($CROSSWAY_FAULT_SEED, $CROSSWAY_FAULT_RATE percent, default 30), makes
 * them fail with EINTR, with EAGAIN (only on non-blocking fds, where the
 * caller must be ready for it), or move fewer bytes than asked (only where
 * the kernel could do so too: stream sockets and pipes, never SEQPACKET,
 * where a message is all or nothing; there a batch of sendmmsg/recvmmsg
 * moves fewer messages than asked instead). A short sendmsg keeps its SCM_RIGHTS
 * with the bytes it does send, as the kernel would. stderr is left alone.
 * It keeps a count of what it injected in the file $CROSSWAY_FAULT_REPORT
 * (rewritten at each injection: crosswayd ends with _exit, so there is no
 * exit hook to rely on), so a test can tell the run was not fault-free by
 * luck.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_IOV 64

static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static int (*real_sendmmsg)(int, struct mmsghdr *, unsigned, int);
static int (*real_recvmmsg)(int, struct mmsghdr *, unsigned, int, struct timespec *);
static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static uint64_t prng = 0x9e3779b97f4a7c15ull;
static unsigned rate = 30;
static bool do_eintr = true, do_eagain = true, do_short = true; // $CROSSWAY_FAULT_KINDS
static unsigned long injected_eintr, injected_eagain, injected_short;

static const char *report_path;

/* Rewrites the report file (opened each time: crosswayd closes every fd it
 * does not know when it starts). */
static void report(void) {
	if (report_path == NULL) {
		return;
	}
	int report_fd = open(report_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (report_fd < 0) {
		return;
	}
	char line[96];
	int n = snprintf(line, sizeof(line), "injected %12lu EINTR %12lu EAGAIN %12lu short\n",
			 injected_eintr, injected_eagain, injected_short);
	if (n > 0) {
		ssize_t unused = pwrite(report_fd, line, (size_t)n, 0);
		(void)unused;
	}
	close(report_fd);
}

__attribute__((constructor)) static void shim_init(void) {
	real_sendmsg = (ssize_t(*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
	real_recvmsg = (ssize_t(*)(int, struct msghdr *, int))dlsym(RTLD_NEXT, "recvmsg");
	real_sendmmsg = (int (*)(int, struct mmsghdr *, unsigned, int))dlsym(RTLD_NEXT, "sendmmsg");
	real_recvmmsg = (int (*)(int, struct mmsghdr *, unsigned, int, struct timespec *))dlsym(
		RTLD_NEXT, "recvmmsg");
	real_read = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
	const char *seed = getenv("CROSSWAY_FAULT_SEED");
	const char *r = getenv("CROSSWAY_FAULT_RATE");
	if (seed != NULL) {
		prng ^= strtoull(seed, NULL, 10) * 0xbf58476d1ce4e5b9ull;
	}
	if (r != NULL) {
		rate = (unsigned)atoi(r) % 101;
	}
	const char *kinds = getenv("CROSSWAY_FAULT_KINDS");
	if (kinds != NULL) {
		do_eintr = strstr(kinds, "eintr") != NULL;
		do_eagain = strstr(kinds, "eagain") != NULL;
		do_short = strstr(kinds, "short") != NULL;
	}
	report_path = getenv("CROSSWAY_FAULT_REPORT");
}

/* xorshift64*: a percentage roll, 0..99. */
static unsigned roll(void) {
	prng ^= prng >> 12;
	prng ^= prng << 25;
	prng ^= prng >> 27;
	return (unsigned)((prng * 0x2545f4914f6cdd1dull) >> 33) % 100;
}

static bool nonblocking(int fd, int flags) {
	if (flags & MSG_DONTWAIT) {
		return true;
	}
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}

static bool is_stream_socket(int fd) {
	int type = 0;
	socklen_t len = sizeof(type);
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_STREAM;
}

static bool is_pipe(int fd) {
	struct stat st;
	return fd != STDERR_FILENO && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* EINTR or EAGAIN instead of the call; false to go on. */
static bool inject_error(int fd, int flags) {
	if (do_eintr && roll() < rate / 3) {
		injected_eintr++;
		report();
		errno = EINTR;
		return true;
	}
	if (do_eagain && nonblocking(fd, flags) && roll() < rate / 3) {
		injected_eagain++;
		report();
		errno = EAGAIN;
		return true;
	}
	return false;
}

/* A random length in [1, len). */
static size_t shorter(size_t len) {
	return 1 + (size_t)(((uint64_t)roll() * 1000003u + roll()) % (len - 1));
}

/* Copies @in's iovecs cut to @keep bytes into @out; returns their count. */
static int cut_iov(const struct iovec *in, size_t count, size_t keep, struct iovec *out) {
	int n = 0;
	for (size_t i = 0; i < count && keep > 0 && n < MAX_IOV; i++) {
		out[n] = in[i];
		if (out[n].iov_len > keep) {
			out[n].iov_len = keep;
		}
		keep -= out[n].iov_len;
		n++;
	}
	return n;
}

static size_t iov_total(const struct iovec *iov, size_t count) {
	size_t total = 0;
	for (size_t i = 0; i < count; i++) {
		total += iov[i].iov_len;
	}
	return total;
}

ssize_t sendmsg(int fd, const struct msghdr *mh, int flags) {
	if (inject_error(fd, flags)) {
		return -1;
	}
	size_t total = iov_total(mh->msg_iov, mh->msg_iovlen);
	if (total > 1 && mh->msg_iovlen <= MAX_IOV && do_short && roll() < rate &&
	    is_stream_socket(fd)) {
		struct iovec iov[MAX_IOV];
		struct msghdr cut = *mh;
		cut.msg_iov = iov;
		cut.msg_iovlen = (size_t)cut_iov(mh->msg_iov, mh->msg_iovlen, shorter(total), iov);
		injected_short++;
		report();
		return real_sendmsg(fd, &cut, flags);
	}
	return real_sendmsg(fd, mh, flags);
}

ssize_t recvmsg(int fd, struct msghdr *mh, int flags) {
	if (inject_error(fd, flags)) {
		return -1;
	}
	size_t total = iov_total(mh->msg_iov, mh->msg_iovlen);
	if (total > 1 && mh->msg_iovlen <= MAX_IOV && !(flags & MSG_PEEK) && do_short &&
	    roll() < rate && is_stream_socket(fd)) {
		struct iovec iov[MAX_IOV];
		struct iovec *orig = mh->msg_iov;
		size_t orig_len = mh->msg_iovlen;
		mh->msg_iov = iov;
		mh->msg_iovlen = (size_t)cut_iov(orig, orig_len, shorter(total), iov);
		ssize_t n = real_recvmsg(fd, mh, flags);
		mh->msg_iov = orig;
		mh->msg_iovlen = orig_len;
		injected_short++;
		report();
		return n;
	}
	return real_recvmsg(fd, mh, flags);
}

/* A batch of @count messages cut to fewer, as a socket that fills up (or
 * runs out of queued messages) does; never to none. */
static unsigned batch_size(unsigned count) {
	if (count > 1 && do_short && roll() < rate) {
		injected_short++;
		report();
		return 1 + (unsigned)roll() % (count - 1);
	}
	return count;
}

int sendmmsg(int fd, struct mmsghdr *msgs, unsigned count, int flags) {
	if (inject_error(fd, flags)) {
		return -1;
	}
	return real_sendmmsg(fd, msgs, batch_size(count), flags);
}

int recvmmsg(int fd, struct mmsghdr *msgs, unsigned count, int flags, struct timespec *timeout) {
	if (inject_error(fd, flags)) {
		return -1;
	}
	return real_recvmmsg(fd, msgs, batch_size(count), flags, timeout);
}

ssize_t read(int fd, void *buf, size_t len) {
	if (!is_pipe(fd)) {
		return real_read(fd, buf, len);
	}
	if (inject_error(fd, 0)) {
		return -1;
	}
	if (len > 1 && do_short && roll() < rate) {
		injected_short++;
		report();
		return real_read(fd, buf, shorter(len));
	}
	return real_read(fd, buf, len);
}

ssize_t write(int fd, const void *buf, size_t len) {
	if (!is_pipe(fd)) {
		return real_write(fd, buf, len);
	}
	if (inject_error(fd, 0)) {
		return -1;
	}
	if (len > 1 && do_short && roll() < rate) {
		injected_short++;
		report();
		return real_write(fd, buf, shorter(len));
	}
	return real_write(fd, buf, len);
}
