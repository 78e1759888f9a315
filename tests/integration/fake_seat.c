/*
 * A weston 10 module for tests: a wl_seat with keyboard and pointer on any
 * backend (the headless backend has no seat), driven by lines written to
 * the FIFO named by $CROSSWAY_SEAT_FIFO:
 *   key <evdev code> <1|0>
 *   motion <x> <y>
 *   button <code> <1|0>
 * libweston exports the seat functions it uses but declares them only in a
 * header it does not install; the prototypes below match libweston 10.
 */
#include <fcntl.h>
#include <libweston/libweston.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void weston_seat_init(struct weston_seat *seat, struct weston_compositor *ec,
		      const char *seat_name);
int weston_seat_init_pointer(struct weston_seat *seat);
int weston_seat_init_keyboard(struct weston_seat *seat, struct xkb_keymap *keymap);
void notify_key(struct weston_seat *seat, const struct timespec *time, uint32_t key,
		enum wl_keyboard_key_state state, enum weston_key_state_update update_state);
void notify_motion_absolute(struct weston_seat *seat, const struct timespec *time, double x,
			    double y);
void notify_button(struct weston_seat *seat, const struct timespec *time, int32_t button,
		   enum wl_pointer_button_state state);
void notify_pointer_frame(struct weston_seat *seat);

WL_EXPORT int wet_module_init(struct weston_compositor *ec, int *argc, char *argv[]);

static struct weston_seat test_seat;
static char line_buf[4096];
static size_t line_len;

static void run_line(const char *line) {
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int a, b;
	double x, y;
	if (sscanf(line, "key %d %d", &a, &b) == 2) {
		notify_key(&test_seat, &now, (uint32_t)a,
			   b ? WL_KEYBOARD_KEY_STATE_PRESSED : WL_KEYBOARD_KEY_STATE_RELEASED,
			   STATE_UPDATE_AUTOMATIC);
	} else if (sscanf(line, "motion %lf %lf", &x, &y) == 2) {
		notify_motion_absolute(&test_seat, &now, x, y);
		notify_pointer_frame(&test_seat);
	} else if (sscanf(line, "button %d %d", &a, &b) == 2) {
		notify_button(&test_seat, &now, a,
			      b ? WL_POINTER_BUTTON_STATE_PRESSED
				: WL_POINTER_BUTTON_STATE_RELEASED);
		notify_pointer_frame(&test_seat);
	}
}

static int fifo_readable(int fd, uint32_t mask, void *data) {
	ssize_t n = read(fd, line_buf + line_len, sizeof(line_buf) - 1 - line_len);
	if (n <= 0) {
		return 0; // we hold the FIFO read-write: no end-of-file storms
	}
	line_len += (size_t)n;
	line_buf[line_len] = '\0';
	char *start = line_buf, *nl;
	while ((nl = strchr(start, '\n')) != NULL) {
		*nl = '\0';
		run_line(start);
		start = nl + 1;
	}
	line_len = strlen(start);
	memmove(line_buf, start, line_len + 1);
	if (line_len == sizeof(line_buf) - 1) {
		line_len = 0; // a line that long is garbage
	}
	return 0;
}

WL_EXPORT int wet_module_init(struct weston_compositor *ec, int *argc, char *argv[]) {
	weston_seat_init(&test_seat, ec, "crossway-test-seat");
	weston_seat_init_pointer(&test_seat);
	if (weston_seat_init_keyboard(&test_seat, NULL) < 0) {
		return -1;
	}
	const char *path = getenv("CROSSWAY_SEAT_FIFO");
	if (path != NULL) {
		mkfifo(path, 0600);
		int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			wl_event_loop_add_fd(wl_display_get_event_loop(ec->wl_display), fd,
					     WL_EVENT_READABLE, fifo_readable, NULL);
		}
	}
	return 0;
}
