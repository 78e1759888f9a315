/* _GNU_SOURCE: memfd_create, F_ADD_SEALS. */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <wayland-server-core.h>
#include <wayland-server-protocol.h>

#include "daemon/fd.h"
#include "tests/recorder/recorder_internal.h"
#include "viewporter-server-protocol.h"

/* Names tried for a NULL socket_name before giving up. */
#define SOCKET_NAME_ATTEMPTS 1000

static void client_destroy_notify(struct wl_listener *listener, void *data) {
	struct recorder_client *rc = wl_container_of(listener, rc, destroy);
	rc->rec->client_count--;
	wl_list_remove(&rc->link);
	wl_list_remove(&rc->destroy.link);
	free(rc);
}

static void client_created_notify(struct wl_listener *listener, void *data) {
	struct recorder *rec = wl_container_of(listener, rec, client_created);
	struct wl_client *client = data;
	struct recorder_client *rc = calloc(1, sizeof(*rc));
	if (rc == NULL) {
		// Without an index its records would be ambiguous.
		wl_client_post_no_memory(client);
		return;
	}
	rc->rec = rec;
	rc->client = client;
	rc->index = rec->next_client_index++;
	rc->destroy.notify = client_destroy_notify;
	wl_client_add_destroy_listener(client, &rc->destroy);
	wl_list_insert(rec->clients.prev, &rc->link);
	rec->client_count++;
}

unsigned recorder_client_index(struct recorder *rec, struct wl_client *client) {
	struct wl_listener *l = wl_client_get_destroy_listener(client, client_destroy_notify);
	if (l == NULL) {
		return UINT_MAX;
	}
	struct recorder_client *rc = wl_container_of(l, rc, destroy);
	return rc->index;
}

int recorder_memfd_create(const char *name, const void *data, size_t size, bool seal) {
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		return -1;
	}
	const char *p = data;
	size_t done = 0;
	while (done < size) {
		ssize_t n = write(fd, p + done, size - done);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			goto error_fd;
		}
		done += (size_t)n;
	}
	// The seals mutter uses for keymaps: receivers can map it only privately.
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
		goto error_fd;
	}
	return fd;

error_fd:
	fd_close(&fd);
	return -1;
}

static bool add_socket(struct recorder *rec, const char *wanted) {
	const char *dir = getenv("XDG_RUNTIME_DIR");
	if (dir == NULL || dir[0] == '\0') {
		fprintf(stderr, "recorder: XDG_RUNTIME_DIR is not set\n");
		return false;
	}
	char name[64];
	const char *chosen = NULL;
	if (wanted != NULL) {
		if (wl_display_add_socket(rec->display, wanted) == 0) {
			chosen = wanted;
		}
	} else {
		// wl_display_add_socket fails while another process holds the lock,
		// so the first name it accepts is free. The counter only spares
		// libwayland's complaints about names this process already took.
		static unsigned next_name;
		for (unsigned n = 0; n < SOCKET_NAME_ATTEMPTS && chosen == NULL; n++) {
			snprintf(name, sizeof(name), "crossway-recorder-%ld-%u", (long)getpid(),
				 next_name++);
			if (wl_display_add_socket(rec->display, name) == 0) {
				chosen = name;
			}
		}
	}
	if (chosen == NULL) {
		fprintf(stderr, "recorder: cannot listen on %s/%s\n", dir,
			wanted ? wanted : "crossway-recorder-*");
		return false;
	}
	rec->socket_name = strdup(chosen);
	size_t len = strlen(dir) + 1 + strlen(chosen) + 1;
	rec->socket_path = malloc(len);
	if (rec->socket_name == NULL || rec->socket_path == NULL) {
		return false;
	}
	snprintf(rec->socket_path, len, "%s/%s", dir, chosen);
	return true;
}

struct recorder *recorder_create(const struct recorder_options *options) {
	struct recorder_options defaults = {0};
	if (options == NULL) {
		options = &defaults;
	}
	if (options->dmabuf_version > 4) {
		fprintf(stderr, "recorder: dmabuf_version %u > 4\n", options->dmabuf_version);
		errno = EINVAL;
		return NULL;
	}
	struct recorder *rec = calloc(1, sizeof(*rec));
	if (rec == NULL) {
		return NULL;
	}
	rec->options = *options;
	rec->options.socket_name = NULL; // only used during creation
	rec->format_table_fd = -1;
	wl_list_init(&rec->clients);
	wl_list_init(&rec->surfaces);
	wl_list_init(&rec->keyboards);
	wl_list_init(&rec->focus_destroy.link);
	wl_list_init(&rec->data_devices);
	wl_list_init(&rec->transfers);
	if (options->keymap_text != NULL) {
		rec->keymap_text = strdup(options->keymap_text);
		if (rec->keymap_text == NULL) {
			goto error_rec;
		}
	}
	rec->options.keymap_text = rec->keymap_text;

	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
		signal(SIGPIPE, SIG_IGN);
	}

	rec->display = wl_display_create();
	if (rec->display == NULL) {
		goto error_rec;
	}
	rec->loop = wl_display_get_event_loop(rec->display);
	rec->client_created.notify = client_created_notify;
	wl_display_add_client_created_listener(rec->display, &rec->client_created);

	if (!recorder_log_init(rec)) {
		goto error_display;
	}
	if (wl_display_init_shm(rec->display) != 0) {
		goto error_display;
	}
	if (!recorder_surface_init(rec) || !recorder_xdg_init(rec) || !recorder_output_init(rec)) {
		goto error_display;
	}
	if ((rec->options.seat || rec->options.data_device) && !recorder_seat_init(rec)) {
		goto error_display;
	}
	if (rec->options.data_device && !recorder_data_init(rec)) {
		goto error_display;
	}
	if (rec->options.dmabuf_version > 0 && !recorder_dmabuf_init(rec)) {
		goto error_display;
	}
	if (rec->options.extra_globals && !recorder_extra_init(rec)) {
		goto error_display;
	}
	if (rec->options.viewporter && !recorder_noop_global(rec, &wp_viewporter_interface)) {
		goto error_display;
	}
	if (!add_socket(rec, options->socket_name)) {
		goto error_display;
	}
	return rec;

error_display:
	// Everything made so far hangs off the display; destroy knows how.
	recorder_destroy(rec);
	return NULL;
error_rec:
	free(rec->keymap_text);
	free(rec);
	return NULL;
}

void recorder_destroy(struct recorder *rec) {
	if (rec == NULL) {
		return;
	}
	if (rec->display != NULL) {
		// Client resources reference recorder state: they go first.
		wl_display_destroy_clients(rec->display);
		assert(wl_list_empty(&rec->clients));
		recorder_data_finish(rec);
		recorder_dmabuf_finish(rec);
		recorder_surface_finish(rec);
		recorder_log_finish(rec);
		wl_list_remove(&rec->client_created.link);
		wl_display_destroy(rec->display);
	}
	free(rec->socket_name);
	free(rec->socket_path);
	free(rec->keymap_text);
	free(rec);
}

const char *recorder_socket_name(const struct recorder *rec) {
	return rec->socket_name;
}

const char *recorder_socket_path(const struct recorder *rec) {
	return rec->socket_path;
}

int recorder_get_fd(const struct recorder *rec) {
	return wl_event_loop_get_fd(rec->loop);
}

int recorder_dispatch(struct recorder *rec, int timeout_ms) {
	// Events queued outside dispatch (clipboard helpers) go out before the wait.
	wl_display_flush_clients(rec->display);
	int ret = wl_event_loop_dispatch(rec->loop, timeout_ms);
	int saved = errno;
	wl_display_flush_clients(rec->display);
	errno = saved;
	return ret;
}

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool recorder_wait(struct recorder *rec, recorder_cond_func_t cond, void *data, int timeout_ms) {
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	while (!cond(data)) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			return cond(data);
		}
		if (recorder_dispatch(rec, (int)left) < 0 && errno != EINTR) {
			return cond(data);
		}
	}
	return true;
}

bool recorder_add_client(struct recorder *rec, int fd) {
	if (wl_client_create(rec->display, fd) == NULL) {
		fd_close(&fd);
		return false;
	}
	return true;
}

size_t recorder_client_count(const struct recorder *rec) {
	return rec->client_count;
}

struct wl_display *recorder_display(struct recorder *rec) {
	return rec->display;
}
