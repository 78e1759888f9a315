#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wayland-server-core.h>

#include "crossway-config.h"
#include "daemon/backend.h"
#include "daemon/compositor.h"
#include "daemon/context.h"
#include "daemon/fd.h"
#include "daemon/fdtype.h"
#include "daemon/forward.h"
#include "daemon/image.h"
#include "daemon/image_reqs.h"
#include "daemon/items.h"
#include "daemon/log.h"
#include "daemon/pipes.h"
#include "daemon/resources.h"
#include "daemon/sock.h"
#include "wire/cross_domain.h"
#include "wire/limits.h"

/* The header's numbers are the daemon's. */
_Static_assert(CROSSWAY_MAX_POLL_FENCES == CROSSWAY_BACKEND_MAX_POLL_FENCES, "poll fences");
_Static_assert(CROSSWAY_DEFAULT_MAX_ITEMS == CROSSWAY_BACKEND_MAX_RESOURCES, "resources");
_Static_assert(CROSS_DOMAIN_MAX_IDENTIFIERS == CROSSWAY_BACKEND_MAX_IDENTIFIERS, "identifiers");
_Static_assert(CROSS_DOMAIN_RING_BUFFER_SIZE == CROSSWAY_BACKEND_MAX_RECORD_SIZE, "record size");
_Static_assert(-EPROTO == CROSSWAY_BACKEND_ERROR_PROTOCOL, "EPROTO");
_Static_assert(-EPIPE == CROSSWAY_BACKEND_ERROR_COMPOSITOR, "EPIPE");
_Static_assert(CONTEXT_EXIT_CLEAN == CROSSWAY_BACKEND_EXIT_CLEAN &&
		       CONTEXT_EXIT_ERROR == CROSSWAY_BACKEND_EXIT_ERROR &&
		       CONTEXT_EXIT_USAGE == CROSSWAY_BACKEND_EXIT_USAGE &&
		       CONTEXT_EXIT_COMPOSITOR == CROSSWAY_BACKEND_EXIT_COMPOSITOR,
	       "exit codes");

/* Write pipes recently closed: WRITEs to them are late, not hostile. */
#define CLOSED_PIPES_REMEMBERED 64
/* Record buffer: one ring page at most (guests size theirs with 4096). */
#define RECORD_MAX CROSS_DOMAIN_RING_BUFFER_SIZE

struct ring {
	uint32_t resource_id;
	uint32_t size; // bytes, from ATTACH
};

struct context {
	struct wl_event_loop *loop;
	const struct config *config;         // borrowed
	const struct image_allocator *alloc; // borrowed
	struct policy_config policy_config;  // this VM's, chosen at HELLO
	uint32_t stall_seconds;
	uint32_t linger_seconds;
	char vm_name[CROSSWAY_BACKEND_NAME_SIZE];
	bool vm_fixed; // --vm given: HELLO's name is only logged
	bool trace;

	struct backend backend;
	struct compositor comp;
	bool have_comp;
	char comp_error[256];
	struct forward fw;
	bool have_fw;
	struct items items;
	struct image_reqs image_reqs; // GET_IMAGE_REQUIREMENTS answers
	struct resources resources;
	struct pipes pipes;

	bool hello_done;
	bool initialized; // INIT seen
	struct ring query;
	struct ring channel;
	uint32_t layout;     // identifier slots in SEND/RECEIVE: 28 or 4
	bool layout_latched; // set by the first SEND

	uint64_t poll_fences[CROSSWAY_MAX_POLL_FENCES];
	uint32_t poll_head, poll_len;
	size_t head_remaining; // bytes of a message at the head of guest_out
			       // whose start was already delivered
	bool prefer_read;      // alternate RECEIVE and READ when both wait

	bool released; // the guest let go of a ring: nothing left to serve
	bool comp_eof; // the compositor connection ended
	bool eof_sent; // the 0-byte RECEIVE was delivered
	bool backend_gone;
	bool ending; // finishing open transfers before exiting
	bool done;
	int exit_code;
	char end_reason[512];

	struct wl_event_source *stall_timer;
	bool stall_armed;
	bool shutdown_received; // the backend's last message came
	struct wl_event_source *linger_timer;
	struct wl_event_source *sigterm;

	uint32_t closed_pipes[CLOSED_PIPES_REMEMBERED];
	uint32_t closed_pipes_next;

	uint64_t records_written;
	uint64_t late_writes;
};

static void deliver(struct context *ctx);
static bool start_serving(struct context *ctx);
static void finish(struct context *ctx, int code);

/* ---------------------------------------------------------------------- */
/* Ending                                                                 */

/* Completes every pending poll fence at the end of the context. Each gets an
 * empty RECEIVE first, while the channel ring is still attached: that is
 * the guests' end-of-file (wayland-proxy-virtwl closes its client on it), so
 * a guest proxy woken by the fence sees the end instead of polling again. */
static void complete_poll_fences(struct context *ctx) {
	uint8_t rec[RECORD_MAX];
	size_t rec_size = 0;
	if (ctx->initialized) {
		struct resource *r = resources_get(&ctx->resources, ctx->channel.resource_id);
		if (r != NULL && r->attached) {
			rec_size = cross_domain_encode_receive(rec, sizeof(rec), ctx->layout, 0,
							       NULL, NULL, NULL, NULL, 0);
		}
	}
	while (ctx->poll_len > 0) {
		uint64_t id = ctx->poll_fences[ctx->poll_head];
		ctx->poll_head = (ctx->poll_head + 1) % CROSSWAY_MAX_POLL_FENCES;
		ctx->poll_len--;
		if (rec_size > 0 && rec_size <= ctx->channel.size) {
			size_t cap = sizeof(struct crossway_backend_ring_write) + rec_size + 8;
			uint8_t *w = backend_reserve(&ctx->backend, cap);
			if (w == NULL) {
				continue; // no record, and so no FENCE_DONE that claims one
			}
			backend_commit(&ctx->backend,
				       backend_link_encode_ring_write(w, cap,
								      ctx->channel.resource_id, 0,
								      rec, (uint32_t)rec_size),
				       -1);
		}
		uint8_t *out = backend_reserve(&ctx->backend,
					       sizeof(struct crossway_backend_fence_done));
		if (out == NULL) {
			continue;
		}
		size_t n = backend_link_encode_fence_done(
			out, sizeof(struct crossway_backend_fence_done), id,
			CROSSWAY_BACKEND_RING_CHANNEL);
		backend_commit(&ctx->backend, n, -1);
	}
}

static void send_error(struct context *ctx, int code, const char *text) {
	size_t cap = 24 + strlen(text) + 16;
	if (cap > ctx->backend.max_message) {
		cap = ctx->backend.max_message;
	}
	uint8_t *out = backend_reserve(&ctx->backend, cap);
	if (out == NULL) {
		return;
	}
	size_t n = backend_link_encode_error(out, cap, 0, code, text);
	if (n > 0) {
		backend_commit(&ctx->backend, n, -1);
	}
}

/* Ends the context now: completes fences, tells the backend why (unless the
 * end is clean), and stops the loop. */
static void finish(struct context *ctx, int code) {
	if (ctx->done) {
		return;
	}
	ctx->done = true;
	ctx->exit_code = code;
	if (!ctx->backend_gone) {
		complete_poll_fences(ctx);
		if (code != CONTEXT_EXIT_CLEAN) {
			send_error(ctx, code == CONTEXT_EXIT_COMPOSITOR ? -EPIPE : -EPROTO,
				   ctx->end_reason);
		}
		backend_flush_blocking(&ctx->backend, 1000);
	}
	// The pixel count is how tests see the zero-copy promise kept.
	cw_log(code == CONTEXT_EXIT_CLEAN ? CW_LOG_INFO : CW_LOG_ERROR,
	       "Context ended: %s (%" PRIu64 " pixel bytes copied)", ctx->end_reason,
	       image_bytes_copied);
}

__attribute__((format(printf, 3, 4))) static void fail(struct context *ctx, int code,
						       const char *fmt, ...) {
	if (ctx->done) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->end_reason, sizeof(ctx->end_reason), fmt, ap);
	va_end(ap);
	finish(ctx, code);
}

static bool transfers_open(struct context *ctx) {
	return !pipes_idle(&ctx->pipes);
}

/* The Wayland connection is over (compositor EOF after the EOF record was
 * delivered, or SHUTDOWN/backend EOF): let open transfers finish, bounded. */
static void begin_ending(struct context *ctx, int code, const char *reason) {
	if (ctx->ending || ctx->done) {
		return;
	}
	ctx->ending = true;
	ctx->exit_code = code;
	snprintf(ctx->end_reason, sizeof(ctx->end_reason), "%s", reason);
	if (ctx->have_comp) {
		compositor_close(&ctx->comp);
	}
	if (ctx->backend_gone) {
		// Nobody can receive READ data any more.
		pipes_close_reads(&ctx->pipes);
	}
	if (!transfers_open(ctx)) {
		finish(ctx, code);
		return;
	}
	cw_log(CW_LOG_INFO, "%s; finishing %" PRIu32 " open transfers first", reason,
	       ctx->pipes.count);
	wl_event_source_timer_update(ctx->linger_timer, (int)ctx->linger_seconds * 1000);
}

static void check_ending(struct context *ctx) {
	if (ctx->ending && !ctx->done && !transfers_open(ctx)) {
		finish(ctx, ctx->exit_code);
	}
}

static int linger_expired(void *data) {
	struct context *ctx = data;
	cw_log(CW_LOG_INFO, "Giving up on %" PRIu32 " open transfers", ctx->pipes.count);
	finish(ctx, ctx->exit_code);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Backpressure                                                           */

static void update_backend_pause(struct context *ctx) {
	// (The backend stops reading by itself while its own output is full.)
	bool pause = (ctx->have_comp && compositor_full(&ctx->comp)) || pipes_blocked(&ctx->pipes);
	backend_set_paused(&ctx->backend, pause);
}

static void update_compositor_reading(struct context *ctx) {
	if (!ctx->have_fw || ctx->comp_eof) {
		return;
	}
	size_t queued = ctx->fw.guest_out.len;
	bool full = queued > ctx->policy_config.limits.host_queue_bytes ||
		    ctx->fw.guest_out_fds.len + SOCK_RECV_FDS_MAX > ctx->fw.guest_out_fds.cap;
	if (full) {
		compositor_set_reading(&ctx->comp, false);
		if (!ctx->stall_armed) {
			ctx->stall_armed = true;
			wl_event_source_timer_update(ctx->stall_timer,
						     (int)ctx->stall_seconds * 1000);
		}
	} else if (queued <= ctx->policy_config.limits.host_queue_bytes / 2) {
		compositor_set_reading(&ctx->comp, true);
		if (ctx->stall_armed) {
			ctx->stall_armed = false;
			wl_event_source_timer_update(ctx->stall_timer, 0);
		}
	}
}

static int stall_expired(void *data) {
	struct context *ctx = data;
	fail(ctx, CONTEXT_EXIT_ERROR,
	     "guest stopped polling: %zu bytes for it queued for %" PRIu32 " s (limit %zu)",
	     ctx->fw.guest_out.len, ctx->stall_seconds, ctx->policy_config.limits.host_queue_bytes);
	return 0;
}

static void flush_all(struct context *ctx) {
	if (ctx->done) {
		return;
	}
	if (ctx->have_comp && !ctx->comp.closed) {
		compositor_flush(&ctx->comp);
	}
	if (!ctx->backend_gone) {
		backend_flush(&ctx->backend);
	}
	update_backend_pause(ctx);
}

/* ---------------------------------------------------------------------- */
/* Output to the backend                                                  */

static bool emit_ring_write(struct context *ctx, const struct ring *ring, const uint8_t *bytes,
			    uint32_t len) {
	struct resource *r = resources_get(&ctx->resources, ring->resource_id);
	if (r == NULL || !r->attached) {
		fail(ctx, CONTEXT_EXIT_ERROR, "ring resource %" PRIu32 " is no longer attached",
		     ring->resource_id);
		return false;
	}
	if (len > ring->size) {
		fail(ctx, CONTEXT_EXIT_ERROR,
		     "a record of %" PRIu32 " bytes does not fit ring %" PRIu32 " (%" PRIu32
		     " bytes)",
		     len, ring->resource_id, ring->size);
		return false;
	}
	size_t cap = sizeof(struct crossway_backend_ring_write) + len + 8;
	uint8_t *out = backend_reserve(&ctx->backend, cap);
	if (out == NULL) {
		fail(ctx, CONTEXT_EXIT_ERROR, "backend output queue %s", byte_queue_why());
		return false;
	}
	size_t n = backend_link_encode_ring_write(out, cap, ring->resource_id, 0, bytes, len);
	return backend_commit(&ctx->backend, n, -1);
}

static void emit_fence_done(struct context *ctx, uint64_t fence_id, uint32_t ring_idx) {
	size_t cap = sizeof(struct crossway_backend_fence_done);
	uint8_t *out = backend_reserve(&ctx->backend, cap);
	if (out == NULL) {
		fail(ctx, CONTEXT_EXIT_ERROR, "backend output queue %s", byte_queue_why());
		return;
	}
	backend_commit(&ctx->backend, backend_link_encode_fence_done(out, cap, fence_id, ring_idx),
		       -1);
}

static void emit_blob_reply(struct context *ctx, uint32_t serial,
			    const struct crossway_backend_blob_reply *reply, int fd) {
	size_t cap = sizeof(*reply);
	uint8_t *out = backend_reserve(&ctx->backend, cap);
	if (out == NULL) {
		fd_close(&fd);
		fail(ctx, CONTEXT_EXIT_ERROR, "backend output queue %s", byte_queue_why());
		return;
	}
	if (!backend_commit(&ctx->backend, backend_link_encode_blob_reply(out, cap, serial, reply),
			    fd)) {
		// Reading pauses well before the fd queue is full, so this is a
		// backend that sent far more CREATE_BLOBs than it reads replies.
		fail(ctx, CONTEXT_EXIT_ERROR,
		     "backend output queue: too many BLOB_REPLY fds not read by the backend");
	}
}

/* ---------------------------------------------------------------------- */
/* Channel ring delivery: one record per poll fence                       */

static void remember_closed_pipe(struct context *ctx, uint32_t id) {
	ctx->closed_pipes[ctx->closed_pipes_next] = id;
	ctx->closed_pipes_next = (ctx->closed_pipes_next + 1) % CLOSED_PIPES_REMEMBERED;
}

static bool was_closed_pipe(struct context *ctx, uint32_t id) {
	for (int i = 0; i < CLOSED_PIPES_REMEMBERED; i++) {
		if (ctx->closed_pipes[i] == id && id != 0) {
			return true;
		}
	}
	return false;
}

/* Turns a host fd for the guest into an item. Returns false (context ended)
 * when the table is full. */
static bool fd_to_identifier(struct context *ctx, int fd, uint64_t cap, uint32_t *id,
			     uint32_t *type, uint32_t *size) {
	struct fdtype t;
	if (!fdtype_classify(fd, &t)) {
		fd_close(&fd);
		fail(ctx, CONTEXT_EXIT_ERROR, "a compositor fd became invalid");
		return false;
	}
	struct item *it = items_add(&ctx->items,
				    t.kind == FDTYPE_MEMORY ? ITEM_MEMORY : ITEM_WRITE_PIPE);
	if (it == NULL) {
		fd_close(&fd);
		fail(ctx, CONTEXT_EXIT_ERROR, "item limit (%" PRIu32 ") reached", ctx->items.max);
		return false;
	}
	*id = it->id;
	if (t.kind == FDTYPE_MEMORY) {
		it->memory.fd = fd;
		it->memory.size = t.size;
		it->memory.dmabuf = t.dmabuf;
		*type = CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB;
		*size = t.size > UINT32_MAX ? UINT32_MAX : (uint32_t)t.size;
		return true;
	}
	it->pipe = pipes_add_write(&ctx->pipes, it->id, fd, cap); // takes fd
	if (it->pipe == NULL) {
		int why = errno;
		items_remove(&ctx->items, it);
		if (why == ENOMEM) {
			fail(ctx, CONTEXT_EXIT_ERROR, "out of memory for a pipe");
			return false;
		}
		// Host clients asking for the guest's data make these pipes, so
		// their number is not the guest's doing: this transfer is refused
		// (the host reader sees EOF at once) and the context goes on. The
		// guest gets an identifier that is already closed: its WRITEs to
		// it are dropped like late ones.
		cw_log(CW_LOG_INFO,
		       "Transfer to the host refused: %" PRIu32 " pipes open (the limit)",
		       ctx->pipes.max);
		remember_closed_pipe(ctx, *id);
	}
	*type = CROSS_DOMAIN_ID_TYPE_WRITE_PIPE;
	*size = 0;
	return true;
}

static uint32_t record_capacity(const struct context *ctx) {
	uint32_t cap = ctx->channel.size < RECORD_MAX ? ctx->channel.size : RECORD_MAX;
	return cap;
}

/* Builds the next RECEIVE from guest_out into @rec. Returns its size, 0 if
 * there is nothing to send, or -1 when the context ended. */
static ssize_t build_receive(struct context *ctx, uint8_t *rec) {
	struct forward *fw = &ctx->fw;
	uint32_t header = CROSS_DOMAIN_SEND_RECEIVE_HEADER_SIZE(ctx->layout);
	size_t limit = record_capacity(ctx) - header;
	const uint8_t *data = byte_queue_data(&fw->guest_out);
	size_t queued = fw->guest_out.len;
	size_t fd_index = 0;
	size_t end = 0;
	uint32_t ids = 0;
	if (queued == 0 && fw->guest_out_fds.len == 0) {
		return 0;
	}
	if (ctx->head_remaining > 0) {
		// The rest of a message cut at the previous record's end; its
		// fds went with its first part.
		end = ctx->head_remaining < limit ? ctx->head_remaining : limit;
		ctx->head_remaining -= end;
	} else {
		while (end < queued) {
			uint32_t word;
			memcpy(&word, data + end, 4);
			memcpy(&word, data + end + 4, 4);
			size_t size = word >> 16;
			uint64_t pos = fw->guest_out.start + end;
			size_t nfds = 0;
			while (fd_index + nfds < fw->guest_out_fds.len &&
			       fd_queue_peek(&fw->guest_out_fds, fd_index + nfds)->pos == pos) {
				nfds++;
			}
			if (ids + nfds > ctx->layout) {
				break;
			}
			if (end + size > limit) {
				if (end == 0) {
					// One message larger than a record: split it.
					ctx->head_remaining = size - limit;
					end = limit;
					fd_index += nfds;
					ids += (uint32_t)nfds;
				}
				break;
			}
			end += size;
			fd_index += nfds;
			ids += (uint32_t)nfds;
		}
	}
	uint32_t id_list[CROSS_DOMAIN_MAX_IDENTIFIERS], types[CROSS_DOMAIN_MAX_IDENTIFIERS],
		sizes[CROSS_DOMAIN_MAX_IDENTIFIERS];
	for (uint32_t i = 0; i < ids; i++) {
		uint64_t cap = fd_queue_peek(&fw->guest_out_fds, 0)->meta;
		int fd = fd_queue_pop(&fw->guest_out_fds);
		if (!fd_to_identifier(ctx, fd, cap, &id_list[i], &types[i], &sizes[i])) {
			return -1;
		}
	}
	size_t n = cross_domain_encode_receive(rec, RECORD_MAX, ctx->layout, ids, id_list, types,
					       sizes, data, (uint32_t)end);
	byte_queue_consume(&fw->guest_out, end);
	return (ssize_t)n;
}

static ssize_t build_read(struct context *ctx, uint8_t *rec) {
	struct read_pipe *rp;
	while ((rp = pipes_next_ready(&ctx->pipes)) != NULL) {
		uint32_t id = rp->id;
		size_t cap = record_capacity(ctx) - CROSS_DOMAIN_READ_WRITE_HEADER_SIZE;
		bool hang_up;
		ssize_t n = pipes_read(&ctx->pipes, rp, rec + CROSS_DOMAIN_READ_WRITE_HEADER_SIZE,
				       cap, &hang_up);
		if (n < 0) {
			continue; // spurious wake-up
		}
		// Encode around the data already in place.
		uint8_t tmp[RECORD_MAX];
		memcpy(tmp, rec + CROSS_DOMAIN_READ_WRITE_HEADER_SIZE, (size_t)n);
		return (ssize_t)cross_domain_encode_read(rec, RECORD_MAX, id, hang_up ? 1 : 0, tmp,
							 (uint32_t)n);
	}
	return 0;
}

static void deliver(struct context *ctx) {
	if (!ctx->initialized || ctx->done || ctx->backend_gone || ctx->released) {
		return;
	}
	uint8_t rec[RECORD_MAX];
	uint64_t written_before = ctx->records_written;
	while (ctx->poll_len > 0 && !ctx->done) {
		bool have_receive = ctx->have_fw &&
				    (ctx->fw.guest_out.len > 0 || ctx->fw.guest_out_fds.len > 0);
		bool have_read = false;
		struct read_pipe *rp;
		wl_list_for_each(rp, &ctx->pipes.reads, link) {
			if (rp->ready) {
				have_read = true;
				break;
			}
		}
		ssize_t n = 0;
		if (have_read && (!have_receive || ctx->prefer_read)) {
			n = build_read(ctx, rec);
			ctx->prefer_read = false;
		}
		if (n == 0 && have_receive) {
			n = build_receive(ctx, rec);
			ctx->prefer_read = true;
		}
		if (n == 0 && ctx->comp_eof && !ctx->eof_sent && !have_receive) {
			// The compositor is gone: tell the guest with an empty
			// RECEIVE (wayland-proxy-virtwl closes on it).
			n = (ssize_t)cross_domain_encode_receive(rec, RECORD_MAX, ctx->layout, 0,
								 NULL, NULL, NULL, NULL, 0);
			ctx->eof_sent = true;
		}
		if (n < 0) {
			return;
		}
		if (n == 0) {
			break;
		}
		if (!emit_ring_write(ctx, &ctx->channel, rec, (uint32_t)n)) {
			return;
		}
		uint64_t fence = ctx->poll_fences[ctx->poll_head];
		ctx->poll_head = (ctx->poll_head + 1) % CROSSWAY_MAX_POLL_FENCES;
		ctx->poll_len--;
		emit_fence_done(ctx, fence, CROSSWAY_BACKEND_RING_CHANNEL);
		ctx->records_written++;
	}
	if (ctx->stall_armed && ctx->records_written != written_before) {
		// The guest is polling, only slowly: the stall timer measures
		// time without progress, not time above the limit.
		wl_event_source_timer_update(ctx->stall_timer, (int)ctx->stall_seconds * 1000);
	}
	update_compositor_reading(ctx);
	if (ctx->comp_eof && ctx->eof_sent && !ctx->ending) {
		char reason[sizeof(ctx->fw.protocol_error) + 64];
		if (ctx->have_fw && ctx->fw.protocol_error[0] != '\0') {
			// What the guest got as wl_display.error, for the backend too.
			snprintf(reason, sizeof(reason),
				 "compositor closed the connection after a %s",
				 ctx->fw.protocol_error);
		} else {
			snprintf(reason, sizeof(reason), "compositor closed the connection%s%s",
				 ctx->comp_error[0] ? ": " : "", ctx->comp_error);
		}
		begin_ending(ctx, CONTEXT_EXIT_COMPOSITOR, reason);
	}
}

/* ---------------------------------------------------------------------- */
/* Compositor side                                                        */

static void comp_input(void *data) {
	struct context *ctx = data;
	if (ctx->done || !ctx->have_fw) {
		return;
	}
	struct wire_error err;
	if (!forward_host_input(&ctx->fw, &err)) {
		// A bad event is the compositor's fault; running out of memory
		// while handling a good one is not.
		bool oom = strstr(err.text, "out of memory") != NULL;
		fail(ctx, oom ? CONTEXT_EXIT_ERROR : CONTEXT_EXIT_COMPOSITOR, "%s", err.text);
		return;
	}
	deliver(ctx);
	flush_all(ctx);
}

static void comp_closed(void *data, const char *error) {
	struct context *ctx = data;
	if (ctx->done || ctx->ending) {
		return;
	}
	if (error != NULL && strstr(error, "out of memory") != NULL) {
		fail(ctx, CONTEXT_EXIT_ERROR, "compositor input: %s", error);
		return;
	}
	ctx->comp_eof = true;
	snprintf(ctx->comp_error, sizeof(ctx->comp_error), "%s", error ? error : "");
	if (!ctx->initialized) {
		fail(ctx, CONTEXT_EXIT_COMPOSITOR, "compositor closed the connection%s%s",
		     error ? ": " : "", error ? error : "");
		return;
	}
	// Deliver what is queued, then an empty RECEIVE; if the guest is not
	// polling, the stall timer bounds the wait.
	if (!ctx->stall_armed) {
		ctx->stall_armed = true;
		wl_event_source_timer_update(ctx->stall_timer, (int)ctx->stall_seconds * 1000);
	}
	deliver(ctx);
	flush_all(ctx);
}

static void comp_drained(void *data) {
	struct context *ctx = data;
	update_backend_pause(ctx);
}

/* ---------------------------------------------------------------------- */
/* Pipes                                                                  */

static void pipe_ready(void *data) {
	struct context *ctx = data;
	deliver(ctx);
	flush_all(ctx);
}

static void pipe_drained(void *data) {
	struct context *ctx = data;
	update_backend_pause(ctx);
	check_ending(ctx);
}

static void pipe_write_closed(void *data, uint32_t item_id) {
	struct context *ctx = data;
	struct item *it = items_get(&ctx->items, item_id);
	if (it != NULL) {
		items_remove(&ctx->items, it);
	}
	remember_closed_pipe(ctx, item_id);
	check_ending(ctx);
}

/* ---------------------------------------------------------------------- */
/* Cross-domain commands                                                  */

static bool ring_from_resource(struct context *ctx, uint32_t id, const char *what,
			       uint32_t min_size, struct ring *ring) {
	struct resource *r = resources_get(&ctx->resources, id);
	if (r == NULL || !r->attached) {
		fail(ctx, CONTEXT_EXIT_ERROR, "INIT: %s ring resource %" PRIu32 " is not attached",
		     what, id);
		return false;
	}
	if (r->kind != RESOURCE_GUEST_MEMORY) {
		fail(ctx, CONTEXT_EXIT_ERROR,
		     "INIT: %s ring resource %" PRIu32 " is not guest memory (kind %u)", what, id,
		     r->kind);
		return false;
	}
	if (r->size < min_size) {
		fail(ctx, CONTEXT_EXIT_ERROR,
		     "INIT: %s ring resource %" PRIu32 " has %" PRIu64 " bytes, needs %" PRIu32,
		     what, id, r->size, min_size);
		return false;
	}
	ring->resource_id = id;
	ring->size = r->size > UINT32_MAX ? UINT32_MAX : (uint32_t)r->size;
	return true;
}

static void cmd_init(struct context *ctx, const struct cross_domain_cmd *cmd) {
	if (ctx->initialized) {
		fail(ctx, CONTEXT_EXIT_ERROR, "INIT: the context is already initialised");
		return;
	}
	if (cmd->init.channel_type != CROSS_DOMAIN_CHANNEL_TYPE_WAYLAND) {
		fail(ctx, CONTEXT_EXIT_ERROR,
		     "INIT: channel type %" PRIu32 " is not supported (only 1, Wayland)",
		     cmd->init.channel_type);
		return;
	}
	if (!ring_from_resource(ctx, cmd->init.query_ring_id, "query",
				CROSS_DOMAIN_IMAGE_REQUIREMENTS_SIZE, &ctx->query) ||
	    !ring_from_resource(
		    ctx, cmd->init.channel_ring_id, "channel",
		    CROSS_DOMAIN_SEND_RECEIVE_HEADER_SIZE(CROSS_DOMAIN_MAX_IDENTIFIERS) + 64,
		    &ctx->channel)) {
		return;
	}
	// Every guest that sends the 16-byte INIT predates the 28-slot layout
	// (Feb 2024); the first SEND confirms or corrects this.
	ctx->layout = cmd->cmd_size == CROSS_DOMAIN_INIT_LEGACY_SIZE
			      ? CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY
			      : CROSS_DOMAIN_MAX_IDENTIFIERS;
	ctx->initialized = true;
	cw_log(CW_LOG_DEBUG,
	       "INIT (%u bytes): query ring %" PRIu32 " (%" PRIu32 " bytes), channel ring %" PRIu32
	       " (%" PRIu32 " bytes)",
	       cmd->cmd_size, ctx->query.resource_id, ctx->query.size, ctx->channel.resource_id,
	       ctx->channel.size);
}

static void cmd_image_requirements(struct context *ctx, const struct cross_domain_cmd *cmd) {
	uint32_t id = 0;
	const struct image_layout *known = image_reqs_find(&ctx->image_reqs, cmd->image.width,
							   cmd->image.height, cmd->image.drm_format,
							   cmd->image.flags, &id);
	struct image_layout layout;
	if (known != NULL) {
		layout = *known;
	} else {
		struct image_limits limits = {
			.max_dimension = ctx->policy_config.limits.max_dimension,
			.max_bytes = ctx->policy_config.limits.max_buffer_bytes};
		struct wire_error err;
		// The compositor's modifiers for this format, from its feedback.
		uint64_t modifiers[64];
		size_t count = 0;
		const struct policy *pol = &ctx->fw.policy;
		for (uint32_t i = 0; i < pol->format_table_len && count < 64; i++) {
			if ((uint32_t)pol->format_table[2 * i] == cmd->image.drm_format) {
				modifiers[count++] = pol->format_table[2 * i + 1];
			}
		}
		if (!image_allocator_layout(ctx->alloc, cmd->image.width, cmd->image.height,
					    cmd->image.drm_format, cmd->image.flags, modifiers,
					    count, &limits, &layout, &err)) {
			fail(ctx, CONTEXT_EXIT_ERROR, "GET_IMAGE_REQUIREMENTS: %s", err.text);
			return;
		}
		id = image_reqs_add(&ctx->image_reqs, &layout);
		if (id == 0 && errno == ENOSPC) {
			fail(ctx, CONTEXT_EXIT_ERROR,
			     "GET_IMAGE_REQUIREMENTS: %" PRIu32
			     " distinct image shapes asked about (limit max-image-requirements)",
			     ctx->image_reqs.max);
			return;
		}
		if (id == 0) {
			fail(ctx, CONTEXT_EXIT_ERROR, "GET_IMAGE_REQUIREMENTS: out of memory");
			return;
		}
	}
	struct cross_domain_image_requirements reply = {
		.modifier = layout.modifier,
		.size = layout.size,
		.blob_id = id,
		.map_info = CROSSWAY_BACKEND_MAP_CACHE_CACHED,
		.memory_idx = -1,
		.physical_device_idx = -1,
	};
	memcpy(reply.strides, layout.strides, sizeof(reply.strides));
	memcpy(reply.offsets, layout.offsets, sizeof(reply.offsets));
	uint8_t buf[CROSS_DOMAIN_IMAGE_REQUIREMENTS_SIZE];
	size_t n = cross_domain_encode_image_requirements(buf, sizeof(buf), &reply);
	emit_ring_write(ctx, &ctx->query, buf, (uint32_t)n);
}

static void cmd_send(struct context *ctx, const struct cross_domain_cmd *cmd) {
	if (!ctx->layout_latched) {
		ctx->layout = cmd->send.layout;
		ctx->layout_latched = true;
	} else if (cmd->send.layout != ctx->layout) {
		fail(ctx, CONTEXT_EXIT_ERROR,
		     "SEND: %" PRIu32 "-identifier layout after %" PRIu32 "-identifier SENDs",
		     cmd->send.layout, ctx->layout);
		return;
	}
	// With nobody to send to (the guest will see the EOF record), the
	// identifiers are still checked, but nothing is sent or made.
	bool dropping = ctx->comp_eof || ctx->ending;
	struct wire_error err;
	bool have_pipe = false;
	for (uint32_t i = 0; i < cmd->send.num_identifiers; i++) {
		uint32_t id = cmd->send.identifiers[i];
		uint32_t type = cmd->send.identifier_types[i];
		int fd = -1;
		if (type == CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB) {
			struct resource *r = resources_get(&ctx->resources, id);
			if (r == NULL) {
				fail(ctx, CONTEXT_EXIT_ERROR,
				     "SEND: identifier %" PRIu32 ": unknown resource %" PRIu32, i,
				     id);
				return;
			}
			if (!r->attached) {
				fail(ctx, CONTEXT_EXIT_ERROR,
				     "SEND: identifier %" PRIu32 ": resource %" PRIu32
				     " is not attached",
				     i, id);
				return;
			}
			if (r->fd < 0) {
				fail(ctx, CONTEXT_EXIT_ERROR,
				     "SEND: identifier %" PRIu32 ": resource %" PRIu32
				     " is guest memory, which cannot be shared",
				     i, id);
				return;
			}
			if (dropping) {
				continue;
			}
			fd = fd_dup(r->fd);
		} else if (type == CROSS_DOMAIN_ID_TYPE_READ_PIPE) {
			if (have_pipe) {
				fail(ctx, CONTEXT_EXIT_ERROR, "SEND: more than one read pipe");
				return;
			}
			have_pipe = true;
			if (dropping) {
				continue;
			}
			if (!pipes_add_read(&ctx->pipes, id, &fd, &err)) {
				fail(ctx, CONTEXT_EXIT_ERROR, "SEND: identifier %" PRIu32 ": %s", i,
				     err.text);
				return;
			}
		} else {
			fail(ctx, CONTEXT_EXIT_ERROR,
			     "SEND: identifier %" PRIu32 " has type %" PRIu32
			     " (only 1, blob, and 3, read pipe, are allowed)",
			     i, type);
			return;
		}
		if (fd < 0) {
			fail(ctx, CONTEXT_EXIT_ERROR, "SEND: cannot duplicate an fd: %s",
			     strerror(errno));
			return;
		}
		if (!forward_guest_fd(&ctx->fw, fd, &err)) {
			fail(ctx, CONTEXT_EXIT_ERROR, "SEND: %s", err.text);
			return;
		}
	}
	if (dropping) {
		return;
	}
	if (!forward_guest_bytes(&ctx->fw, cmd->send.data, cmd->send.data_size, &err) ||
	    !forward_guest_end(&ctx->fw, &err)) {
		fail(ctx, CONTEXT_EXIT_ERROR, "%s", err.text);
		return;
	}
}

static void cmd_write(struct context *ctx, const struct cross_domain_cmd *cmd) {
	uint32_t id = cmd->write.identifier;
	struct item *it = items_get(&ctx->items, id);
	if (it == NULL || it->kind != ITEM_WRITE_PIPE) {
		if (it == NULL && was_closed_pipe(ctx, id)) {
			// The host reader went away; the guest cannot know yet.
			ctx->late_writes++;
			return;
		}
		fail(ctx, CONTEXT_EXIT_ERROR, "WRITE: identifier %" PRIu32 " is not a write pipe",
		     id);
		return;
	}
	pipes_write(&ctx->pipes, it->pipe, cmd->write.data, cmd->write.data_size,
		    cmd->write.hang_up != 0);
}

static void handle_submit(struct context *ctx, const uint8_t *data, uint32_t len) {
	if (ctx->released && len > 0) {
		fail(ctx, CONTEXT_EXIT_ERROR, "SUBMIT: the guest released its rings already");
		return;
	}
	struct cross_domain_reader r = cross_domain_reader_init(data, len);
	struct cross_domain_cmd cmd;
	struct wire_error err;
	enum cross_domain_result res;
	while (!ctx->done && (res = cross_domain_next(&r, &cmd, &err)) == CROSS_DOMAIN_OK) {
		if (!ctx->initialized && cmd.cmd != CROSS_DOMAIN_CMD_INIT) {
			fail(ctx, CONTEXT_EXIT_ERROR, "%s before INIT",
			     cross_domain_cmd_name(cmd.cmd));
			return;
		}
		switch (cmd.cmd) {
		case CROSS_DOMAIN_CMD_INIT:
			cmd_init(ctx, &cmd);
			break;
		case CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS:
			cmd_image_requirements(ctx, &cmd);
			break;
		case CROSS_DOMAIN_CMD_POLL:
			break; // the poll is the channel-ring fence that follows
		case CROSS_DOMAIN_CMD_SEND:
			cmd_send(ctx, &cmd);
			break;
		case CROSS_DOMAIN_CMD_WRITE:
			cmd_write(ctx, &cmd);
			break;
		}
	}
	if (!ctx->done && res == CROSS_DOMAIN_INVALID) {
		fail(ctx, CONTEXT_EXIT_ERROR, "%s", err.text);
	}
}

/* ---------------------------------------------------------------------- */
/* Backend requests                                                       */

static void handle_hello(struct context *ctx, const struct backend_msg *msg) {
	const struct crossway_backend_hello *h = &msg->hello;
	if (ctx->hello_done) {
		fail(ctx, CONTEXT_EXIT_ERROR, "HELLO: sent twice");
		return;
	}
	if (h->version_min > CROSSWAY_BACKEND_VERSION ||
	    h->version_max < CROSSWAY_BACKEND_VERSION) {
		fail(ctx, CONTEXT_EXIT_ERROR,
		     "HELLO: versions %" PRIu32 "..%" PRIu32 " do not include %u", h->version_min,
		     h->version_max, CROSSWAY_BACKEND_VERSION);
		return;
	}
	if (h->capset_id != CROSSWAY_BACKEND_CAPSET_CROSS_DOMAIN) {
		fail(ctx, CONTEXT_EXIT_ERROR, "HELLO: capset %" PRIu32 " is not cross-domain (5)",
		     h->capset_id);
		return;
	}
	ctx->hello_done = true;
	if (!ctx->vm_fixed) {
		snprintf(ctx->vm_name, sizeof(ctx->vm_name), "%s", h->vm_name);
		cw_log_set_tag(ctx->vm_name);
	} else if (strcmp(h->vm_name, ctx->vm_name) != 0) {
		cw_log(CW_LOG_INFO, "HELLO names the VM \"%s\"; using --vm %s", h->vm_name,
		       ctx->vm_name);
	}
	struct crossway_backend_cross_domain_caps caps = {
		.version = 1,
		.supported_channels = 1u << CROSS_DOMAIN_CHANNEL_TYPE_WAYLAND,
		.supports_dmabuf = image_allocator_dmabuf(ctx->alloc) ? 1 : 0,
		.supports_external_gpu_memory = 0,
	};
	size_t cap = sizeof(struct crossway_backend_hello_reply);
	uint8_t *out = backend_reserve(&ctx->backend, cap);
	if (out == NULL) {
		fail(ctx, CONTEXT_EXIT_ERROR, "backend output queue %s", byte_queue_why());
		return;
	}
	backend_commit(&ctx->backend,
		       backend_link_encode_hello_reply(out, cap, msg->hdr.serial,
						       ctx->backend.max_message, &caps,
						       CROSS_DOMAIN_MAX_IDENTIFIERS),
		       -1);
	if (h->flags & CROSSWAY_BACKEND_HELLO_PROBE) {
		snprintf(ctx->end_reason, sizeof(ctx->end_reason), "probe answered");
		finish(ctx, CONTEXT_EXIT_CLEAN);
		return;
	}
	if (!ctx->have_comp) {
		fail(ctx, CONTEXT_EXIT_COMPOSITOR, "no compositor: %s", ctx->comp_error);
		return;
	}
	if (ctx->config != NULL) {
		config_policy_for(ctx->config, ctx->vm_name, &ctx->policy_config);
	} else {
		// Static: the built-in policy is half a megabyte, too much for
		// the stack (one context per process, so one copy suffices).
		static struct config defaults;
		config_defaults(&defaults);
		config_policy_for(&defaults, ctx->vm_name, &ctx->policy_config);
	}
	if (!start_serving(ctx)) {
		fail(ctx, CONTEXT_EXIT_ERROR, "out of memory setting up the context");
		return;
	}
	char name[4 * CROSSWAY_BACKEND_NAME_SIZE];
	cw_log_sanitize(h->ctx_name, name, sizeof(name)); // any bytes the guest chose
	cw_log(CW_LOG_INFO, "Serving context %" PRIu32 " (%s) of VM %s", h->ctx_id, name,
	       ctx->vm_name);
}

static void handle_attach(struct context *ctx, const struct backend_msg *msg, int fd) {
	const struct crossway_backend_attach *a = &msg->attach;
	struct resource *r = resources_get(&ctx->resources, a->resource_id);
	switch (a->kind) {
	case CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY:
	case CROSSWAY_BACKEND_ATTACH_HOST_FD:
		if (r != NULL && (r->kind != a->kind || r->attached)) {
			fd_close(&fd);
			fail(ctx, CONTEXT_EXIT_ERROR, "ATTACH: resource %" PRIu32 " is already %s",
			     a->resource_id, r->attached ? "attached" : "known as another kind");
			return;
		}
		if (r == NULL) {
			r = resources_add(&ctx->resources, a->resource_id, a->kind, fd, a->size);
			if (r == NULL) {
				fd_close(&fd);
				fail(ctx, CONTEXT_EXIT_ERROR,
				     "ATTACH: resource limit (%" PRIu32 ") reached",
				     ctx->resources.max);
				return;
			}
		} else {
			// Re-attached after a DETACH.
			fd_move(&r->fd, &fd);
			r->size = a->size;
		}
		r->attached = true;
		r->handle_type = a->handle_type;
		break;
	case CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB:
		if (r == NULL || r->kind != RESOURCE_BLOB) {
			fail(ctx, CONTEXT_EXIT_ERROR,
			     "ATTACH: resource %" PRIu32 " is not a blob crosswayd created",
			     a->resource_id);
			return;
		}
		if (a->size != 0 && a->size != r->size) {
			fail(ctx, CONTEXT_EXIT_ERROR,
			     "ATTACH: blob %" PRIu32 " has %" PRIu64 " bytes, not %" PRIu64,
			     a->resource_id, r->size, a->size);
			return;
		}
		r->attached = true;
		break;
	}
}

static bool is_ring(const struct context *ctx, uint32_t id) {
	return ctx->initialized && (id == ctx->query.resource_id || id == ctx->channel.resource_id);
}

/* The guest let go of a ring (DETACH or UNREF after INIT). Guests close
 * their DRM file, which detaches and unreferences every resource, before
 * the context is destroyed: that is the normal end of a guest proxy, not a
 * violation. Nothing can be delivered any more, so the Wayland connection
 * ends now; the link stays open for the backend's remaining DETACH/UNREF
 * and its SHUTDOWN. */
static void release(struct context *ctx, const char *what, uint32_t id) {
	if (ctx->released) {
		return;
	}
	cw_log(CW_LOG_INFO, "%s of ring resource %" PRIu32 ": the guest left, ending the context",
	       what, id);
	complete_poll_fences(ctx);
	ctx->released = true;
	if (ctx->have_comp) {
		compositor_close(&ctx->comp);
	}
	pipes_close_reads(&ctx->pipes);
	if (ctx->stall_armed) {
		ctx->stall_armed = false;
		wl_event_source_timer_update(ctx->stall_timer, 0);
	}
}

static void handle_detach(struct context *ctx, const struct backend_msg *msg) {
	struct resource *r = resources_get(&ctx->resources, msg->resource.resource_id);
	if (r == NULL) {
		fail(ctx, CONTEXT_EXIT_ERROR, "DETACH: unknown resource %" PRIu32,
		     msg->resource.resource_id);
		return;
	}
	r->attached = false;
	if (r->kind == RESOURCE_HOST_FD) {
		// The fd was the backend's loan for the time it is attached.
		fd_close(&r->fd);
	}
	if (is_ring(ctx, r->id)) {
		release(ctx, "DETACH", r->id);
	}
}

static void handle_unref(struct context *ctx, const struct backend_msg *msg) {
	struct resource *r = resources_get(&ctx->resources, msg->resource.resource_id);
	if (r == NULL) {
		fail(ctx, CONTEXT_EXIT_ERROR, "UNREF: unknown resource %" PRIu32,
		     msg->resource.resource_id);
		return;
	}
	uint32_t id = r->id;
	r->attached = false;
	if (is_ring(ctx, id)) {
		// Released with the ring still known: no record goes into it.
		release(ctx, "UNREF", id);
	}
	resources_remove(&ctx->resources, r);
}

static void handle_fence(struct context *ctx, const struct backend_msg *msg) {
	const struct crossway_backend_fence *f = &msg->fence;
	switch (f->ring_idx) {
	case CROSSWAY_BACKEND_RING_QUERY:
	case CROSSWAY_BACKEND_RING_GLOBAL:
		// Everything before this fence has been handled already.
		emit_fence_done(ctx, f->fence_id, f->ring_idx);
		return;
	case CROSSWAY_BACKEND_RING_CHANNEL:
		if (ctx->released) {
			// No ring to write a record into: the poll ends at once.
			emit_fence_done(ctx, f->fence_id, f->ring_idx);
			return;
		}
		if (!ctx->initialized) {
			fail(ctx, CONTEXT_EXIT_ERROR, "FENCE: poll fence before INIT");
			return;
		}
		if (ctx->poll_len == CROSSWAY_MAX_POLL_FENCES) {
			fail(ctx, CONTEXT_EXIT_ERROR, "FENCE: more than %u outstanding poll fences",
			     CROSSWAY_MAX_POLL_FENCES);
			return;
		}
		ctx->poll_fences[(ctx->poll_head + ctx->poll_len) % CROSSWAY_MAX_POLL_FENCES] =
			f->fence_id;
		ctx->poll_len++;
		deliver(ctx);
		return;
	}
	fail(ctx, CONTEXT_EXIT_ERROR, "FENCE: unknown ring %" PRIu32, f->ring_idx);
}

static void handle_create_blob(struct context *ctx, const struct backend_msg *msg) {
	const struct crossway_backend_create_blob *c = &msg->create_blob;
	if (ctx->released) {
		fail(ctx, CONTEXT_EXIT_ERROR, "CREATE_BLOB: the guest released its rings already");
		return;
	}
	if (resources_get(&ctx->resources, c->resource_id) != NULL) {
		fail(ctx, CONTEXT_EXIT_ERROR, "CREATE_BLOB: resource %" PRIu32 " already exists",
		     c->resource_id);
		return;
	}
	if (c->blob_mem != CROSSWAY_BACKEND_BLOB_MEM_HOST3D) {
		fail(ctx, CONTEXT_EXIT_ERROR, "CREATE_BLOB: blob_mem %" PRIu32 " is not HOST3D (2)",
		     c->blob_mem);
		return;
	}
	// An image requirement (reusable) or a received memory fd (one blob).
	const struct image_layout *image = image_reqs_get(&ctx->image_reqs, c->blob_id);
	struct item *it = image == NULL && c->blob_id <= UINT32_MAX
				  ? items_get(&ctx->items, (uint32_t)c->blob_id)
				  : NULL;
	if (image == NULL && (it == NULL || it->kind != ITEM_MEMORY)) {
		fail(ctx, CONTEXT_EXIT_ERROR, "CREATE_BLOB: blob id %" PRIu64 " is unknown",
		     c->blob_id);
		return;
	}
	struct crossway_backend_blob_reply reply = {
		.resource_id = c->resource_id,
		.handle_type = CROSSWAY_BACKEND_HANDLE_SHM,
		.size = c->size,
	};
	int fd = -1;
	if (image != NULL) {
		const struct image_layout *l = image;
		if (!image_blob_size_ok(l->size, c->size)) {
			fail(ctx, CONTEXT_EXIT_ERROR,
			     "CREATE_BLOB: size %" PRIu64 " does not match blob %" PRIu64
			     " (%" PRIu64 " bytes, rounded up to a 4, 16 or 64 KiB page)",
			     c->size, c->blob_id, l->size);
			return;
		}
		if (ctx->resources.blob_bytes + c->size >
		    ctx->policy_config.limits.max_total_bytes) {
			fail(ctx, CONTEXT_EXIT_ERROR,
			     "CREATE_BLOB: memory limit reached (%" PRIu64 " of %" PRIu64
			     " bytes in use)",
			     ctx->resources.blob_bytes, ctx->policy_config.limits.max_total_bytes);
			return;
		}
		// The guest maps all of its blob: back all of it (memfd); a dma-buf
		// keeps its own size (see BLOBS in crossway-backend(7)).
		struct image_layout sized = *l;
		sized.size = c->size;
		fd = image_allocator_allocate(ctx->alloc, &sized, &reply.handle_type);
		if (fd < 0) {
			reply.status = -(errno ? errno : ENOMEM);
			cw_log_errno(CW_LOG_ERROR, "CREATE_BLOB: cannot allocate %" PRIu64 " bytes",
				     l->size);
			emit_blob_reply(ctx, msg->hdr.serial, &reply, -1);
			return;
		}
		reply.map_info = CROSSWAY_BACKEND_MAP_CACHE_CACHED |
				 CROSSWAY_BACKEND_MAP_ACCESS_READ |
				 CROSSWAY_BACKEND_MAP_ACCESS_WRITE;
		reply.width = l->width;
		reply.height = l->height;
		reply.drm_fourcc = l->fourcc;
		memcpy(reply.strides, l->strides, sizeof(reply.strides));
		memcpy(reply.offsets, l->offsets, sizeof(reply.offsets));
		reply.modifier = l->modifier;
	} else {
		// A received memory fd: one blob per item. The guest kernel
		// rounds the size it was given up to its page.
		if (!image_blob_size_ok(it->memory.size, c->size)) {
			fail(ctx, CONTEXT_EXIT_ERROR,
			     "CREATE_BLOB: size %" PRIu64 " does not match blob %" PRIu64
			     " (%" PRIu64 " bytes, rounded up to a 4, 16 or 64 KiB page)",
			     c->size, c->blob_id, it->memory.size);
			return;
		}
		fd_move(&fd, &it->memory.fd);
		if (it->memory.dmabuf) {
			reply.handle_type = CROSSWAY_BACKEND_HANDLE_DMABUF;
		}
		// Host memory is the guest's to read only (keymaps, format
		// tables): a compositor may hand every client one writable fd.
		reply.map_info = CROSSWAY_BACKEND_MAP_CACHE_CACHED |
				 CROSSWAY_BACKEND_MAP_ACCESS_READ;
		reply.size = c->size;
		items_remove(&ctx->items, it);
	}
	int copy = fd_dup(fd);
	struct resource *r = copy >= 0 ? resources_add(&ctx->resources, c->resource_id,
						       RESOURCE_BLOB, fd, c->size)
				       : NULL;
	if (r == NULL) {
		fd_close(&copy);
		fd_close(&fd);
		fail(ctx, CONTEXT_EXIT_ERROR, "CREATE_BLOB: resource limit (%" PRIu32 ") reached",
		     ctx->resources.max);
		return;
	}
	emit_blob_reply(ctx, msg->hdr.serial, &reply, copy);
}

static bool backend_message(void *data, const struct backend_msg *msg, int fd) {
	struct context *ctx = data;
	if (ctx->done) {
		fd_close(&fd);
		return false;
	}
	if (ctx->shutdown_received) {
		// crossway-backend(7): nothing follows SHUTDOWN.
		fd_close(&fd);
		fail(ctx, CONTEXT_EXIT_ERROR, "%s after SHUTDOWN",
		     backend_link_type_name(msg->hdr.type));
		return false;
	}
	if (!ctx->hello_done && msg->hdr.type != CROSSWAY_BACKEND_HELLO) {
		fd_close(&fd);
		fail(ctx, CONTEXT_EXIT_ERROR, "%s before HELLO",
		     backend_link_type_name(msg->hdr.type));
		return false;
	}
	switch (msg->hdr.type) {
	case CROSSWAY_BACKEND_HELLO:
		handle_hello(ctx, msg);
		break;
	case CROSSWAY_BACKEND_ATTACH:
		handle_attach(ctx, msg, fd);
		fd = -1;
		break;
	case CROSSWAY_BACKEND_DETACH:
		handle_detach(ctx, msg);
		break;
	case CROSSWAY_BACKEND_UNREF:
		handle_unref(ctx, msg);
		break;
	case CROSSWAY_BACKEND_SUBMIT:
		handle_submit(ctx, msg->payload, msg->payload_size);
		break;
	case CROSSWAY_BACKEND_FENCE:
		handle_fence(ctx, msg);
		break;
	case CROSSWAY_BACKEND_CREATE_BLOB:
		handle_create_blob(ctx, msg);
		break;
	case CROSSWAY_BACKEND_SHUTDOWN:
		ctx->shutdown_received = true;
		complete_poll_fences(ctx);
		// Nothing can carry a transfer's data to the guest any more.
		pipes_close_reads(&ctx->pipes);
		backend_flush(&ctx->backend);
		begin_ending(ctx, CONTEXT_EXIT_CLEAN, "the backend asked to shut down");
		break;
	}
	fd_close(&fd);
	flush_all(ctx);
	// After SHUTDOWN the rest of the batch is read too: anything there is
	// an error.
	return !ctx->done && (!ctx->ending || ctx->shutdown_received);
}

static void backend_closed(void *data, const char *error, bool can_send) {
	struct context *ctx = data;
	if (can_send) {
		// A malformed link message: the backend is told why.
		fail(ctx, CONTEXT_EXIT_ERROR, "%s", error);
		return;
	}
	ctx->backend_gone = true;
	if (ctx->done) {
		return;
	}
	if (error != NULL) {
		fail(ctx, CONTEXT_EXIT_ERROR, "%s", error);
		return;
	}
	if (ctx->ending) {
		pipes_close_reads(&ctx->pipes);
		check_ending(ctx);
		return;
	}
	begin_ending(ctx, CONTEXT_EXIT_CLEAN, "the backend closed the link");
}

static int handle_sigterm(int sig, void *data) {
	struct context *ctx = data;
	snprintf(ctx->end_reason, sizeof(ctx->end_reason), "terminated by signal %d", sig);
	finish(ctx, CONTEXT_EXIT_CLEAN);
	return 0;
}

/* ---------------------------------------------------------------------- */

static bool can_allocate(void *data, uint32_t format, uint64_t modifier) {
	struct context *ctx = data;
	return image_allocator_can(ctx->alloc, format, modifier);
}

static void read_transfer_cap(void *data, int fd, uint64_t cap) {
	struct context *ctx = data;
	pipes_set_read_cap(&ctx->pipes, fd, cap);
}

/* Sets up what depends on the VM's policy: called at HELLO. */
static bool start_serving(struct context *ctx) {
	const struct policy_limits *lim = &ctx->policy_config.limits;
	uint64_t cap = lim->clipboard_bytes > lim->clipboard_text_bytes ? lim->clipboard_bytes
									: lim->clipboard_text_bytes;
	pipes_init(&ctx->pipes, ctx->loop, lim->max_pipes, CROSSWAY_DEFAULT_PIPE_BUFFER, cap,
		   ctx->stall_seconds * 1000, pipe_ready, pipe_drained, pipe_write_closed, ctx);
	image_reqs_init(&ctx->image_reqs, lim->max_image_requirements);
	if (!items_init(&ctx->items, lim->max_items) ||
	    !resources_init(&ctx->resources, lim->max_items)) {
		return false;
	}
	ctx->comp.out_limit = lim->guest_queue_bytes;
	struct forward_limits fl = {
		.max_message = lim->max_message,
		.max_objects = lim->max_objects,
		.guest_fds = CROSSWAY_DEFAULT_GUEST_QUEUE_FDS,
		.guest_out = lim->host_queue_bytes,
		.guest_out_fds = CROSSWAY_DEFAULT_HOST_QUEUE_FDS,
	};
	if (!forward_init(&ctx->fw, &ctx->comp, &ctx->policy_config, &fl)) {
		return false;
	}
	ctx->have_fw = true;
	ctx->fw.trace = ctx->trace;
	ctx->fw.policy.on_read_transfer = read_transfer_cap;
	ctx->fw.policy.can_allocate = can_allocate;
	ctx->fw.policy.hook_data = ctx;
	return true;
}

struct context *context_create(struct wl_event_loop *loop, const struct context_options *opts) {
	struct context *ctx = calloc(1, sizeof(*ctx));
	int backend_fd = opts->backend_fd;
	int comp_fd = opts->compositor_fd;
	if (ctx == NULL) {
		fd_close(&backend_fd);
		fd_close(&comp_fd);
		return NULL;
	}
	ctx->loop = loop;
	ctx->config = opts->config;
	ctx->alloc = opts->allocator;
	ctx->trace = opts->trace;
	ctx->stall_seconds = opts->stall_seconds ? opts->stall_seconds
						 : CROSSWAY_DEFAULT_STALL_SECONDS;
	ctx->linger_seconds = opts->linger_seconds ? opts->linger_seconds
						   : CROSSWAY_DEFAULT_PIPE_LINGER_SECONDS;
	if (opts->vm_name != NULL) {
		snprintf(ctx->vm_name, sizeof(ctx->vm_name), "%s", opts->vm_name);
		ctx->vm_fixed = true;
		cw_log_set_tag(ctx->vm_name);
	} else {
		snprintf(ctx->vm_name, sizeof(ctx->vm_name), "vm");
	}
	ctx->layout = CROSS_DOMAIN_MAX_IDENTIFIERS;
	snprintf(ctx->comp_error, sizeof(ctx->comp_error), "%s",
		 opts->compositor_error ? opts->compositor_error : "");
	if (!backend_init(&ctx->backend, loop, backend_fd, CROSSWAY_BACKEND_MAX_MESSAGE_SIZE,
			  backend_message, backend_closed, ctx)) {
		backend_fd = -1;
		cw_log(CW_LOG_ERROR, "Cannot set up the backend link");
		goto error;
	}
	backend_fd = -1;
	if (comp_fd >= 0) {
		if (!compositor_init(&ctx->comp, loop, comp_fd, CROSSWAY_DEFAULT_GUEST_QUEUE_BYTES,
				     CROSSWAY_DEFAULT_GUEST_QUEUE_FDS, comp_input, comp_closed,
				     comp_drained, ctx)) {
			comp_fd = -1;
			goto error;
		}
		comp_fd = -1;
		ctx->have_comp = true;
	}
	ctx->stall_timer = wl_event_loop_add_timer(loop, stall_expired, ctx);
	ctx->linger_timer = wl_event_loop_add_timer(loop, linger_expired, ctx);
	ctx->sigterm = wl_event_loop_add_signal(loop, SIGTERM, handle_sigterm, ctx);
	if (ctx->stall_timer == NULL || ctx->linger_timer == NULL || ctx->sigterm == NULL) {
		goto error;
	}
	return ctx;
error:
	fd_close(&backend_fd);
	fd_close(&comp_fd);
	context_destroy(ctx);
	return NULL;
}

int context_run(struct context *ctx) {
	while (!ctx->done) {
		if (wl_event_loop_dispatch(ctx->loop, -1) < 0 && errno != EINTR) {
			fail(ctx, CONTEXT_EXIT_ERROR, "event loop: %s", strerror(errno));
		}
	}
	return ctx->exit_code;
}

void context_destroy(struct context *ctx) {
	if (ctx == NULL) {
		return;
	}
	if (ctx->stall_timer) {
		wl_event_source_remove(ctx->stall_timer);
	}
	if (ctx->linger_timer) {
		wl_event_source_remove(ctx->linger_timer);
	}
	if (ctx->sigterm) {
		wl_event_source_remove(ctx->sigterm);
	}
	// Items refer to write pipes: pipes go first.
	pipes_finish(&ctx->pipes);
	if (ctx->have_fw) {
		forward_finish(&ctx->fw);
	}
	if (ctx->have_comp) {
		compositor_finish(&ctx->comp);
	}
	backend_finish(&ctx->backend);
	items_finish(&ctx->items);
	image_reqs_finish(&ctx->image_reqs);
	resources_finish(&ctx->resources);
	free(ctx);
}
