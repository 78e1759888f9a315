/*
 * crossway-bench: the same Wayland work over four paths (direct, crossway
 * over the backend link, a real client through crossway-vmsim, and waypipe),
 * alternating them, against the recording compositor in fast mode and weston
 * headless. Prints a table, PASS/MISS per target and a JSON file. Timing
 * never fails the run: the exit status is 0 unless something broke.
 */
/* _GNU_SOURCE: setenv/mkdtemp are POSIX, but execvpe is not. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wayland-client.h>

#include "tests/bench/bench.h"
#include "tests/bench/report.h"

#define WORKER_TIMEOUT_S 240
#define MAX_SCALE 64

static struct bench_config cfg = {
	.crosswayd = "crosswayd",
	.recorder = "crossway-recorder",
	.vmsim = "crossway-vmsim",
	.waypipe = "waypipe",
	.weston = "weston",
};

static char runtime_dir[64];
/* Hidden, for profiling: CROSSWAY_BENCH_WRAP="valgrind --tool=callgrind ..."
 * runs the crosswayd of the crossway path under that command (through a
 * script in the runtime dir), with CROSSWAY_BENCH_WRAP_ARGS appended to its
 * options (valgrind needs "--no-sandbox"); CROSSWAY_BENCH_ONLY=N runs only workload N
 * (0 round trip, 1 messages up, 2 messages down, 3 frames) and no scaling. */
static char wrapped_crosswayd[96];
static int only_workload = -1;
/* The parent's ends of the scale pipes, closed in every worker so that a
 * worker's read of "go" sees EOF when the parent closes its end. */
static int parent_fds[2] = {-1, -1};

static const char *const path_names[BENCH_PATHS] = {"direct", "crossway", "vmsim", "waypipe"};

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs(cfg.tap ? "# " : "", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
}

/* --- processes --- */

static pid_t spawn(const char *const *argv, const char *display, const char *log_name) {
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0) {
		return pid;
	}
	setpgid(0, 0);
	if (display != NULL) {
		setenv("WAYLAND_DISPLAY", display, 1);
	} else {
		unsetenv("WAYLAND_DISPLAY");
	}
	char path[128];
	snprintf(path, sizeof(path), "%s/%s.log", runtime_dir, log_name);
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	if (null >= 0) {
		dup2(null, 0);
	}
	execvp(argv[0], (char *const *)argv);
	_exit(127);
}

/* Ends a process group started by spawn(): TERM, then KILL after 3 s. */
static void stop(pid_t *pid) {
	if (*pid <= 0) {
		return;
	}
	kill(-*pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		if (waitpid(*pid, NULL, WNOHANG) == *pid) {
			*pid = 0;
			break;
		}
		usleep(10000);
	}
	if (*pid > 0) {
		kill(-*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}

static void stop_group(pid_t pgid) {
	// Leftover members (waypipe's per-connection children).
	kill(-pgid, SIGKILL);
}

static bool wait_socket(const char *name, pid_t pid, bool roundtrip) {
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", name[0] == '/' ? "" : runtime_dir, name);
	for (int i = 0; i < 1000; i++) {
		struct stat st;
		if (waitpid(pid, NULL, WNOHANG) == pid) {
			return false;
		}
		if (stat(path, &st) == 0) {
			if (!roundtrip) {
				return true;
			}
			struct wl_display *d = wl_display_connect(name);
			if (d != NULL) {
				bool ok = wl_display_roundtrip(d) >= 0;
				wl_display_disconnect(d);
				if (ok) {
					return true;
				}
			}
		}
		usleep(10000);
	}
	return false;
}

static bool in_path(const char *prog) {
	if (strchr(prog, '/') != NULL) {
		return access(prog, X_OK) == 0;
	}
	const char *env = getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s", env ? env : "/usr/bin:/bin");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/%s", d, prog);
		if (access(path, X_OK) == 0) {
			return true;
		}
	}
	return false;
}

/* --- one compositor session: the compositor and the proxies in front of it --- */

struct session {
	const char *compositor; // "recorder" or "weston"
	pid_t compositor_pid, vmsim_pid, wp_client_pid, wp_server_pid;
	const char *host_display;
	const char *displays[BENCH_PATHS]; // NULL: the path is not available
};

static bool session_start(struct session *s, const char *which) {
	memset(s, 0, sizeof(*s));
	s->compositor = which;
	if (strcmp(which, "recorder") == 0) {
		s->host_display = "bench-recorder";
		const char *argv[] = {cfg.recorder, "--fast", "--socket", s->host_display, NULL};
		s->compositor_pid = spawn(argv, NULL, "recorder");
	} else {
		if (!in_path(cfg.weston)) {
			note("weston not found: skipping the weston runs");
			return false;
		}
		s->host_display = "bench-weston";
		const char *argv[] = {cfg.weston,      "--backend=headless-backend.so",
				      "--use-pixman",  "--socket=bench-weston",
				      "--width=1920",  "--height=1080",
				      "--idle-time=0", NULL};
		s->compositor_pid = spawn(argv, NULL, "weston");
	}
	if (!wait_socket(s->host_display, s->compositor_pid, true)) {
		note("%s did not come up (log in %s)", which, runtime_dir);
		return false;
	}
	s->displays[BENCH_DIRECT] = s->host_display;
	s->displays[BENCH_CROSSWAY] = s->host_display; // crosswayd's compositor

	const char *vm_argv[] = {cfg.vmsim,       "--socket",    "bench-vm",    "--vm",
				 "bench",         "--crosswayd", cfg.crosswayd, "--wayland-display",
				 s->host_display, NULL};
	s->vmsim_pid = spawn(vm_argv, NULL, "vmsim");
	if (wait_socket("bench-vm", s->vmsim_pid, false)) {
		s->displays[BENCH_VMSIM] = "bench-vm";
	} else {
		note("crossway-vmsim did not come up: vmsim path skipped");
	}

	if (!in_path(cfg.waypipe)) {
		note("waypipe not found: waypipe path skipped");
		return true;
	}
	char sock[128];
	snprintf(sock, sizeof(sock), "%s/wp.sock", runtime_dir);
	unlink(sock);
	const char *wc_argv[] = {cfg.waypipe, "--no-gpu", "-s", sock, "client", NULL};
	s->wp_client_pid = spawn(wc_argv, s->host_display, "waypipe-client");
	if (!wait_socket(sock, s->wp_client_pid, false)) {
		note("waypipe client did not come up: waypipe path skipped");
		return true;
	}
	const char *ws_argv[] = {cfg.waypipe, "--no-gpu", "-s",     sock,
				 "--display", "bench-wp", "server", "--",
				 "sleep",     "100000",   NULL};
	s->wp_server_pid = spawn(ws_argv, NULL, "waypipe-server");
	if (wait_socket("bench-wp", s->wp_server_pid, false)) {
		s->displays[BENCH_WAYPIPE] = "bench-wp";
	} else {
		note("waypipe server did not come up: waypipe path skipped");
	}
	return true;
}

static void session_stop(struct session *s) {
	pid_t groups[] = {s->wp_server_pid, s->wp_client_pid, s->vmsim_pid, s->compositor_pid};
	stop(&s->wp_server_pid);
	stop(&s->wp_client_pid);
	stop(&s->vmsim_pid);
	stop(&s->compositor_pid);
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		if (groups[i] > 0) {
			stop_group(groups[i]);
		}
	}
	char path[256];
	const char *names[] = {"bench-wp", "bench-vm", "wp.sock", s->host_display};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (names[i] != NULL) {
			snprintf(path, sizeof(path), "%s/%s", runtime_dir, names[i]);
			unlink(path);
			snprintf(path, sizeof(path), "%s/%s.lock", runtime_dir, names[i]);
			unlink(path);
		}
	}
}

/* --- workers --- */

struct worker {
	pid_t pid;
	struct bench_result *res; // shared with the worker
};

static bool worker_start(struct worker *w, const struct session *s, enum bench_path path,
			 struct bench_job job) {
	w->res = mmap(NULL, sizeof(*w->res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		      0);
	if (w->res == MAP_FAILED) {
		w->res = NULL;
		return false;
	}
	job.display = s->displays[path];
	job.crosswayd = wrapped_crosswayd[0] ? wrapped_crosswayd : cfg.crosswayd;
	fflush(NULL);
	w->pid = fork();
	if (w->pid < 0) {
		return false;
	}
	if (w->pid == 0) {
		for (int i = 0; i < 2; i++) {
			if (parent_fds[i] >= 0) {
				close(parent_fds[i]);
			}
		}
		alarm(WORKER_TIMEOUT_S);
		if (path == BENCH_CROSSWAY) {
			bench_ring_run(&job, w->res);
		} else {
			bench_wl_run(&job, w->res);
		}
		_exit(0);
	}
	return true;
}

/* Waits for the worker; returns its result (valid until worker_free) or NULL. */
static struct bench_result *worker_wait(struct worker *w) {
	if (w->pid <= 0) {
		return NULL;
	}
	int status;
	waitpid(w->pid, &status, 0);
	w->pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(w->res->error, sizeof(w->res->error), "worker died (status %d)", status);
		w->res->ok = false;
	}
	return w->res;
}

static void worker_free(struct worker *w) {
	if (w->res != NULL) {
		munmap(w->res, sizeof(*w->res));
		w->res = NULL;
	}
}

static int cmp_double(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p) {
	if (n == 0) {
		return NAN;
	}
	qsort(v, n, sizeof(*v), cmp_double);
	size_t i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

/* Accumulated samples of one path across rounds. */
struct accum {
	double *rt;
	size_t rt_n;
	double *lat[BENCH_RESOLUTIONS];
	size_t lat_n[BENCH_RESOLUTIONS];
	double spawn_ms[64];
	size_t spawn_n;
};

static void add_ring_cost(struct bench_path_stats *ps, struct accum *a,
			  const struct bench_result *r) {
	if (a->spawn_n < 64 && r->spawn_to_roundtrip_ms > 0) {
		a->spawn_ms[a->spawn_n++] = r->spawn_to_roundtrip_ms;
	}
	if (r->rss_idle_kib > ps->rss_idle_kib) {
		ps->rss_idle_kib = r->rss_idle_kib;
	}
	if (r->hwm_idle_kib > ps->hwm_idle_kib) {
		ps->hwm_idle_kib = r->hwm_idle_kib;
	}
	if (r->rss_parent_kib > ps->rss_parent_kib) {
		ps->rss_parent_kib = r->rss_parent_kib;
	}
	if (r->hwm_peak_kib > ps->hwm_peak_kib) {
		ps->hwm_peak_kib = r->hwm_peak_kib;
	}
	if (r->pixel_bytes_copied >= 0) {
		ps->pixel_bytes_copied += (uint64_t)r->pixel_bytes_copied;
		ps->pixel_reports++;
	} else {
		ps->pixel_missing++;
	}
}

static void record_failure(struct bench_path_stats *ps, const char *what,
			   const struct bench_result *r) {
	if (ps->error[0] == '\0') {
		snprintf(ps->error, sizeof(ps->error), "%.40s: %.250s", what,
			 r ? r->error : "could not start a worker");
	}
	note("%s failed: %s", what, r ? r->error : "could not start a worker");
}

static struct bench_result *run_one(const struct session *s, enum bench_path path,
				    struct bench_job job, struct worker *w) {
	job.ready_fd = -1;
	job.go_fd = -1;
	memset(w, 0, sizeof(*w));
	if (!worker_start(w, s, path, job)) {
		worker_free(w);
		return NULL;
	}
	return worker_wait(w);
}

static void run_workloads(const struct session *s, struct bench_compositor_stats *cs) {
	bool weston = strcmp(s->compositor, "weston") == 0;
	uint32_t rounds = cfg.quick ? 1 : 2;
	uint32_t rt_count = cfg.quick ? 200 : 10000;
	uint32_t up_count = cfg.quick ? 5000 : 400000;
	uint32_t down_count = cfg.quick ? 1000 : 40000;
	uint32_t frame_counts[BENCH_RESOLUTIONS] = {
		cfg.quick ? 10 : (weston ? 120 : 300),
		cfg.quick ? 4 : (weston ? 40 : 100),
	};
	static const uint32_t widths[BENCH_RESOLUTIONS] = {1920, 3840};
	static const uint32_t heights[BENCH_RESOLUTIONS] = {1080, 2160};
	struct accum acc[BENCH_PATHS] = {0};
	for (int p = 0; p < BENCH_PATHS; p++) {
		acc[p].rt = calloc(rt_count, sizeof(double));
		for (int k = 0; k < BENCH_RESOLUTIONS; k++) {
			acc[p].lat[k] = calloc(BENCH_MAX_FRAME_SAMPLES, sizeof(double));
		}
		cs->paths[p].available = s->displays[p] != NULL;
	}
	double up_msgs[BENCH_PATHS] = {0}, up_s[BENCH_PATHS] = {0};
	double down_msgs[BENCH_PATHS] = {0}, down_s[BENCH_PATHS] = {0};
	double frames[BENCH_PATHS][BENCH_RESOLUTIONS] = {{0}};
	double frame_s[BENCH_PATHS][BENCH_RESOLUTIONS] = {{0}};
	double up_cpu = 0, down_cpu = 0, frame_cpu[BENCH_RESOLUTIONS] = {0};
	uint64_t polls = 0, rec_bytes = 0;

	for (int wl = 0; wl < 4; wl++) {
		static const char *const wl_names[] = {"round trip", "messages up", "messages down",
						       "frames"};
		if (only_workload >= 0 && wl != only_workload) {
			continue;
		}
		note("%s: %s ...", s->compositor, wl_names[wl]);
		for (uint32_t r = 0; r < rounds; r++) {
			for (int p = 0; p < BENCH_PATHS; p++) {
				struct bench_path_stats *ps = &cs->paths[p];
				if (!ps->available) {
					continue;
				}
				int nres = wl == BENCH_FRAMES ? BENCH_RESOLUTIONS : 1;
				for (int k = 0; k < nres; k++) {
					struct bench_job job = {.workload = wl};
					switch (wl) {
					case BENCH_ROUNDTRIP:
						job.count = rt_count / rounds;
						break;
					case BENCH_MSG_UP:
						job.count = up_count / rounds;
						break;
					case BENCH_MSG_DOWN:
						job.count = down_count / rounds;
						break;
					default:
						job.count = frame_counts[k] / rounds;
						job.width = widths[k];
						job.height = heights[k];
						break;
					}
					char what[96];
					snprintf(what, sizeof(what), "%s %s %s", s->compositor,
						 path_names[p], wl_names[wl]);
					struct worker w;
					struct bench_result *res = run_one(s, p, job, &w);
					if (res == NULL || !res->ok) {
						record_failure(ps, what, res);
						worker_free(&w);
						continue;
					}
					struct accum *a = &acc[p];
					if (p == BENCH_CROSSWAY) {
						add_ring_cost(ps, a, res);
					}
					switch (wl) {
					case BENCH_ROUNDTRIP:
						memcpy(a->rt + a->rt_n, res->rt_us,
						       res->rt_count * sizeof(double));
						a->rt_n += res->rt_count;
						break;
					case BENCH_MSG_UP:
						up_msgs[p] += res->messages;
						up_s[p] += res->seconds;
						up_cpu += (double)res->crosswayd_cpu_ns;
						break;
					case BENCH_MSG_DOWN:
						down_msgs[p] += res->messages;
						down_s[p] += res->seconds;
						down_cpu += (double)res->crosswayd_cpu_ns;
						polls += res->polls;
						rec_bytes += res->record_bytes;
						break;
					default:
						frames[p][k] += res->frames;
						frame_s[p][k] += res->frame_seconds;
						frame_cpu[k] += (double)res->crosswayd_cpu_ns;
						for (uint32_t i = 0;
						     i < res->lat_count &&
						     a->lat_n[k] < BENCH_MAX_FRAME_SAMPLES;
						     i++) {
							a->lat[k][a->lat_n[k]++] = res->lat_us[i];
						}
						break;
					}
					worker_free(&w);
				}
			}
		}
	}

	for (int p = 0; p < BENCH_PATHS; p++) {
		struct bench_path_stats *ps = &cs->paths[p];
		struct accum *a = &acc[p];
		ps->rt_n = a->rt_n;
		ps->rt_p50_us = percentile(a->rt, a->rt_n, 0.50);
		ps->rt_p99_us = percentile(a->rt, a->rt_n, 0.99);
		ps->up_per_s = up_s[p] > 0 ? up_msgs[p] / up_s[p] : NAN;
		ps->down_per_s = down_s[p] > 0 ? down_msgs[p] / down_s[p] : NAN;
		for (int k = 0; k < BENCH_RESOLUTIONS; k++) {
			ps->fps[k] = frame_s[p][k] > 0 ? frames[p][k] / frame_s[p][k] : NAN;
			ps->lat_p50_us[k] = percentile(a->lat[k], a->lat_n[k], 0.50);
			ps->lat_p99_us[k] = percentile(a->lat[k], a->lat_n[k], 0.99);
			ps->frames[k] = frames[p][k];
		}
		if (p == BENCH_CROSSWAY) {
			ps->spawn_ms_p50 = percentile(a->spawn_ms, a->spawn_n, 0.50);
			ps->spawn_ms_max = a->spawn_n ? a->spawn_ms[a->spawn_n - 1] : NAN;
			ps->cpu_ns_per_up = up_msgs[p] > 0 ? up_cpu / up_msgs[p] : NAN;
			ps->cpu_ns_per_down = down_msgs[p] > 0 ? down_cpu / down_msgs[p] : NAN;
			for (int k = 0; k < BENCH_RESOLUTIONS; k++) {
				ps->cpu_us_per_frame[k] = frames[p][k] > 0
								  ? frame_cpu[k] / frames[p][k] /
									    1e3
								  : NAN;
			}
			ps->polls_per_s = down_s[p] > 0 ? (double)polls / down_s[p] : NAN;
			ps->bytes_per_poll = polls > 0 ? (double)rec_bytes / (double)polls : NAN;
		}
		free(a->rt);
		for (int k = 0; k < BENCH_RESOLUTIONS; k++) {
			free(a->lat[k]);
		}
	}
}

/* N concurrent clients of @path doing 1080p frames for a fixed time. */
static void run_scale(const struct session *s, enum bench_path path, uint32_t n,
		      struct bench_scale_stats *out) {
	double duration = cfg.quick ? 1.0 : 4.0;
	struct worker w[MAX_SCALE] = {0};
	int ready[2], go[2];
	if (pipe(ready) != 0 || pipe(go) != 0) {
		return;
	}
	parent_fds[0] = ready[0];
	parent_fds[1] = go[1];
	uint32_t started = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct bench_job job = {.workload = BENCH_FRAMES,
					.width = 1920,
					.height = 1080,
					.duration_s = duration,
					.ready_fd = ready[1],
					.go_fd = go[0]};
		if (!worker_start(&w[i], s, path, job)) {
			break;
		}
		started++;
	}
	parent_fds[0] = parent_fds[1] = -1;
	close(ready[1]);
	close(go[0]);
	// Every worker writes one byte when set up, or closes its end dying.
	uint32_t got = 0;
	char c;
	while (got < started && read(ready[0], &c, 1) == 1) {
		got++;
	}
	close(ready[0]);
	close(go[1]); // go
	double sum = 0, fps[MAX_SCALE];
	uint32_t ok = 0;
	for (uint32_t i = 0; i < started; i++) {
		struct bench_result *r = worker_wait(&w[i]);
		if (r != NULL && r->ok && r->frame_seconds > 0) {
			fps[ok] = r->frames / r->frame_seconds;
			sum += fps[ok++];
		} else if (out->error[0] == '\0') {
			snprintf(out->error, sizeof(out->error), "%s", r ? r->error : "no worker");
		}
		worker_free(&w[i]);
	}
	out->clients = n;
	out->ok_clients = ok;
	out->aggregate_fps = ok == n ? sum : NAN;
	double mean = ok ? sum / ok : NAN;
	double spread = 0;
	for (uint32_t i = 0; i < ok; i++) {
		double d = fabs(fps[i] - mean) / mean;
		spread = d > spread ? d : spread;
	}
	out->max_dev = ok == n ? spread : NAN;
}

static void run_scales(const struct session *s, struct bench_compositor_stats *cs) {
	static const uint32_t full[] = {1, 16, 64};
	static const uint32_t quick[] = {1, 4};
	const uint32_t *sizes = cfg.quick ? quick : full;
	cs->scale_count = cfg.quick ? 2 : 3;
	for (uint32_t i = 0; i < cs->scale_count; i++) {
		for (int p = BENCH_DIRECT; p <= BENCH_CROSSWAY; p++) {
			note("%s: scale %u x %s ...", s->compositor, sizes[i], path_names[p]);
			run_scale(s, p, sizes[i], &cs->scale[i][p]);
		}
	}
}

/* Writes the CROSSWAY_BENCH_WRAP script: exec WRAP CROSSWAYD "$@" ARGS. */
static bool make_wrapper(const char *wrap, const char *args) {
	snprintf(wrapped_crosswayd, sizeof(wrapped_crosswayd), "%s/crosswayd-wrapped", runtime_dir);
	FILE *f = fopen(wrapped_crosswayd, "we");
	if (f == NULL) {
		wrapped_crosswayd[0] = '\0';
		return false;
	}
	fprintf(f, "#!/bin/sh\nexec %s '%s' \"$@\" %s\n", wrap, cfg.crosswayd, args ? args : "");
	bool ok = fclose(f) == 0 && chmod(wrapped_crosswayd, 0700) == 0;
	if (!ok) {
		wrapped_crosswayd[0] = '\0';
	}
	return ok;
}

static void remove_runtime_dir(void) {
	char cmd[160];
	if (runtime_dir[0] == '\0') {
		return;
	}
	// Only files we or our children made live here; logs are kept on failure.
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", runtime_dir);
	if (system(cmd) != 0) {
		note("could not remove %s", runtime_dir);
	}
}

static const char usage[] =
	"Usage: crossway-bench [options]\n"
	"  --quick                 small sample counts, 1 and 4 contexts (CI smoke)\n"
	"  --compositor WHICH      recorder, weston or both (default both)\n"
	"  --json PATH             also write the numbers as JSON\n"
	"  --tap                   TAP output: one test per path that produced numbers\n"
	"  --crosswayd PATH        crosswayd to run (default: crosswayd in PATH)\n"
	"  --recorder PATH         crossway-recorder to run\n"
	"  --vmsim PATH            crossway-vmsim to run\n"
	"  --waypipe PATH          waypipe to run (skipped when missing)\n"
	"  --weston PATH           weston to run (skipped when missing)\n";

int main(int argc, char *argv[]) {
	enum {
		OPT_QUICK = 1,
		OPT_COMP,
		OPT_JSON,
		OPT_TAP,
		OPT_CW,
		OPT_REC,
		OPT_VM,
		OPT_WP,
		OPT_WE
	};
	static const struct option options[] = {
		{"quick", no_argument, NULL, OPT_QUICK},
		{"compositor", required_argument, NULL, OPT_COMP},
		{"json", required_argument, NULL, OPT_JSON},
		{"tap", no_argument, NULL, OPT_TAP},
		{"crosswayd", required_argument, NULL, OPT_CW},
		{"recorder", required_argument, NULL, OPT_REC},
		{"vmsim", required_argument, NULL, OPT_VM},
		{"waypipe", required_argument, NULL, OPT_WP},
		{"weston", required_argument, NULL, OPT_WE},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *which = "both";
	const char *json = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
		switch (opt) {
		case OPT_QUICK:
			cfg.quick = true;
			break;
		case OPT_COMP:
			which = optarg;
			break;
		case OPT_JSON:
			json = optarg;
			break;
		case OPT_TAP:
			cfg.tap = true;
			break;
		case OPT_CW:
			cfg.crosswayd = optarg;
			break;
		case OPT_REC:
			cfg.recorder = optarg;
			break;
		case OPT_VM:
			cfg.vmsim = optarg;
			break;
		case OPT_WP:
			cfg.waypipe = optarg;
			break;
		case OPT_WE:
			cfg.weston = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	bool want[2] = {strcmp(which, "recorder") == 0 || strcmp(which, "both") == 0,
			strcmp(which, "weston") == 0 || strcmp(which, "both") == 0};
	if (!want[0] && !want[1]) {
		fputs(usage, stderr);
		return 2;
	}
	if (cfg.tap) {
		// First line: comments may only follow the version line.
		printf("TAP version 13\n");
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(runtime_dir, sizeof(runtime_dir), "/tmp/crossway-bench-XXXXXX");
	if (mkdtemp(runtime_dir) == NULL) {
		perror("crossway-bench: mkdtemp");
		return 1;
	}
	setenv("XDG_RUNTIME_DIR", runtime_dir, 1);
	const char *wrap = getenv("CROSSWAY_BENCH_WRAP");
	if (wrap != NULL && *wrap != '\0' &&
	    !make_wrapper(wrap, getenv("CROSSWAY_BENCH_WRAP_ARGS"))) {
		perror("crossway-bench: CROSSWAY_BENCH_WRAP");
		return 1;
	}
	const char *only = getenv("CROSSWAY_BENCH_ONLY");
	if (only != NULL && *only >= '0' && *only <= '3' && only[1] == '\0') {
		only_workload = *only - '0';
	}
	unsetenv("WAYLAND_DISPLAY");
	unsetenv("WAYLAND_SOCKET");

	static struct bench_report report;
	report.quick = cfg.quick;
	static const char *const comp_names[2] = {"recorder", "weston"};
	bool broke = false;
	double t0 = bench_now();
	for (int c = 0; c < 2; c++) {
		if (!want[c]) {
			continue;
		}
		struct bench_compositor_stats *cs = &report.compositors[report.count++];
		cs->name = comp_names[c];
		struct session s;
		if (!session_start(&s, comp_names[c])) {
			cs->skipped = true;
			broke = broke || c == 0; // weston may be absent; the recorder may not
			session_stop(&s);
			continue;
		}
		run_workloads(&s, cs);
		if (only_workload < 0) {
			run_scales(&s, cs);
		}
		session_stop(&s);
	}
	report.seconds = bench_now() - t0;
	broke = !bench_report_print(&report, cfg.tap) || broke;
	if (json != NULL && !bench_report_json(&report, json)) {
		broke = true;
	}
	if (!broke) {
		remove_runtime_dir();
	} else {
		note("logs kept in %s", runtime_dir);
	}
	return broke ? 1 : 0;
}
