/*
 * crossway-recorder: the recording compositor as a program, for benchmarks
 * and manual runs. Runs until SIGTERM or SIGINT; prints nothing unless asked.
 */
/* _GNU_SOURCE: signalfd. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "daemon/fd.h"
#include "tests/recorder/recorder.h"

static const char usage[] =
	"Usage: crossway-recorder [options]\n"
	"  --socket NAME      listen on $XDG_RUNTIME_DIR/NAME (default: a free name)\n"
	"  --fast             release buffers and fire frame callbacks at each commit\n"
	"  --seat             offer wl_seat v7 (keyboard with keymap, pointer)\n"
	"  --keymap-unsealed  send the keymap memfd read-write instead of sealed\n"
	"  --data-device      offer wl_data_device_manager v3 (implies --seat)\n"
	"  --dmabuf 1-4       offer zwp_linux_dmabuf_v1 at this version\n"
	"  --extra-globals    offer fake privileged globals (layer shell, screencopy, ...)\n"
	"  --log FILE         write one line per request/event (\"-\": stdout):\n"
	"                     SEQ client N request|event TEXT\n"
	"  --ready-fd N       write \"ready\\n\" to fd N once listening, then close it\n"
	"  --verbose          let libwayland print its messages (protocol errors) on stderr\n"
	"  --help             show this\n";

enum option_id {
	OPT_SOCKET = 1,
	OPT_FAST,
	OPT_SEAT,
	OPT_KEYMAP_UNSEALED,
	OPT_DATA_DEVICE,
	OPT_DMABUF,
	OPT_EXTRA_GLOBALS,
	OPT_LOG,
	OPT_READY_FD,
	OPT_VERBOSE,
	OPT_HELP,
};

static const struct option long_options[] = {
	{"socket", required_argument, NULL, OPT_SOCKET},
	{"fast", no_argument, NULL, OPT_FAST},
	{"seat", no_argument, NULL, OPT_SEAT},
	{"keymap-unsealed", no_argument, NULL, OPT_KEYMAP_UNSEALED},
	{"data-device", no_argument, NULL, OPT_DATA_DEVICE},
	{"dmabuf", required_argument, NULL, OPT_DMABUF},
	{"extra-globals", no_argument, NULL, OPT_EXTRA_GLOBALS},
	{"log", required_argument, NULL, OPT_LOG},
	{"ready-fd", required_argument, NULL, OPT_READY_FD},
	{"verbose", no_argument, NULL, OPT_VERBOSE},
	{"help", no_argument, NULL, OPT_HELP},
	{NULL, 0, NULL, 0},
};

static void log_record(void *data, const struct recorder_record *r) {
	FILE *f = data;
	fprintf(f, "%" PRIu64 " client %u %s %s\n", r->seq, r->client,
		r->direction == RECORDER_DIRECTION_REQUEST ? "request" : "event", r->text);
}

__attribute__((format(printf, 1, 0))) static void quiet_log(const char *fmt, va_list ap) {
}

static bool parse_int(const char *s, long min, long max, long *out) {
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
		return false;
	}
	*out = v;
	return true;
}

static bool write_ready(int fd) {
	static const char ready[] = "ready\n";
	ssize_t n;
	do {
		n = write(fd, ready, sizeof(ready) - 1);
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)(sizeof(ready) - 1);
}

int main(int argc, char *argv[]) {
	struct recorder_options options = {0};
	const char *log_path = NULL;
	int ready_fd = -1;
	bool verbose = false;
	long value;
	int opt;
	while ((opt = getopt_long(argc, argv, "", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_SOCKET:
			options.socket_name = optarg;
			break;
		case OPT_FAST:
			options.fast = true;
			break;
		case OPT_SEAT:
			options.seat = true;
			break;
		case OPT_KEYMAP_UNSEALED:
			options.keymap_unsealed = true;
			break;
		case OPT_DATA_DEVICE:
			options.data_device = true;
			options.seat = true;
			break;
		case OPT_DMABUF:
			if (!parse_int(optarg, 1, 4, &value)) {
				fprintf(stderr, "crossway-recorder: --dmabuf wants 1-4\n");
				return 2;
			}
			options.dmabuf_version = (uint32_t)value;
			break;
		case OPT_EXTRA_GLOBALS:
			options.extra_globals = true;
			break;
		case OPT_LOG:
			log_path = optarg;
			break;
		case OPT_READY_FD:
			if (!parse_int(optarg, 0, INT_MAX, &value)) {
				fprintf(stderr,
					"crossway-recorder: --ready-fd wants an fd number\n");
				return 2;
			}
			ready_fd = (int)value;
			break;
		case OPT_VERBOSE:
			verbose = true;
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fputs(usage, stderr);
		return 2;
	}

	// Nobody reads pixels or records here: log lines are the only output, and
	// the recorder should cost a benchmark as little as it can.
	options.skip_pixel_copy = true;
	options.max_records = 1;
	if (!verbose) {
		wl_log_set_handler_server(quiet_log);
	}

	int ret = 1;
	FILE *log = NULL;
	if (log_path != NULL) {
		log = strcmp(log_path, "-") == 0 ? stdout : fopen(log_path, "we");
		if (log == NULL) {
			fprintf(stderr, "crossway-recorder: %s: %s\n", log_path, strerror(errno));
			return 1;
		}
		// Line-buffered: a SIGKILLed recorder still leaves whole lines.
		setvbuf(log, NULL, _IOLBF, 0);
		options.record_func = log_record;
		options.record_data = log;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	int sfd = -1;
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
		fprintf(stderr, "crossway-recorder: signalfd: %s\n", strerror(errno));
		goto error_log;
	}

	struct recorder *rec = recorder_create(&options);
	if (rec == NULL) {
		goto error_signalfd;
	}
	if (ready_fd >= 0) {
		bool ok = write_ready(ready_fd);
		fd_close(&ready_fd);
		if (!ok) {
			fprintf(stderr, "crossway-recorder: --ready-fd: %s\n", strerror(errno));
			goto error_recorder;
		}
	}

	for (;;) {
		struct pollfd fds[2] = {
			{.fd = recorder_get_fd(rec), .events = POLLIN},
			{.fd = sfd, .events = POLLIN},
		};
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR) {
				continue;
			}
			fprintf(stderr, "crossway-recorder: poll: %s\n", strerror(errno));
			goto error_recorder;
		}
		if (fds[1].revents != 0) {
			break;
		}
		if (recorder_dispatch(rec, 0) < 0 && errno != EINTR) {
			fprintf(stderr, "crossway-recorder: dispatch: %s\n", strerror(errno));
			goto error_recorder;
		}
	}
	ret = 0;

error_recorder:
	recorder_destroy(rec);
error_signalfd:
	fd_close(&sfd);
error_log:
	if (log != NULL && log != stdout) {
		fclose(log);
	}
	return ret;
}
