/*
 * crossway-bench: one unit of work (a job) run by one client over one path,
 * and what it measured (a result). Jobs run in forked worker processes; their
 * results live in shared memory the parent reads after the worker exits.
 *
 * Two client implementations run the same jobs:
 *  - bench_wl_run: libwayland-client, for the direct, vmsim and waypipe paths
 *    (they differ only in the display the client connects to);
 *  - bench_ring_run: a guest-side client that writes Wayland bytes into
 *    cross-domain SENDs and reads events from RECEIVE records, over the
 *    backend link to a crosswayd it spawns (tests/common/sim.h).
 */
#ifndef CROSSWAY_TESTS_BENCH_BENCH_H
#define CROSSWAY_TESTS_BENCH_BENCH_H

#include <stdbool.h>
#include <stdint.h>

/** Round-trip samples one result can hold. */
#define BENCH_MAX_ROUNDTRIPS 10000
/** Frame latency samples one result can hold (later frames are counted, not kept). */
#define BENCH_MAX_FRAME_SAMPLES 4096
/** Syncs kept in flight by the event-rate job: bounded so that no compositor
 * ever holds more than a few KiB of events for a client that is busy. */
#define BENCH_SYNC_WINDOW 128
/** Requests written between two flushes by the libwayland client (its
 * connection buffer is 4 KiB; 24-byte wl_region.add requests). */
#define BENCH_FLUSH_EVERY 150
/** How long any single wait may take before the job is declared broken. */
#define BENCH_WAIT_MS 20000

enum bench_workload {
	BENCH_ROUNDTRIP, // count wl_display.sync round trips, one at a time
	BENCH_MSG_UP,    // count pipelined wl_region.add, then one sync
	BENCH_MSG_DOWN,  // count syncs with BENCH_SYNC_WINDOW in flight: events back
	BENCH_FRAMES,    // count frames (or duration_s) of width x height XRGB8888
};

struct bench_job {
	enum bench_workload workload;
	const char *display;   // wl clients: the display to connect to;
			       // ring client: the host compositor for crosswayd
	const char *crosswayd; // ring client only
	uint32_t count;
	uint32_t width, height; // BENCH_FRAMES
	double duration_s;      // BENCH_FRAMES: > 0 runs until this long after "go"
	int ready_fd;           // >= 0: write one byte once set up, then close (owned)
	int go_fd;              // >= 0: wait for EOF on it before measuring (owned)
};

struct bench_result {
	bool ok;
	char error[256];

	// BENCH_ROUNDTRIP
	uint32_t rt_count;
	double rt_us[BENCH_MAX_ROUNDTRIPS];

	// BENCH_MSG_UP and BENCH_MSG_DOWN: messages carried and the time it took
	double messages;
	double seconds;
	uint64_t polls;        // ring client: POLLs issued (one record each)
	uint64_t record_bytes; // ring client: Wayland bytes in RECEIVE records

	// BENCH_FRAMES
	uint32_t frames;
	double frame_seconds; // from the first commit to the last frame done
	uint32_t lat_count;   // commit -> wl_callback.done samples kept
	double lat_us[BENCH_MAX_FRAME_SAMPLES];

	// Ring client: crosswayd's cost
	int64_t crosswayd_cpu_ns;     // during the measured part, -1 if unknown
	double spawn_to_roundtrip_ms; // spawn to the first get_registry round trip
	uint64_t rss_idle_kib;        // VmRSS right after that round trip
	uint64_t hwm_idle_kib;        // VmHWM at the same time
	uint64_t hwm_peak_kib;        // VmHWM at the end of the job
	uint64_t rss_parent_kib;      // VmRSS of crosswayd's waiting parent, if it forked
	int64_t pixel_bytes_copied;   // from crosswayd's exit line, -1 if it printed none
};

/** Runs @job with libwayland-client. Fills @res (res->ok on success). */
void bench_wl_run(const struct bench_job *job, struct bench_result *res);

/** Runs @job as a guest over the backend link to a crosswayd it spawns. */
void bench_ring_run(const struct bench_job *job, struct bench_result *res);

/** CLOCK_MONOTONIC in seconds. */
double bench_now(void);

/** Fills a row of pixels for frame @frame: content changes every frame. */
void bench_fill(uint8_t *pixels, uint32_t stride, uint32_t height, uint32_t frame);

/**
 * Handles ready_fd/go_fd of @job: signals readiness and waits for the start.
 * Returns false if the parent went away.
 */
bool bench_wait_go(const struct bench_job *job);

/**
 * Total CPU time of @pid in nanoseconds: /proc/PID/schedstat (nanosecond
 * precision) or, if that is missing, utime + stime of /proc/PID/stat.
 * Returns -1 if neither can be read.
 */
int64_t bench_proc_cpu_ns(int pid);

/**
 * The process doing @pid's work: its only child when it has one (crosswayd
 * forks into a PID namespace and waits), else @pid itself.
 */
int bench_proc_worker(int pid);

/** A "VmRSS"/"VmHWM"-style field of /proc/PID/status in KiB, or 0. */
uint64_t bench_proc_status_kib(int pid, const char *field);

#endif
