#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "daemon/devprobe.h"
#include "daemon/queue.h"
#include "daemon/sock.h"
#include "proto_tables.h"
#include "wire/limits.h"
#include "wire/wayland_msg.h"

/* The probe's own objects on a fresh connection (1 is wl_display). */
enum {
	ID_DISPLAY = 1,
	ID_REGISTRY,
	ID_SYNC_GLOBALS,
	ID_DMABUF,
	ID_FEEDBACK,
	ID_SYNC_FEEDBACK,
	ID_COUNT,
};

static const struct proto_interface *const probe_objects[ID_COUNT] = {
	[ID_DISPLAY] = &proto_wl_display,
	[ID_REGISTRY] = &proto_wl_registry,
	[ID_SYNC_GLOBALS] = &proto_wl_callback,
	[ID_DMABUF] = &proto_zwp_linux_dmabuf_v1,
	[ID_FEEDBACK] = &proto_zwp_linux_dmabuf_feedback_v1,
	[ID_SYNC_FEEDBACK] = &proto_wl_callback,
};

/* Events are read into a bounded queue; fds that come with them (the
 * format table) are closed after each read. */
#define PROBE_QUEUE_BYTES (WAYLAND_MSG_HARD_MAX_SIZE + 4096u)
#define PROBE_READ_CHUNK 4096u
#define PROBE_FDS 64

struct probe {
	int fd;
	int64_t deadline_ms;
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

/* Encodes one request of @object and sends it whole (a few dozen bytes on a
 * fresh socket: it never blocks for long). */
static bool request(struct probe *p, uint32_t object, uint16_t opcode,
		    const union wayland_value *values) {
	uint8_t buf[256];
	const struct proto_interface *iface = probe_objects[object];
	size_t len = wayland_msg_encode(buf, sizeof(buf), object, opcode, &iface->requests[opcode],
					values);
	for (size_t off = 0; off < len;) {
		ssize_t k = send(p->fd, buf + off, len - off, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR) {
			continue;
		}
		if (k <= 0) {
			return fail(p, "cannot write to the compositor: %s", strerror(errno));
		}
		off += (size_t)k;
	}
	return len > 0 || fail(p, "cannot encode %s", iface->requests[opcode].name);
}

/* Binds linux-dmabuf v4, asks for its default feedback and syncs. */
static bool ask_feedback(struct probe *p) {
	static const char name[] = "zwp_linux_dmabuf_v1";
	return request(p, ID_REGISTRY, PROTO_WL_REGISTRY_REQ_BIND,
		       (union wayland_value[]){{.u = p->dmabuf_name},
					       {.bytes = {name, sizeof(name)}},
					       {.u = 4},
					       {.u = ID_DMABUF}}) &&
	       request(p, ID_DMABUF, PROTO_ZWP_LINUX_DMABUF_V1_REQ_GET_DEFAULT_FEEDBACK,
		       (union wayland_value[]){{.u = ID_FEEDBACK}}) &&
	       request(p, ID_DISPLAY, PROTO_WL_DISPLAY_REQ_SYNC,
		       (union wayland_value[]){{.u = ID_SYNC_FEEDBACK}});
}

/* One decoded event of one of the probe's objects. */
static bool event(struct probe *p, uint32_t object, const uint8_t *msg,
		  const struct proto_message *m, const struct wayland_args *args) {
	uint16_t op = m->opcode;
	if (object == ID_DISPLAY && op == PROTO_WL_DISPLAY_EVT_ERROR) {
		return fail(p, "the compositor sent a protocol error: %s",
			    wayland_args_string(msg, args, 2));
	}
	if (object == ID_REGISTRY && op == PROTO_WL_REGISTRY_EVT_GLOBAL) {
		if (strcmp(wayland_args_string(msg, args, 1), "zwp_linux_dmabuf_v1") == 0 &&
		    args->value[2] >= 4) {
			p->dmabuf_name = args->value[0];
		}
		return true;
	}
	if (object == ID_SYNC_GLOBALS) {
		return p->dmabuf_name != 0
			       ? ask_feedback(p)
			       : fail(p, "the compositor offers no linux-dmabuf version 4");
	}
	if (object == ID_FEEDBACK && op == PROTO_ZWP_LINUX_DMABUF_FEEDBACK_V1_EVT_MAIN_DEVICE) {
		if (args->value[0] != sizeof(dev_t)) {
			return fail(p, "main_device of %u bytes, not %zu", args->value[0],
				    sizeof(dev_t));
		}
		memcpy(&p->dev, msg + args->offset[0] + 4, sizeof(dev_t));
		p->have_dev = true;
		return true;
	}
	if ((object == ID_FEEDBACK && op == PROTO_ZWP_LINUX_DMABUF_FEEDBACK_V1_EVT_DONE) ||
	    object == ID_SYNC_FEEDBACK) {
		if (!p->have_dev) {
			return fail(p, "the default dmabuf feedback names no main device");
		}
		p->done = true;
	}
	return true; // everything else is of no interest here
}

/* Waits for input until the deadline and reads it into @in; closes any fds. */
static bool read_some(struct probe *p, struct byte_queue *in, struct fd_queue *fds) {
	int64_t left = p->deadline_ms - now_ms();
	struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
	int r = left > 0 ? poll(&pfd, 1, (int)left) : 0;
	if (r < 0 && errno == EINTR) {
		return true;
	}
	if (r <= 0) {
		return fail(p, "the compositor did not answer in time");
	}
	size_t received;
	const char *why;
	enum sock_result res = sock_recv(p->fd, in, fds, PROBE_READ_CHUNK, &received, &why);
	while (fds->len > 0) {
		fd_queue_drop(fds);
	}
	switch (res) {
	case SOCK_DONE:
	case SOCK_AGAIN:
		return true;
	case SOCK_EOF:
		return fail(p, "the compositor closed the connection");
	case SOCK_ERROR:
		break;
	}
	return fail(p, "cannot read from the compositor: %s", why ? why : strerror(errno));
}

/* Handles the whole events at the head of @in. */
static bool events(struct probe *p, struct byte_queue *in) {
	while (!p->done) {
		struct wayland_msg_header hdr;
		struct wire_error err;
		const uint8_t *msg = byte_queue_data(in);
		enum wayland_msg_result r = wayland_msg_header_parse(
			msg, in->len, WAYLAND_MSG_HARD_MAX_SIZE, &hdr, &err);
		if (r == WAYLAND_MSG_INVALID) {
			return fail(p, "%s", err.text);
		}
		if (r == WAYLAND_MSG_INCOMPLETE || hdr.size > in->len) {
			return true;
		}
		uint32_t object = hdr.object_id;
		const struct proto_interface *iface = object < ID_COUNT ? probe_objects[object]
									: NULL;
		if (iface != NULL) {
			if (hdr.opcode >= iface->event_count) {
				return fail(p, "%s#%u: unknown event opcode %u", iface->name,
					    object, hdr.opcode);
			}
			const struct proto_message *m = &iface->events[hdr.opcode];
			struct wayland_args args;
			if (!wayland_msg_decode(msg, &hdr, iface, m, &args, &err)) {
				return fail(p, "%s", err.text);
			}
			if (!event(p, object, msg, m, &args)) {
				return false;
			}
		}
		byte_queue_consume(in, hdr.size);
	}
	return true;
}

bool devprobe_main_device(int fd, int timeout_ms, dev_t *dev, char *err, size_t err_cap) {
	struct probe p = {
		.fd = fd,
		.deadline_ms = now_ms() + timeout_ms,
		.err = err,
		.err_cap = err_cap,
	};
	struct byte_queue in;
	struct fd_queue fds = {0};
	byte_queue_init(&in, PROBE_QUEUE_BYTES);
	bool ok = fd_queue_init(&fds, PROBE_FDS) || fail(&p, "out of memory");
	ok = ok &&
	     request(&p, ID_DISPLAY, PROTO_WL_DISPLAY_REQ_GET_REGISTRY,
		     (union wayland_value[]){{.u = ID_REGISTRY}}) &&
	     request(&p, ID_DISPLAY, PROTO_WL_DISPLAY_REQ_SYNC,
		     (union wayland_value[]){{.u = ID_SYNC_GLOBALS}});
	while (ok && !p.done) {
		ok = read_some(&p, &in, &fds) && events(&p, &in);
	}
	byte_queue_finish(&in);
	fd_queue_finish(&fds);
	if (ok) {
		*dev = p.dev;
	}
	return ok;
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
