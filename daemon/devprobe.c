#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/devprobe.h"
#include "wire/wayland_msg.h"

/* The probe's own object ids (a fresh connection: 1 is wl_display). */
enum {
	ID_REGISTRY = 2,
	ID_SYNC_GLOBALS = 3,
	ID_DMABUF = 4,
	ID_FEEDBACK = 5,
	ID_SYNC_FEEDBACK = 6,
};

#define DMABUF_INTERFACE "zwp_linux_dmabuf_v1"
#define PROBE_BUFFER 65536

struct probe {
	int fd;
	int64_t deadline_ms;
	uint8_t in[PROBE_BUFFER];
	size_t in_len;
	uint32_t dmabuf_name; // 0: not (yet) seen at version >= 4
	bool have_dev;
	dev_t dev;
	bool done;
	char *err;
	size_t err_cap;
};

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((format(printf, 2, 3))) static bool fail(struct probe *p, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->err, p->err_cap, fmt, ap);
	va_end(ap);
	return false;
}

static bool send_words(struct probe *p, const uint32_t *w, size_t n) {
	const uint8_t *b = (const uint8_t *)w;
	size_t len = n * 4, off = 0;
	while (off < len) {
		ssize_t k = send(p->fd, b + off, len - off, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR) {
			continue;
		}
		if (k <= 0) {
			return fail(p, "cannot write to the compositor: %s", strerror(errno));
		}
		off += (size_t)k;
	}
	return true;
}

static uint32_t header(uint32_t size, uint16_t opcode) {
	return size << 16 | opcode;
}

/* wl_registry.bind(name, "zwp_linux_dmabuf_v1", 4, ID_DMABUF), then
 * get_default_feedback(ID_FEEDBACK) and a sync. */
static bool ask_feedback(struct probe *p) {
	uint32_t w[32];
	size_t n = 0;
	size_t len = sizeof(DMABUF_INTERFACE); // with the NUL
	size_t padded = (len + 3) / 4 * 4;
	uint32_t size = (uint32_t)(8 + 4 + 4 + padded + 4 + 4);
	w[n++] = ID_REGISTRY;
	w[n++] = header(size, 0);
	w[n++] = p->dmabuf_name;
	w[n++] = (uint32_t)len;
	memset(&w[n], 0, padded);
	memcpy(&w[n], DMABUF_INTERFACE, len);
	n += padded / 4;
	w[n++] = 4;
	w[n++] = ID_DMABUF;
	w[n++] = ID_DMABUF;
	w[n++] = header(12, 2); // get_default_feedback
	w[n++] = ID_FEEDBACK;
	w[n++] = 1;
	w[n++] = header(12, 0); // wl_display.sync
	w[n++] = ID_SYNC_FEEDBACK;
	return send_words(p, w, n);
}

/* One event; bounds were checked by the caller (size >= 8, whole). */
static bool event(struct probe *p, uint32_t object, uint16_t opcode, const uint8_t *body,
		  size_t len) {
	if (object == 1 && opcode == 0) {
		uint32_t text_len = len >= 12 ? wayland_msg_get_u32(body, 8) : 0;
		if (text_len == 0 || text_len > len - 12) {
			return fail(p, "the compositor sent a protocol error");
		}
		return fail(p, "the compositor sent a protocol error: %.*s", (int)text_len - 1,
			    (const char *)body + 12);
	}
	if (object == ID_REGISTRY && opcode == 0) {
		if (len < 12) {
			return fail(p, "malformed wl_registry.global");
		}
		uint32_t name = wayland_msg_get_u32(body, 0);
		uint32_t slen = wayland_msg_get_u32(body, 4);
		size_t padded = ((size_t)slen + 3) / 4 * 4;
		if (slen == 0 || padded > len - 12 || body[8 + slen - 1] != '\0') {
			return fail(p, "malformed wl_registry.global");
		}
		uint32_t version = wayland_msg_get_u32(body, 8 + padded);
		if (strcmp((const char *)body + 8, DMABUF_INTERFACE) == 0 && version >= 4) {
			p->dmabuf_name = name;
		}
		return true;
	}
	if (object == ID_SYNC_GLOBALS && opcode == 0) {
		if (p->dmabuf_name == 0) {
			return fail(p, "the compositor offers no linux-dmabuf version 4");
		}
		return ask_feedback(p);
	}
	if (object == ID_FEEDBACK && opcode == 2) { // main_device
		if (len < 4 || wayland_msg_get_u32(body, 0) != sizeof(dev_t) ||
		    len < 4 + sizeof(dev_t)) {
			return fail(p, "malformed main_device event");
		}
		memcpy(&p->dev, body + 4, sizeof(dev_t));
		p->have_dev = true;
		return true;
	}
	if ((object == ID_FEEDBACK && opcode == 0) || (object == ID_SYNC_FEEDBACK && opcode == 0)) {
		if (!p->have_dev) {
			return fail(p, "the default dmabuf feedback names no main device");
		}
		p->done = true;
	}
	return true; // everything else is of no interest here
}

/* Reads once (waiting until the deadline); closes any fds that came. */
static bool read_some(struct probe *p) {
	int64_t left = p->deadline_ms - now_ms();
	if (left <= 0) {
		return fail(p, "the compositor did not answer in time");
	}
	struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
	int r = poll(&pfd, 1, (int)left);
	if (r < 0 && errno == EINTR) {
		return true;
	}
	if (r <= 0) {
		return fail(p, "the compositor did not answer in time");
	}
	if (p->in_len == sizeof(p->in)) {
		return fail(p, "event larger than %zu bytes", sizeof(p->in));
	}
	union {
		char buf[CMSG_SPACE(28 * sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = p->in + p->in_len, .iov_len = sizeof(p->in) - p->in_len};
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	ssize_t n = recvmsg(p->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
		return true;
	}
	for (struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; c != NULL;
	     c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < count; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				close(fd);
			}
		}
	}
	if (n < 0) {
		return fail(p, "cannot read from the compositor: %s", strerror(errno));
	}
	if (n == 0) {
		return fail(p, "the compositor closed the connection");
	}
	p->in_len += (size_t)n;
	return true;
}

bool devprobe_main_device(int fd, int timeout_ms, dev_t *dev, char *err, size_t err_cap) {
	static struct probe p; // 64 KiB: not on the stack
	p = (struct probe){
		.fd = fd,
		.deadline_ms = now_ms() + timeout_ms,
		.err = err,
		.err_cap = err_cap,
	};
	const uint32_t hello[] = {1, header(12, 1), ID_REGISTRY, 1, header(12, 0), ID_SYNC_GLOBALS};
	if (!send_words(&p, hello, sizeof(hello) / sizeof(hello[0]))) {
		return false;
	}
	while (!p.done) {
		if (!read_some(&p)) {
			return false;
		}
		size_t pos = 0;
		while (!p.done && p.in_len - pos >= 8) {
			uint32_t object = wayland_msg_get_u32(p.in, pos);
			uint32_t word = wayland_msg_get_u32(p.in, pos + 4);
			uint32_t size = word >> 16;
			if (size < 8 || size % 4 != 0) {
				return fail(&p, "malformed event header (size %u)", size);
			}
			if (size > p.in_len - pos) {
				break;
			}
			if (!event(&p, object, (uint16_t)(word & 0xffff), p.in + pos + 8,
				   size - 8)) {
				return false;
			}
			pos += size;
		}
		memmove(p.in, p.in + pos, p.in_len - pos);
		p.in_len -= pos;
	}
	*dev = p.dev;
	return true;
}

int devprobe_pick(const struct devprobe_node *nodes, size_t count, dev_t main) {
	for (size_t i = 0; i < count; i++) {
		for (int k = 0; k < 2; k++) {
			if (nodes[i].devs[k] != 0 && nodes[i].devs[k] == main) {
				return (int)i;
			}
		}
	}
	return -1;
}
