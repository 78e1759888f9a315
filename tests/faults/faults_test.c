/*
 * The fault cases of security.md §7.6, each against a real crosswayd driven
 * like a VMM (tests/common/sim) with a byte-level guest client
 * (tests/common/guest), and the recording compositor either in this process
 * or as a crossway-recorder process (for the cases that stop or kill it).
 * Time bounds are measured from the fault to the observed outcome.
 * F-08 (allocation failure) has its own runner: alloc_failure_test.c.
 */
/* _GNU_SOURCE: prctl's PR_SET_CHILD_SUBREAPER. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/guest.h"
#include "tests/common/sim_recorder.h"
#include "tests/common/sim.h"
#include "tests/faults/faults.h"
#include "tests/harness/test.h"
#include "tests/recorder/recorder.h"

#define TIMEOUT FAULTS_TIMEOUT_MS
#define BOUND_MS 1000 // the ≤ 1 s bound of F-01, F-03, F-04, F-12, F-14
#define KIB 1024L

/* wl_* and xdg_* opcodes used here. */
#define WL_DISPLAY_GET_REGISTRY 1
#define WL_COMPOSITOR_CREATE_SURFACE 0
#define WL_COMPOSITOR_CREATE_REGION 1
#define WL_REGION_ADD 1
#define WL_SEAT_GET_KEYBOARD 1
#define WL_KEYBOARD_KEYMAP 0
#define XDG_WM_BASE_GET_XDG_SURFACE 2
#define XDG_SURFACE_GET_TOPLEVEL 1
#define XDG_SURFACE_ACK_CONFIGURE 4
#define XDG_TOPLEVEL_SET_TITLE 2

static struct recorder *start_recorder(const struct recorder_options *opts) {
	struct recorder *rec = recorder_create(opts);
	test_assert_msg(rec != NULL, "the recorder did not start");
	return rec;
}

/* Starts crosswayd, HELLO, INIT and a registry round trip. */
static void start_context(struct sim *sim, struct guest *g, const struct faults_spawn *opts,
			  struct recorder *rec, const char *vm) {
	faults_spawn(sim, opts);
	if (rec != NULL) {
		sim_attach_recorder(sim, rec);
	}
	test_assert_msg(sim_hello(sim, vm), "no HELLO_REPLY");
	test_assert_msg(sim_init(sim, 20, TIMEOUT), "INIT failed: %s", sim->error_text);
	guest_init(g, sim);
	test_assert_msg(guest_registry(g, TIMEOUT), "no registry round trip");
}

/* SHUTDOWN and a clean exit. */
static void end_context(struct sim *sim, struct guest *g) {
	sim_send_shutdown(sim);
	test_assert_msg(sim->fault[0] == '\0', "link contract broken: %s", sim->fault);
	test_assert_int_eq(sim_finish(sim, TIMEOUT), 0);
	guest_finish(g);
}

/* Prints crosswayd's log lines as TAP diagnostics (for failures). */
static void note_stderr(struct sim *sim) {
	char log[8192];
	if (sim_read_stderr(sim, log, sizeof(log), 50) > 0) {
		for (char *line = strtok(log, "\n"); line != NULL; line = strtok(NULL, "\n")) {
			test_note("crosswayd: %s", line);
		}
	}
}

/*
 * Waits, without closing the link, for crosswayd to exit by itself within
 * @bound_ms of @t0; reads the link meanwhile. Returns the exit status
 * (failing on a signal or timeout) and reaps it.
 */
static int expect_exit(struct sim *sim, int64_t t0, int bound_ms, int64_t *elapsed) {
	int status = -1;
	int64_t deadline = t0 + bound_ms + 4000; // measure, then judge
	while (faults_now_ms() < deadline) {
		if (!sim->closed) {
			sim_handle_message(sim, 1);
		}
		pid_t r = waitpid(sim->pid, &status, WNOHANG);
		if (r == sim->pid) {
			break;
		}
		if (sim->closed) {
			usleep(1000);
		}
		status = -1;
	}
	*elapsed = faults_now_ms() - t0;
	// What it wrote before it exited. When crosswayd exits with requests
	// unread, the kernel reports ECONNRESET to our next recvmsg once, before
	// the messages still queued (unix(7) sockets report sk_err first); a
	// backend has to read on past it, and so does this one.
	for (int resets = 0; resets < 2; resets++) {
		while (!sim->closed && sim_handle_message(sim, 0) == 1) {
		}
		if (sim->have_error) {
			break;
		}
		sim->closed = false;
	}
	sim->closed = true;
	if (status == -1) {
		sim_kill(sim);
		test_fail(__FILE__, __LINE__, "crosswayd still running after %lld ms",
			  (long long)*elapsed);
	}
	sim->pid = 0;
	if (WIFSIGNALED(status)) {
		note_stderr(sim);
		test_fail(__FILE__, __LINE__, "crosswayd was killed by signal %d (%s)",
			  WTERMSIG(status), strsignal(WTERMSIG(status)));
	}
	test_assert_msg(*elapsed <= bound_ms, "crosswayd took %lld ms to exit (bound %d ms)",
			(long long)*elapsed, bound_ms);
	return WEXITSTATUS(status);
}

/* The pending ring 1 fence @fence completed with an empty RECEIVE (EOF). */
static void expect_eof_record(struct sim *sim, uint64_t fence) {
	bool done = false;
	for (uint32_t i = 0; i < sim->done_count; i++) {
		done = done || sim->done_fences[i] == fence;
	}
	if (!done) {
		for (uint32_t i = 0; i < sim->done_count; i++) {
			test_note("completed fence %llu", (unsigned long long)sim->done_fences[i]);
		}
	}
	test_assert_msg(done, "the pending poll (fence %llu) was not completed",
			(unsigned long long)fence);
	struct cross_domain_record rec;
	struct wire_error err;
	test_assert(cross_domain_decode_record(sim->channel.mem, sim->channel.size, sim->layout,
					       &rec, &err));
	test_assert_int_eq(rec.cmd, CROSS_DOMAIN_CMD_RECEIVE);
	test_assert_int_eq(rec.data_size, 0);
}

static bool fence_or_error(struct sim *sim, void *data) {
	uint64_t fence = *(const uint64_t *)data;
	for (uint32_t i = 0; i < sim->done_count; i++) {
		if (sim->done_fences[i] == fence) {
			return true;
		}
	}
	return sim->have_error || sim->closed;
}

/*
 * Keeps a poll pending (@fence is the current one) until the end of the
 * stream (an empty RECEIVE), then waits for the ERROR; returns the last
 * poll's fence.
 */
static uint64_t poll_until_error(struct sim *sim, uint64_t fence, int timeout_ms,
				 bool *display_error) {
	int64_t deadline = faults_now_ms() + timeout_ms;
	while (!sim->have_error && !sim->closed && faults_now_ms() < deadline) {
		if (!sim_wait(sim, fence_or_error, &fence, (int)(deadline - faults_now_ms()))) {
			break;
		}
		struct cross_domain_record rec;
		struct wire_error err;
		if (!cross_domain_decode_record(sim->channel.mem, sim->channel.size, sim->layout,
						&rec, &err) ||
		    rec.cmd != CROSS_DOMAIN_CMD_RECEIVE) {
			break;
		}
		if (rec.data_size == 0) {
			break; // end of the stream: a guest proxy stops polling
		}
		uint32_t head[2];
		if (display_error != NULL && rec.data_size >= 8) {
			memcpy(head, rec.data, 8);
			*display_error = *display_error ||
					 (head[0] == 1 && (head[1] & 0xffff) == 0);
		}
		if (!sim->have_error && !sim->closed) {
			fence = faults_issue_poll(sim);
		}
	}
	sim_wait_error(sim, (int)(deadline > faults_now_ms() ? deadline - faults_now_ms() : 0));
	return fence;
}

/* ------------------------------------------------------------------ */
/* F-01 compositor exits                                              */

TEST(f01_compositor_exits) {
	struct ext_recorder r;
	ext_recorder_start(&r, "f01", NULL, false);
	struct sim sim;
	struct guest g;
	start_context(&sim, &g, &(struct faults_spawn){.display = r.name}, NULL, "vm-f01");
	uint64_t fence = faults_issue_poll(&sim);
	int64_t t0 = faults_now_ms();
	kill(r.pid, SIGKILL);
	test_assert_msg(sim_wait_error(&sim, TIMEOUT), "no ERROR after the compositor died");
	int64_t t_error = faults_now_ms() - t0;
	int64_t elapsed;
	int code = expect_exit(&sim, t0, BOUND_MS, &elapsed);
	test_note("F-01: ERROR after %lld ms, exit %d after %lld ms: %s", (long long)t_error, code,
		  (long long)elapsed, sim.error_text);
	test_assert_int_eq(code, CROSSWAY_BACKEND_EXIT_COMPOSITOR);
	test_assert_int_eq(sim.error_code, CROSSWAY_BACKEND_ERROR_COMPOSITOR);
	test_assert_str_contains(sim.error_text, "compositor");
	expect_eof_record(&sim, fence);
	test_assert_msg(sim.fault[0] == '\0', "link contract broken: %s", sim.fault);
	sim_finish(&sim, TIMEOUT);
	guest_finish(&g);
	ext_recorder_stop(&r);
}

/* ------------------------------------------------------------------ */
/* F-14 compositor restarts on the same socket                        */

TEST(f14_compositor_restarts) {
	struct ext_recorder r;
	ext_recorder_start(&r, "f14", NULL, false);
	struct sim sim;
	struct guest g;
	start_context(&sim, &g, &(struct faults_spawn){.display = r.name}, NULL, "vm-f14");
	uint64_t fence = faults_issue_poll(&sim);
	int64_t t0 = faults_now_ms();
	kill(r.pid, SIGKILL);
	waitpid(r.pid, NULL, 0);
	r.pid = 0;
	// A new compositor on the same name, at once.
	struct recorder *rec = start_recorder(&(struct recorder_options){.socket_name = "f14"});
	sim_attach_recorder(&sim, rec);
	test_assert_msg(sim_wait_error(&sim, TIMEOUT), "no ERROR after the compositor restarted");
	int64_t elapsed;
	int code = expect_exit(&sim, t0, BOUND_MS, &elapsed);
	test_note("F-14: exit %d after %lld ms: %s", code, (long long)elapsed, sim.error_text);
	test_assert_int_eq(code, CROSSWAY_BACKEND_EXIT_COMPOSITOR);
	test_assert_int_eq(sim.error_code, CROSSWAY_BACKEND_ERROR_COMPOSITOR);
	expect_eof_record(&sim, fence);
	// crosswayd is gone: anything it did to the new compositor is in its
	// listen queue or records by now.
	for (int i = 0; i < 5; i++) {
		recorder_dispatch(rec, 0);
	}
	test_assert_msg(recorder_record_count(rec) == 0 && recorder_client_count(rec) == 0,
			"crosswayd reconnected to the restarted compositor");
	sim_finish(&sim, TIMEOUT);
	guest_finish(&g);
	recorder_destroy(rec);
}

/* ------------------------------------------------------------------ */
/* F-03 compositor sends a protocol error                             */

TEST(f03_compositor_protocol_error) {
	struct recorder *rec = start_recorder(NULL);
	const char *display = recorder_socket_name(rec);
	struct sim a, b;
	struct guest ga, gb;
	start_context(&b, &gb, &(struct faults_spawn){.display = display}, rec, "vm-f03-other");
	start_context(&a, &ga, &(struct faults_spawn){.display = display}, rec, "vm-f03");
	uint32_t compositor = guest_bind(&ga, "wl_compositor", 4);
	uint32_t wm_base = guest_bind(&ga, "xdg_wm_base", 1);
	test_assert(compositor != 0 && wm_base != 0);
	uint32_t surface = guest_new_id(&ga);
	test_assert(guest_request(&ga, compositor, WL_COMPOSITOR_CREATE_SURFACE, &surface, 4, NULL,
				  NULL, 0));
	uint32_t xdg_args[2] = {guest_new_id(&ga), surface};
	test_assert(guest_request(&ga, wm_base, XDG_WM_BASE_GET_XDG_SURFACE, xdg_args, 8, NULL,
				  NULL, 0));
	test_assert(guest_roundtrip(&ga, TIMEOUT));
	uint64_t fence = faults_issue_poll(&a);
	// The recorder answers an ack_configure before any configure with
	// xdg_surface.error.invalid_serial (wl_resource_post_error).
	uint32_t serial = 7;
	int64_t t0 = faults_now_ms();
	test_assert(guest_request(&ga, xdg_args[0], XDG_SURFACE_ACK_CONFIGURE, &serial, 4, NULL,
				  NULL, 0));
	// The guest keeps polling, as a guest proxy does: the error event
	// first, then the end of the stream.
	bool display_error = false;
	fence = poll_until_error(&a, fence, TIMEOUT, &display_error);
	test_assert_msg(a.have_error, "no ERROR after a compositor protocol error");
	int64_t elapsed;
	int code = expect_exit(&a, t0, BOUND_MS, &elapsed);
	test_note("F-03: exit %d after %lld ms: %s", code, (long long)elapsed, a.error_text);
	test_assert_int_eq(code, CROSSWAY_BACKEND_EXIT_COMPOSITOR);
	test_assert_int_eq(a.error_code, CROSSWAY_BACKEND_ERROR_COMPOSITOR);
	// The backend learns what the compositor said, and about which object.
	char culprit[64];
	snprintf(culprit, sizeof(culprit), "protocol error on xdg_surface#%u,", xdg_args[0]);
	test_assert_str_contains(a.error_text, culprit);
	test_assert_str_contains(a.error_text, "code 4: ack_configure(7) before any configure");
	expect_eof_record(&a, fence);
	// The guest got the compositor's wl_display.error, and the log names it.
	test_assert_msg(display_error, "no wl_display.error for the guest");
	char log[8192];
	sim_read_stderr(&a, log, sizeof(log), 200);
	test_assert_str_contains(log, "protocol error");
	test_assert_str_contains(log, "ack_configure(7)");
	sim_finish(&a, TIMEOUT);
	guest_finish(&ga);
	// The other context is unaffected.
	test_assert_msg(!b.have_error && !b.closed, "the other context ended too");
	test_assert_msg(guest_registry(&gb, TIMEOUT), "the other context stopped working");
	end_context(&b, &gb);
	recorder_destroy(rec);
}

/* ------------------------------------------------------------------ */
/* F-04 backend link HUP / backend SIGKILL                            */

/* Dispatches @rec until @pid exited and no client is left; returns the status. */
static int wait_exit_and_disconnect(struct recorder *rec, pid_t pid, int64_t t0, int64_t *elapsed) {
	int status = -1;
	bool exited = false;
	while (faults_now_ms() < t0 + BOUND_MS + 4000) {
		recorder_dispatch(rec, 1);
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
		}
		if (exited && recorder_client_count(rec) == 0) {
			break;
		}
	}
	*elapsed = faults_now_ms() - t0;
	if (!exited) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		test_fail(__FILE__, __LINE__, "crosswayd still running after %lld ms",
			  (long long)*elapsed);
	}
	test_assert_msg(recorder_client_count(rec) == 0,
			"the compositor connection stayed open after crosswayd exited");
	test_assert_msg(WIFEXITED(status), "crosswayd was killed by signal %d", WTERMSIG(status));
	test_assert_msg(*elapsed <= BOUND_MS, "%lld ms (bound %d ms)", (long long)*elapsed,
			BOUND_MS);
	return WEXITSTATUS(status);
}

TEST(f04_backend_hup) {
	struct recorder *rec = start_recorder(NULL);
	struct sim sim;
	struct guest g;
	start_context(&sim, &g, &(struct faults_spawn){.display = recorder_socket_name(rec)}, rec,
		      "vm-f04");
	test_assert_int_eq(recorder_client_count(rec), 1);
	// Hang up without SHUTDOWN.
	int64_t t0 = faults_now_ms();
	close(sim.fd);
	sim.fd = -1;
	int64_t elapsed;
	int code = wait_exit_and_disconnect(rec, sim.pid, t0, &elapsed);
	test_note("F-04 HUP: exit %d, compositor disconnected after %lld ms", code,
		  (long long)elapsed);
	test_assert_int_eq(code, CROSSWAY_BACKEND_EXIT_CLEAN);
	sim.pid = 0;
	sim_finish(&sim, TIMEOUT);
	guest_finish(&g);
	recorder_destroy(rec);
}

TEST(f04_backend_sigkill) {
	// The VMM is a process of its own that gets SIGKILLed; as subreaper we
	// inherit its crosswayd and can read that one's exit status.
	test_assert(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	struct recorder *rec = start_recorder(NULL);
	const char *display = recorder_socket_name(rec);
	int report[2];
	test_assert(pipe2(report, O_CLOEXEC) == 0);
	pid_t vmm = fork();
	test_assert(vmm >= 0);
	if (vmm == 0) {
		close(report[0]);
		struct sim sim;
		faults_spawn(&sim, &(struct faults_spawn){.display = display});
		struct guest g;
		bool ok = sim_hello(&sim, "vm-f04-kill") && sim_init(&sim, 20, TIMEOUT);
		guest_init(&g, &sim);
		ok = ok && guest_registry(&g, TIMEOUT);
		pid_t pid = ok ? sim.pid : 0;
		if (write(report[1], &pid, sizeof(pid)) != sizeof(pid)) {
			_exit(1);
		}
		for (;;) {
			pause();
		}
	}
	close(report[1]);
	pid_t crosswayd = 0;
	int64_t deadline = faults_now_ms() + TIMEOUT;
	struct pollfd p[2] = {{.fd = report[0], .events = POLLIN},
			      {.fd = recorder_get_fd(rec), .events = POLLIN}};
	while (faults_now_ms() < deadline) {
		poll(p, 2, 10);
		recorder_dispatch(rec, 0);
		if (p[0].revents != 0) {
			test_assert(read(report[0], &crosswayd, sizeof(crosswayd)) ==
				    sizeof(crosswayd));
			break;
		}
	}
	close(report[0]);
	if (crosswayd <= 0) {
		kill(vmm, SIGKILL);
		waitpid(vmm, NULL, 0);
		test_fail(__FILE__, __LINE__, "the VMM process did not set up its context");
	}
	test_assert_int_eq(recorder_client_count(rec), 1);
	int64_t t0 = faults_now_ms();
	kill(vmm, SIGKILL);
	waitpid(vmm, NULL, 0);
	int64_t elapsed;
	int code = wait_exit_and_disconnect(rec, crosswayd, t0, &elapsed);
	test_note("F-04 SIGKILL: exit %d, compositor disconnected after %lld ms", code,
		  (long long)elapsed);
	test_assert_int_eq(code, CROSSWAY_BACKEND_EXIT_CLEAN);
	recorder_destroy(rec);
}

/* ------------------------------------------------------------------ */
/* F-05 garbage on the backend link                                   */

struct garbage {
	const char *name;
	size_t len;
	int kind; // 0: random bytes; 1: a FENCE carrying an fd; 2: an unknown type
};

static const struct garbage garbage_cases[] = {
	{"random-7", 7, 0},      {"random-64", 64, 0},   {"random-4096", 4096, 0},
	{"fence-with-fd", 0, 1}, {"unknown-type", 0, 2},
};

TEST_P(f05_link_garbage, garbage_cases) {
	struct recorder *rec = start_recorder(NULL);
	struct sim sim;
	struct guest g;
	start_context(&sim, &g, &(struct faults_spawn){.display = recorder_socket_name(rec)}, rec,
		      "vm-f05");
	uint8_t buf[4096];
	uint32_t x = 0x12345678u + (uint32_t)data->len;
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1664525u + 1013904223u;
		buf[i] = (uint8_t)(x >> 24);
	}
	bool sent;
	if (data->kind == 1) {
		uint8_t fence[64];
		size_t n = backend_link_encode_fence(fence, sizeof(fence), ++sim.serial, 99,
						     CROSSWAY_BACKEND_RING_QUERY);
		int pfd[2];
		test_assert(pipe(pfd) == 0);
		sent = sim_send_raw(&sim, fence, n, pfd[0]);
		close(pfd[0]);
		close(pfd[1]);
	} else if (data->kind == 2) {
		uint8_t fence[64];
		size_t n = backend_link_encode_fence(fence, sizeof(fence), ++sim.serial, 99,
						     CROSSWAY_BACKEND_RING_QUERY);
		uint16_t type = 0x7777;
		memcpy(fence, &type, sizeof(type)); // the header starts with the type
		sent = sim_send_raw(&sim, fence, n, -1);
	} else {
		sent = sim_send_raw(&sim, buf, data->len, -1);
	}
	test_assert(sent);
	test_assert_msg(sim_wait_error(&sim, TIMEOUT), "no ERROR for %s", data->name);
	int64_t elapsed;
	int code = expect_exit(&sim, faults_now_ms(), TIMEOUT, &elapsed);
	test_note("F-05 %s: exit %d: %s", data->name, code, sim.error_text);
	test_assert_int_eq(code, CROSSWAY_BACKEND_EXIT_ERROR);
	test_assert_int_eq(sim.error_code, CROSSWAY_BACKEND_ERROR_PROTOCOL);
	sim_finish(&sim, TIMEOUT);
	guest_finish(&g);
	recorder_destroy(rec);
}

/* ------------------------------------------------------------------ */
/* F-02 compositor stopped, F-09 100 MiB burst, F-11 SIGPIPE          */

/*
 * F-02's bound: 1 MiB plus guest-queue-bytes (1 MiB). Sanitizer builds add
 * shadow memory and allocator redzones for the same queues (measured +0.4
 * MiB for F-09 with ASan), so they get 1 MiB more.
 */
static long rss_bound_kib(void) {
	return 1024 + 1024 + (faults_sanitized() ? 1024 : 0);
}

#define REGION_ADDS_PER_SEND (CROSS_DOMAIN_MAX_SEND_RECV_SIZE / 24)

/* Sends wl_region.add(i, 1, 2, 3) for i = *next ... on a non-blocking link
 * until it stays full for 300 ms (or @limit requests were sent). */
static void flood_region_adds(struct sim *sim, uint32_t region, uint32_t *next, uint32_t limit) {
	uint8_t payload[REGION_ADDS_PER_SEND * 24];
	while (*next < limit) {
		uint32_t count = 0, len = 0;
		for (; count < REGION_ADDS_PER_SEND && *next + count < limit; count++) {
			uint32_t args[4] = {*next + count, 1, 2, 3};
			len += faults_msg(payload + len, region, WL_REGION_ADD, args, 4);
		}
		if (sim_send_wayland(sim, payload, len, NULL, NULL, 0)) {
			*next += count;
			continue;
		}
		test_assert_msg(errno == EAGAIN, "link broken: %s", strerror(errno));
		struct pollfd p = {.fd = sim->fd, .events = POLLOUT};
		if (poll(&p, 1, 300) == 0) {
			return; // back-pressured
		}
	}
}

static uint32_t make_region(struct guest *g) {
	uint32_t compositor = guest_bind(g, "wl_compositor", 4);
	test_assert(compositor != 0);
	uint32_t region = guest_new_id(g);
	test_assert(guest_request(g, compositor, WL_COMPOSITOR_CREATE_REGION, &region, 4, NULL,
				  NULL, 0));
	test_assert(guest_roundtrip(g, TIMEOUT));
	return region;
}

/*
 * Checks the recorder log holds exactly wl_region.add(0..n-1, 1, 2, 3), in
 * order. (crosswayd gives objects its own ids on the compositor side.)
 */
static void check_region_log(const struct ext_recorder *r, uint32_t n) {
	FILE *f = fopen(r->log, "re");
	test_assert(f != NULL);
	char line[512];
	uint32_t seen = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *at = strstr(line, " request wl_region#");
		at = at != NULL ? strstr(at, ".add(") : NULL;
		if (at == NULL) {
			continue;
		}
		long x, y, w, h;
		int ok = sscanf(at + strlen(".add("), "%ld, %ld, %ld, %ld", &x, &y, &w, &h);
		if (ok != 4 || x != (long)seen || y != 1 || w != 2 || h != 3) {
			fclose(f);
			test_fail(__FILE__, __LINE__, "request %u arrived as: %s", seen, line);
		}
		seen++;
	}
	fclose(f);
	test_assert_msg(seen == n, "%u of %u requests reached the compositor", seen, n);
}

TEST(f02_compositor_sigstop) {
	struct ext_recorder r;
	ext_recorder_start(&r, "f02", NULL, true);
	struct sim sim;
	struct guest g;
	start_context(&sim, &g,
		      &(struct faults_spawn){.display = r.name, .small_asan_quarantine = true},
		      NULL, "vm-f02");
	uint32_t region = make_region(&g);
	pid_t ctx = faults_context_pid(sim.pid);
	long rss0 = faults_status_kib(ctx, "VmRSS");
	test_assert(rss0 > 0);
	uint64_t records0 = sim.channel_records;

	kill(r.pid, SIGSTOP);
	test_assert(fcntl(sim.fd, F_SETFL, O_NONBLOCK) == 0);
	uint32_t sent = 0;
	int64_t t0 = faults_now_ms();
	flood_region_adds(&sim, region, &sent, 1u << 20); // 24 MiB would be no back-pressure
	int64_t t_full = faults_now_ms() - t0;
	test_assert_msg(sent < (1u << 20), "the link never filled: no back-pressure");
	long rss1 = faults_status_kib(ctx, "VmRSS");
	long hwm = faults_status_kib(ctx, "VmHWM");
	while (sim_handle_message(&sim, 0) == 1) {
	}
	test_note("F-02: back-pressured after %u requests (%u KiB) in %lld ms; context VmRSS "
		  "%ld -> %ld KiB (+%ld), VmHWM %ld KiB",
		  sent, sent * 24 / 1024, (long long)t_full, rss0, rss1, rss1 - rss0, hwm);
	test_assert_int_eq(sim.channel_records, records0);
	test_assert_msg(!sim.have_error && !sim.closed, "context ended: %s", sim.error_text);
	// Limit: 1 MiB + guest-queue-bytes (1 MiB).
	test_assert_msg(rss1 - rss0 <= rss_bound_kib(), "RSS grew by %ld KiB", rss1 - rss0);

	kill(r.pid, SIGCONT);
	uint32_t total = sent + 1000;
	int64_t deadline = faults_now_ms() + TIMEOUT;
	while (sent < total && faults_now_ms() < deadline) {
		flood_region_adds(&sim, region, &sent, total);
	}
	test_assert_int_eq(sent, total);
	test_assert(fcntl(sim.fd, F_SETFL, 0) == 0);
	test_assert_msg(guest_roundtrip(&g, TIMEOUT), "no round trip after SIGCONT");
	check_region_log(&r, total);
	end_context(&sim, &g);
	ext_recorder_stop(&r);
}

TEST(f09_burst_100mib) {
	struct ext_recorder r;
	ext_recorder_start(&r, "f09", NULL, true);
	struct sim sim;
	struct guest g;
	start_context(&sim, &g,
		      &(struct faults_spawn){.display = r.name, .small_asan_quarantine = true},
		      NULL, "vm-f09");
	uint32_t compositor = guest_bind(&g, "wl_compositor", 4);
	uint32_t wm_base = guest_bind(&g, "xdg_wm_base", 1);
	uint32_t surface = guest_new_id(&g);
	test_assert(guest_request(&g, compositor, WL_COMPOSITOR_CREATE_SURFACE, &surface, 4, NULL,
				  NULL, 0));
	uint32_t xs[2] = {guest_new_id(&g), surface};
	test_assert(guest_request(&g, wm_base, XDG_WM_BASE_GET_XDG_SURFACE, xs, 8, NULL, NULL, 0));
	uint32_t toplevel = guest_new_id(&g);
	test_assert(
		guest_request(&g, xs[0], XDG_SURFACE_GET_TOPLEVEL, &toplevel, 4, NULL, NULL, 0));
	test_assert(guest_roundtrip(&g, TIMEOUT));
	pid_t ctx = faults_context_pid(sim.pid);
	long hwm0 = faults_status_kib(ctx, "VmHWM");
	long rss0 = faults_status_kib(ctx, "VmRSS");

	// set_title with a 4000-byte title: 4016-byte messages, a 100 MiB
	// stream cut into full SENDs regardless of message boundaries.
	static uint8_t msg[4016];
	uint32_t words[1 + 1001];
	words[0] = 4001;
	memset(&words[1], 'a', 4000);
	memset((uint8_t *)&words[1] + 4000, 0, 4);
	uint32_t msg_len = faults_msg(msg, toplevel, XDG_TOPLEVEL_SET_TITLE, words, 1002);
	test_assert_int_eq(msg_len, sizeof(msg));
	const uint64_t total = 100ull << 20;
	uint64_t messages = total / msg_len;
	uint64_t stream_len = messages * msg_len;
	uint8_t chunk[CROSS_DOMAIN_MAX_SEND_RECV_SIZE];
	int64_t t0 = faults_now_ms();
	for (uint64_t off = 0; off < stream_len;) {
		uint32_t n = 0;
		while (n < sizeof(chunk) && off < stream_len) {
			size_t in_msg = off % msg_len;
			size_t take = msg_len - in_msg;
			take = take < sizeof(chunk) - n ? take : sizeof(chunk) - n;
			memcpy(chunk + n, msg + in_msg, take);
			n += (uint32_t)take;
			off += take;
		}
		test_assert_msg(sim_send_wayland(&sim, chunk, n, NULL, NULL, 0),
				"link broken at %llu bytes: %s", (unsigned long long)off,
				sim.error_text);
	}
	test_assert_msg(guest_roundtrip(&g, 30000), "no round trip after the burst");
	int64_t elapsed = faults_now_ms() - t0;
	long hwm1 = faults_status_kib(ctx, "VmHWM");
	long rss1 = faults_status_kib(ctx, "VmRSS");
	test_note("F-09: %llu MiB in %lld ms; context VmRSS %ld -> %ld KiB, VmHWM %ld -> %ld KiB "
		  "(+%ld)",
		  (unsigned long long)(stream_len >> 20), (long long)elapsed, rss0, rss1, hwm0,
		  hwm1, hwm1 - hwm0);
	test_assert_msg(!sim.have_error, "context ended: %s", sim.error_text);
	test_assert_int_eq(ext_recorder_count(&r, ".set_title("), messages);
	test_assert_msg(hwm1 - hwm0 <= rss_bound_kib(), "peak RSS grew by %ld KiB", hwm1 - hwm0);
	end_context(&sim, &g);
	ext_recorder_stop(&r);
}

TEST(f11_sigpipe_compositor) {
	struct ext_recorder r;
	ext_recorder_start(&r, "f11", NULL, false);
	struct sim sim;
	struct guest g;
	start_context(&sim, &g, &(struct faults_spawn){.display = r.name}, NULL, "vm-f11");
	uint32_t region = make_region(&g);
	// Fill crosswayd's queue towards a stopped compositor, then kill it:
	// crosswayd is in the middle of writing to it. The guest has a poll
	// pending, as a guest proxy always has.
	uint64_t fence = faults_issue_poll(&sim);
	kill(r.pid, SIGSTOP);
	test_assert(fcntl(sim.fd, F_SETFL, O_NONBLOCK) == 0);
	uint32_t sent = 0;
	flood_region_adds(&sim, region, &sent, 1u << 20);
	int64_t t0 = faults_now_ms();
	kill(r.pid, SIGKILL);
	int64_t elapsed;
	int code = expect_exit(&sim, t0, BOUND_MS, &elapsed);
	test_note("F-11 compositor: %u requests queued, exit %d after %lld ms: %s", sent, code,
		  (long long)elapsed, sim.error_text);
	note_stderr(&sim);
	test_assert_int_eq(code, CROSSWAY_BACKEND_EXIT_COMPOSITOR);
	test_assert_msg(sim.have_error, "no ERROR to the backend");
	expect_eof_record(&sim, fence);
	sim_finish(&sim, TIMEOUT);
	guest_finish(&g);
	ext_recorder_stop(&r);
}

/*
 * Sends FENCEs (each answered with a FENCE_DONE) until the link is full,
 * then closes the backend end while crosswayd is writing the answers, with
 * requests still unread. Returns crosswayd's exit status.
 */
static int close_link_mid_write(const char *vm, int64_t *elapsed) {
	struct recorder *rec = start_recorder(NULL);
	struct sim sim;
	struct guest g;
	start_context(&sim, &g, &(struct faults_spawn){.display = recorder_socket_name(rec)}, rec,
		      vm);
	test_assert(fcntl(sim.fd, F_SETFL, O_NONBLOCK) == 0);
	uint8_t fence[64];
	int sent = 0;
	for (; sent < 20000; sent++) {
		size_t n = backend_link_encode_fence(fence, sizeof(fence), ++sim.serial,
						     sim.next_fence++, CROSSWAY_BACKEND_RING_QUERY);
		if (!sim_send_raw(&sim, fence, n, -1)) {
			break;
		}
	}
	close(sim.fd);
	sim.fd = -1;
	int code = wait_exit_and_disconnect(rec, sim.pid, faults_now_ms(), elapsed);
	test_note("%s: %d fences in flight, exit %d after %lld ms", vm, sent, code,
		  (long long)*elapsed);
	if (code != CROSSWAY_BACKEND_EXIT_CLEAN) {
		note_stderr(&sim);
	}
	sim.pid = 0;
	sim_finish(&sim, TIMEOUT);
	guest_finish(&g);
	recorder_destroy(rec);
	return code;
}

/* F-11: no SIGPIPE when the backend goes away mid-write (any exit status). */
TEST(f11_sigpipe_backend) {
	int64_t elapsed;
	close_link_mid_write("vm-f11-link", &elapsed);
}

/* F-04: closing the link is always safe, even with requests in flight:
 * crossway-backend(7) "The backend closes the link" -> exit 0. */
TEST(f04_backend_hup_in_flight) {
	int64_t elapsed;
	test_assert_int_eq(close_link_mid_write("vm-f04-in-flight", &elapsed),
			   CROSSWAY_BACKEND_EXIT_CLEAN);
}

/* ------------------------------------------------------------------ */
/* F-06 guest stops polling                                            */

static size_t registry_bytes(const struct guest *g) {
	size_t n = 0;
	for (uint32_t i = 0; i < g->global_count; i++) {
		size_t len = strlen(g->globals[i].interface) + 1;
		n += 8 + 4 + 4 + ((len + 3) & ~(size_t)3) + 4;
	}
	return n;
}

/*
 * get_registry again and again: each brings every global. 128 KiB of events
 * for a guest that does not poll: past a 32 KiB cap, but within what the
 * kernel buffers, so the compositor never has to drop us. Returns once the
 * compositor has sent them all; the number of get_registry.
 */
static uint32_t flood_registry(struct sim *sim, struct guest *g, struct recorder *rec) {
	size_t per = registry_bytes(g);
	uint32_t count = (uint32_t)((128 * KIB) / per);
	uint8_t payload[CROSS_DOMAIN_MAX_SEND_RECV_SIZE];
	uint32_t len = 0;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t id = guest_new_id(g);
		len += faults_msg(payload + len, 1, WL_DISPLAY_GET_REGISTRY, &id, 1);
		if (len + 12 > sizeof(payload) || i + 1 == count) {
			test_assert(sim_send_wayland(sim, payload, len, NULL, NULL, 0));
			len = 0;
		}
	}
	size_t want = recorder_count(rec, "wl_registry.global") + (size_t)count * g->global_count;
	int64_t deadline = faults_now_ms() + TIMEOUT;
	while (recorder_count(rec, "wl_registry.global") < want && faults_now_ms() < deadline) {
		recorder_dispatch(rec, 10);
	}
	test_assert_msg(recorder_count(rec, "wl_registry.global") >= want,
			"the compositor did not send the events");
	return count;
}

TEST(f06_guest_stops_polling) {
	test_set_timeout(40);
	struct recorder *rec = start_recorder(NULL);
	const char *display = recorder_socket_name(rec);
	const char *conf = faults_write_config("f06.conf", "[default]\nhost-queue-bytes = 32K\n");
	const char *args[] = {"--config", conf, NULL};
	struct sim a, b;
	struct guest ga, gb;
	start_context(&b, &gb, &(struct faults_spawn){.display = display}, rec, "vm-f06-other");
	start_context(&a, &ga, &(struct faults_spawn){.display = display, .args = args}, rec,
		      "vm-f06");
	uint32_t count = flood_registry(&a, &ga, rec);
	int64_t t_sent = faults_now_ms();
	// The compositor keeps serving others meanwhile.
	test_assert_msg(guest_registry(&gb, TIMEOUT), "another client was not served");
	test_assert_msg(!a.have_error && !a.closed, "ended early: %s", a.error_text);
	test_assert_msg(sim_wait_error(&a, 15000), "no ERROR for a guest that stopped polling");
	int64_t t_error = faults_now_ms() - t_sent;
	int64_t elapsed;
	int code = expect_exit(&a, faults_now_ms(), TIMEOUT, &elapsed);
	test_note("F-06: %u get_registry (%zu KiB of events); ERROR %lld ms after the last was "
		  "sent: %s",
		  count, (size_t)count * registry_bytes(&ga) / 1024, (long long)t_error,
		  a.error_text);
	test_assert_int_eq(code, CROSSWAY_BACKEND_EXIT_ERROR);
	test_assert_str_contains(a.error_text, "guest stopped polling");
	test_assert_msg(t_error >= 9500 && t_error <= 11500, "ERROR after %lld ms, not ~10 s",
			(long long)t_error);
	// What was queued when crosswayd stopped reading: over the cap, far
	// from all of it.
	const char *q = strstr(a.error_text, "polling: ");
	test_assert(q != NULL);
	long queued = strtol(q + strlen("polling: "), NULL, 10);
	test_assert_msg(queued > 32 * KIB && queued < 96 * KIB,
			"%ld bytes queued with a 32 KiB cap", queued);
	sim_finish(&a, TIMEOUT);
	guest_finish(&ga);
	test_assert_msg(guest_roundtrip(&gb, TIMEOUT), "the other context stopped working");
	end_context(&b, &gb);
	recorder_destroy(rec);
}

/*
 * F-06's bound is on time without progress, not time above the limit: a
 * guest that polls, only slowly, keeps its context. 128 KiB of events with
 * a 32 KiB cap: crosswayd stops reading with more than 32 KiB queued and
 * reads again at 16 KiB; one poll every 3 s takes at most a 4 KiB record,
 * so the queue stays above 16 KiB past the 10 s bound (the stall timer,
 * armed once, ended such a guest at 10 s). Then the guest catches up.
 */
TEST(f06_slow_polling_is_not_a_stall) {
	test_set_timeout(60);
	struct recorder *rec = start_recorder(NULL);
	const char *display = recorder_socket_name(rec);
	const char *conf = faults_write_config("f06s.conf", "[default]\nhost-queue-bytes = 32K\n");
	const char *args[] = {"--config", conf, NULL};
	struct sim a;
	struct guest ga;
	start_context(&a, &ga, &(struct faults_spawn){.display = display, .args = args}, rec,
		      "vm-f06-slow");
	flood_registry(&a, &ga, rec);
	int64_t t_sent = faults_now_ms();
	for (int n = 1; n <= 3; n++) {
		while (faults_now_ms() < t_sent + 3000 * n) {
			recorder_dispatch(rec, 10);
			sim_handle_message(&a, 0);
		}
		uint64_t fence = faults_issue_poll(&a);
		test_assert_msg(sim_wait(&a, fence_or_error, &fence, TIMEOUT), "poll %d unanswered",
				n);
		test_assert_msg(!a.have_error && !a.closed, "ended after poll %d: %s", n,
				a.error_text);
	}
	while (faults_now_ms() < t_sent + 13000) {
		recorder_dispatch(rec, 10);
		sim_handle_message(&a, 0);
	}
	test_assert_msg(!a.have_error && !a.closed, "a slowly polling guest was ended: %s",
			a.error_text);
	test_assert_msg(guest_roundtrip(&ga, TIMEOUT), "the guest could not catch up: %s",
			a.error_text);
	end_context(&a, &ga);
	recorder_destroy(rec);
}

/* ------------------------------------------------------------------ */
/* F-07 fd exhaustion                                                  */

/* Binds wl_seat and asks for a keyboard (*keyboard). */
static void get_keyboard(struct guest *g, uint32_t *keyboard) {
	uint32_t seat = guest_bind(g, "wl_seat", 7);
	test_assert(seat != 0);
	test_assert(guest_roundtrip(g, TIMEOUT));
	*keyboard = guest_new_id(g);
	test_assert(guest_request(g, seat, WL_SEAT_GET_KEYBOARD, keyboard, 4, NULL, NULL, 0));
}

TEST(f07_fd_exhaustion) {
	struct recorder *rec = start_recorder(&(struct recorder_options){.seat = true});
	const char *display = recorder_socket_name(rec);
	struct sim sim;
	struct guest g;
	start_context(&sim, &g, &(struct faults_spawn){.display = display}, rec, "vm-f07");
	uint32_t seat = guest_bind(&g, "wl_seat", 7);
	test_assert(seat != 0 && guest_roundtrip(&g, TIMEOUT));
	// The running context gets RLIMIT_NOFILE at exactly the fds it holds,
	// so the keymap fd the compositor sends next cannot be received (an
	// rlimit set before exec would be raised again by the sandbox, or
	// starve the start-up).
	pid_t ctx = faults_context_pid(sim.pid);
	int max_fd;
	int count = faults_count_fds(ctx, &max_fd);
	test_assert(count > 0);
	if (count != max_fd + 1) {
		test_skip("the context's fd numbers have holes (%d fds, highest %d)", count,
			  max_fd);
	}
	struct rlimit rl = {.rlim_cur = (rlim_t)count, .rlim_max = (rlim_t)count};
	test_assert_msg(prlimit(ctx, RLIMIT_NOFILE, &rl, NULL) == 0, "prlimit: %s",
			strerror(errno));
	uint32_t keyboard = guest_new_id(&g);
	test_assert(guest_request(&g, seat, WL_SEAT_GET_KEYBOARD, &keyboard, 4, NULL, NULL, 0));
	faults_issue_poll(&sim);
	bool error = sim_wait_error(&sim, TIMEOUT);
	test_note("F-07: RLIMIT_NOFILE %d on a context holding %d fds: ERROR=%d: %s", count, count,
		  error, sim.error_text);
	if (!error) {
		note_stderr(&sim);
	}
	test_assert_msg(error, "fds lost silently: no ERROR (the guest got %s keymap)",
			guest_find_event(&g, keyboard, WL_KEYBOARD_KEYMAP, 0) >= 0 ? "a" : "no");
	int64_t elapsed;
	int code = expect_exit(&sim, faults_now_ms(), TIMEOUT, &elapsed);
	test_note("F-07: exit %d", code);
	test_assert_str_contains(sim.error_text, "fd");
	test_assert(code != 0);
	sim_finish(&sim, TIMEOUT);
	guest_finish(&g);

	// A new context works.
	start_context(&sim, &g, &(struct faults_spawn){.display = display}, rec, "vm-f07-after");
	get_keyboard(&g, &keyboard);
	test_assert_msg(guest_wait_event(&g, keyboard, WL_KEYBOARD_KEYMAP, TIMEOUT) >= 0,
			"no keymap in a new context");
	end_context(&sim, &g);
	recorder_destroy(rec);
}

/* ------------------------------------------------------------------ */
/* F-12 the service dies                                               */

static int connect_backend(const char *path) {
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	test_assert(fd >= 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	test_assert(strlen(path) < sizeof(addr.sun_path));
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int64_t deadline = faults_now_ms() + TIMEOUT;
	while (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		test_assert_msg(faults_now_ms() < deadline, "the service does not listen: %s",
				strerror(errno));
		usleep(5000);
	}
	return fd;
}

TEST(f12_service_dies) {
	test_assert(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	struct ext_recorder r;
	ext_recorder_start(&r, "f12", NULL, false);
	char path[512];
	snprintf(path, sizeof(path), "%s/f12-backend", getenv("XDG_RUNTIME_DIR"));
	const char *crosswayd = faults_crosswayd();
	pid_t service = fork();
	test_assert(service >= 0);
	if (service == 0) {
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		execl(crosswayd, crosswayd, "--service", "--socket", path, "--wayland-display",
		      r.name, (char *)NULL);
		_exit(127);
	}
	struct sim sims[2];
	struct guest gs[2];
	for (int i = 0; i < 2; i++) {
		sim_init_fd(&sims[i], connect_backend(path));
		test_assert(sim_hello(&sims[i], i == 0 ? "vm-f12-a" : "vm-f12-b"));
		test_assert(sim_init(&sims[i], 20, TIMEOUT));
		guest_init(&gs[i], &sims[i]);
		test_assert(guest_registry(&gs[i], TIMEOUT));
	}
	// Every process under the service: the contexts and, when sandboxed,
	// their PID-namespace children.
	pid_t procs[16];
	size_t nprocs = faults_children(service, procs, 4);
	test_assert_int_eq(nprocs, 2);
	for (size_t i = 0, n = nprocs; i < n; i++) {
		nprocs += faults_children(procs[i], procs + nprocs, 16 - nprocs);
	}
	int64_t t0 = faults_now_ms();
	kill(service, SIGKILL);
	waitpid(service, NULL, 0);
	size_t left = nprocs;
	int closed = 0;
	while (faults_now_ms() < t0 + BOUND_MS + 4000 && (left > 0 || closed < 2)) {
		for (size_t i = 0; i < nprocs; i++) {
			if (procs[i] > 0 && waitpid(procs[i], NULL, WNOHANG) == procs[i]) {
				procs[i] = 0;
				left--;
			}
		}
		closed = 0;
		for (int i = 0; i < 2; i++) {
			if (!sims[i].closed) {
				sim_handle_message(&sims[i], 0);
			}
			closed += sims[i].closed;
		}
		usleep(1000);
	}
	int64_t elapsed = faults_now_ms() - t0;
	test_note("F-12: %zu context processes gone, both links closed after %lld ms", nprocs,
		  (long long)elapsed);
	for (size_t i = 0; i < nprocs; i++) {
		if (procs[i] > 0) {
			kill(procs[i], SIGKILL);
			waitpid(procs[i], NULL, 0);
		}
	}
	test_assert_msg(left == 0, "%zu context processes outlived the service", left);
	test_assert_int_eq(closed, 2);
	test_assert_msg(elapsed <= BOUND_MS, "%lld ms (bound %d ms)", (long long)elapsed, BOUND_MS);
	for (int i = 0; i < 2; i++) {
		sim_finish(&sims[i], TIMEOUT);
		guest_finish(&gs[i]);
	}
	unlink(path);
	ext_recorder_stop(&r);
}

/* ------------------------------------------------------------------ */
/* F-10: EINTR, EAGAIN and short transfers on every socket and pipe.   */

static const unsigned f10_seeds[] = {1, 2, 3, 4};

TEST_P(f10_interrupted_and_short_io, f10_seeds) {
	const char *shim = getenv("CROSSWAY_FAULT_SHIM");
	if (shim == NULL || access(shim, R_OK) != 0) {
		test_skip("CROSSWAY_FAULT_SHIM is not set");
	}
	if (faults_sanitized()) {
		test_skip("sanitizer build: the shim would have to be loaded before the runtime");
	}
	char seed[16];
	snprintf(seed, sizeof(seed), "%u", *data);
	setenv("CROSSWAY_FAULT_SEED", seed, 1);
	setenv("CROSSWAY_FAULT_RATE", "40", 1);
	char report[512];
	snprintf(report, sizeof(report), "%s/fault-report", getenv("XDG_RUNTIME_DIR"));
	setenv("CROSSWAY_FAULT_REPORT", report, 1);
	struct ext_recorder r;
	const char *seat[] = {"--seat", NULL};
	ext_recorder_start(&r, "f10", seat, true);
	struct sim sim;
	struct guest g;
	const char *args[] = {"--no-sandbox", NULL};
	start_context(&sim, &g,
		      &(struct faults_spawn){.display = r.name, .args = args, .preload = shim},
		      NULL, "vm-f10");
	// Host -> guest with an fd: the keymap arrives as a blob.
	uint32_t wl_seat = guest_bind(&g, "wl_seat", 7);
	test_assert(wl_seat != 0);
	uint32_t keyboard = guest_new_id(&g);
	test_assert(guest_request(&g, wl_seat, WL_SEAT_GET_KEYBOARD, &keyboard, 4, NULL, NULL, 0));
	int km = guest_wait_event(&g, keyboard, WL_KEYBOARD_KEYMAP, TIMEOUT);
	if (km < 0) {
		note_stderr(&sim);
		test_fail(__FILE__, __LINE__, "no keymap");
	}
	test_assert_int_eq(g.events[km].id_count, 1);
	// Guest -> host: 20 000 requests in full SENDs, each arriving once, in
	// order, with its arguments.
	uint32_t region = make_region(&g);
	uint32_t sent = 0;
	while (sent < 20000) {
		flood_region_adds(&sim, region, &sent, 20000);
	}
	// Host -> guest: 300 round trips' worth of events, none lost.
	for (int i = 0; i < 300; i++) {
		if (!guest_roundtrip(&g, TIMEOUT)) {
			note_stderr(&sim);
			test_fail(__FILE__, __LINE__, "round trip %d lost", i);
		}
	}
	check_region_log(&r, 20000);
	sim_send_shutdown(&sim);
	test_assert_int_eq(sim_finish(&sim, TIMEOUT), 0);
	unsigned long eintr = 0, eagain = 0, shorts = 0;
	FILE *rf = fopen(report, "re");
	test_assert_msg(rf != NULL, "the shim wrote no report (was it loaded?)");
	int got = fscanf(rf, "injected %lu EINTR %lu EAGAIN %lu short", &eintr, &eagain, &shorts);
	fclose(rf);
	test_assert_int_eq(got, 3);
	test_note("seed %u: %lu EINTR, %lu EAGAIN, %lu short transfers injected", *data, eintr,
		  eagain, shorts);
	test_assert_msg(eintr > 0 && eagain > 0 && shorts > 0, "too few faults to prove anything");
	guest_finish(&g);
	ext_recorder_stop(&r);
}

/* ------------------------------------------------------------------ */
/* F-15: 64 contexts at once, one hostile                             */

/*
 * 64 crosswayd contexts, each with its own backend link, draw frames on one
 * compositor (crossway-recorder --fast: buffers released and frame
 * callbacks done at each commit) at 60 Hz: attach, damage_buffer, frame,
 * commit, and the time until wl_callback.done comes back in a RECEIVE. One
 * test process drives them all from one poll loop, so the latency includes
 * its own turn-around, the same in every phase. After a baseline, one
 * context floods 8 MiB of requests and then attaches a buffer that does not
 * exist: it must end with an ERROR naming the object, interface and opcode,
 * while the others draw every frame with no ERROR and SHUTDOWN cleanly.
 * The p99 latencies before and after are reported, not asserted (no timing
 * bounds on a shared CI machine), next to how much p99 moves between the
 * two halves of the baseline, where nothing happens.
 */
#define F15_CONTEXTS 64
#define F15_HOSTILE 41       // which one turns hostile
#define F15_SIZE 32          // pixels: a 32x32 XRGB8888 shm buffer each
#define F15_FRAME_US 16667   // frames paced at 60 Hz
#define F15_WARMUP_US 500000 // before the baseline
#define F15_PHASE_US 3000000 // baseline, then after the hostile one starts
#define F15_FLOOD_BYTES (8u << 20)
#define F15_MAX_SAMPLES 512 // per context and phase (180 at 60 Hz)
#define F15_BOGUS_BUFFER 0xdead
#define F15_DRM_XRGB8888 0x34325258u // 'XR24'
#define F15_SHM_XRGB8888 1
/* More wl_* and xdg_* opcodes. */
#define WL_SURFACE_ATTACH 1
#define WL_SURFACE_FRAME 3
#define WL_SURFACE_COMMIT 6
#define WL_SURFACE_DAMAGE_BUFFER 9
#define WL_SHM_CREATE_POOL 0
#define WL_SHM_POOL_CREATE_BUFFER 0
#define WL_SHM_POOL_DESTROY 1
#define XDG_SURFACE_CONFIGURE 0
#define WL_CALLBACK_DONE 0

struct f15_ctx {
	struct sim sim;
	uint32_t next_id; // the guest's next object id
	uint32_t surface, buffer;
	uint32_t callback;     // the frame callback waited for, 0: none
	int64_t commit_us;     // when that frame was sent
	int64_t next_frame_us; // when to send the next one
	uint64_t records_seen; // channel records handled
	uint8_t partial[4096]; // event bytes not yet a whole message
	uint32_t partial_len;
	uint32_t frames_sent, frames_done;
	// Frame latencies: [0] baseline, [1] after the hostile one started,
	// [2] those of [1] done while it was still alive.
	double lat_us[3][F15_MAX_SAMPLES];
	uint32_t lat_n[3];
	bool eof; // the empty RECEIVE that ends the stream came
	// The hostile one.
	bool hostile;
	bool attacking;   // it has stopped polling and floods
	uint32_t flooded; // bytes of requests sent so far
	bool garbage_sent;
};

static int64_t f15_now_us(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A context with an xdg_toplevel and a shm buffer from a blob, set up with
 * the synchronous helpers (@g is scratch space). */
static void f15_setup(struct f15_ctx *c, struct guest *g, const char *display, int i) {
	char vm[32];
	snprintf(vm, sizeof(vm), "vm-f15-%02d", i);
	faults_spawn(&c->sim, &(struct faults_spawn){.display = display});
	test_assert_msg(sim_hello(&c->sim, vm), "%s: no HELLO_REPLY", vm);
	test_assert_msg(sim_init(&c->sim, 20, TIMEOUT), "%s: INIT failed: %s", vm,
			c->sim.error_text);
	guest_init(g, &c->sim);
	test_assert_msg(guest_registry(g, TIMEOUT), "%s: no registry", vm);
	uint32_t compositor = guest_bind(g, "wl_compositor", 4);
	uint32_t shm = guest_bind(g, "wl_shm", 1);
	uint32_t wm_base = guest_bind(g, "xdg_wm_base", 1);
	test_assert(compositor != 0 && shm != 0 && wm_base != 0);
	c->surface = guest_new_id(g);
	uint32_t xs[2] = {guest_new_id(g), c->surface};
	uint32_t toplevel = guest_new_id(g);
	test_assert(guest_request(g, compositor, WL_COMPOSITOR_CREATE_SURFACE, &c->surface, 4, NULL,
				  NULL, 0));
	test_assert(guest_request(g, wm_base, XDG_WM_BASE_GET_XDG_SURFACE, xs, 8, NULL, NULL, 0));
	test_assert(guest_request(g, xs[0], XDG_SURFACE_GET_TOPLEVEL, &toplevel, 4, NULL, NULL, 0));
	test_assert(guest_request(g, c->surface, WL_SURFACE_COMMIT, NULL, 0, NULL, NULL, 0));
	int k = guest_wait_event(g, xs[0], XDG_SURFACE_CONFIGURE, TIMEOUT);
	test_assert_msg(k >= 0, "%s: no configure", vm);
	uint32_t serial = guest_event_word(&g->events[k], 0);
	test_assert(guest_request(g, xs[0], XDG_SURFACE_ACK_CONFIGURE, &serial, 4, NULL, NULL, 0));
	struct cross_domain_image_requirements req;
	test_assert(sim_image_requirements(&c->sim, F15_SIZE, F15_SIZE, F15_DRM_XRGB8888, &req,
					   TIMEOUT));
	uint32_t resource;
	int fd = sim_create_blob(&c->sim, req.blob_id, req.size, &resource, NULL, TIMEOUT);
	test_assert_msg(fd >= 0, "%s: CREATE_BLOB failed", vm);
	close(fd);
	uint32_t pool = guest_new_id(g);
	uint32_t create_pool[2] = {pool, (uint32_t)req.size};
	uint32_t ids[1] = {resource}, types[1] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB};
	test_assert(guest_request(g, shm, WL_SHM_CREATE_POOL, create_pool, 8, ids, types, 1));
	c->buffer = guest_new_id(g);
	uint32_t create_buffer[6] = {c->buffer, req.offsets[0], F15_SIZE,
				     F15_SIZE,  req.strides[0], F15_SHM_XRGB8888};
	test_assert(guest_request(g, pool, WL_SHM_POOL_CREATE_BUFFER, create_buffer, 24, NULL, NULL,
				  0));
	test_assert(guest_request(g, pool, WL_SHM_POOL_DESTROY, NULL, 0, NULL, NULL, 0));
	test_assert_msg(guest_roundtrip(g, TIMEOUT), "%s: no round trip", vm);
	c->next_id = g->next_id;
	guest_finish(g);
	c->records_seen = c->sim.channel_records;
}

/* attach + damage_buffer + frame + commit, in one SEND. */
static void f15_send_frame(struct f15_ctx *c, int64_t now) {
	uint8_t msg[64];
	uint32_t len = 0;
	uint32_t attach[3] = {c->buffer, 0, 0};
	uint32_t damage[4] = {0, 0, F15_SIZE, F15_SIZE};
	c->callback = c->next_id++;
	len += faults_msg(msg + len, c->surface, WL_SURFACE_ATTACH, attach, 3);
	len += faults_msg(msg + len, c->surface, WL_SURFACE_DAMAGE_BUFFER, damage, 4);
	len += faults_msg(msg + len, c->surface, WL_SURFACE_FRAME, &c->callback, 1);
	len += faults_msg(msg + len, c->surface, WL_SURFACE_COMMIT, NULL, 0);
	test_assert_msg(sim_send_wayland(&c->sim, msg, len, NULL, NULL, 0), "link broken: %s",
			c->sim.error_text);
	c->commit_us = now;
	c->next_frame_us = now + F15_FRAME_US;
	c->frames_sent++;
}

/* Files the events of the channel record just written; true if the frame
 * callback was done. */
static bool f15_read_record(struct f15_ctx *c) {
	struct cross_domain_record rec;
	struct wire_error err;
	test_assert_msg(cross_domain_decode_record(c->sim.channel.mem, c->sim.channel.size,
						   c->sim.layout, &rec, &err),
			"bad record: %s", err.text);
	test_assert(rec.cmd == CROSS_DOMAIN_CMD_RECEIVE);
	c->eof = rec.data_size == 0 && rec.num_identifiers == 0;
	test_assert_msg(c->partial_len + rec.data_size <= sizeof(c->partial), "event overflow");
	memcpy(c->partial + c->partial_len, rec.data, rec.data_size);
	c->partial_len += rec.data_size;
	bool done = false;
	uint32_t pos = 0;
	while (c->partial_len - pos >= 8) {
		uint32_t head[2];
		memcpy(head, c->partial + pos, 8);
		uint32_t size = head[1] >> 16;
		test_assert(size >= 8);
		if (size > c->partial_len - pos) {
			break;
		}
		done = done || (c->callback != 0 && head[0] == c->callback &&
				(head[1] & 0xffff) == WL_CALLBACK_DONE);
		pos += size;
	}
	memmove(c->partial, c->partial + pos, c->partial_len - pos);
	c->partial_len -= pos;
	return done;
}

/* Handles what came on @c's link; a channel record is answered with a new
 * poll, so each context always has one pending, as a guest proxy has (the
 * hostile one stops polling when it attacks: its link may be full). */
static void f15_service(struct f15_ctx *c, int64_t t_base, int64_t t_hostile, bool hostile_alive) {
	while (!c->sim.closed && sim_handle_message(&c->sim, 0) == 1) {
	}
	if (c->sim.channel_records == c->records_seen || c->sim.have_error) {
		return;
	}
	c->records_seen = c->sim.channel_records;
	if (f15_read_record(c)) {
		int64_t now = f15_now_us();
		int phase = c->commit_us >= t_hostile ? 1 : c->commit_us >= t_base ? 0 : -1;
		if (phase >= 0 && c->lat_n[phase] < F15_MAX_SAMPLES) {
			c->lat_us[phase][c->lat_n[phase]++] = (double)(now - c->commit_us);
		}
		if (phase == 1 && hostile_alive && c->lat_n[2] < F15_MAX_SAMPLES) {
			c->lat_us[2][c->lat_n[2]++] = (double)(now - c->commit_us);
		}
		c->callback = 0;
		c->frames_done++;
	}
	if (!c->eof && !c->attacking) {
		faults_issue_poll(&c->sim);
	}
}

/* The hostile one: floods requests without blocking anyone, then sends a
 * wl_surface.attach of an object that does not exist. */
static void f15_attack(struct f15_ctx *c) {
	uint8_t chunk[CROSS_DOMAIN_MAX_SEND_RECV_SIZE / 24 * 24];
	while (c->flooded < F15_FLOOD_BYTES) {
		uint32_t len = 0;
		uint32_t damage[4] = {0, 0, 1, 1};
		while (len + 24 <= sizeof(chunk)) {
			len += faults_msg(chunk + len, c->surface, WL_SURFACE_DAMAGE_BUFFER, damage,
					  4);
		}
		if (!sim_send_wayland(&c->sim, chunk, len, NULL, NULL, 0)) {
			test_assert_msg(errno == EAGAIN, "hostile link: %s", strerror(errno));
			return; // back-pressured: go on with the others
		}
		c->flooded += len;
	}
	if (!c->garbage_sent) {
		uint8_t msg[20];
		uint32_t attach[3] = {F15_BOGUS_BUFFER, 0, 0};
		uint32_t len = faults_msg(msg, c->surface, WL_SURFACE_ATTACH, attach, 3);
		if (sim_send_wayland(&c->sim, msg, len, NULL, NULL, 0)) {
			c->garbage_sent = true;
		}
	}
}

static int f15_compare(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The @p quantile (0..1) of @n samples (sorted in place); 0 if none. */
static double f15_quantile(double *v, size_t n, double p) {
	if (n == 0) {
		return 0;
	}
	qsort(v, n, sizeof(*v), f15_compare);
	size_t k = (size_t)(p * (double)n + 0.999999);
	return v[k > 0 ? k - 1 : 0];
}

TEST(f15_64_contexts_one_hostile) {
	test_set_timeout(90);
	struct ext_recorder r;
	const char *fast[] = {"--fast", NULL};
	ext_recorder_start(&r, "f15", fast, false);
	struct f15_ctx *ctxs = calloc(F15_CONTEXTS, sizeof(*ctxs));
	struct guest *g = calloc(1, sizeof(*g));
	test_assert(ctxs != NULL && g != NULL);
	int64_t t_setup = faults_now_ms();
	for (int i = 0; i < F15_CONTEXTS; i++) {
		f15_setup(&ctxs[i], g, r.name, i);
	}
	free(g);
	test_note("F-15: %d contexts set up in %lld ms", F15_CONTEXTS,
		  (long long)(faults_now_ms() - t_setup));
	struct f15_ctx *hostile = &ctxs[F15_HOSTILE];
	hostile->hostile = true;
	int64_t start = f15_now_us();
	int64_t t_base = start + F15_WARMUP_US;
	int64_t t_hostile = t_base + F15_PHASE_US;
	int64_t t_end = t_hostile + F15_PHASE_US;
	struct pollfd pfds[F15_CONTEXTS];
	for (int i = 0; i < F15_CONTEXTS; i++) {
		// Spread the first frames over one period.
		ctxs[i].next_frame_us = start + F15_FRAME_US * i / F15_CONTEXTS;
		faults_issue_poll(&ctxs[i].sim);
	}
	test_assert(fcntl(hostile->sim.fd, F_SETFL, O_NONBLOCK) == 0);
	int64_t t_error = 0;
	for (;;) {
		int64_t now = f15_now_us();
		bool pending = false;
		int64_t wake = now + 100000;
		for (int i = 0; i < F15_CONTEXTS; i++) {
			struct f15_ctx *c = &ctxs[i];
			pfds[i] = (struct pollfd){.fd = c->sim.closed ? -1 : c->sim.fd,
						  .events = POLLIN};
			if (c->hostile && now >= t_hostile) {
				c->attacking = true;
				if (!c->sim.have_error && !c->sim.closed) {
					f15_attack(c);
					if (c->flooded < F15_FLOOD_BYTES || !c->garbage_sent) {
						pfds[i].events |= POLLOUT;
					}
				}
				continue;
			}
			if (c->callback == 0 && now < t_end && now >= c->next_frame_us) {
				f15_send_frame(c, now);
			}
			pending = pending || c->callback != 0;
			if (c->callback == 0 && now < t_end && c->next_frame_us < wake) {
				wake = c->next_frame_us;
			}
		}
		bool hostile_done = hostile->sim.have_error && hostile->sim.closed;
		if (now >= t_end && !pending && hostile_done) {
			break;
		}
		test_assert_msg(now < t_end + 10000000, "stuck: frames pending %d, hostile done %d",
				pending, hostile_done);
		int timeout = (int)((wake - now + 999) / 1000);
		poll(pfds, F15_CONTEXTS, timeout > 0 ? timeout : 0);
		for (int i = 0; i < F15_CONTEXTS; i++) {
			struct f15_ctx *c = &ctxs[i];
			if (pfds[i].revents == 0) {
				continue;
			}
			f15_service(c, t_base, t_hostile, !hostile->sim.have_error);
			if (c->hostile && c->sim.have_error && t_error == 0) {
				t_error = f15_now_us();
			}
			test_assert_msg(c->hostile || (!c->sim.have_error && !c->eof),
					"context %d ended: %s", i, c->sim.error_text);
		}
	}
	// The hostile one: an ERROR naming object, interface and opcode, and
	// a non-zero exit.
	int status = faults_wait_pid(hostile->sim.pid, TIMEOUT);
	test_assert_msg(status != -1, "the hostile context did not exit");
	test_assert_msg(WIFEXITED(status), "the hostile context was killed by signal %d",
			WTERMSIG(status));
	hostile->sim.pid = 0;
	test_note("F-15: hostile context %d: %u KiB flood, then the bad attach; ERROR %lld ms "
		  "after it started, exit %d: %s",
		  F15_HOSTILE, hostile->flooded / 1024, (long long)((t_error - t_hostile) / 1000),
		  WEXITSTATUS(status), hostile->sim.error_text);
	test_assert_int_eq(WEXITSTATUS(status), CROSSWAY_BACKEND_EXIT_ERROR);
	test_assert_int_eq(hostile->sim.error_code, CROSSWAY_BACKEND_ERROR_PROTOCOL);
	test_assert_str_contains(hostile->sim.error_text, "wl_surface#");
	test_assert_str_contains(hostile->sim.error_text, ".attach(opcode 1)");
	test_assert_str_contains(hostile->sim.error_text, "unknown object 57005");
	sim_finish(&hostile->sim, TIMEOUT);
	// The others: every frame done, no ERROR, a clean SHUTDOWN.
	// [3], [4]: the first and second halves of each baseline, a measure
	// of how much p99 moves with nothing happening on this machine.
	static double pooled[5][(F15_CONTEXTS - 1) * F15_MAX_SAMPLES];
	size_t pooled_n[5] = {0};
	double ratios[F15_CONTEXTS];
	size_t ratio_n = 0;
	uint64_t frames = 0;
	for (int i = 0; i < F15_CONTEXTS; i++) {
		struct f15_ctx *c = &ctxs[i];
		if (c->hostile) {
			continue;
		}
		test_assert_msg(!c->sim.have_error && !c->sim.closed, "context %d ended: %s", i,
				c->sim.error_text);
		test_assert_msg(c->frames_done == c->frames_sent,
				"context %d: %u of %u frames done", i, c->frames_done,
				c->frames_sent);
		test_assert_msg(c->lat_n[0] > 0 && c->lat_n[1] > 0,
				"context %d: no frames in a phase", i);
		frames += c->frames_done;
		for (int p = 0; p < 3; p++) {
			memcpy(pooled[p] + pooled_n[p], c->lat_us[p], c->lat_n[p] * sizeof(double));
			pooled_n[p] += c->lat_n[p];
		}
		uint32_t half = c->lat_n[0] / 2;
		memcpy(pooled[3] + pooled_n[3], c->lat_us[0], half * sizeof(double));
		pooled_n[3] += half;
		memcpy(pooled[4] + pooled_n[4], c->lat_us[0] + half,
		       (c->lat_n[0] - half) * sizeof(double));
		pooled_n[4] += c->lat_n[0] - half;
		double before = f15_quantile(c->lat_us[0], c->lat_n[0], 0.99);
		double after = f15_quantile(c->lat_us[1], c->lat_n[1], 0.99);
		ratios[ratio_n++] = before > 0 ? after / before : 0;
		sim_send_shutdown(&c->sim);
	}
	for (int i = 0; i < F15_CONTEXTS; i++) {
		struct f15_ctx *c = &ctxs[i];
		if (!c->hostile) {
			test_assert_msg(c->sim.fault[0] == '\0',
					"context %d: link contract broken: %s", i, c->sim.fault);
			test_assert_msg(sim_finish(&c->sim, TIMEOUT) == 0,
					"context %d: no clean exit after SHUTDOWN", i);
		}
	}
	double p50[5], p99[5];
	for (int p = 0; p < 5; p++) {
		p50[p] = f15_quantile(pooled[p], pooled_n[p], 0.50);
		p99[p] = f15_quantile(pooled[p], pooled_n[p], 0.99);
	}
	test_note("F-15: %d others, %llu frames, all done; frame latency (commit to "
		  "wl_callback.done) p50 %.0f -> %.0f us, p99 %.0f -> %.0f us (%zu -> %zu samples)",
		  F15_CONTEXTS - 1, (unsigned long long)frames, p50[0], p50[1], p99[0], p99[1],
		  pooled_n[0], pooled_n[1]);
	test_note("F-15: while the hostile one flooded (%zu frames): p50 %.0f us, p99 %.0f us",
		  pooled_n[2], p50[2], p99[2]);
	test_note("F-15: p99 after / before = %.3f pooled; per context: median %.3f, max %.3f "
		  "(reported, not asserted: timing bounds are not tested on a shared CI machine; "
		  "the design bound is <= 1.10)",
		  p99[0] > 0 ? p99[1] / p99[0] : 0, f15_quantile(ratios, ratio_n, 0.5),
		  f15_quantile(ratios, ratio_n, 1.0));
	test_note("F-15: noise: p99 of the baseline's second half / its first half = %.3f "
		  "(%.0f / %.0f us)",
		  p99[3] > 0 ? p99[4] / p99[3] : 0, p99[4], p99[3]);
	free(ctxs);
	ext_recorder_stop(&r);
}
