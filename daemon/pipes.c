/* _GNU_SOURCE: pipe2. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "daemon/fd.h"
#include "daemon/log.h"
#include "daemon/pipes.h"
#include "wire/cross_domain.h"
#include "wire/crossway-backend.h"

void pipes_init(struct pipes *p, struct wl_event_loop *loop, uint32_t max, size_t buffer_limit,
		uint64_t default_cap, uint32_t stall_ms, pipes_ready_func_t on_ready,
		pipes_drained_func_t on_drained, pipes_write_closed_func_t on_write_closed,
		void *data) {
	*p = (struct pipes){
		.loop = loop,
		.max = max,
		.next_read_id = CROSS_DOMAIN_PIPE_READ_START + 1,
		.buffer_limit = buffer_limit,
		.default_cap = default_cap,
		.stall_ms = stall_ms,
		.on_ready = on_ready,
		.on_drained = on_drained,
		.on_write_closed = on_write_closed,
		.data = data,
	};
	wl_list_init(&p->reads);
	wl_list_init(&p->writes);
}

static void destroy_read(struct pipes *p, struct read_pipe *rp) {
	if (rp->source) {
		wl_event_source_remove(rp->source);
	}
	fd_close(&rp->fd);
	wl_list_remove(&rp->link);
	p->count--;
	free(rp);
}

static void destroy_write(struct pipes *p, struct write_pipe *wp) {
	if (wp->source) {
		wl_event_source_remove(wp->source);
	}
	if (wp->stall_timer) {
		wl_event_source_remove(wp->stall_timer);
	}
	fd_close(&wp->fd);
	byte_queue_finish(&wp->pending);
	wl_list_remove(&wp->link);
	p->count--;
	free(wp);
}

void pipes_finish(struct pipes *p) {
	if (p->loop == NULL) {
		return;
	}
	struct read_pipe *rp, *rtmp;
	wl_list_for_each_safe(rp, rtmp, &p->reads, link) {
		destroy_read(p, rp);
	}
	struct write_pipe *wp, *wtmp;
	wl_list_for_each_safe(wp, wtmp, &p->writes, link) {
		destroy_write(p, wp);
	}
	p->loop = NULL;
}

static int read_ready(int fd, uint32_t mask, void *data) {
	struct read_pipe *rp = data;
	rp->ready = true;
	if (mask & (WL_EVENT_HANGUP | WL_EVENT_ERROR)) {
		// The writer closed: the rest and the EOF stay readable, and epoll
		// reports a hang-up even with an empty mask, so stop watching.
		wl_event_source_remove(rp->source);
		rp->source = NULL;
	} else {
		// Stop watching until a poll fence takes the data.
		wl_event_source_fd_update(rp->source, 0);
	}
	if (rp->owner->on_ready) {
		rp->owner->on_ready(rp->owner->data);
	}
	return 0;
}

bool pipes_add_read(struct pipes *p, uint32_t id, int *write_end, struct wire_error *err) {
	if (id != p->next_read_id) {
		return wire_error_set(
			err, "read pipe id 0x%08" PRIx32 " is not the next one (0x%08" PRIx32 ")",
			id, p->next_read_id);
	}
	if (p->count >= p->max) {
		return wire_error_set(err, "pipe limit (%" PRIu32 ") reached", p->max);
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		return wire_error_set(err, "pipe2: %s", strerror(errno));
	}
	struct read_pipe *rp = calloc(1, sizeof(*rp));
	if (rp == NULL || !fd_set_nonblock(fds[0])) {
		free(rp);
		fd_close(&fds[0]);
		fd_close(&fds[1]);
		return wire_error_set(err, "out of memory for a pipe");
	}
	rp->owner = p;
	rp->id = id;
	rp->fd = fds[0];
	rp->cap = p->default_cap;
	struct stat st;
	rp->inode = fstat(fds[0], &st) == 0 ? (uint64_t)st.st_ino : 0;
	rp->source = wl_event_loop_add_fd(p->loop, rp->fd, WL_EVENT_READABLE, read_ready, rp);
	if (rp->source == NULL) {
		fd_close(&rp->fd);
		fd_close(&fds[1]);
		free(rp);
		return wire_error_set(err, "out of memory to watch a pipe");
	}
	wl_list_insert(p->reads.prev, &rp->link);
	p->count++;
	// Guests clamp the id to the start value when it would wrap.
	p->next_read_id = id == UINT32_MAX ? CROSS_DOMAIN_PIPE_READ_START : id + 1;
	*write_end = fds[1];
	return true;
}

struct read_pipe *pipes_next_ready(struct pipes *p) {
	struct read_pipe *rp;
	wl_list_for_each(rp, &p->reads, link) {
		if (rp->ready) {
			// Round-robin: the served pipe goes to the back.
			wl_list_remove(&rp->link);
			wl_list_insert(p->reads.prev, &rp->link);
			return rp;
		}
	}
	return NULL;
}

/* Waits for the next readiness. Returns false when the fd could not be
 * watched again. */
static bool watch_read(struct pipes *p, struct read_pipe *rp) {
	rp->ready = false;
	if (rp->source != NULL) {
		wl_event_source_fd_update(rp->source, WL_EVENT_READABLE);
		return true;
	}
	rp->source = wl_event_loop_add_fd(p->loop, rp->fd, WL_EVENT_READABLE, read_ready, rp);
	return rp->source != NULL;
}

ssize_t pipes_read(struct pipes *p, struct read_pipe *rp, uint8_t *buf, size_t cap, bool *hang_up) {
	*hang_up = false;
	if (rp->total >= rp->cap) {
		// Over the transfer cap: the guest gets what fitted, then EOF.
		cw_log(CW_LOG_INFO,
		       "Clipboard transfer to the guest truncated at %" PRIu64 " bytes", rp->cap);
		*hang_up = true;
		destroy_read(p, rp);
		return 0;
	}
	if (cap > rp->cap - rp->total) {
		cap = (size_t)(rp->cap - rp->total);
	}
	ssize_t n;
	do {
		n = read(rp->fd, buf, cap);
	} while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN)) {
		// Nothing yet: wait. (Unwatched only if a writer came back, by
		// opening /proc/PID/fd of crosswayd.)
		if (watch_read(p, rp)) {
			return -1;
		}
		cw_log(CW_LOG_INFO,
		       "Clipboard transfer to the guest cut short: cannot watch its pipe");
	}
	if (n <= 0) {
		// EOF, or an error that ends the transfer the same way.
		*hang_up = true;
		destroy_read(p, rp);
		return 0;
	}
	rp->total += (uint64_t)n;
	// Once the writer closed, the rest is there: the pipe stays ready.
	if (rp->source != NULL) {
		watch_read(p, rp);
	}
	return n;
}

void pipes_set_read_cap(struct pipes *p, int fd, uint64_t cap) {
	struct stat st;
	if (fstat(fd, &st) != 0) {
		return;
	}
	struct read_pipe *rp;
	wl_list_for_each(rp, &p->reads, link) {
		if (rp->inode == (uint64_t)st.st_ino) {
			rp->cap = cap;
			return;
		}
	}
}

void pipes_close_reads(struct pipes *p) {
	if (p->loop == NULL) {
		return; // never set up: the context ended before HELLO
	}
	struct read_pipe *rp, *tmp;
	wl_list_for_each_safe(rp, tmp, &p->reads, link) {
		destroy_read(p, rp);
	}
}

bool pipes_blocked(const struct pipes *p) {
	const struct write_pipe *wp;
	wl_list_for_each(wp, &p->writes, link) {
		if (wp->pending.len > p->buffer_limit) {
			return true;
		}
	}
	return false;
}

static void close_write(struct pipes *p, struct write_pipe *wp) {
	uint32_t item_id = wp->item_id;
	bool was_blocked = wp->pending.len > p->buffer_limit;
	destroy_write(p, wp);
	if (p->on_write_closed) {
		p->on_write_closed(p->data, item_id);
	}
	if (was_blocked && !pipes_blocked(p) && p->on_drained) {
		p->on_drained(p->data);
	}
}

void pipes_close_write(struct pipes *p, struct write_pipe *wp) {
	close_write(p, wp);
}

static void reader_gone(struct pipes *p, struct write_pipe *wp) {
	cw_log(CW_LOG_DEBUG, "Write pipe %" PRIu32 ": reader closed after %" PRIu64 " bytes",
	       wp->item_id, wp->written);
	close_write(p, wp);
}

/* Writes pending bytes. Returns false when the pipe is gone. */
static bool drain(struct pipes *p, struct write_pipe *wp) {
	bool was_blocked = wp->pending.len > p->buffer_limit;
	uint64_t written_before = wp->written;
	while (wp->pending.len > 0) {
		ssize_t n = write(wp->fd, byte_queue_data(&wp->pending), wp->pending.len);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && (errno == EAGAIN)) {
			break;
		}
		if (n <= 0) {
			// The reader went away (EPIPE): nothing more to deliver.
			reader_gone(p, wp);
			return false;
		}
		byte_queue_consume(&wp->pending, (size_t)n);
		wp->written += (uint64_t)n;
	}
	if (wp->pending.len == 0 && wp->hang_up) {
		close_write(p, wp);
		return false;
	}
	bool waiting = wp->pending.len > 0;
	wl_event_source_fd_update(wp->source, waiting ? WL_EVENT_WRITABLE : 0);
	// The stall clock starts when bytes wait and restarts only when the
	// reader takes some: the guest writing more does not keep a reader
	// that takes nothing alive.
	if (!waiting || !wp->stall_armed || wp->written != written_before) {
		wl_event_source_timer_update(wp->stall_timer, waiting ? (int)p->stall_ms : 0);
		wp->stall_armed = waiting;
	}
	if (was_blocked && wp->pending.len <= p->buffer_limit && !pipes_blocked(p) &&
	    p->on_drained) {
		p->on_drained(p->data);
	}
	return true;
}

static int write_ready(int fd, uint32_t mask, void *data) {
	struct write_pipe *wp = data;
	if (mask & (WL_EVENT_ERROR | WL_EVENT_HANGUP)) {
		// The reader went away. epoll says so even with an empty mask, so
		// waiting for the guest would spin: close now, as on EPIPE (the
		// context drops the guest's late WRITEs).
		reader_gone(wp->owner, wp);
		return 0;
	}
	drain(wp->owner, wp);
	return 0;
}

static int write_stalled(void *data) {
	struct write_pipe *wp = data;
	cw_log(CW_LOG_INFO,
	       "Clipboard transfer %" PRIu32 " dropped: the host reader took nothing for %" PRIu32
	       " ms (%zu bytes pending)",
	       wp->item_id, wp->owner->stall_ms, wp->pending.len);
	close_write(wp->owner, wp);
	return 0;
}

struct write_pipe *pipes_add_write(struct pipes *p, uint32_t item_id, int fd, uint64_t cap) {
	if (p->count >= p->max) {
		fd_close(&fd);
		errno = EMFILE;
		return NULL;
	}
	struct write_pipe *wp = calloc(1, sizeof(*wp));
	if (wp == NULL || !fd_set_nonblock(fd)) {
		free(wp);
		fd_close(&fd);
		errno = ENOMEM;
		return NULL;
	}
	wp->owner = p;
	wp->item_id = item_id;
	wp->fd = fd;
	wp->cap = cap ? cap : p->default_cap;
	// Buffer up to the limit plus the largest WRITE a guest sends.
	byte_queue_init(&wp->pending, p->buffer_limit + CROSSWAY_BACKEND_MAX_MESSAGE_SIZE);
	wp->source = wl_event_loop_add_fd(p->loop, fd, 0, write_ready, wp);
	wp->stall_timer = wl_event_loop_add_timer(p->loop, write_stalled, wp);
	wl_list_insert(p->writes.prev, &wp->link);
	p->count++;
	if (wp->source == NULL || wp->stall_timer == NULL) {
		destroy_write(p, wp);
		errno = ENOMEM; // libwayland's event sources fail only for memory
		return NULL;
	}
	return wp;
}

bool pipes_write(struct pipes *p, struct write_pipe *wp, const void *data, size_t len,
		 bool hang_up) {
	if (hang_up) {
		wp->hang_up = true;
	}
	if (len > wp->cap - wp->accepted) {
		// Over the transfer cap: the host reader gets what fitted, then EOF.
		if (!wp->truncated) {
			cw_log(CW_LOG_INFO,
			       "Clipboard transfer %" PRIu32 " from the guest truncated at %" PRIu64
			       " bytes",
			       wp->item_id, wp->cap);
			wp->truncated = true;
		}
		len = (size_t)(wp->cap - wp->accepted);
		wp->hang_up = true;
	}
	wp->accepted += len;
	if (len > 0 && !byte_queue_append(&wp->pending, data, len)) {
		// Over the hard cap: the guest kept writing while told to wait.
		cw_log(CW_LOG_INFO, "Clipboard transfer %" PRIu32 " dropped: buffer overflow",
		       wp->item_id);
		close_write(p, wp);
		return !pipes_blocked(p);
	}
	if (!drain(p, wp)) {
		return !pipes_blocked(p);
	}
	return !pipes_blocked(p);
}
