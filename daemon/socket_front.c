#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wayland-server-core.h>

#include "daemon/compositor.h"
#include "daemon/context.h"
#include "daemon/fd.h"
#include "daemon/forward.h"
#include "daemon/image.h"
#include "daemon/log.h"
#include "daemon/sock.h"
#include "daemon/socket_front.h"
#include "proto_tables.h"
#include "wire/limits.h"

#define GUEST_READ_CHUNK 65536

struct socket_front {
	struct wl_event_loop *loop;
	struct policy_config policy;
	int guest_fd; // owned
	struct wl_event_source *guest_source;
	struct byte_queue in;   // bytes just read from the guest
	struct fd_queue in_fds; // fds just read, before the pipeline takes them
	bool guest_reading;
	bool guest_want_write;
	struct compositor comp;
	bool have_comp;
	struct forward fw;
	bool have_fw;
	struct wl_event_source *stall_timer;
	bool stall_armed;
	struct wl_event_source *sigterm;
	bool done;
	int exit_code;
};

static void end(struct socket_front *sf, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void update_guest_mask(struct socket_front *sf) {
	uint32_t mask = (sf->guest_reading ? WL_EVENT_READABLE : 0) |
			(sf->guest_want_write ? WL_EVENT_WRITABLE : 0);
	wl_event_source_fd_update(sf->guest_source, mask);
}

/* Tells the guest why before hanging up, the way a compositor would. */
static void send_protocol_error(struct socket_front *sf, const char *text) {
	const struct proto_message *m = &proto_wl_display.events[PROTO_WL_DISPLAY_EVT_ERROR];
	union wayland_value v[3] = {
		{.u = 1},
		{.u = 1}, // wl_display.error.invalid_method: the closest generic code
		{.bytes = {text, (uint32_t)strlen(text) + 1}},
	};
	uint8_t buf[WAYLAND_MSG_DEFAULT_MAX_SIZE];
	size_t n = wayland_msg_encode(buf, sizeof(buf), 1, PROTO_WL_DISPLAY_EVT_ERROR, m, v);
	if (n > 0 && byte_queue_append(&sf->fw.guest_out, buf, n)) {
		size_t sent;
		sock_send(sf->guest_fd, &sf->fw.guest_out, &sf->fw.guest_out_fds, &sent);
	}
}

static void end(struct socket_front *sf, int code, const char *fmt, ...) {
	if (sf->done) {
		return;
	}
	char text[WIRE_ERROR_TEXT_MAX + 64];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	sf->done = true;
	sf->exit_code = code;
	if (code == CONTEXT_EXIT_ERROR && sf->have_fw) {
		send_protocol_error(sf, text);
	}
	cw_log(code == CONTEXT_EXIT_CLEAN ? CW_LOG_INFO : CW_LOG_ERROR,
	       "Connection ended: %s (%" PRIu64 " pixel bytes copied)", text, image_bytes_copied);
}

static void flush_guest(struct socket_front *sf) {
	size_t sent;
	enum sock_result r = sock_send(sf->guest_fd, &sf->fw.guest_out, &sf->fw.guest_out_fds,
				       &sent);
	if (r == SOCK_ERROR) {
		end(sf, CONTEXT_EXIT_CLEAN, "the guest went away: %s", strerror(errno));
		return;
	}
	bool waiting = r == SOCK_AGAIN;
	if (waiting != sf->guest_want_write) {
		sf->guest_want_write = waiting;
		update_guest_mask(sf);
	}
	// Backpressure: a guest that does not read stops us reading the
	// compositor; one that never reads again ends the connection.
	size_t limit = sf->policy.limits.host_queue_bytes;
	if (sf->fw.guest_out.len > limit) {
		compositor_set_reading(&sf->comp, false);
		if (!sf->stall_armed) {
			sf->stall_armed = true;
			wl_event_source_timer_update(sf->stall_timer,
						     CROSSWAY_DEFAULT_STALL_SECONDS * 1000);
		}
	} else if (sf->fw.guest_out.len <= limit / 2) {
		compositor_set_reading(&sf->comp, true);
		if (sf->stall_armed) {
			sf->stall_armed = false;
			wl_event_source_timer_update(sf->stall_timer, 0);
		}
	}
}

static void update_guest_reading(struct socket_front *sf) {
	bool reading = !compositor_full(&sf->comp) && !sf->done;
	if (reading != sf->guest_reading) {
		sf->guest_reading = reading;
		update_guest_mask(sf);
	}
}

static int guest_event(int fd, uint32_t mask, void *data) {
	struct socket_front *sf = data;
	if (mask & WL_EVENT_WRITABLE) {
		flush_guest(sf);
	}
	if (!(mask & (WL_EVENT_READABLE | WL_EVENT_HANGUP | WL_EVENT_ERROR)) || sf->done) {
		return 0;
	}
	for (int i = 0; i < 4 && sf->guest_reading && !sf->done; i++) {
		size_t n;
		const char *why;
		size_t fds_before = sf->in_fds.len;
		enum sock_result r = sock_recv(sf->guest_fd, &sf->in, &sf->in_fds, GUEST_READ_CHUNK,
					       &n, &why);
		if (r == SOCK_AGAIN) {
			break;
		}
		if (r == SOCK_EOF) {
			end(sf, CONTEXT_EXIT_CLEAN, "the guest closed the connection");
			break;
		}
		if (r == SOCK_ERROR) {
			end(sf, CONTEXT_EXIT_ERROR, "guest connection: %s",
			    why ? why : strerror(errno));
			break;
		}
		// One recvmsg brings the fds of one sendmsg: libwayland never
		// sends more than 28 at once (security.md 7.4).
		// (fds of a message still incomplete stay queued from before.)
		if (sf->in_fds.len - fds_before > WAYLAND_MAX_FDS_PER_SENDMSG) {
			end(sf, CONTEXT_EXIT_ERROR, "%zu fds in one sendmsg, more than %u",
			    sf->in_fds.len - fds_before, WAYLAND_MAX_FDS_PER_SENDMSG);
			break;
		}
		struct wire_error err;
		bool ok = true;
		while (ok && sf->in_fds.len > 0) {
			ok = forward_guest_fd(&sf->fw, fd_queue_pop(&sf->in_fds), &err);
		}
		ok = ok &&
		     forward_guest_bytes(&sf->fw, byte_queue_data(&sf->in), sf->in.len, &err) &&
		     forward_guest_end(&sf->fw, &err);
		byte_queue_consume(&sf->in, sf->in.len);
		if (!ok) {
			end(sf, CONTEXT_EXIT_ERROR, "%s", err.text);
			break;
		}
		compositor_flush(&sf->comp);
		update_guest_reading(sf);
	}
	return 0;
}

static void comp_input(void *data) {
	struct socket_front *sf = data;
	struct wire_error err;
	if (!forward_host_input(&sf->fw, &err)) {
		end(sf, CONTEXT_EXIT_COMPOSITOR, "%s", err.text);
		return;
	}
	flush_guest(sf);
}

static void comp_closed(void *data, const char *error) {
	struct socket_front *sf = data;
	// Pass on what the compositor said last (often a protocol error).
	flush_guest(sf);
	end(sf, CONTEXT_EXIT_COMPOSITOR, "compositor closed the connection%s%s", error ? ": " : "",
	    error ? error : "");
}

static void comp_drained(void *data) {
	update_guest_reading(data);
}

static int stall_expired(void *data) {
	struct socket_front *sf = data;
	end(sf, CONTEXT_EXIT_ERROR, "the guest stopped reading: %zu bytes queued for it",
	    sf->fw.guest_out.len);
	return 0;
}

static int handle_sigterm(int sig, void *data) {
	end(data, CONTEXT_EXIT_CLEAN, "terminated by signal %d", sig);
	return 0;
}

struct socket_front *socket_front_create(struct wl_event_loop *loop,
					 const struct socket_front_options *opts) {
	struct socket_front *sf = calloc(1, sizeof(*sf));
	int guest_fd = opts->guest_fd, comp_fd = opts->compositor_fd;
	if (sf == NULL) {
		fd_close(&guest_fd);
		fd_close(&comp_fd);
		return NULL;
	}
	sf->loop = loop;
	sf->guest_fd = -1;
	if (opts->config != NULL) {
		config_policy_for(opts->config, opts->vm_name, &sf->policy);
	} else {
		struct config defaults;
		config_defaults(&defaults);
		config_policy_for(&defaults, opts->vm_name, &sf->policy);
	}
	if (comp_fd < 0) {
		cw_log(CW_LOG_ERROR, "No compositor: %s", opts->compositor_error);
		fd_close(&guest_fd);
		free(sf);
		return NULL;
	}
	const struct policy_limits *lim = &sf->policy.limits;
	byte_queue_init(&sf->in, GUEST_READ_CHUNK);
	if (!fd_queue_init(&sf->in_fds, CROSSWAY_DEFAULT_GUEST_QUEUE_FDS) ||
	    !compositor_init(&sf->comp, loop, comp_fd, lim->guest_queue_bytes,
			     CROSSWAY_DEFAULT_GUEST_QUEUE_FDS, comp_input, comp_closed,
			     comp_drained, sf)) {
		comp_fd = -1;
		goto error;
	}
	comp_fd = -1;
	sf->have_comp = true;
	struct forward_limits fl = {
		.max_message = lim->max_message,
		.max_objects = lim->max_objects,
		.guest_fds = CROSSWAY_DEFAULT_GUEST_QUEUE_FDS,
		.guest_out = lim->host_queue_bytes,
		.guest_out_fds = CROSSWAY_DEFAULT_HOST_QUEUE_FDS,
	};
	if (!forward_init(&sf->fw, &sf->comp, &sf->policy, &fl)) {
		goto error;
	}
	sf->have_fw = true;
	sf->fw.trace = opts->trace;
	fd_move(&sf->guest_fd, &guest_fd);
	if (!fd_set_nonblock(sf->guest_fd)) {
		goto error;
	}
	sf->guest_reading = true;
	sf->guest_source = wl_event_loop_add_fd(loop, sf->guest_fd, WL_EVENT_READABLE, guest_event,
						sf);
	sf->stall_timer = wl_event_loop_add_timer(loop, stall_expired, sf);
	sf->sigterm = wl_event_loop_add_signal(loop, SIGTERM, handle_sigterm, sf);
	if (sf->guest_source == NULL || sf->stall_timer == NULL || sf->sigterm == NULL) {
		goto error;
	}
	cw_log(CW_LOG_INFO, "Serving a Wayland connection of VM %s", opts->vm_name);
	return sf;
error:
	fd_close(&guest_fd);
	fd_close(&comp_fd);
	socket_front_destroy(sf);
	return NULL;
}

int socket_front_run(struct socket_front *sf) {
	while (!sf->done) {
		if (wl_event_loop_dispatch(sf->loop, -1) < 0 && errno != EINTR) {
			end(sf, CONTEXT_EXIT_ERROR, "event loop: %s", strerror(errno));
		}
	}
	return sf->exit_code;
}

void socket_front_destroy(struct socket_front *sf) {
	if (sf == NULL) {
		return;
	}
	if (sf->guest_source) {
		wl_event_source_remove(sf->guest_source);
	}
	if (sf->stall_timer) {
		wl_event_source_remove(sf->stall_timer);
	}
	if (sf->sigterm) {
		wl_event_source_remove(sf->sigterm);
	}
	fd_close(&sf->guest_fd);
	if (sf->have_fw) {
		forward_finish(&sf->fw);
	}
	if (sf->have_comp) {
		compositor_finish(&sf->comp);
	}
	byte_queue_finish(&sf->in);
	if (sf->in_fds.ring) {
		fd_queue_finish(&sf->in_fds);
	}
	free(sf);
}
