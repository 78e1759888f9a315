/*
 * F-08 of security.md §7.6: allocation failure at every call site in turn.
 *
 * crosswayd runs with tests/faults/alloc_shim.c preloaded. A census run
 * drives one representative context (HELLO, INIT, registry, a keymap
 * RECEIVE, an xdg_toplevel with a shm buffer from a CREATE_BLOB and three
 * frames, a clipboard paste and copy through pipes, tear-down, SHUTDOWN)
 * and collects every site where crosswayd allocates (with its two callers:
 * see alloc_shim.c), in two classes: start-up (from main() until the event
 * loop first waits) and context (after). Then, for every site, the same
 * scenario runs again with the first allocation at that site failing, and
 * crosswayd must
 *  - not crash: no signal, no sanitizer report;
 *  - either carry on correctly (the scenario completes, SHUTDOWN exits 0,
 *    and the context holds as many fds at the idle point as without the
 *    fault; a request it refused on the way, such as a CREATE_BLOB answered
 *    with -ENOMEM or a clipboard transfer cut short, is noted), or end: a
 *    context-phase failure with an ERROR that says memory ran out and exit
 *    status 1, a start-up failure with a non-zero exit status before
 *    serving (there is no context to send an ERROR yet);
 *  - never leave the guest waiting: a step that stalls without an ERROR
 *    fails the site;
 *  - leak no fd into this process (checked around every run, as the
 *    harness does) and, in sanitizer builds, no memory (LeakSanitizer).
 *
 * The sites are only known after the census, so this program is its own TAP
 * runner: test 1 is the census, then one test per call site, each in a
 * forked child like the harness's tests. It implements the harness
 * functions that faults.c calls. Argument "K/N" runs shard K of N (sites
 * are spread by a hash of their name, so a site stays in its shard), for
 * when the census grows past what one test runs in time; today all of it
 * takes a few seconds.
 *
 * gbm_bo_create is wrapped too, but crosswayd calls it only with a render
 * node; without one (this CI machine has no GPU) images are memfds, and the
 * census shows no gbm site. mmap sites: none, as crosswayd maps nothing
 * itself (the VMM maps blobs; malloc's own mmap calls are inside libc).
 */
/* _GNU_SOURCE: strcasestr. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "protocol/proto_tables.h"
#include "tests/common/guest.h"
#include "tests/common/sim.h"
#include "tests/common/sim_recorder.h"
#include "tests/faults/faults.h"
#include "tests/harness/test.h"
#include "tests/recorder/recorder.h"

#define MAX_SITES 1024
#define CALLERS 2 // as the shim tells sites apart
#define LOG_CAP (256 * 1024)
#define CENSUS_TIMEOUT_MS FAULTS_TIMEOUT_MS
#define INJECT_TIMEOUT_MS 2000 // per wait: a site that stalls fails anyway
#define SHIM_PREFIX "crossway-alloc-shim: "
/* The census must find at least this many sites, or the test proves nothing. */
#define MIN_CONTEXT_SITES 12
#define MIN_STARTUP_SITES 12

#define FOURCC(a, b, c, d)                                                                         \
	((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define DRM_XRGB8888 FOURCC('X', 'R', '2', '4')
#define SHM_XRGB8888 1
#define WIDTH 64
#define HEIGHT 64
#define CLIP_BYTES 1000

enum kind { KIND_MALLOC, KIND_CALLOC, KIND_REALLOC, KIND_MMAP, KIND_MEMFD, KIND_GBM, KIND_COUNT };

static const char *const kind_names[KIND_COUNT] = {
	"malloc", "calloc", "realloc", "mmap", "memfd_create", "gbm_bo_create",
};

enum outcome {
	OUTCOME_NONE,
	OUTCOME_RECOVERED,     // the scenario completed
	OUTCOME_CONTEXT_ERROR, // ERROR naming the want of memory, exit 1
	OUTCOME_REFUSED,       // start-up: exit non-zero before serving
	OUTCOME_COUNT,
};

static const char *const outcome_names[OUTCOME_COUNT] = {
	"-",
	"carried on",
	"context error",
	"refused at start-up",
};

struct alloc_site {
	char key[192]; // as the shim prints and reads it: "PHASE KIND 0xEXE 0xC1 0xC2 LIB 0xLIB"
	bool context;  // phase: context (else start-up)
	enum kind kind;
	unsigned long long exe_off;          // return address in crosswayd
	unsigned long long callers[CALLERS]; // its callers' (0: none)
	char lib[64];                        // "-" for a direct call
	unsigned long long lib_off;
	char symbol[96];                 // the library function, or "-"
	char where[256];                 // addr2line: "daemon/file.c:line (function)"
	char caller_where[CALLERS][256]; // the same for the callers
};

/* Shared between the runner and its forked runs. */
struct shared {
	enum outcome outcome;
	bool reached;
	int baseline_fds; // context fds at the idle point without a fault
	size_t site_count;
	struct alloc_site sites[MAX_SITES];
};

static struct shared *shared;

/* One census or injection run, forked by the harness (test_run_forked:
 * private XDG_RUNTIME_DIR, timeout, fd-leak check); what the child learnt
 * comes back through @shared. */
static int run(void (*body)(const void *), const void *arg, char *reason, size_t cap) {
	shared->outcome = OUTCOME_NONE;
	shared->reached = false;
	return test_run_forked(body, arg, reason, cap);
}

/* ------------------------------------------------------------------ */
/* The scenario                                                        */

enum step {
	STEP_START,
	STEP_GLOBALS,
	STEP_KEYMAP,
	STEP_WINDOW,
	STEP_SHM,
	STEP_FRAMES,
	STEP_PASTE,
	STEP_COPY,
	STEP_TEARDOWN,
	STEP_IDLE,
	STEP_SHUTDOWN,
	STEP_DONE,
};

static const char *const step_names[] = {
	"HELLO, INIT and registry",
	"binding globals",
	"keymap RECEIVE",
	"xdg_toplevel",
	"shm buffer from a blob",
	"frames",
	"paste (host to guest)",
	"copy (guest to host)",
	"tear-down",
	"idle point",
	"SHUTDOWN",
	"done",
};

struct run {
	struct recorder *rec;
	struct sim sim;
	struct guest *g;
	int timeout_ms;
	enum step step; // the step under way, or STEP_DONE
	char *log;      // crosswayd's stderr
	size_t log_len;
	int ctx_fds; // at the idle point, -1 before
	int status;  // crosswayd's wait status, -1 while it runs
	uint32_t compositor, shm, wm_base, seat, manager, keyboard;
	uint32_t surface, xdg_surface, toplevel, buffer;
	char refusal[256]; // a request crosswayd refused cleanly, "" if none
	char clip[CLIP_BYTES];
};

/* Reads what crosswayd wrote on stderr so far (it must never block on it). */
static void drain_stderr(struct run *r) {
	while (r->sim.stderr_fd >= 0 && r->log_len + 1 < LOG_CAP) {
		ssize_t n = read(r->sim.stderr_fd, r->log + r->log_len, LOG_CAP - 1 - r->log_len);
		if (n <= 0) {
			break;
		}
		r->log_len += (size_t)n;
	}
	r->log[r->log_len] = '\0';
}

static bool request(struct run *r, uint32_t object, uint16_t opcode, const uint32_t *words,
		    unsigned n) {
	return guest_request(r->g, object, opcode, words, 4 * n, NULL, NULL, 0);
}

/* A request whose one argument is a (short) string. */
static bool request_string(struct run *r, uint32_t object, uint16_t opcode, const char *s,
			   const uint32_t *ids, const uint32_t *types, uint32_t count) {
	uint8_t args[256];
	uint32_t len = (uint32_t)strlen(s) + 1;
	test_assert(len + 8 <= sizeof(args));
	uint32_t padded = (len + 3) & ~3u;
	memcpy(args, &len, 4);
	memset(args + 4, 0, padded);
	memcpy(args + 4, s, len);
	return guest_request(r->g, object, opcode, args, 4 + padded, ids, types, count);
}

static bool step_start(struct run *r, const char *shim) {
	// The default policy lets the clipboard go one way only.
	const char *conf = faults_write_config("f08.conf", "[default]\nclipboard = both\n");
	const char *args[] = {"--config", conf, NULL};
	faults_spawn(&r->sim, &(struct faults_spawn){.display = recorder_socket_name(r->rec),
						     .args = args,
						     .preload = shim});
	sim_attach_recorder(&r->sim, r->rec);
	guest_init(r->g, &r->sim);
	return sim_hello(&r->sim, "vm-f08") && sim_init(&r->sim, 20, r->timeout_ms) &&
	       guest_registry(r->g, r->timeout_ms);
}

static bool step_globals(struct run *r) {
	r->compositor = guest_bind(r->g, "wl_compositor", 4);
	r->shm = guest_bind(r->g, "wl_shm", 1);
	r->wm_base = guest_bind(r->g, "xdg_wm_base", 1);
	r->seat = guest_bind(r->g, "wl_seat", 7);
	r->manager = guest_bind(r->g, "wl_data_device_manager", 3);
	return r->compositor && r->shm && r->wm_base && r->seat && r->manager &&
	       guest_roundtrip(r->g, r->timeout_ms);
}

static bool step_keymap(struct run *r) {
	r->keyboard = guest_new_id(r->g);
	if (!request(r, r->seat, PROTO_WL_SEAT_REQ_GET_KEYBOARD, &r->keyboard, 1)) {
		return false;
	}
	int i = guest_wait_event(r->g, r->keyboard, PROTO_WL_KEYBOARD_EVT_KEYMAP, r->timeout_ms);
	return i >= 0 && r->g->events[i].id_count == 1;
}

static bool step_window(struct run *r) {
	r->surface = guest_new_id(r->g);
	r->xdg_surface = guest_new_id(r->g);
	r->toplevel = guest_new_id(r->g);
	uint32_t get_xdg[2] = {r->xdg_surface, r->surface};
	if (!request(r, r->compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE, &r->surface, 1) ||
	    !request(r, r->wm_base, PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE, get_xdg, 2) ||
	    !request(r, r->xdg_surface, PROTO_XDG_SURFACE_REQ_GET_TOPLEVEL, &r->toplevel, 1) ||
	    !request_string(r, r->toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE, "F-08 window", NULL,
			    NULL, 0) ||
	    !request_string(r, r->toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_APP_ID, "f08", NULL, NULL,
			    0) ||
	    !request(r, r->surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL, 0)) {
		return false;
	}
	int i = guest_wait_event(r->g, r->xdg_surface, PROTO_XDG_SURFACE_EVT_CONFIGURE,
				 r->timeout_ms);
	if (i < 0) {
		return false;
	}
	uint32_t serial = guest_event_word(&r->g->events[i], 0);
	return request(r, r->xdg_surface, PROTO_XDG_SURFACE_REQ_ACK_CONFIGURE, &serial, 1);
}

static bool step_shm(struct run *r) {
	struct cross_domain_image_requirements req;
	if (!sim_image_requirements(&r->sim, WIDTH, HEIGHT, DRM_XRGB8888, &req, r->timeout_ms)) {
		return false;
	}
	uint32_t resource;
	struct crossway_backend_blob_reply reply = {0};
	int fd = sim_create_blob(&r->sim, req.blob_id, req.size, &resource, &reply, r->timeout_ms);
	if (fd < 0 && reply.status < 0 && !r->sim.have_error && !r->sim.closed) {
		// Refused with a status, as crossway-backend(7) allows: the
		// context goes on, and the guest may ask again.
		snprintf(r->refusal, sizeof(r->refusal),
			 "CREATE_BLOB answered with status %d (%s); asked again", reply.status,
			 strerror(-reply.status));
		fd = sim_create_blob(&r->sim, req.blob_id, req.size, &resource, NULL,
				     r->timeout_ms);
	}
	if (fd < 0) {
		return false;
	}
	close(fd); // the guest maps it; the compositor reads through its own copy
	uint32_t pool = guest_new_id(r->g);
	uint32_t create_pool[2] = {pool, (uint32_t)req.size};
	uint32_t ids[1] = {resource}, types[1] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB};
	r->buffer = guest_new_id(r->g);
	uint32_t create_buffer[6] = {r->buffer, req.offsets[0], WIDTH,
				     HEIGHT,    req.strides[0], SHM_XRGB8888};
	return guest_request(r->g, r->shm, PROTO_WL_SHM_REQ_CREATE_POOL, create_pool,
			     sizeof(create_pool), ids, types, 1) &&
	       request(r, pool, PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER, create_buffer, 6) &&
	       request(r, pool, PROTO_WL_SHM_POOL_REQ_DESTROY, NULL, 0) &&
	       guest_roundtrip(r->g, r->timeout_ms);
}

static bool step_frames(struct run *r) {
	for (int f = 0; f < 3; f++) {
		uint32_t attach[3] = {r->buffer, 0, 0};
		uint32_t damage[4] = {0, 0, WIDTH, HEIGHT};
		uint32_t callback = guest_new_id(r->g);
		if (!request(r, r->surface, PROTO_WL_SURFACE_REQ_ATTACH, attach, 3) ||
		    !request(r, r->surface, PROTO_WL_SURFACE_REQ_DAMAGE_BUFFER, damage, 4) ||
		    !request(r, r->surface, PROTO_WL_SURFACE_REQ_FRAME, &callback, 1) ||
		    !request(r, r->surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL, 0) ||
		    guest_wait_event(r->g, callback, PROTO_WL_CALLBACK_EVT_DONE, r->timeout_ms) <
			    0) {
			return false;
		}
	}
	return true;
}

/* The host offers a selection; the guest reads it through a read pipe. */
static bool step_paste(struct run *r) {
	uint32_t device = guest_new_id(r->g);
	uint32_t get_device[2] = {device, r->seat};
	if (!request(r, r->manager, PROTO_WL_DATA_DEVICE_MANAGER_REQ_GET_DATA_DEVICE, get_device,
		     2) ||
	    !guest_roundtrip(r->g, r->timeout_ms)) {
		return false;
	}
	for (size_t i = 0; i < sizeof(r->clip); i++) {
		r->clip[i] = (char)('a' + i % 26);
	}
	if (!recorder_offer_selection(r->rec, "text/plain", r->clip, sizeof(r->clip))) {
		return false;
	}
	uint32_t offer = 0;
	int64_t deadline = faults_now_ms() + r->timeout_ms;
	for (uint32_t from = 0; offer == 0 && faults_now_ms() < deadline;) {
		int i = guest_find_event(r->g, device, PROTO_WL_DATA_DEVICE_EVT_SELECTION, from);
		if (i >= 0) {
			offer = guest_event_word(&r->g->events[i], 0);
			from = (uint32_t)i + 1;
		} else if (r->g->eof || !guest_poll(r->g, r->timeout_ms)) {
			return false;
		}
	}
	uint32_t ids[1] = {sim_next_read_pipe(&r->sim)},
		 types[1] = {CROSS_DOMAIN_ID_TYPE_READ_PIPE};
	if (offer == 0 || !request_string(r, offer, PROTO_WL_DATA_OFFER_REQ_RECEIVE, "text/plain",
					  ids, types, 1)) {
		return false;
	}
	while (!r->g->read_hang_up && faults_now_ms() < deadline) {
		if (r->g->eof || !guest_poll(r->g, r->timeout_ms)) {
			return false;
		}
	}
	if (!r->g->read_hang_up || r->g->read_len > sizeof(r->clip) ||
	    memcmp(r->g->read_data, r->clip, r->g->read_len) != 0) {
		return false; // more, or other, than was offered
	}
	if (r->g->read_len != sizeof(r->clip)) {
		// Cut short, as a transfer over its cap would be: the guest
		// sees the end of the data, and the context goes on.
		snprintf(r->refusal, sizeof(r->refusal), "the paste ended after %u of %d bytes",
			 r->g->read_len, CLIP_BYTES);
	}
	return request(r, offer, PROTO_WL_DATA_OFFER_REQ_DESTROY, NULL, 0);
}

/* Reads @fd (non-blocking) to its end while crosswayd and the compositor run. */
static size_t read_all(struct run *r, int fd, char *buf, size_t cap) {
	size_t len = 0;
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (int64_t end = faults_now_ms() + r->timeout_ms; faults_now_ms() < end;) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n == 0 || (n > 0 && (len += (size_t)n) == cap)) {
			break;
		}
		if (n < 0 && errno != EAGAIN) {
			break;
		}
		if (r->sim.closed) {
			break;
		}
		sim_handle_message(&r->sim, 5);
		recorder_dispatch(r->rec, 0);
	}
	return len;
}

/*
 * The guest offers a selection; the host reads it through a write pipe. The
 * window has the keyboard since its first frame: set_selection carries the
 * serial of that wl_keyboard.enter, as crosswayd's policy wants.
 */
static bool step_copy(struct run *r) {
	int enter = guest_wait_event(r->g, r->keyboard, PROTO_WL_KEYBOARD_EVT_ENTER, r->timeout_ms);
	if (enter < 0) {
		return false;
	}
	uint32_t source = guest_new_id(r->g);
	uint32_t device = guest_new_id(r->g);
	uint32_t get_device[2] = {device, r->seat};
	uint32_t set_selection[2] = {source, guest_event_word(&r->g->events[enter], 0)};
	if (!request(r, r->manager, PROTO_WL_DATA_DEVICE_MANAGER_REQ_CREATE_DATA_SOURCE, &source,
		     1) ||
	    !request(r, r->manager, PROTO_WL_DATA_DEVICE_MANAGER_REQ_GET_DATA_DEVICE, get_device,
		     2) ||
	    !request_string(r, source, PROTO_WL_DATA_SOURCE_REQ_OFFER, "text/plain", NULL, NULL,
			    0) ||
	    !request(r, device, PROTO_WL_DATA_DEVICE_REQ_SET_SELECTION, set_selection, 2) ||
	    !guest_roundtrip(r->g, r->timeout_ms) || recorder_client_selection(r->rec) == NULL) {
		return false;
	}
	int fd = recorder_receive_selection(r->rec, "text/plain");
	if (fd < 0) {
		return false;
	}
	int i = guest_wait_event(r->g, source, PROTO_WL_DATA_SOURCE_EVT_SEND, r->timeout_ms);
	if (i < 0 || r->g->events[i].id_count != 1) {
		close(fd);
		return false;
	}
	for (size_t k = 0; k < sizeof(r->clip); k++) {
		r->clip[k] = (char)('A' + k % 26);
	}
	char got[2 * CLIP_BYTES];
	size_t len = 0;
	if (sim_send_write(&r->sim, r->g->events[i].ids[0], r->clip, sizeof(r->clip), true)) {
		len = read_all(r, fd, got, sizeof(got));
	}
	close(fd);
	if (len > sizeof(r->clip) || memcmp(got, r->clip, len) != 0 || r->sim.have_error ||
	    r->sim.closed) {
		return false;
	}
	if (len != sizeof(r->clip)) {
		// Cut short (the host reader saw the end of the data), and
		// the context goes on.
		snprintf(r->refusal, sizeof(r->refusal), "the copy ended after %zu of %d bytes",
			 len, CLIP_BYTES);
	}
	return request(r, source, PROTO_WL_DATA_SOURCE_REQ_DESTROY, NULL, 0) &&
	       guest_roundtrip(r->g, r->timeout_ms);
}

static bool step_teardown(struct run *r) {
	return request(r, r->buffer, PROTO_WL_BUFFER_REQ_DESTROY, NULL, 0) &&
	       request(r, r->toplevel, PROTO_XDG_TOPLEVEL_REQ_DESTROY, NULL, 0) &&
	       request(r, r->xdg_surface, PROTO_XDG_SURFACE_REQ_DESTROY, NULL, 0) &&
	       request(r, r->surface, PROTO_WL_SURFACE_REQ_DESTROY, NULL, 0) &&
	       guest_roundtrip(r->g, r->timeout_ms);
}

static bool step_idle(struct run *r) {
	if (!guest_roundtrip(r->g, r->timeout_ms)) {
		return false;
	}
	r->ctx_fds = faults_count_fds(faults_context_pid(r->sim.pid), NULL);
	return r->ctx_fds > 0;
}

/* Waits for crosswayd to exit, reading the link; sets r->status. */
static void wait_exit(struct run *r, int timeout_ms) {
	int64_t deadline = faults_now_ms() + timeout_ms;
	while (r->status == -1 && faults_now_ms() < deadline) {
		if (!r->sim.closed) {
			sim_handle_message(&r->sim, 1);
		} else {
			usleep(1000);
		}
		drain_stderr(r);
		int status;
		if (waitpid(r->sim.pid, &status, WNOHANG) == r->sim.pid) {
			r->status = status;
		}
	}
	// Its last messages (an ERROR) may be queued behind an ECONNRESET,
	// which the kernel reports once.
	for (int resets = 0; resets < 2 && r->status != -1 && !r->sim.have_error; resets++) {
		r->sim.closed = false;
		while (sim_handle_message(&r->sim, 0) == 1) {
		}
	}
	r->sim.closed = true;
}

static bool step_shutdown(struct run *r) {
	if (!sim_send_shutdown(&r->sim)) {
		return false;
	}
	wait_exit(r, r->timeout_ms);
	return r->status != -1 && WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0;
}

/*
 * Runs the scenario against a fresh crosswayd (with $CROSSWAY_ALLOC_MODE as
 * set by the caller) until a step fails; leaves crosswayd exited (or
 * r->status -1 if it would not) and its whole log in r->log.
 */
static void scenario(struct run *r, int timeout_ms) {
	const char *shim = getenv("CROSSWAY_ALLOC_SHIM");
	memset(r, 0, sizeof(*r));
	r->timeout_ms = timeout_ms;
	r->ctx_fds = -1;
	r->status = -1;
	r->log = malloc(LOG_CAP);
	r->g = calloc(1, sizeof(*r->g));
	test_assert(r->log != NULL && r->g != NULL);
	r->rec = recorder_create(&(struct recorder_options){
		.seat = true, .data_device = true, .fast = true, .skip_pixel_copy = true});
	test_assert_msg(r->rec != NULL, "the recorder did not start");
	bool ok = true;
	for (r->step = STEP_START; ok && r->step < STEP_DONE; r->step++) {
		switch (r->step) {
		case STEP_START:
			ok = step_start(r, shim);
			break;
		case STEP_GLOBALS:
			ok = step_globals(r);
			break;
		case STEP_KEYMAP:
			ok = step_keymap(r);
			break;
		case STEP_WINDOW:
			ok = step_window(r);
			break;
		case STEP_SHM:
			ok = step_shm(r);
			break;
		case STEP_FRAMES:
			ok = step_frames(r);
			break;
		case STEP_PASTE:
			ok = step_paste(r);
			break;
		case STEP_COPY:
			ok = step_copy(r);
			break;
		case STEP_TEARDOWN:
			ok = step_teardown(r);
			break;
		case STEP_IDLE:
			ok = step_idle(r);
			break;
		case STEP_SHUTDOWN:
			ok = step_shutdown(r);
			break;
		case STEP_DONE:
			break;
		}
		drain_stderr(r);
		if (!ok) {
			break;
		}
	}
	if (r->status == -1) {
		// A step failed: the context must be ending by itself.
		wait_exit(r, timeout_ms);
	}
	if (r->status == -1) {
		kill(r->sim.pid, SIGKILL);
		waitpid(r->sim.pid, NULL, 0);
	}
	r->sim.pid = 0;
	drain_stderr(r);
	sim_finish(&r->sim, 0);
	guest_finish(r->g);
	free(r->g);
	r->g = NULL;
	recorder_destroy(r->rec);
	r->rec = NULL;
}

/* Prints the lines of @log not from the shim, at most @max, as notes;
 * returns how many there are. */
static int note_log(const char *log, int max) {
	const char *line = log;
	int n = 0;
	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
		if (len > 0 && strncmp(line, SHIM_PREFIX, strlen(SHIM_PREFIX)) != 0) {
			if (n < max) {
				test_note("  crosswayd: %.*s", (int)len, line);
			}
			n++;
		}
		line += len + (end != NULL);
	}
	return n;
}

static const char *sanitizer_report(const char *log) {
	static const char *const needles[] = {"AddressSanitizer", "LeakSanitizer",
					      "UndefinedBehaviorSanitizer", "runtime error:"};
	for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++) {
		const char *at = strstr(log, needles[i]);
		if (at != NULL) {
			return at;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Census                                                              */

static bool parse_site(const char *line, struct alloc_site *s) {
	char phase[16], kind[16];
	memset(s, 0, sizeof(*s));
	if (sscanf(line, SHIM_PREFIX "site %15s %15s %llx %llx %llx %63s %llx %95s", phase, kind,
		   &s->exe_off, &s->callers[0], &s->callers[1], s->lib, &s->lib_off,
		   s->symbol) != 8) {
		return false;
	}
	s->context = strcmp(phase, "context") == 0;
	s->kind = KIND_COUNT;
	for (int k = 0; k < KIND_COUNT; k++) {
		if (strcmp(kind, kind_names[k]) == 0) {
			s->kind = (enum kind)k;
		}
	}
	snprintf(s->key, sizeof(s->key), "%s %s 0x%llx 0x%llx 0x%llx %s 0x%llx", phase, kind,
		 s->exe_off, s->callers[0], s->callers[1], s->lib, s->lib_off);
	return s->kind != KIND_COUNT;
}

static void census_body(const void *arg) {
	(void)arg;
	setenv("CROSSWAY_ALLOC_MODE", "census", 1);
	struct run r;
	scenario(&r, CENSUS_TIMEOUT_MS);
	if (r.step != STEP_DONE) {
		note_log(r.log, 40);
		test_fail(__FILE__, __LINE__, "the scenario fails without faults: %s%s%s",
			  step_names[r.step], r.sim.have_error ? ": " : "",
			  r.sim.have_error ? r.sim.error_text : "");
	}
	shared->baseline_fds = r.ctx_fds;
	shared->site_count = 0;
	for (const char *line = r.log; line != NULL && *line != '\0';) {
		const char *at = strstr(line, SHIM_PREFIX "site ");
		if (at == NULL) {
			break;
		}
		struct alloc_site s;
		if (parse_site(at, &s) && shared->site_count < MAX_SITES) {
			shared->sites[shared->site_count++] = s;
		}
		line = strchr(at, '\n');
	}
	free(r.log);
}

/* Short source paths: from the tree's top directory on. */
static const char *short_path(const char *path) {
	static const char *const dirs[] = {"/daemon/", "/wire/", "/protocol/", "/tests/"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		const char *at = strstr(path, dirs[i]);
		if (at != NULL) {
			return at + 1;
		}
	}
	return path;
}

/* Reads one addr2line -f answer into @out: "file:line (function)". */
static bool read_location(FILE *p, char *out, size_t cap) {
	char func[256], file[1024];
	if (fgets(func, sizeof(func), p) == NULL || fgets(file, sizeof(file), p) == NULL) {
		return false;
	}
	func[strcspn(func, "\n")] = '\0';
	file[strcspn(file, "\n")] = '\0';
	char *disc = strstr(file, " (discriminator");
	if (disc != NULL) {
		*disc = '\0';
	}
	snprintf(out, cap, "%.160s (%.80s)", short_path(file), func);
	return true;
}

/* Resolves each site and its caller to source lines with addr2line (from
 * binutils; without it the offsets alone name the sites). */
static void resolve_sites(const char *exe) {
	size_t cap = 64 + strlen(exe) + shared->site_count * (CALLERS + 1) * 24;
	char *cmd = malloc(cap);
	if (cmd == NULL) {
		return;
	}
	size_t n = (size_t)snprintf(cmd, cap, "addr2line -f -e '%s'", exe);
	for (size_t i = 0; i < shared->site_count; i++) {
		// The call instruction ends at the return address.
		const struct alloc_site *s = &shared->sites[i];
		n += (size_t)snprintf(cmd + n, cap - n, " 0x%llx", s->exe_off - 1);
		for (int c = 0; c < CALLERS; c++) {
			n += (size_t)snprintf(cmd + n, cap - n, " 0x%llx",
					      s->callers[c] ? s->callers[c] - 1 : 0);
		}
	}
	snprintf(cmd + n, cap - n, " 2>/dev/null");
	FILE *p = popen(cmd, "re");
	free(cmd);
	if (p == NULL) {
		return;
	}
	for (size_t i = 0; i < shared->site_count; i++) {
		struct alloc_site *s = &shared->sites[i];
		bool ok = read_location(p, s->where, sizeof(s->where));
		for (int c = 0; ok && c < CALLERS; c++) {
			ok = read_location(p, s->caller_where[c], sizeof(s->caller_where[c]));
		}
		if (!ok) {
			break;
		}
	}
	pclose(p);
}

static void describe(const struct alloc_site *s, char *buf, size_t cap) {
	size_t n = 0;
	n += (size_t)snprintf(buf, cap, "%s %s at ", s->context ? "context" : "startup",
			      kind_names[s->kind]);
	if (s->where[0] != '\0') {
		n += (size_t)snprintf(buf + n, cap - n, "%s", s->where);
	} else {
		n += (size_t)snprintf(buf + n, cap - n, "crosswayd+0x%llx", s->exe_off);
	}
	if (n < cap && strcmp(s->lib, "-") != 0) {
		n += (size_t)snprintf(buf + n, cap - n, " via %s+0x%llx (%s)", s->lib, s->lib_off,
				      s->symbol);
	}
	for (int c = 0; c < CALLERS && n < cap && s->callers[c] != 0; c++) {
		const char *sep = c == 0 ? " from" : " <-";
		if (s->caller_where[c][0] != '\0') {
			n += (size_t)snprintf(buf + n, cap - n, "%s %s", sep, s->caller_where[c]);
		} else {
			n += (size_t)snprintf(buf + n, cap - n, "%s crosswayd+0x%llx", sep,
					      s->callers[c]);
		}
	}
}

/* ------------------------------------------------------------------ */
/* One injection                                                       */

static void inject_body(const void *arg) {
	const struct alloc_site *site = arg;
	setenv("CROSSWAY_ALLOC_MODE", "inject", 1);
	setenv("CROSSWAY_ALLOC_SITE", site->key, 1);
	struct run r;
	scenario(&r, INJECT_TIMEOUT_MS);
	shared->reached = strstr(r.log, SHIM_PREFIX "injected ") != NULL;
	if (!shared->reached) {
		free(r.log);
		test_skip("not reached in this run");
	}
	const char *report = sanitizer_report(r.log);
	if (r.status != -1 && WIFSIGNALED(r.status)) {
		note_log(r.log, 30);
		test_fail(__FILE__, __LINE__, "CRASH: crosswayd was killed by signal %d (%s) in %s",
			  WTERMSIG(r.status), strsignal(WTERMSIG(r.status)), step_names[r.step]);
	}
	if (report != NULL) {
		note_log(r.log, 60);
		test_fail(__FILE__, __LINE__, "sanitizer report in %s: %.200s", step_names[r.step],
			  report);
	}
	if (r.status == -1) {
		note_log(r.log, 30);
		test_fail(__FILE__, __LINE__, "crosswayd stalled in %s: no ERROR, still running",
			  step_names[r.step]);
	}
	int code = WEXITSTATUS(r.status);
	if (r.step == STEP_DONE) {
		if (r.refusal[0] != '\0') {
			test_note("clean refusal: %s", r.refusal);
		}
		test_note("carried on: the scenario completed, exit 0; %d context fds at the idle "
			  "point (%d without the fault)",
			  r.ctx_fds, shared->baseline_fds);
		test_assert_msg(r.ctx_fds == shared->baseline_fds,
				"fd leak: the context holds %d fds at the idle point, %d without "
				"the fault",
				r.ctx_fds, shared->baseline_fds);
		shared->outcome = OUTCOME_RECOVERED;
	} else if (!site->context && !r.sim.have_hello_reply) {
		// Before the event loop ran there is no context to report on
		// the link: a clean refusal is a non-zero exit, and the link
		// closes without a HELLO_REPLY.
		test_note("refused at start-up: exit %d, link closed before HELLO_REPLY", code);
		note_log(r.log, 3);
		test_assert_msg(code != 0, "exit 0 after a failed start-up");
		shared->outcome = OUTCOME_REFUSED;
	} else {
		test_note("context error in %s: exit %d, ERROR %s", step_names[r.step], code,
			  r.sim.have_error ? r.sim.error_text : "(none)");
		if (!r.sim.have_error || strcasestr(r.sim.error_text, "memory") == NULL) {
			note_log(r.log, 20);
		}
		test_assert_msg(r.sim.have_error, "the context ended (exit %d) without an ERROR",
				code);
		test_assert_msg(strcasestr(r.sim.error_text, "memory") != NULL,
				"the ERROR does not say memory ran out: %s", r.sim.error_text);
		test_assert_msg(code == CROSSWAY_BACKEND_EXIT_ERROR,
				"exit %d (ERROR code %d), not a context error (exit 1): an "
				"allocation failure reported as %s",
				code, r.sim.error_code,
				code == CROSSWAY_BACKEND_EXIT_COMPOSITOR ? "the compositor's fault"
									 : "something else");
		shared->outcome = OUTCOME_CONTEXT_ERROR;
	}
	free(r.log);
}

/* ------------------------------------------------------------------ */

/* The same call, whoever called its function. */
static bool same_call(const struct alloc_site *a, const struct alloc_site *b) {
	return a->context == b->context && a->kind == b->kind && a->exe_off == b->exe_off &&
	       a->lib_off == b->lib_off && strcmp(a->lib, b->lib) == 0;
}

static uint32_t hash(const char *s) {
	uint32_t h = 2166136261u; // FNV-1a
	for (; *s; s++) {
		h = (h ^ (uint8_t)*s) * 16777619u;
	}
	return h;
}

static void note_counts(const char *what, const size_t counts[2][KIND_COUNT]) {
	for (int c = 1; c >= 0; c--) {
		size_t total = 0;
		char line[256];
		int n = 0;
		for (int k = 0; k < KIND_COUNT; k++) {
			total += counts[c][k];
			n += snprintf(line + n, sizeof(line) - (size_t)n, "%s%s %zu", k ? ", " : "",
				      kind_names[k], counts[c][k]);
		}
		test_note("%s, %s phase: %zu (%s)", what, c ? "context" : "start-up", total, line);
	}
}

int main(int argc, char *argv[]) {
	unsigned shard = 0, shards = 1;
	if (argc > 1 &&
	    (sscanf(argv[1], "%u/%u", &shard, &shards) != 2 || shards == 0 || shard >= shards)) {
		fprintf(stderr, "usage: %s [K/N]\n", argv[0]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	const char *shim = getenv("CROSSWAY_ALLOC_SHIM");
	const char *exe = getenv("CROSSWAYD");
	if (shim == NULL || access(shim, R_OK) != 0 || exe == NULL || access(exe, X_OK) != 0) {
		printf("1..0 # SKIP CROSSWAY_ALLOC_SHIM or CROSSWAYD is not set\n");
		return 0;
	}
	if (faults_sanitized()) {
		// The shim must come before the sanitizer runtime to see
		// crosswayd's calls, and hands them on to it.
		const char *old = getenv("ASAN_OPTIONS");
		char value[1024];
		snprintf(value, sizeof(value), "%s%sverify_asan_link_order=0", old ? old : "",
			 old && *old ? ":" : "");
		setenv("ASAN_OPTIONS", value, 1);
	}
	shared = mmap(NULL, sizeof(*shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		      0);
	if (shared == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	test_note("F-08 shard %u/%u. gbm_bo_create: wrapped, but crosswayd calls it only with a "
		  "render node (there is none without a GPU: then images are memfds and its "
		  "sites are skipped, not seen)",
		  shard + 1, shards);
	char reason[2048];
	int res = run(census_body, NULL, reason, sizeof(reason));
	if (res != 0) {
		printf("1..1\nnot ok 1 census%s\n", res == 2 ? " # SKIP" : "");
		printf("# %s\n", reason);
		return res == 2 ? 0 : 1;
	}
	if (shared->site_count == 0 && faults_sanitized()) {
		// A sanitizer runtime linked into crosswayd itself (clang's
		// static one) is found before any preloaded library.
		printf("1..0 # SKIP the census saw no allocation: the sanitizer runtime in "
		       "crosswayd comes before the shim\n");
		return 0;
	}
	resolve_sites(exe);
	size_t found[2][KIND_COUNT] = {{0}}, calls[2][KIND_COUNT] = {{0}};
	size_t mine[2][KIND_COUNT] = {{0}};
	size_t selected[MAX_SITES], count = 0, indirect = 0;
	for (size_t i = 0; i < shared->site_count; i++) {
		const struct alloc_site *s = &shared->sites[i];
		found[s->context][s->kind]++;
		bool first = true;
		for (size_t j = 0; j < i && first; j++) {
			first = !same_call(s, &shared->sites[j]);
		}
		calls[s->context][s->kind] += first;
		indirect += strcmp(s->lib, "-") != 0;
		if (hash(s->key) % shards == shard) {
			selected[count++] = i;
			mine[s->context][s->kind]++;
		}
	}
	size_t context_sites = 0, startup_sites = 0;
	for (int k = 0; k < KIND_COUNT; k++) {
		context_sites += found[1][k];
		startup_sites += found[0][k];
	}
	printf("1..%zu\n", count + 1);
	note_counts("census: call sites", calls);
	note_counts("census: sites with their caller (the tests below)", found);
	test_note("census: %zu of them reached through a library (strdup, libwayland-server, "
		  "libseccomp ...); %d fds in the context at the idle point",
		  indirect, shared->baseline_fds);
	test_note("census: mmap 0 is expected: crosswayd never maps memory itself (blobs are "
		  "mapped by the VMM; malloc's own mmap calls are internal to libc)");
	bool enough = context_sites >= MIN_CONTEXT_SITES && startup_sites >= MIN_STARTUP_SITES;
	printf("%s 1 census: %zu context and %zu start-up sites (at least %d and %d expected)\n",
	       enough ? "ok" : "not ok", context_sites, startup_sites, MIN_CONTEXT_SITES,
	       MIN_STARTUP_SITES);
	fflush(stdout);
	size_t failed = !enough, exercised[2][KIND_COUNT] = {{0}}, outcomes[OUTCOME_COUNT] = {0};
	for (size_t i = 0; i < count; i++) {
		const struct alloc_site *s = &shared->sites[selected[i]];
		char name[512];
		describe(s, name, sizeof(name));
		res = run(inject_body, s, reason, sizeof(reason));
		if (shared->reached) {
			exercised[s->context][s->kind]++;
			outcomes[shared->outcome]++;
		}
		if (res == 0) {
			printf("ok %zu %s\n", i + 2, name);
		} else if (res == 2) {
			printf("ok %zu %s # SKIP %s\n", i + 2, name, reason);
		} else {
			failed++;
			printf("not ok %zu %s\n", i + 2, name);
			printf("# again: CROSSWAY_ALLOC_MODE=inject CROSSWAY_ALLOC_SITE='%s'\n",
			       s->key);
			for (char *line = strtok(reason, "\n"); line != NULL;
			     line = strtok(NULL, "\n")) {
				printf("# %s\n", line);
			}
		}
		fflush(stdout);
	}
	note_counts("shard: sites", mine);
	note_counts("shard: sites exercised", exercised);
	for (int o = OUTCOME_RECOVERED; o < OUTCOME_COUNT; o++) {
		test_note("shard: %s: %zu", outcome_names[o], outcomes[o]);
	}
	test_note("shard: %zu failed", failed);
	return failed ? 1 : 0;
}
