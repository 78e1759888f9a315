/* _GNU_SOURCE: pipe2. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wayland-server-core.h>
#include <wayland-server-protocol.h>

#include "daemon/fd.h"
#include "tests/recorder/recorder_internal.h"

#define DATA_DEVICE_MANAGER_VERSION 3

/* A host selection: shared by the recorder, its offers and their transfers. */
struct recorder_selection {
	unsigned refs;
	struct recorder *rec;
	char *mime; // owned
	void *data; // owned
	size_t len;
};

/* A client's wl_data_source. */
struct recorder_source {
	struct recorder *rec;
	struct wl_resource *resource;
	char **mimes; // owned strings, NULL-terminated; the array itself is never NULL
	size_t count;
	struct wl_list offers; // wl_resource links of other clients' offers of it
};

/* Host -> client: writing a selection into a client's fd. */
struct recorder_transfer {
	struct recorder *rec;
	struct wl_list link;                  // recorder.transfers
	int fd;                               // owned
	struct wl_event_source *source;       // may be NULL
	struct recorder_selection *selection; // a reference
	size_t offset;                        // bytes written so far
};

static void selection_unref(struct recorder_selection *sel) {
	if (sel == NULL || --sel->refs > 0) {
		return;
	}
	free(sel->mime);
	free(sel->data);
	free(sel);
}

static struct recorder_selection *selection_ref(struct recorder_selection *sel) {
	sel->refs++;
	return sel;
}

static void transfer_destroy(struct recorder_transfer *t) {
	if (t->source != NULL) {
		wl_event_source_remove(t->source);
	}
	fd_close(&t->fd);
	selection_unref(t->selection);
	wl_list_remove(&t->link);
	free(t);
}

/* Writes what the fd takes now. Returns false when the transfer is over. */
static bool transfer_write(struct recorder_transfer *t) {
	const char *data = t->selection->data;
	while (t->offset < t->selection->len) {
		ssize_t n = write(t->fd, data + t->offset, t->selection->len - t->offset);
		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			return true;
		}
		if (n <= 0) {
			return false; // reader gone (EPIPE) or a broken fd: stop
		}
		t->offset += (size_t)n;
	}
	return false;
}

static int transfer_ready(int fd, uint32_t mask, void *data) {
	struct recorder_transfer *t = data;
	if ((mask & (WL_EVENT_HANGUP | WL_EVENT_ERROR)) || !transfer_write(t)) {
		transfer_destroy(t);
	}
	return 0;
}

/* Takes ownership of @fd. */
static void transfer_start(struct recorder_selection *sel, int fd) {
	struct recorder *rec = sel->rec;
	struct recorder_transfer *t = calloc(1, sizeof(*t));
	if (t == NULL) {
		fd_close(&fd);
		return;
	}
	t->rec = rec;
	t->fd = fd;
	t->selection = selection_ref(sel);
	wl_list_insert(&rec->transfers, &t->link);
	if (!fd_set_nonblock(t->fd) || !transfer_write(t)) {
		transfer_destroy(t);
		return;
	}
	// epoll refuses regular files, but those took everything in transfer_write.
	t->source = wl_event_loop_add_fd(rec->loop, t->fd, WL_EVENT_WRITABLE, transfer_ready, t);
	if (t->source == NULL) {
		transfer_destroy(t);
	}
}

static void destroy_request(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static void offer_accept(struct wl_client *client, struct wl_resource *resource, uint32_t serial,
			 const char *mime) {
}

static void offer_finish(struct wl_client *client, struct wl_resource *resource) {
}

static void offer_set_actions(struct wl_client *client, struct wl_resource *resource,
			      uint32_t actions, uint32_t preferred) {
}

/* Offers of a host selection: the recorder writes the data itself. */
static void host_offer_receive(struct wl_client *client, struct wl_resource *resource,
			       const char *mime, int32_t fd) {
	struct recorder_selection *sel = wl_resource_get_user_data(resource);
	if (strcmp(mime, sel->mime) != 0) {
		fd_close(&fd); // the reader sees an empty transfer
		return;
	}
	transfer_start(sel, fd);
}

static const struct wl_data_offer_interface host_offer_impl = {
	.accept = offer_accept,
	.receive = host_offer_receive,
	.destroy = destroy_request,
	.finish = offer_finish,
	.set_actions = offer_set_actions,
};

static void host_offer_resource_destroy(struct wl_resource *resource) {
	selection_unref(wl_resource_get_user_data(resource));
}

/* Offers of another client's source: the fd goes to that client. */
static void client_offer_receive(struct wl_client *client, struct wl_resource *resource,
				 const char *mime, int32_t fd) {
	struct recorder_source *src = wl_resource_get_user_data(resource);
	if (src != NULL) {
		wl_data_source_send_send(src->resource, mime, fd);
	}
	fd_close(&fd); // the source's client has libwayland's copy
}

static const struct wl_data_offer_interface client_offer_impl = {
	.accept = offer_accept,
	.receive = client_offer_receive,
	.destroy = destroy_request,
	.finish = offer_finish,
	.set_actions = offer_set_actions,
};

/* Unlinks from its source's offers, or from itself once the source is gone. */
static void client_offer_resource_destroy(struct wl_resource *resource) {
	wl_list_remove(wl_resource_get_link(resource));
}

/* data_offer, offer(mime) for each type, selection: the order clients expect. */
static void send_offer(struct wl_resource *device, const struct wl_data_offer_interface *impl,
		       void *data, wl_resource_destroy_func_t destroy, char *const *mimes,
		       size_t count, struct wl_list *offers) {
	struct wl_client *client = wl_resource_get_client(device);
	struct wl_resource *offer = wl_resource_create(client, &wl_data_offer_interface,
						       wl_resource_get_version(device), 0);
	if (offer == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(offer, impl, data, destroy);
	if (offers != NULL) {
		wl_list_insert(offers, wl_resource_get_link(offer));
	}
	wl_data_device_send_data_offer(device, offer);
	for (size_t i = 0; i < count; i++) {
		wl_data_offer_send_offer(offer, mimes[i]);
	}
	wl_data_device_send_selection(device, offer);
}

/* Tells @device what the selection is now. The owner of a client source is not told. */
static void announce(struct recorder *rec, struct wl_resource *device) {
	struct recorder_source *src = rec->client_source;
	struct recorder_selection *sel = rec->selection;
	if (src != NULL) {
		if (wl_resource_get_client(device) != wl_resource_get_client(src->resource)) {
			send_offer(device, &client_offer_impl, src, client_offer_resource_destroy,
				   src->mimes, src->count, &src->offers);
		}
	} else if (sel != NULL) {
		send_offer(device, &host_offer_impl, selection_ref(sel),
			   host_offer_resource_destroy, &sel->mime, 1, NULL);
	} else {
		wl_data_device_send_selection(device, NULL);
	}
}

void recorder_data_announce(struct recorder *rec, struct wl_client *client) {
	struct wl_resource *device;
	wl_resource_for_each(device, &rec->data_devices) {
		if (wl_resource_get_client(device) == client) {
			announce(rec, device);
		}
	}
}

/*
 * wl_data_device.selection: "sent to a client immediately before receiving
 * keyboard focus and when a new selection is set while the client has
 * keyboard focus". @skip: a client being destroyed (may be NULL).
 */
static void announce_to_focus(struct recorder *rec, struct wl_client *skip) {
	if (rec->focus != NULL && wl_resource_get_client(rec->focus) != skip) {
		recorder_data_announce(rec, wl_resource_get_client(rec->focus));
	}
}

static void source_offer(struct wl_client *client, struct wl_resource *resource, const char *mime) {
	struct recorder_source *src = wl_resource_get_user_data(resource);
	char **mimes = realloc(src->mimes, (src->count + 2) * sizeof(*mimes));
	if (mimes == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	src->mimes = mimes;
	src->mimes[src->count] = strdup(mime);
	if (src->mimes[src->count] == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	src->mimes[++src->count] = NULL;
}

static void source_set_actions(struct wl_client *client, struct wl_resource *resource,
			       uint32_t actions) {
}

static const struct wl_data_source_interface source_impl = {
	.offer = source_offer,
	.destroy = destroy_request,
	.set_actions = source_set_actions,
};

static void source_resource_destroy(struct wl_resource *resource) {
	struct recorder_source *src = wl_resource_get_user_data(resource);
	struct wl_resource *offer, *tmp;
	wl_resource_for_each_safe(offer, tmp, &src->offers) {
		wl_resource_set_user_data(offer, NULL);
		wl_list_remove(wl_resource_get_link(offer));
		wl_list_init(wl_resource_get_link(offer));
	}
	if (src->rec->client_source == src) {
		src->rec->client_source = NULL;
		announce_to_focus(src->rec, wl_resource_get_client(resource));
	}
	for (size_t i = 0; i < src->count; i++) {
		free(src->mimes[i]);
	}
	free(src->mimes);
	free(src);
}

/*
 * The selection changes hands (to @src, or to a host selection when NULL):
 * the previous client source hears it is cancelled.
 */
static void replace_client_source(struct recorder *rec, struct recorder_source *src) {
	if (rec->client_source != NULL && rec->client_source != src) {
		wl_data_source_send_cancelled(rec->client_source->resource);
	}
	rec->client_source = src;
}

static void device_start_drag(struct wl_client *client, struct wl_resource *resource,
			      struct wl_resource *source, struct wl_resource *origin,
			      struct wl_resource *icon, uint32_t serial) {
	// No pointer grab to drag with: end the drag at once so the client
	// does not wait forever (unless the test plays the drag itself).
	struct recorder *rec = wl_resource_get_user_data(resource);
	if (source != NULL && !rec->options.hold_drags) {
		wl_data_source_send_cancelled(source);
	}
}

static void device_set_selection(struct wl_client *client, struct wl_resource *resource,
				 struct wl_resource *source, uint32_t serial) {
	struct recorder *rec = wl_resource_get_user_data(resource);
	struct recorder_source *src = source ? wl_resource_get_user_data(source) : NULL;
	if (src != NULL && src == rec->client_source) {
		return;
	}
	// Any set_selection replaces the whole selection, a host one included.
	selection_unref(rec->selection);
	rec->selection = NULL;
	replace_client_source(rec, src);
	announce_to_focus(rec, NULL);
}

static const struct wl_data_device_interface device_impl = {
	.start_drag = device_start_drag,
	.set_selection = device_set_selection,
	.release = destroy_request,
};

static void device_resource_destroy(struct wl_resource *resource) {
	wl_list_remove(wl_resource_get_link(resource));
}

static void manager_create_data_source(struct wl_client *client, struct wl_resource *resource,
				       uint32_t id) {
	struct recorder_source *src = calloc(1, sizeof(*src));
	if (src == NULL) {
		goto error_no_memory;
	}
	src->mimes = calloc(1, sizeof(*src->mimes));
	if (src->mimes == NULL) {
		goto error_source;
	}
	src->resource = wl_resource_create(client, &wl_data_source_interface,
					   wl_resource_get_version(resource), id);
	if (src->resource == NULL) {
		goto error_mimes;
	}
	src->rec = wl_resource_get_user_data(resource);
	wl_list_init(&src->offers);
	wl_resource_set_implementation(src->resource, &source_impl, src, source_resource_destroy);
	return;

error_mimes:
	free(src->mimes);
error_source:
	free(src);
error_no_memory:
	wl_client_post_no_memory(client);
}

static void manager_get_data_device(struct wl_client *client, struct wl_resource *resource,
				    uint32_t id, struct wl_resource *seat) {
	struct recorder *rec = wl_resource_get_user_data(resource);
	struct wl_resource *device = wl_resource_create(client, &wl_data_device_interface,
							wl_resource_get_version(resource), id);
	if (device == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(device, &device_impl, rec, device_resource_destroy);
	wl_list_insert(rec->data_devices.prev, wl_resource_get_link(device));
	// A client that has the keyboard already is told at once (as weston does).
	if (rec->focus != NULL && wl_resource_get_client(rec->focus) == client) {
		announce(rec, device);
	}
}

static const struct wl_data_device_manager_interface manager_impl = {
	.create_data_source = manager_create_data_source,
	.get_data_device = manager_get_data_device,
};

static void manager_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
	struct wl_resource *r = wl_resource_create(client, &wl_data_device_manager_interface,
						   (int)version, id);
	if (r == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &manager_impl, data, NULL);
}

bool recorder_data_init(struct recorder *rec) {
	return wl_global_create(rec->display, &wl_data_device_manager_interface,
				DATA_DEVICE_MANAGER_VERSION, rec, manager_bind) != NULL;
}

void recorder_data_finish(struct recorder *rec) {
	struct recorder_transfer *t, *tmp;
	wl_list_for_each_safe(t, tmp, &rec->transfers, link) {
		transfer_destroy(t);
	}
	selection_unref(rec->selection);
	rec->selection = NULL;
}

bool recorder_offer_selection(struct recorder *rec, const char *mime, const void *data,
			      size_t len) {
	if (!rec->options.data_device) {
		return false;
	}
	struct recorder_selection *sel = calloc(1, sizeof(*sel));
	if (sel == NULL) {
		return false;
	}
	sel->refs = 1;
	sel->rec = rec;
	sel->mime = strdup(mime);
	sel->data = malloc(len ? len : 1);
	if (sel->mime == NULL || sel->data == NULL) {
		selection_unref(sel);
		return false;
	}
	memcpy(sel->data, data, len);
	sel->len = len;

	replace_client_source(rec, NULL);
	selection_unref(rec->selection);
	rec->selection = sel;
	// Unlike a desktop, every device is told, focused or not: tests need not
	// map a window first.
	struct wl_resource *device;
	wl_resource_for_each(device, &rec->data_devices) {
		announce(rec, device);
	}
	wl_display_flush_clients(rec->display);
	return true;
}

size_t recorder_transfer_count(const struct recorder *rec) {
	return (size_t)wl_list_length(&rec->transfers);
}

const char *const *recorder_client_selection(struct recorder *rec) {
	if (rec->client_source == NULL) {
		return NULL;
	}
	return (const char *const *)rec->client_source->mimes;
}

int recorder_receive_selection(struct recorder *rec, const char *mime) {
	struct recorder_source *src = rec->client_source;
	if (src == NULL) {
		errno = ENOENT;
		return -1;
	}
	bool offered = false;
	for (size_t i = 0; i < src->count && !offered; i++) {
		offered = strcmp(src->mimes[i], mime) == 0;
	}
	if (!offered) {
		errno = EINVAL;
		return -1;
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		return -1;
	}
	wl_data_source_send_send(src->resource, mime, fds[1]);
	fd_close(&fds[1]); // the client has libwayland's copy
	wl_client_flush(wl_resource_get_client(src->resource));
	return fds[0];
}
