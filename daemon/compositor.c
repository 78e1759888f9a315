/* _GNU_SOURCE: MSG_CMSG_CLOEXEC. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <wayland-server-core.h>

#include "daemon/compositor.h"
#include "daemon/fd.h"
#include "daemon/log.h"
#include "daemon/sock.h"
#include "wire/crossway-backend.h"
#include "wire/limits.h"

/* Bytes read per recvmsg; whole messages are taken out right after. */
#define READ_CHUNK 65536

int compositor_connect(const char *name, char *err, size_t err_cap) {
	if (name == NULL) {
		const char *sock = getenv("WAYLAND_SOCKET");
		if (sock != NULL && *sock != '\0') {
			char *end;
			long fd = strtol(sock, &end, 10);
			unsetenv("WAYLAND_SOCKET");
			if (*end != '\0' || fd < 0 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0) {
				snprintf(err, err_cap, "WAYLAND_SOCKET=%s is not an open fd", sock);
				return -1;
			}
			fd_set_cloexec((int)fd);
			return (int)fd;
		}
		name = getenv("WAYLAND_DISPLAY");
		if (name == NULL || *name == '\0') {
			name = "wayland-0";
		}
	}
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int n;
	if (name[0] == '/') {
		n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", name);
	} else {
		const char *dir = getenv("XDG_RUNTIME_DIR");
		if (dir == NULL || *dir == '\0') {
			snprintf(err, err_cap, "XDG_RUNTIME_DIR is not set (needed for display %s)",
				 name);
			return -1;
		}
		n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", dir, name);
	}
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
		snprintf(err, err_cap, "compositor socket path for %s is too long", name);
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, err_cap, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		snprintf(err, err_cap, "cannot connect to %s: %s", addr.sun_path, strerror(errno));
		fd_close(&fd);
		return -1;
	}
	return fd;
}

static void update_mask(struct compositor *c) {
	if (c->source == NULL) {
		return;
	}
	uint32_t mask = 0;
	if (c->reading && !c->closed) {
		mask |= WL_EVENT_READABLE;
	}
	if (c->want_write && !c->closed) {
		mask |= WL_EVENT_WRITABLE;
	}
	wl_event_source_fd_update(c->source, mask);
}

static void fail(struct compositor *c, const char *error) {
	if (c->closed) {
		return;
	}
	c->closed = true;
	update_mask(c);
	if (c->on_closed) {
		c->on_closed(c->data, error);
	}
}

/* Reads once. Returns bytes read, 0 at EOF/error (fail() called), -1 for EAGAIN. */
static ssize_t read_once(struct compositor *c) {
	size_t n;
	const char *why;
	switch (sock_recv(c->fd, &c->in, &c->in_fds, READ_CHUNK, &n, &why)) {
	case SOCK_DONE:
		c->bytes_in += n;
		return (ssize_t)n;
	case SOCK_AGAIN:
		return -1;
	case SOCK_EOF:
		fail(c, NULL);
		return 0;
	case SOCK_ERROR:
		break;
	}
	char text[160];
	snprintf(text, sizeof(text), "compositor connection: %s", why ? why : strerror(errno));
	fail(c, text);
	return 0;
}

static int handle_event(int fd, uint32_t mask, void *data) {
	struct compositor *c = data;
	if (mask & WL_EVENT_WRITABLE) {
		if (!compositor_flush(c)) {
			return 0;
		}
	}
	if (mask & WL_EVENT_READABLE) {
		// A few reads per wake-up, then let the other side run.
		// A short read took everything there was (or stopped at the
		// next fds): reading again would only say EAGAIN, and the
		// level-triggered source wakes us for anything left.
		for (int i = 0; i < 4 && c->reading && !c->closed; i++) {
			ssize_t n = read_once(c);
			if (n <= 0) {
				break;
			}
			c->on_input(c->data);
			if (n < READ_CHUNK) {
				break;
			}
		}
	} else if (mask & (WL_EVENT_HANGUP | WL_EVENT_ERROR)) {
		if (c->reading) {
			// Take the last bytes before the hang-up (a protocol
			// error event, for example).
			while (!c->closed && read_once(c) > 0) {
				c->on_input(c->data);
			}
		}
		fail(c, NULL);
	}
	return 0;
}

bool compositor_init(struct compositor *c, struct wl_event_loop *loop, int fd, size_t out_limit,
		     size_t max_fds, compositor_input_func_t on_input,
		     compositor_closed_func_t on_closed, compositor_drained_func_t on_drained,
		     void *data) {
	*c = (struct compositor){.fd = fd, .reading = true};
	c->out_limit = out_limit;
	c->on_input = on_input;
	c->on_closed = on_closed;
	c->on_drained = on_drained;
	c->data = data;
	// In: one read chunk plus a partial message. Out: the limit plus the
	// largest burst one backend packet can add.
	byte_queue_init(&c->in, READ_CHUNK + 2 * WAYLAND_MSG_HARD_MAX_SIZE);
	byte_queue_init(&c->out, out_limit + 2 * CROSSWAY_BACKEND_MAX_MESSAGE_SIZE);
	if (!fd_queue_init(&c->in_fds, max_fds) || !fd_queue_init(&c->out_fds, max_fds) ||
	    !fd_set_nonblock(fd)) {
		goto error;
	}
	c->source = wl_event_loop_add_fd(loop, fd, WL_EVENT_READABLE, handle_event, c);
	if (c->source == NULL) {
		goto error;
	}
	return true;
error:
	compositor_finish(c);
	return false;
}

void compositor_close(struct compositor *c) {
	if (c->source) {
		wl_event_source_remove(c->source);
		c->source = NULL;
	}
	fd_close(&c->fd);
	c->closed = true;
}

void compositor_finish(struct compositor *c) {
	compositor_close(c);
	byte_queue_finish(&c->in);
	byte_queue_finish(&c->out);
	if (c->in_fds.ring) {
		fd_queue_finish(&c->in_fds);
	}
	if (c->out_fds.ring) {
		fd_queue_finish(&c->out_fds);
	}
}

bool compositor_flush(struct compositor *c) {
	if (c->closed) {
		return true;
	}
	size_t sent;
	enum sock_result r = sock_send(c->fd, &c->out, &c->out_fds, &sent);
	c->bytes_out += sent;
	if (r == SOCK_ERROR) {
		char text[128];
		snprintf(text, sizeof(text), "compositor connection: sendmsg: %s", strerror(errno));
		fail(c, text);
		return false;
	}
	bool waiting = r == SOCK_AGAIN;
	if (waiting != c->want_write) {
		c->want_write = waiting;
		update_mask(c);
	}
	if (c->out.len <= c->out_limit / 2 && c->on_drained) {
		c->on_drained(c->data);
	}
	return true;
}

void compositor_set_reading(struct compositor *c, bool reading) {
	if (c->reading == reading) {
		return;
	}
	c->reading = reading;
	update_mask(c);
}
