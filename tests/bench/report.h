/*
 * crossway-bench numbers: what one run measured, printed as a table with
 * PASS/MISS per target, and written as JSON. Missing numbers are NAN and
 * print as "n/a".
 */
#ifndef CROSSWAY_TESTS_BENCH_REPORT_H
#define CROSSWAY_TESTS_BENCH_REPORT_H

#include <stdbool.h>
#include <stdint.h>

enum bench_path {
	BENCH_DIRECT,   // libwayland client straight to the compositor
	BENCH_CROSSWAY, // guest-side client over the backend link to crosswayd
	BENCH_VMSIM,    // libwayland client through crossway-vmsim (+ shadow copy)
	BENCH_WAYPIPE,  // libwayland client through waypipe client/server
	BENCH_PATHS,
};

#define BENCH_RESOLUTIONS 2 // 1920x1080, 3840x2160
#define BENCH_MAX_SCALES 3

/** Program-wide settings. */
struct bench_config {
	const char *crosswayd, *recorder, *vmsim, *waypipe, *weston; // programs
	bool quick;
	bool tap;
};

struct bench_path_stats {
	bool available;  // the path could be set up
	char error[300]; // first failure, empty if none
	size_t rt_n;
	double rt_p50_us, rt_p99_us;
	double up_per_s, down_per_s; // messages per second
	double frames[BENCH_RESOLUTIONS];
	double fps[BENCH_RESOLUTIONS];
	double lat_p50_us[BENCH_RESOLUTIONS], lat_p99_us[BENCH_RESOLUTIONS];
	// BENCH_CROSSWAY only: crosswayd's cost
	double cpu_ns_per_up, cpu_ns_per_down;
	double cpu_us_per_frame[BENCH_RESOLUTIONS];
	uint64_t rss_idle_kib, hwm_idle_kib, hwm_peak_kib; // highest over contexts
	uint64_t rss_parent_kib; // crosswayd's waiting parent (PID namespace), highest
	double spawn_ms_p50, spawn_ms_max;
	double polls_per_s, bytes_per_poll; // host -> guest: one record per poll
	// From each context's exit line "(N pixel bytes copied)": the sum, the
	// number of contexts that printed one and of those that did not.
	uint64_t pixel_bytes_copied;
	uint32_t pixel_reports, pixel_missing;
};

struct bench_scale_stats {
	uint32_t clients, ok_clients;
	double aggregate_fps; // NAN unless every client finished
	double max_dev;       // largest |fps_i - mean| / mean
	char error[256];
};

struct bench_compositor_stats {
	const char *name; // "recorder" or "weston"
	bool skipped;
	struct bench_path_stats paths[BENCH_PATHS];
	uint32_t scale_count;
	struct bench_scale_stats scale[BENCH_MAX_SCALES][2]; // [size][direct, crossway]
};

struct bench_report {
	bool quick;
	double seconds;
	uint32_t count;
	struct bench_compositor_stats compositors[2];
};

/**
 * Prints the tables and targets on stdout; with @tap, as TAP with one test
 * per compositor and path ("produced numbers") and everything else as
 * comments. Returns false when a path that was set up produced no numbers.
 */
bool bench_report_print(const struct bench_report *report, bool tap);

/** Writes @report as JSON to @path. Returns false (and says why) on error. */
bool bench_report_json(const struct bench_report *report, const char *path);

#endif
