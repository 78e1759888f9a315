/* _GNU_SOURCE: mkdtemp, setsid and close_range in one place. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wayland-client.h>

#include "tests/common/host.h"

static bool installed(const char *prog) {
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

bool host_alive(const struct host *h) {
	struct wl_display *d = wl_display_connect(h->display);
	if (d == NULL) {
		return false;
	}
	bool ok = wl_display_roundtrip(d) >= 0;
	wl_display_disconnect(d);
	return ok;
}

bool host_start(struct host *h, int width, int height) {
	memset(h, 0, sizeof(*h));
	if (!installed("weston")) {
		return false;
	}
	const char *dir = getenv("XDG_RUNTIME_DIR");
	snprintf(h->display, sizeof(h->display), "weston-%d", (int)getpid());
	const char *seat = getenv("FAKE_SEAT");
	h->seat = seat != NULL && access(seat, R_OK) == 0;
	if (h->seat) {
		snprintf(h->fifo, sizeof(h->fifo), "%s/seat.fifo", dir);
	}
	// No animations: a window fading in would not have its colours yet
	// when a test takes a screenshot.
	char config[300];
	snprintf(config, sizeof(config), "%s/weston.ini", dir);
	FILE *ini = fopen(config, "w");
	if (ini == NULL) {
		return false;
	}
	fputs("[shell]\nstartup-animation=none\nanimation=none\nclose-animation=none\n"
	      "focus-animation=none\n",
	      ini);
	fclose(ini);
	pid_t parent = getpid();
	h->pid = fork();
	if (h->pid == 0) {
		setsid();
		// weston leaves the test's process group, so the harness cannot
		// kill it with the test: it goes when the test process does, and
		// holds none of the test's fds (a harness pipe kept open by weston
		// would hide a timed-out test's verdict forever).
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) {
			_exit(127);
		}
		char log[300];
		snprintf(log, sizeof(log), "%s/weston.log", dir);
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		close_range(3, ~0u, 0);
		char sock[96], w[32], hh[32], mod[300], cfg[320];
		snprintf(cfg, sizeof(cfg), "--config=%s", config);
		snprintf(sock, sizeof(sock), "--socket=%s", h->display);
		snprintf(w, sizeof(w), "--width=%d", width);
		snprintf(hh, sizeof(hh), "--height=%d", height);
		snprintf(mod, sizeof(mod), "--modules=%s", seat ? seat : "");
		if (h->seat) {
			setenv("CROSSWAY_SEAT_FIFO", h->fifo, 1);
		}
		unsetenv("WAYLAND_DISPLAY");
		execlp("weston", "weston", "--backend=headless-backend.so", "--use-pixman", sock, w,
		       hh, "--idle-time=0", "--debug", cfg, h->seat ? mod : NULL, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 400; i++) {
		char path[300];
		snprintf(path, sizeof(path), "%s/%s", dir, h->display);
		if (access(path, F_OK) == 0 && host_alive(h)) {
			return true;
		}
		usleep(25000);
	}
	host_stop(h);
	return false;
}

void host_stop(struct host *h) {
	if (h->pid > 0) {
		kill(-h->pid, SIGTERM);
		for (int i = 0; i < 100 && waitpid(h->pid, NULL, WNOHANG) == 0; i++) {
			usleep(20000);
		}
		kill(-h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		h->pid = 0;
	}
}

bool host_input(const struct host *h, const char *line) {
	if (!h->seat) {
		return false;
	}
	FILE *f = fopen(h->fifo, "w");
	if (f == NULL) {
		return false;
	}
	fprintf(f, "%s\n", line);
	fclose(f);
	return true;
}

bool host_screenshot(const struct host *h, uint8_t **rgba, int *width, int *height) {
	char dir[] = "/tmp/crossway-shot-XXXXXX";
	if (mkdtemp(dir) == NULL) {
		return false;
	}
	char cmd[512];
	snprintf(cmd, sizeof(cmd),
		 "cd %s && WAYLAND_DISPLAY=%s weston-screenshooter >/dev/null 2>&1 && "
		 "f=$(ls %s/*.png | head -n 1) && identify -format '%%w %%h\\n' \"$f\" && "
		 "convert \"$f\" -depth 8 rgba:%s/shot.rgba",
		 dir, h->display, dir, dir);
	FILE *p = popen(cmd, "r");
	bool ok = p != NULL && fscanf(p, "%d %d", width, height) == 2;
	if (p != NULL) {
		ok = pclose(p) == 0 && ok;
	}
	if (ok) {
		char path[300];
		snprintf(path, sizeof(path), "%s/shot.rgba", dir);
		FILE *f = fopen(path, "rb");
		size_t n = (size_t)*width * (size_t)*height * 4;
		*rgba = malloc(n);
		ok = f != NULL && *rgba != NULL && fread(*rgba, 1, n, f) == n;
		if (f != NULL) {
			fclose(f);
		}
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	int unused = system(cmd);
	(void)unused;
	return ok;
}
