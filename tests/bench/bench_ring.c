/*
 * The guest side of crossway-bench: the same jobs as bench_wl.c, done the way
 * a guest proxy does them. Requests are laid out byte by byte and sent in
 * SENDs of at most CROSS_DOMAIN_MAX_SEND_RECV_SIZE bytes (sommelier's chunk);
 * events come from RECEIVE records, one per POLL, with one POLL outstanding
 * at all times (a new one goes out as soon as a record has been copied out of
 * the ring, as sommelier and wayland-proxy-virtwl do, so that a POLL is never
 * on the path of a round trip); buffers are blobs from
 * GET_IMAGE_REQUIREMENTS + CREATE_BLOB, mapped and written in place, and
 * given to wl_shm.create_pool by resource id.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "protocol/proto_tables.h"
#include "tests/bench/bench.h"
#include "tests/common/sim.h"
#include "wire/cross_domain.h"

#define MAX_IDS 4096u
#define DRM_FORMAT_XRGB8888 0x34325258u
#define SHM_FORMAT_XRGB8888 1u

enum kind {
	KIND_NONE,
	KIND_REGISTRY,
	KIND_CALLBACK,
	KIND_WM_BASE,
	KIND_XDG_SURFACE,
	KIND_BUFFER,
	KIND_OTHER,
};

struct guest {
	struct sim sim;
	bool spawned;
	int ctx_pid; // crosswayd's process serving the context (its child when it forked)
	char error[200];
	uint32_t next_id;
	uint32_t free_ids[MAX_IDS];
	uint32_t free_count;
	uint8_t kind[MAX_IDS];
	uint8_t done[MAX_IDS]; // callbacks: done came; buffers: busy
	uint8_t out[CROSS_DOMAIN_MAX_SEND_RECV_SIZE];
	uint32_t out_len;
	uint8_t in[65536];
	uint32_t in_len;
	uint32_t compositor_name, compositor_version, shm_name, wm_base_name;
	uint32_t registry, compositor, shm, wm_base, surface, region, xdg_surface, toplevel;
	bool configured;
	uint64_t syncs_done;
	uint64_t events;
	uint64_t polls, record_bytes;
	uint64_t poll_fence; // the channel fence of the outstanding POLL
};

static bool gfail(struct guest *g, const char *what) {
	if (g->error[0] == '\0') {
		snprintf(g->error, sizeof(g->error), "%.40s%s%.70s%s%.60s", what,
			 g->sim.have_error ? ": crosswayd ERROR " : "", g->sim.error_text,
			 g->sim.fault[0] ? ": " : "", g->sim.fault);
	}
	return false;
}

static uint32_t new_id(struct guest *g, enum kind kind) {
	uint32_t id = g->free_count > 0 ? g->free_ids[--g->free_count] : g->next_id++;
	if (id < MAX_IDS) {
		g->kind[id] = (uint8_t)kind;
		g->done[id] = 0;
	}
	return id;
}

static bool flush(struct guest *g) {
	if (g->out_len == 0) {
		return true;
	}
	bool ok = sim_send_wayland(&g->sim, g->out, g->out_len, NULL, NULL, 0);
	g->out_len = 0;
	return ok || gfail(g, "SEND");
}

/* Queues one request of @nwords argument words; flushes when the SEND is full. */
static bool put(struct guest *g, uint32_t object, uint16_t opcode, const uint32_t *words,
		uint32_t nwords) {
	uint32_t size = 8 + 4 * nwords;
	if (g->out_len + size > sizeof(g->out) && !flush(g)) {
		return false;
	}
	uint32_t head[2] = {object, (size << 16) | opcode};
	memcpy(g->out + g->out_len, head, sizeof(head));
	if (nwords > 0) {
		memcpy(g->out + g->out_len + 8, words, 4 * nwords);
	}
	g->out_len += size;
	return true;
}

static bool bind(struct guest *g, uint32_t name, const char *interface, uint32_t version,
		 uint32_t id) {
	uint32_t words[32] = {0};
	uint32_t len = (uint32_t)strlen(interface) + 1;
	words[0] = name;
	words[1] = len;
	memcpy(&words[2], interface, len);
	uint32_t n = 2 + (len + 3) / 4;
	words[n++] = version;
	words[n++] = id;
	return put(g, g->registry, PROTO_WL_REGISTRY_REQ_BIND, words, n);
}

static void global(struct guest *g, const uint8_t *msg, uint32_t size) {
	uint32_t name, len;
	memcpy(&name, msg + 8, 4);
	memcpy(&len, msg + 12, 4);
	if (len == 0 || 16 + ((len + 3) & ~3u) + 4 > size) {
		return;
	}
	const char *iface = (const char *)msg + 16;
	uint32_t version;
	memcpy(&version, msg + 16 + ((len + 3) & ~3u), 4);
	if (strcmp(iface, "wl_compositor") == 0) {
		g->compositor_name = name;
		g->compositor_version = version < 4 ? version : 4;
	} else if (strcmp(iface, "wl_shm") == 0) {
		g->shm_name = name;
	} else if (strcmp(iface, "xdg_wm_base") == 0) {
		g->wm_base_name = name;
	}
}

static bool dispatch(struct guest *g, const uint8_t *msg, uint32_t size) {
	uint32_t object, word1, arg0 = 0;
	memcpy(&object, msg, 4);
	memcpy(&word1, msg + 4, 4);
	uint16_t opcode = word1 & 0xffff;
	if (size >= 12) {
		memcpy(&arg0, msg + 8, 4);
	}
	g->events++;
	if (object == 1) {
		if (opcode == PROTO_WL_DISPLAY_EVT_ERROR) {
			snprintf(g->error, sizeof(g->error),
				 "wl_display.error on object %u code %u", arg0,
				 size >= 16 ? msg[12] : 0);
			return false;
		}
		if (opcode == PROTO_WL_DISPLAY_EVT_DELETE_ID && arg0 < MAX_IDS &&
		    g->free_count < MAX_IDS) {
			g->kind[arg0] = KIND_NONE;
			g->free_ids[g->free_count++] = arg0;
		}
		return true;
	}
	if (object >= MAX_IDS) {
		return true;
	}
	switch (g->kind[object]) {
	case KIND_REGISTRY:
		if (opcode == PROTO_WL_REGISTRY_EVT_GLOBAL) {
			global(g, msg, size);
		}
		break;
	case KIND_CALLBACK:
		g->done[object] = 1;
		g->syncs_done++;
		break;
	case KIND_WM_BASE:
		if (opcode == PROTO_XDG_WM_BASE_EVT_PING) {
			return put(g, object, PROTO_XDG_WM_BASE_REQ_PONG, &arg0, 1) && flush(g);
		}
		break;
	case KIND_XDG_SURFACE:
		g->configured = true;
		return put(g, object, PROTO_XDG_SURFACE_REQ_ACK_CONFIGURE, &arg0, 1);
	case KIND_BUFFER:
		g->done[object] = 0;
		break;
	default:
		break;
	}
	return true;
}

/* Issues the next POLL: the command and its channel-ring fence. */
static bool repoll(struct guest *g) {
	uint8_t cmd[CROSS_DOMAIN_POLL_SIZE];
	size_t n = cross_domain_encode_poll(cmd, sizeof(cmd));
	if (n == 0 || !sim_send_submit(&g->sim, cmd, (uint32_t)n)) {
		return gfail(g, "POLL");
	}
	g->poll_fence = sim_send_fence(&g->sim, CROSSWAY_BACKEND_RING_CHANNEL);
	return true;
}

/* The fence just completed is the newest one the sim remembers. */
static bool poll_done(struct sim *sim, void *data) {
	uint64_t id = *(const uint64_t *)data;
	for (uint32_t i = sim->done_count; i > 0; i--) {
		if (sim->done_fences[i - 1] == id) {
			return true;
		}
	}
	return false;
}

/* Waits for the outstanding POLL's record, copies it out of the ring, polls
 * again at once and handles the whole messages the record completes. */
static bool poll_once(struct guest *g) {
	if (!flush(g)) {
		return false;
	}
	if (!sim_wait(&g->sim, poll_done, &g->poll_fence, BENCH_WAIT_MS)) {
		return gfail(g, "POLL");
	}
	struct sim_ring *ring = g->sim.shared_ring ? &g->sim.query : &g->sim.channel;
	struct cross_domain_record rec;
	struct wire_error err;
	if (!cross_domain_decode_record(ring->mem, ring->size, g->sim.layout, &rec, &err)) {
		return gfail(g, "bad channel record");
	}
	g->polls++;
	if (rec.cmd != CROSS_DOMAIN_CMD_RECEIVE || rec.data_size == 0) {
		return gfail(g, "unexpected record (or the compositor hung up)");
	}
	if (rec.data_size > sizeof(g->in) - g->in_len) {
		return gfail(g, "event buffer overflow");
	}
	g->record_bytes += rec.data_size;
	memcpy(g->in + g->in_len, rec.data, rec.data_size);
	g->in_len += rec.data_size;
	// The ring is free again.
	if (!repoll(g)) {
		return false;
	}
	uint32_t pos = 0;
	while (g->in_len - pos >= 8) {
		uint32_t word1;
		memcpy(&word1, g->in + pos + 4, 4);
		uint32_t size = word1 >> 16;
		if (size < 8 || (size & 3) != 0) {
			return gfail(g, "bad event size");
		}
		if (g->in_len - pos < size) {
			break;
		}
		if (!dispatch(g, g->in + pos, size)) {
			return false;
		}
		pos += size;
	}
	memmove(g->in, g->in + pos, g->in_len - pos);
	g->in_len -= pos;
	return true;
}

/* crosswayd's CPU time: the context process and, if it forked, its parent. */
static int64_t cpu_ns(const struct guest *g) {
	int64_t a = bench_proc_cpu_ns(g->ctx_pid);
	int64_t b = g->ctx_pid != g->sim.pid ? bench_proc_cpu_ns(g->sim.pid) : 0;
	return a < 0 || b < 0 ? -1 : a + b;
}

static bool roundtrip(struct guest *g) {
	uint32_t cb = new_id(g, KIND_CALLBACK);
	if (!put(g, 1, PROTO_WL_DISPLAY_REQ_SYNC, &cb, 1)) {
		return false;
	}
	while (!g->done[cb]) {
		if (!poll_once(g)) {
			return false;
		}
	}
	return true;
}

static bool setup(struct guest *g, const struct bench_job *job, struct bench_result *res) {
	g->next_id = 2;
	// "info" for the exit line with the count of pixel bytes copied; its
	// stderr is read once it has exited (a few lines per context).
	static const char *const args[] = {"--log-level", "info", NULL};
	double t0 = bench_now();
	if (!sim_spawn(&g->sim, job->crosswayd, job->display, args, true)) {
		return gfail(g, "spawning crosswayd");
	}
	g->spawned = true;
	if (!sim_hello(&g->sim, "bench") || !sim_init(&g->sim, CROSS_DOMAIN_INIT_V1_SIZE, 5000)) {
		return gfail(g, "HELLO/INIT");
	}
	if (!repoll(g)) {
		return false;
	}
	g->registry = new_id(g, KIND_REGISTRY);
	if (!put(g, 1, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, &g->registry, 1) || !roundtrip(g)) {
		return false;
	}
	res->spawn_to_roundtrip_ms = (bench_now() - t0) * 1e3;
	g->ctx_pid = bench_proc_worker(g->sim.pid);
	res->rss_idle_kib = bench_proc_status_kib(g->ctx_pid, "VmRSS");
	res->hwm_idle_kib = bench_proc_status_kib(g->ctx_pid, "VmHWM");
	if (g->ctx_pid != g->sim.pid) {
		res->rss_parent_kib = bench_proc_status_kib(g->sim.pid, "VmRSS");
	}
	if (g->compositor_name == 0 || g->shm_name == 0 || g->wm_base_name == 0) {
		return gfail(g, "missing wl_compositor, wl_shm or xdg_wm_base");
	}
	g->compositor = new_id(g, KIND_OTHER);
	g->shm = new_id(g, KIND_OTHER);
	g->wm_base = new_id(g, KIND_WM_BASE);
	g->surface = new_id(g, KIND_OTHER);
	g->region = new_id(g, KIND_OTHER);
	return bind(g, g->compositor_name, "wl_compositor", g->compositor_version, g->compositor) &&
	       bind(g, g->shm_name, "wl_shm", 1, g->shm) &&
	       bind(g, g->wm_base_name, "xdg_wm_base", 1, g->wm_base) &&
	       put(g, g->compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE, &g->surface, 1) &&
	       put(g, g->compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_REGION, &g->region, 1) &&
	       roundtrip(g);
}

static bool roundtrips(struct guest *g, const struct bench_job *job, struct bench_result *res) {
	for (uint32_t i = 0; i < job->count && i < BENCH_MAX_ROUNDTRIPS; i++) {
		double t0 = bench_now();
		if (!roundtrip(g)) {
			return false;
		}
		res->rt_us[res->rt_count++] = (bench_now() - t0) * 1e6;
	}
	return true;
}

static bool msg_up(struct guest *g, const struct bench_job *job, struct bench_result *res) {
	int64_t cpu0 = cpu_ns(g);
	double t0 = bench_now();
	static const uint32_t rect[4] = {0, 0, 1, 1};
	for (uint32_t i = 0; i < job->count; i++) {
		if (!put(g, g->region, PROTO_WL_REGION_REQ_ADD, rect, 4)) {
			return false;
		}
	}
	if (!roundtrip(g)) {
		return false;
	}
	res->seconds = bench_now() - t0;
	int64_t cpu1 = cpu_ns(g);
	res->crosswayd_cpu_ns = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	res->messages = job->count;
	return true;
}

static bool msg_down(struct guest *g, const struct bench_job *job, struct bench_result *res) {
	int64_t cpu0 = cpu_ns(g);
	uint64_t events0 = g->events, polls0 = g->polls, bytes0 = g->record_bytes;
	uint64_t done0 = g->syncs_done, sent = 0;
	double t0 = bench_now();
	while (g->syncs_done - done0 < job->count) {
		while (sent < job->count && sent - (g->syncs_done - done0) < BENCH_SYNC_WINDOW) {
			uint32_t cb = new_id(g, KIND_CALLBACK);
			if (!put(g, 1, PROTO_WL_DISPLAY_REQ_SYNC, &cb, 1)) {
				return false;
			}
			sent++;
		}
		if (!poll_once(g)) {
			return false;
		}
	}
	res->seconds = bench_now() - t0;
	int64_t cpu1 = cpu_ns(g);
	res->crosswayd_cpu_ns = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	res->messages = (double)(g->events - events0);
	res->polls = g->polls - polls0;
	res->record_bytes = g->record_bytes - bytes0;
	return true;
}

struct blob_buffer {
	uint8_t *map;
	size_t map_size;
	uint32_t offset, stride;
	uint32_t buffer;
};

static bool make_buffer(struct guest *g, const struct bench_job *job, struct blob_buffer *b) {
	struct cross_domain_image_requirements req;
	if (!sim_image_requirements(&g->sim, job->width, job->height, DRM_FORMAT_XRGB8888, &req,
				    5000)) {
		return gfail(g, "GET_IMAGE_REQUIREMENTS");
	}
	uint32_t resource;
	int fd = sim_create_blob(&g->sim, req.blob_id, req.size, &resource, NULL, 5000);
	if (fd < 0) {
		return gfail(g, "CREATE_BLOB");
	}
	b->map = mmap(NULL, req.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		return gfail(g, "mapping the blob");
	}
	b->map_size = req.size;
	b->offset = req.offsets[0];
	b->stride = req.strides[0];
	// wl_shm.create_pool(new_id, fd, size): the fd travels as the blob's id.
	uint32_t pool = new_id(g, KIND_OTHER);
	uint32_t create[2] = {pool, (uint32_t)req.size};
	uint32_t head[2] = {g->shm, (16u << 16) | PROTO_WL_SHM_REQ_CREATE_POOL};
	uint8_t msg[16];
	memcpy(msg, head, 8);
	memcpy(msg + 8, create, 8);
	uint32_t type = CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB;
	if (!flush(g) || !sim_send_wayland(&g->sim, msg, sizeof(msg), &resource, &type, 1)) {
		return gfail(g, "SEND create_pool");
	}
	b->buffer = new_id(g, KIND_BUFFER);
	uint32_t args[6] = {b->buffer,   b->offset, job->width,
			    job->height, b->stride, SHM_FORMAT_XRGB8888};
	return put(g, pool, PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER, args, 6) &&
	       put(g, pool, PROTO_WL_SHM_POOL_REQ_DESTROY, NULL, 0);
}

static bool frames(struct guest *g, const struct bench_job *job, struct bench_result *res) {
	g->xdg_surface = new_id(g, KIND_XDG_SURFACE);
	g->toplevel = new_id(g, KIND_OTHER);
	uint32_t get_xdg[2] = {g->xdg_surface, g->surface};
	if (!put(g, g->wm_base, PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE, get_xdg, 2) ||
	    !put(g, g->xdg_surface, PROTO_XDG_SURFACE_REQ_GET_TOPLEVEL, &g->toplevel, 1) ||
	    !put(g, g->surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL, 0)) {
		return false;
	}
	while (!g->configured) {
		if (!poll_once(g)) {
			return false;
		}
	}
	struct blob_buffer bufs[2] = {0};
	bool ok = make_buffer(g, job, &bufs[0]) && make_buffer(g, job, &bufs[1]) && roundtrip(g) &&
		  bench_wait_go(job);
	for (int i = 0; ok && i < 2; i++) {
		// Touch every page first: page faults are not what is measured.
		bench_fill(bufs[i].map + bufs[i].offset, bufs[i].stride, job->height, 0);
	}
	int64_t cpu0 = cpu_ns(g);
	double start = bench_now();
	double deadline = job->duration_s > 0 ? start + job->duration_s : 0;
	for (uint32_t f = 0; ok; f++) {
		if (deadline > 0 ? bench_now() >= deadline : f >= job->count) {
			break;
		}
		int b = f % 2;
		while (ok && g->done[bufs[b].buffer]) {
			b = !b;
			if (g->done[bufs[b].buffer]) {
				ok = poll_once(g);
			}
		}
		if (!ok) {
			break;
		}
		bench_fill(bufs[b].map + bufs[b].offset, bufs[b].stride, job->height, f);
		uint32_t attach[3] = {bufs[b].buffer, 0, 0};
		uint32_t damage[4] = {0, 0, job->width, job->height};
		uint32_t cb = new_id(g, KIND_CALLBACK);
		g->done[bufs[b].buffer] = 1;
		ok = put(g, g->surface, PROTO_WL_SURFACE_REQ_ATTACH, attach, 3) &&
		     put(g, g->surface, PROTO_WL_SURFACE_REQ_DAMAGE_BUFFER, damage, 4) &&
		     put(g, g->surface, PROTO_WL_SURFACE_REQ_FRAME, &cb, 1) &&
		     put(g, g->surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL, 0);
		// From the flush, as the libwayland client measures it.
		double t0 = bench_now();
		ok = ok && flush(g);
		while (ok && !g->done[cb]) {
			ok = poll_once(g);
		}
		if (res->lat_count < BENCH_MAX_FRAME_SAMPLES) {
			res->lat_us[res->lat_count++] = (bench_now() - t0) * 1e6;
		}
		res->frames++;
	}
	res->frame_seconds = bench_now() - start;
	int64_t cpu1 = cpu_ns(g);
	res->crosswayd_cpu_ns = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
	for (int i = 0; i < 2; i++) {
		if (bufs[i].map) {
			munmap(bufs[i].map, bufs[i].map_size);
		}
	}
	return ok;
}

/* Reads what crosswayd wrote on @err_fd after it exited into @text (NUL
 * terminated), keeping the last @cap - 1 bytes if it wrote more. */
static void read_stderr_tail(int err_fd, char *text, size_t cap) {
	size_t n = 0;
	while (err_fd >= 0) {
		if (n + 1 == cap) { // full: keep the newer half
			memmove(text, text + cap / 2, n - cap / 2);
			n -= cap / 2;
		}
		ssize_t r = read(err_fd, text + n, cap - 1 - n);
		if (r > 0) {
			n += (size_t)r;
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (r < 0 && errno == EAGAIN) {
			struct pollfd p = {.fd = err_fd, .events = POLLIN};
			if (poll(&p, 1, 1000) <= 0) {
				break; // a writer still open: not expected once it exited
			}
		} else {
			break; // end of file: every writer has exited
		}
	}
	text[n] = '\0';
}

/* The N of crosswayd's exit line "Context ended: ... (N pixel bytes
 * copied)" in @text; -1 without one. */
static int64_t pixel_bytes_copied(const char *text) {
	static const char tail[] = " pixel bytes copied)";
	const char *found = NULL;
	for (const char *p = strstr(text, tail); p != NULL; p = strstr(p + 1, tail)) {
		found = p;
	}
	if (found == NULL) {
		return -1;
	}
	const char *start = found;
	while (start > text && start[-1] >= '0' && start[-1] <= '9') {
		start--;
	}
	if (start == found || start == text || start[-1] != '(') {
		return -1;
	}
	return strtoll(start, NULL, 10);
}

void bench_ring_run(const struct bench_job *job, struct bench_result *res) {
	static struct guest g;
	memset(&g, 0, sizeof(g));
	res->pixel_bytes_copied = -1;
	g.sim.fd = -1;
	bool ok = setup(&g, job, res);
	if (ok) {
		switch (job->workload) {
		case BENCH_ROUNDTRIP:
			ok = roundtrips(&g, job, res);
			break;
		case BENCH_MSG_UP:
			ok = msg_up(&g, job, res);
			break;
		case BENCH_MSG_DOWN:
			ok = msg_down(&g, job, res);
			break;
		case BENCH_FRAMES:
			ok = frames(&g, job, res);
			break;
		}
	}
	if (g.spawned) {
		res->hwm_peak_kib = bench_proc_status_kib(g.ctx_pid ? g.ctx_pid : g.sim.pid,
							  "VmHWM");
		// sim_finish closes the stderr pipe: keep a copy to read the exit line.
		int err_fd = g.sim.stderr_fd >= 0 ? dup(g.sim.stderr_fd) : -1;
		sim_finish(&g.sim, 2000);
		static char text[16384];
		read_stderr_tail(err_fd, text, sizeof(text));
		if (err_fd >= 0) {
			close(err_fd);
		}
		res->pixel_bytes_copied = pixel_bytes_copied(text);
		if (!ok || res->pixel_bytes_copied < 0) {
			// What crosswayd said is the reason: show it.
			fprintf(stderr, "crossway-bench: crosswayd's log:\n%s", text);
		}
	}
	if (!ok) {
		snprintf(res->error, sizeof(res->error), "%s", g.error);
	}
	res->ok = ok;
}
