/*
 * Large shm windows through the simulated VM, checked pixel by pixel: a
 * pattern client (pattern_client.c) draws 1920x1080 and 3840x2160 frames in
 * crossway-vmsim, whose guest proxy shadows its pool in host blobs and
 * copies only damaged rows; crosswayd passes the blob fds to the recording
 * compositor, which keeps a copy of each committed buffer. The last frame
 * must arrive exactly, and crosswayd must not have copied a pixel itself.
 *
 * Environment: CROSSWAYD, CROSSWAY_VMSIM, PATTERN_CLIENT (set by meson).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/e2e/pattern.h"
#include "tests/harness/test.h"
#include "tests/recorder/recorder.h"

static pid_t spawn(char *const argv[], const char *display, const char *log) {
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (display != NULL) {
			setenv("WAYLAND_DISPLAY", display, 1);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *read_file(const char *path) {
	static char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
	if (fd >= 0) {
		close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

static void run_pattern(int width, int height, int frames) {
	const char *crosswayd = getenv("CROSSWAYD");
	const char *vmsim = getenv("CROSSWAY_VMSIM");
	const char *client = getenv("PATTERN_CLIENT");
	if (crosswayd == NULL || vmsim == NULL || client == NULL) {
		test_skip("CROSSWAYD, CROSSWAY_VMSIM or PATTERN_CLIENT not set");
	}
	struct recorder_options options = {.fast = true};
	struct recorder *rec = recorder_create(&options);
	test_assert_msg(rec != NULL, "recorder_create failed");
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	char vm_log[512], client_log[512], socket_path[512];
	snprintf(vm_log, sizeof(vm_log), "%s/vmsim.log", runtime);
	snprintf(client_log, sizeof(client_log), "%s/client.log", runtime);
	snprintf(socket_path, sizeof(socket_path), "%s/vm-buffers", runtime);

	char *vm_argv[] = {(char *)vmsim,
			   "--socket",
			   "vm-buffers",
			   "--vm",
			   "vm-buffers",
			   "--crosswayd",
			   (char *)crosswayd,
			   "--wayland-display",
			   (char *)recorder_socket_path(rec),
			   "--verbose",
			   NULL};
	pid_t vm_pid = spawn(vm_argv, NULL, vm_log);
	test_assert_msg(vm_pid > 0, "cannot start crossway-vmsim");
	struct stat st;
	int64_t deadline = now_ms() + 5000;
	while (stat(socket_path, &st) != 0 && now_ms() < deadline) {
		recorder_dispatch(rec, 20);
	}
	test_assert_msg(stat(socket_path, &st) == 0, "crossway-vmsim did not listen: %s",
			read_file(vm_log));

	char w[16], h[16], f[16];
	snprintf(w, sizeof(w), "%d", width);
	snprintf(h, sizeof(h), "%d", height);
	snprintf(f, sizeof(f), "%d", frames);
	char *client_argv[] = {(char *)client, w, h, f, NULL};
	pid_t client_pid = spawn(client_argv, "vm-buffers", client_log);
	int status = -1;
	deadline = now_ms() + 60000;
	while (now_ms() < deadline) {
		recorder_dispatch(rec, 20);
		if (waitpid(client_pid, &status, WNOHANG) == client_pid) {
			break;
		}
	}
	if (status == -1) {
		kill(client_pid, SIGKILL);
		waitpid(client_pid, &status, 0);
	}
	// The context ends with the client: let crosswayd report and exit.
	deadline = now_ms() + 10000;
	while (strstr(read_file(vm_log), "crosswayd exit status") == NULL && now_ms() < deadline) {
		recorder_dispatch(rec, 20);
	}
	kill(vm_pid, SIGTERM);
	waitpid(vm_pid, NULL, 0);
	char *log = read_file(vm_log);
	test_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			"pattern_client failed: %s\n%s", read_file(client_log), log);

	struct recorder_pixels px;
	test_assert_msg(recorder_surface_pixels(rec, -1, 0, &px),
			"no buffer reached the compositor");
	test_assert_msg(px.width == width && px.height == height,
			"the compositor got %dx%d, not %dx%d", px.width, px.height, width, height);
	test_assert_msg(px.data != NULL && px.stride == width * 4, "no pixel copy (stride %d)",
			px.stride);
	uint64_t wrong = 0;
	int first_x = -1, first_y = -1;
	for (int y = 0; y < height; y++) {
		const uint32_t *row = (const uint32_t *)((const uint8_t *)px.data +
							 (size_t)y * (size_t)px.stride);
		for (int x = 0; x < width; x++) {
			// X of XRGB is undefined: compare the colour only.
			if ((row[x] ^ pattern_pixel(x, y, height, frames - 1)) & 0xffffffu) {
				if (wrong++ == 0) {
					first_x = x;
					first_y = y;
				}
			}
		}
	}
	test_assert_msg(wrong == 0, "%llu of %d pixels differ from frame %d, the first at (%d, %d)",
			(unsigned long long)wrong, width * height, frames - 1, first_x, first_y);
	test_assert_msg(px.commits >= (uint64_t)frames, "%llu commits, %d frames drawn",
			(unsigned long long)px.commits, frames);
	test_assert_msg(strstr(log, "crosswayd exit status 0") != NULL,
			"unclean end of the context:\n%s", log);
	// Zero copies in crosswayd: its exit line counts the pixel bytes it copied.
	test_assert_msg(strstr(log, "0 pixel bytes copied") != NULL,
			"crosswayd did not report 0 pixel bytes copied:\n%s", log);
	printf("# %dx%d, %d frames: every pixel of the last frame arrived\n", width, height,
	       frames);
	recorder_destroy(rec);
}

TEST(full_hd_window_through_the_vm_pixel_exact) {
	run_pattern(1920, 1080, 6);
}

TEST(uhd_4k_window_through_the_vm_pixel_exact) {
	run_pattern(3840, 2160, 4);
}

TEST(small_window_many_frames_damage_history) {
	// More frames than vmsim's damage history: old buffers get full copies.
	run_pattern(320, 200, 40);
}
