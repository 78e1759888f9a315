/* Tables, targets and JSON for crossway-bench. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tests/bench/report.h"

static const char *const path_names[BENCH_PATHS] = {"direct", "crossway", "vmsim", "waypipe"};
static const char *const res_names[BENCH_RESOLUTIONS] = {"1080p", "4K"};

struct target {
	char name[96];
	double value; // NAN: not measured
	char text[96];
	bool pass;
	bool info; // reported, no PASS/MISS
};

static bool tap_mode;

static void line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void line(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs(tap_mode ? "# " : "", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
}

static void fmt_num(char *buf, size_t cap, double v) {
	if (isnan(v)) {
		snprintf(buf, cap, "n/a");
	} else if (fabs(v) >= 1e6) {
		snprintf(buf, cap, "%.2fM", v / 1e6);
	} else if (fabs(v) >= 1000) {
		snprintf(buf, cap, "%.0f", v);
	} else if (fabs(v) >= 10) {
		snprintf(buf, cap, "%.1f", v);
	} else {
		snprintf(buf, cap, "%.2f", v);
	}
}

static void row(const char *label, const struct bench_compositor_stats *cs, size_t offset) {
	char cells[BENCH_PATHS][24];
	for (int p = 0; p < BENCH_PATHS; p++) {
		double v;
		memcpy(&v, (const char *)&cs->paths[p] + offset, sizeof(v));
		fmt_num(cells[p], sizeof(cells[p]), cs->paths[p].available ? v : NAN);
	}
	line("%-34s %12s %12s %12s %12s", label, cells[0], cells[1], cells[2], cells[3]);
}

#define FIELD(f) offsetof(struct bench_path_stats, f)

static size_t targets_for(const struct bench_compositor_stats *cs, struct target *t) {
	const struct bench_path_stats *d = &cs->paths[BENCH_DIRECT];
	const struct bench_path_stats *x = &cs->paths[BENCH_CROSSWAY];
	const struct bench_path_stats *w = &cs->paths[BENCH_WAYPIPE];
	size_t n = 0;
#define RATIO(label, num, den, op, limit)                                                          \
	do {                                                                                       \
		snprintf(t[n].name, sizeof(t[n].name), "%s", label);                               \
		t[n].value = (num) / (den);                                                        \
		snprintf(t[n].text, sizeof(t[n].text), "%s %g", #op, (double)(limit));             \
		t[n].pass = t[n].value op(limit);                                                  \
		n++;                                                                               \
	} while (0)
	for (int k = 0; k < BENCH_RESOLUTIONS; k++) {
		char label[64];
		snprintf(label, sizeof(label), "fps crossway/direct %s", res_names[k]);
		RATIO(label, x->fps[k], d->fps[k], >=, 0.9);
	}
	RATIO("fps crossway/waypipe 4K", x->fps[1], w->available ? w->fps[1] : NAN, >=, 5);
	RATIO("round trip p50 crossway/direct", x->rt_p50_us, d->rt_p50_us, <=, 2);
	RATIO("round trip p99 crossway/direct", x->rt_p99_us, d->rt_p99_us, <=, 3);
	RATIO("guest->host msgs/s", x->up_per_s, 1.0, >=, 1e6);
	snprintf(t[n].name, sizeof(t[n].name), "host->guest records/s (1 per poll)");
	t[n].value = x->polls_per_s;
	snprintf(t[n].text, sizeof(t[n].text), "%.0f bytes/poll", x->bytes_per_poll);
	t[n++].info = true;
	RATIO("crosswayd CPU us per small msg", x->cpu_ns_per_up, 1e3, <=, 0.5);
	RATIO("crosswayd CPU us per 1080p frame", x->cpu_us_per_frame[0], 1.0, <=, 20);
	RATIO("crosswayd CPU us per 4K frame", x->cpu_us_per_frame[1], 1.0, <=, 20);
	RATIO("crosswayd idle RSS MiB", x->rss_idle_kib ? (double)x->rss_idle_kib : NAN, 1024.0, <=,
	      4);
	RATIO("spawn to first round trip ms (p50)", x->spawn_ms_p50, 1.0, <=, 10);
	// Every context must have printed its count, or the sum proves nothing.
	RATIO("pixel bytes copied by crosswayd",
	      x->pixel_reports > 0 && x->pixel_missing == 0 ? (double)x->pixel_bytes_copied : NAN,
	      1.0, <=, 0);
	if (cs->scale_count > 0) {
		uint32_t last = cs->scale_count - 1;
		const struct bench_scale_stats *sd = &cs->scale[last][0], *sx = &cs->scale[last][1];
		char label[64];
		snprintf(label, sizeof(label), "%u contexts aggregate fps / direct", sx->clients);
		RATIO(label, sx->aggregate_fps, sd->aggregate_fps, >=, 0.8);
		snprintf(label, sizeof(label), "%u contexts max deviation from mean", sx->clients);
		RATIO(label, sx->max_dev, 1.0, <=, 0.2);
	}
#undef RATIO
	return n;
}

static void print_compositor(const struct bench_compositor_stats *cs) {
	line("%s", "");
	line("== %s%s ==", cs->name,
	     strcmp(cs->name, "recorder") == 0 ? " (fast: immediate release and frame done)"
					       : " (headless, pixman)");
	if (cs->skipped) {
		line("skipped (not available)");
		return;
	}
	line("%-34s %12s %12s %12s %12s", "", "direct", "crossway", "vmsim", "waypipe");
	row("round trip p50 (us)", cs, FIELD(rt_p50_us));
	row("round trip p99 (us)", cs, FIELD(rt_p99_us));
	row("msgs/s guest->host", cs, FIELD(up_per_s));
	row("msgs/s host->guest", cs, FIELD(down_per_s));
	for (int k = 0; k < BENCH_RESOLUTIONS; k++) {
		char label[64];
		snprintf(label, sizeof(label), "frames %s fps", res_names[k]);
		row(label, cs, FIELD(fps) + (size_t)k * sizeof(double));
		snprintf(label, sizeof(label), "frames %s commit->done p50 (us)", res_names[k]);
		row(label, cs, FIELD(lat_p50_us) + (size_t)k * sizeof(double));
		snprintf(label, sizeof(label), "frames %s commit->done p99 (us)", res_names[k]);
		row(label, cs, FIELD(lat_p99_us) + (size_t)k * sizeof(double));
	}
	const struct bench_path_stats *x = &cs->paths[BENCH_CROSSWAY];
	char a[24], b[24], c[24];
	line("%s", "");
	line("crosswayd cost (crossway path)");
	fmt_num(a, sizeof(a), x->cpu_ns_per_up);
	fmt_num(b, sizeof(b), x->cpu_ns_per_down);
	line("  CPU per message: %s ns guest->host, %s ns host->guest", a, b);
	fmt_num(a, sizeof(a), x->cpu_us_per_frame[0]);
	fmt_num(b, sizeof(b), x->cpu_us_per_frame[1]);
	line("  CPU per frame: %s us 1080p, %s us 4K", a, b);
	line("  context process: RSS idle %.2f MiB, VmHWM idle %.2f MiB, VmHWM peak %.2f MiB",
	     (double)x->rss_idle_kib / 1024, (double)x->hwm_idle_kib / 1024,
	     (double)x->hwm_peak_kib / 1024);
	line("  plus crosswayd's waiting parent (PID namespace): RSS %.2f MiB",
	     (double)x->rss_parent_kib / 1024);
	fmt_num(a, sizeof(a), x->spawn_ms_p50);
	fmt_num(b, sizeof(b), x->spawn_ms_max);
	line("  spawn to first round trip: %s ms p50, %s ms max", a, b);
	fmt_num(a, sizeof(a), x->polls_per_s);
	fmt_num(b, sizeof(b), x->bytes_per_poll);
	line("  host->guest: %s records/s, %s bytes/poll", a, b);
	if (x->pixel_reports > 0) {
		line("  pixel bytes copied by crosswayd: %" PRIu64 " (sum of %" PRIu32
		     " contexts' exit lines; %" PRIu32 " printed none)",
		     x->pixel_bytes_copied, x->pixel_reports, x->pixel_missing);
	} else {
		line("  pixel bytes copied by crosswayd: unknown (no context printed its count)");
	}
	if (cs->scale_count > 0) {
		line("%s", "");
		line("%-10s %14s %14s %8s %12s %12s", "contexts", "direct fps", "crossway fps",
		     "ratio", "direct dev", "crossway dev");
		for (uint32_t i = 0; i < cs->scale_count; i++) {
			const struct bench_scale_stats *sd = &cs->scale[i][0];
			const struct bench_scale_stats *sx = &cs->scale[i][1];
			fmt_num(a, sizeof(a), sd->aggregate_fps);
			fmt_num(b, sizeof(b), sx->aggregate_fps);
			fmt_num(c, sizeof(c), sx->aggregate_fps / sd->aggregate_fps);
			line("%-10u %14s %14s %8s %11.1f%% %11.1f%%", sx->clients, a, b, c,
			     sd->max_dev * 100, sx->max_dev * 100);
		}
	}
	struct target t[32] = {0};
	size_t n = targets_for(cs, t);
	line("%s", "");
	line("targets (%s)", cs->name);
	for (size_t i = 0; i < n; i++) {
		fmt_num(a, sizeof(a), t[i].value);
		line("  %-40s %10s  %-16s %s", t[i].name, a, t[i].text,
		     t[i].info           ? "INFO"
		     : isnan(t[i].value) ? "n/a"
		     : t[i].pass         ? "PASS"
					 : "MISS");
	}
	for (int p = 0; p < BENCH_PATHS; p++) {
		if (cs->paths[p].error[0]) {
			line("  error (%s): %s", path_names[p], cs->paths[p].error);
		}
	}
}

static bool path_has_numbers(const struct bench_path_stats *ps) {
	return ps->rt_n > 0 && !isnan(ps->up_per_s) && !isnan(ps->down_per_s) &&
	       !isnan(ps->fps[0]) && !isnan(ps->fps[1]) && ps->error[0] == '\0';
}

bool bench_report_print(const struct bench_report *report, bool tap) {
	tap_mode = tap;
	bool ok = true;
	for (uint32_t c = 0; c < report->count; c++) {
		print_compositor(&report->compositors[c]);
	}
	line("%s", "");
	line("total time %.1f s%s", report->seconds, report->quick ? " (--quick)" : "");
	uint32_t test = 0;
	for (uint32_t c = 0; c < report->count; c++) {
		const struct bench_compositor_stats *cs = &report->compositors[c];
		for (int p = 0; p < BENCH_PATHS; p++) {
			const struct bench_path_stats *ps = &cs->paths[p];
			bool good = !cs->skipped && ps->available && path_has_numbers(ps);
			bool skip = cs->skipped || !ps->available;
			ok = ok && (good || skip);
			if (tap) {
				printf("%s %u - %s %s produced numbers%s\n",
				       good || skip ? "ok" : "not ok", ++test, cs->name,
				       path_names[p], skip ? " # SKIP not available" : "");
			}
		}
		for (uint32_t i = 0; i < cs->scale_count; i++) {
			for (int p = 0; p < 2; p++) {
				const struct bench_scale_stats *s = &cs->scale[i][p];
				bool good = !isnan(s->aggregate_fps);
				ok = ok && good;
				if (tap) {
					printf("%s %u - %s scale %u %s produced numbers\n",
					       good ? "ok" : "not ok", ++test, cs->name, s->clients,
					       path_names[p]);
				}
			}
		}
	}
	if (tap) {
		printf("1..%u\n", test);
	}
	fflush(stdout);
	return ok;
}

static void json_num(FILE *f, const char *key, double v, bool comma) {
	if (isnan(v) || isinf(v)) {
		fprintf(f, "\"%s\": null%s", key, comma ? ", " : "");
	} else {
		fprintf(f, "\"%s\": %.6g%s", key, v, comma ? ", " : "");
	}
}

bool bench_report_json(const struct bench_report *report, const char *path) {
	FILE *f = fopen(path, "we");
	if (f == NULL) {
		fprintf(stderr, "crossway-bench: %s: %s\n", path, strerror(errno));
		return false;
	}
	fprintf(f, "{\"quick\": %s, ", report->quick ? "true" : "false");
	json_num(f, "seconds", report->seconds, true);
	fprintf(f, "\"compositors\": {");
	for (uint32_t c = 0; c < report->count; c++) {
		const struct bench_compositor_stats *cs = &report->compositors[c];
		fprintf(f, "%s\n \"%s\": {\"skipped\": %s, \"paths\": {", c ? "," : "", cs->name,
			cs->skipped ? "true" : "false");
		for (int p = 0; p < BENCH_PATHS; p++) {
			const struct bench_path_stats *ps = &cs->paths[p];
			fprintf(f, "%s\n  \"%s\": {\"available\": %s, ", p ? "," : "",
				path_names[p], ps->available ? "true" : "false");
			json_num(f, "roundtrip_p50_us", ps->rt_p50_us, true);
			json_num(f, "roundtrip_p99_us", ps->rt_p99_us, true);
			json_num(f, "msgs_per_s_up", ps->up_per_s, true);
			json_num(f, "msgs_per_s_down", ps->down_per_s, true);
			for (int k = 0; k < BENCH_RESOLUTIONS; k++) {
				char key[48];
				snprintf(key, sizeof(key), "fps_%s", res_names[k]);
				json_num(f, key, ps->fps[k], true);
				snprintf(key, sizeof(key), "frame_latency_p50_us_%s", res_names[k]);
				json_num(f, key, ps->lat_p50_us[k], true);
				snprintf(key, sizeof(key), "frame_latency_p99_us_%s", res_names[k]);
				json_num(f, key, ps->lat_p99_us[k], true);
			}
			if (p == BENCH_CROSSWAY) {
				json_num(f, "crosswayd_cpu_ns_per_msg_up", ps->cpu_ns_per_up, true);
				json_num(f, "crosswayd_cpu_ns_per_msg_down", ps->cpu_ns_per_down,
					 true);
				json_num(f, "crosswayd_cpu_us_per_frame_1080p",
					 ps->cpu_us_per_frame[0], true);
				json_num(f, "crosswayd_cpu_us_per_frame_4K",
					 ps->cpu_us_per_frame[1], true);
				json_num(f, "rss_idle_kib", (double)ps->rss_idle_kib, true);
				json_num(f, "vmhwm_idle_kib", (double)ps->hwm_idle_kib, true);
				json_num(f, "vmhwm_peak_kib", (double)ps->hwm_peak_kib, true);
				json_num(f, "parent_rss_kib", (double)ps->rss_parent_kib, true);
				json_num(f, "spawn_to_roundtrip_ms_p50", ps->spawn_ms_p50, true);
				json_num(f, "records_per_s_down", ps->polls_per_s, true);
				json_num(f, "bytes_per_poll", ps->bytes_per_poll, true);
				json_num(f, "pixel_bytes_copied",
					 ps->pixel_reports > 0 ? (double)ps->pixel_bytes_copied
							       : NAN,
					 true);
				json_num(f, "pixel_count_contexts", ps->pixel_reports, true);
				json_num(f, "pixel_count_missing", ps->pixel_missing, true);
			}
			fprintf(f, "\"error\": \"");
			for (const char *s = ps->error; *s; s++) {
				fprintf(f, *s == '"' || *s == '\\' ? "\\%c" : "%c",
					(unsigned char)*s < 0x20 ? ' ' : *s);
			}
			fprintf(f, "\"}");
		}
		fprintf(f, "},\n \"scale\": [");
		for (uint32_t i = 0; i < cs->scale_count; i++) {
			fprintf(f, "%s{\"contexts\": %u, ", i ? ", " : "", cs->scale[i][1].clients);
			json_num(f, "direct_fps", cs->scale[i][0].aggregate_fps, true);
			json_num(f, "crossway_fps", cs->scale[i][1].aggregate_fps, true);
			json_num(f, "direct_max_dev", cs->scale[i][0].max_dev, true);
			json_num(f, "crossway_max_dev", cs->scale[i][1].max_dev, false);
			fprintf(f, "}");
		}
		fprintf(f, "],\n \"targets\": [");
		struct target t[32] = {0};
		size_t n = cs->skipped ? 0 : targets_for(cs, t);
		for (size_t i = 0; i < n; i++) {
			fprintf(f, "%s\n  {\"name\": \"%s\", ", i ? "," : "", t[i].name);
			json_num(f, "value", t[i].value, true);
			fprintf(f, "\"target\": \"%s\", \"status\": \"%s\"}", t[i].text,
				t[i].info           ? "INFO"
				: isnan(t[i].value) ? "n/a"
				: t[i].pass         ? "PASS"
						    : "MISS");
		}
		fprintf(f, "]}");
	}
	fprintf(f, "}}\n");
	bool ok = fflush(f) == 0 && !ferror(f);
	return fclose(f) == 0 && ok;
}
