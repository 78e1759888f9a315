/*
 * The guest proxy of crossway-vmsim, for one app: it reads the app's Wayland
 * requests and turns them into cross-domain SENDs, and turns RECEIVE and READ
 * records back into Wayland events, fds and pipe data for the app — the job
 * sommelier and wayland-proxy-virtwl do inside a real guest
 * (../shared/design/cross-domain.md §5-§8):
 *
 *  - wl_shm pools are shadowed in host memory obtained with
 *    GET_IMAGE_REQUIREMENTS (R8, width = pool size, height 1) and CREATE_BLOB;
 *    the pool's fd is replaced by the blob's resource id, and the damaged
 *    rows of a buffer are copied into the shadow when a surface commits it;
 *  - pipes the app passes (data-offer receive) become READ_PIPE ids
 *    (0x80000001, ...), filled from READ records;
 *  - blobs in RECEIVE records (keymaps, format tables) become fds through
 *    CREATE_BLOB; WRITE_PIPE ids become pipes whose data goes back in WRITEs;
 *  - blobs are re-attached before each SEND that names them and detached
 *    after it, the GEM-handle pattern real guests produce.
 *
 * Objects are tracked only as far as needed to parse the stream (interface
 * and version per id); everything else is crosswayd's job.
 */
/* _GNU_SOURCE: pipe2, MSG_CMSG_CLOEXEC. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol/proto_tables.h"
#include "tools/vmsim/link.h"
#include "tools/vmsim/vmsim.h"
#include "wire/cross_domain.h"
#include "wire/wayland_msg.h"

#define SERVER_ID_START 0xff000000u
#define MAX_OBJECTS (1u << 20)
#define MAX_QUEUED_FDS 256
#define MAX_PIPES 64
#define DAMAGE_HISTORY 8
#define PAGE 4096u
/* sommelier's chunk size; crosswayd also takes larger SENDs. */
#define SEND_DATA_MAX CROSS_DOMAIN_MAX_SEND_RECV_SIZE
/* sommelier's WRITE size: one ring page minus the READ/WRITE header. */
#define WRITE_CHUNK (PAGE - CROSS_DOMAIN_READ_WRITE_HEADER_SIZE)
/* A pool shadow is made larger than the pool so that wl_shm_pool.resize can
 * grow into it; the host pool cannot change its memory later. */
#define SHADOW_MAX (256u << 20)
#define SHADOW_MIN (16u << 20)

struct pool {
	int refs; // the wl_shm_pool object and each of its buffers
	int client_fd;
	uint8_t *client_map; // the app's pool, read-only
	size_t client_size;
	uint8_t *shadow; // the host blob, read-write
	size_t shadow_size;
	uint32_t resource_id;
};

struct rows {
	int32_t y0, y1; // [y0, y1) in buffer rows; y1 == INT32_MAX: all
};

struct buffer {
	struct pool *pool;
	int32_t offset, width, height, stride;
	uint64_t copied_surface; // uid of the surface it was last copied for
	uint64_t copied_seq;     // that surface's commit number then
};

struct surface {
	uint64_t uid;
	uint64_t seq; // commits so far
	uint32_t pending_buffer;
	bool pending_attach;
	struct rows pending;
	struct rows history[DAMAGE_HISTORY]; // damage of commit n at [n % N]
};

struct object {
	const struct proto_interface *iface;
	uint32_t version;
	void *state; // struct pool / buffer / surface, by interface
};

struct pipe_end {
	uint32_t id;
	int fd;
};

struct app {
	const struct vmsim_options *opt;
	int fd;
	struct vm_link link;
	bool done;
	int status;

	struct object *client_objs, *server_objs;
	uint32_t client_cap, server_cap;
	uint64_t next_surface_uid;

	// Requests from the app: bytes not yet a whole message, and their fds.
	uint8_t in[65536];
	size_t in_len;
	int fds[MAX_QUEUED_FDS];
	size_t fd_count;

	// The SEND being assembled.
	uint8_t send_data[SEND_DATA_MAX];
	uint32_t send_len;
	uint32_t send_ids[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t send_types[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t send_count;

	// Events: bytes not yet a whole message (parsed only to learn new ids).
	uint8_t ev[65536];
	size_t ev_len;

	uint32_t next_read_pipe;
	struct pipe_end read_pipes[MAX_PIPES];  // app's write ends, fed by READ
	struct pipe_end write_pipes[MAX_PIPES]; // our read ends, drained to WRITE

	uint64_t bytes_copied, sends, receives;
};

static void fail(struct app *app, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct app *app, const char *fmt, ...) {
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	vmsim_log("%s", text);
	app->done = true;
	app->status = 1;
}

/* --- objects --- */

static struct object *object_slot(struct app *app, uint32_t id, bool grow) {
	struct object **arr = &app->client_objs;
	uint32_t *cap = &app->client_cap;
	uint32_t index = id;
	if (id >= SERVER_ID_START) {
		arr = &app->server_objs;
		cap = &app->server_cap;
		index = id - SERVER_ID_START;
	}
	if (index >= MAX_OBJECTS) {
		return NULL;
	}
	if (index >= *cap) {
		if (!grow) {
			return NULL;
		}
		uint32_t n = *cap ? *cap : 64;
		while (n <= index) {
			n *= 2;
		}
		struct object *bigger = realloc(*arr, n * sizeof(**arr));
		if (bigger == NULL) {
			return NULL;
		}
		memset(bigger + *cap, 0, (n - *cap) * sizeof(**arr));
		*arr = bigger;
		*cap = n;
	}
	return &(*arr)[index];
}

static void pool_unref(struct app *app, struct pool *pool) {
	if (--pool->refs > 0) {
		return;
	}
	munmap(pool->client_map, pool->client_size);
	munmap(pool->shadow, pool->shadow_size);
	close(pool->client_fd);
	// The guest frees the blob: RESOURCE_UNREF.
	link_unref(&app->link, pool->resource_id);
	free(pool);
}

static void free_state(struct app *app, struct object *obj) {
	if (obj->state == NULL) {
		return;
	}
	if (obj->iface == &proto_wl_shm_pool) {
		pool_unref(app, obj->state);
	} else if (obj->iface == &proto_wl_buffer) {
		struct buffer *b = obj->state;
		pool_unref(app, b->pool);
		free(b);
	} else {
		free(obj->state);
	}
	obj->state = NULL;
}

static struct object *object_new(struct app *app, uint32_t id, const struct proto_interface *iface,
				 uint32_t version) {
	struct object *obj = object_slot(app, id, true);
	if (obj == NULL) {
		fail(app, "object id %u is out of range", id);
		return NULL;
	}
	free_state(app, obj); // an id reused after delete_id
	obj->iface = iface;
	obj->version = version;
	if (iface == &proto_wl_surface) {
		struct surface *s = calloc(1, sizeof(*s));
		if (s == NULL) {
			fail(app, "out of memory");
			return NULL;
		}
		s->uid = ++app->next_surface_uid;
		s->pending = (struct rows){0, 0};
		obj->state = s;
	}
	return obj;
}

static struct object *object_get(struct app *app, uint32_t id) {
	struct object *obj = object_slot(app, id, false);
	return obj != NULL && obj->iface != NULL ? obj : NULL;
}

/* Registers the new ids a message creates. */
static void note_new_ids(struct app *app, const uint8_t *msg, const struct object *sender,
			 const struct proto_message *m, const struct wayland_args *args) {
	for (unsigned i = 0; i < m->arg_count; i++) {
		const struct proto_arg *a = &m->args[i];
		if (a->type != PROTO_ARG_NEW_ID) {
			continue;
		}
		const struct proto_interface *iface = a->interface;
		uint32_t version = sender->version;
		if (a->dynamic) {
			// wl_registry.bind: the interface name and version precede it.
			iface = proto_find_interface(wayland_args_string(msg, args, i - 2));
			version = args->value[i - 1];
		}
		if (iface == NULL) {
			fail(app, "%s.%s creates an object of an interface vmsim does not know",
			     sender->iface->name, m->name);
			return;
		}
		object_new(app, args->value[i], iface, version);
	}
}

/* --- SEND assembly --- */

static bool flush_send(struct app *app) {
	if (app->send_len == 0 && app->send_count == 0) {
		return true;
	}
	struct vm_link *link = &app->link;
	// Real guests import each blob fd (a GEM handle: ATTACH) right before
	// the SEND and close the handle after it (DETACH).
	for (uint32_t i = 0; i < app->send_count; i++) {
		if (app->send_types[i] == CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB &&
		    !link_attach_blob(link, app->send_ids[i])) {
			return false;
		}
	}
	static uint8_t cmd[CROSS_DOMAIN_SEND_RECEIVE_HEADER_SIZE(CROSS_DOMAIN_MAX_IDENTIFIERS) +
			   SEND_DATA_MAX];
	uint32_t sizes[CROSS_DOMAIN_MAX_IDENTIFIERS] = {0};
	size_t n = cross_domain_encode_send(cmd, sizeof(cmd), app->opt->identifiers,
					    app->send_count, app->send_ids, app->send_types, sizes,
					    app->send_data, app->send_len);
	if (n == 0 || !link_submit(link, cmd, (uint32_t)n)) {
		fail(app, "cannot send %u bytes with %u identifiers to crosswayd", app->send_len,
		     app->send_count);
		return false;
	}
	for (uint32_t i = 0; i < app->send_count; i++) {
		if (app->send_types[i] == CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB) {
			link_detach(link, app->send_ids[i]);
		}
	}
	app->sends++;
	app->send_len = 0;
	app->send_count = 0;
	return true;
}

/* Queues one whole message with its identifiers; splits it across SENDs
 * when it is larger than one (the identifiers go with its first bytes). */
static bool queue_message(struct app *app, const uint8_t *msg, uint32_t size, const uint32_t *ids,
			  const uint32_t *types, uint32_t count) {
	if (count > app->opt->identifiers) {
		fail(app, "a message with %u fds does not fit a %u-identifier SEND", count,
		     app->opt->identifiers);
		return false;
	}
	if (app->send_len + size > SEND_DATA_MAX ||
	    app->send_count + count > app->opt->identifiers) {
		if (!flush_send(app)) {
			return false;
		}
	}
	memcpy(app->send_ids + app->send_count, ids, count * sizeof(*ids));
	memcpy(app->send_types + app->send_count, types, count * sizeof(*types));
	app->send_count += count;
	while (size > 0) {
		uint32_t room = SEND_DATA_MAX - app->send_len;
		uint32_t part = size < room ? size : room;
		memcpy(app->send_data + app->send_len, msg, part);
		app->send_len += part;
		msg += part;
		size -= part;
		if (size > 0 && !flush_send(app)) {
			return false;
		}
	}
	return true;
}

/* --- wl_shm shadows --- */

static struct pool *pool_create(struct app *app, int fd, int32_t size) {
	if (size <= 0) {
		fail(app, "wl_shm.create_pool with size %d", size);
		close(fd);
		return NULL;
	}
	struct pool *pool = calloc(1, sizeof(*pool));
	if (pool == NULL) {
		close(fd);
		fail(app, "out of memory");
		return NULL;
	}
	pool->client_fd = fd;
	pool->client_size = (size_t)size;
	pool->client_map = mmap(NULL, pool->client_size, PROT_READ, MAP_SHARED, fd, 0);
	if (pool->client_map == MAP_FAILED) {
		fail(app, "cannot map the app's wl_shm pool of %d bytes: %s", size,
		     strerror(errno));
		close(fd);
		free(pool);
		return NULL;
	}
	// Room to grow: twice the pool, and at least SHADOW_MIN (libwayland-
	// cursor starts a pool at a few KiB and grows it to MiBs), within what
	// one buffer may use. Untouched shadow pages cost the host nothing.
	uint64_t want = (uint64_t)size * 2;
	if (want < SHADOW_MIN) {
		want = SHADOW_MIN;
	}
	if (want > SHADOW_MAX) {
		want = (uint64_t)size > SHADOW_MAX ? (uint64_t)size : SHADOW_MAX;
	}
	struct cross_domain_image_requirements req;
	if (!link_image_requirements(&app->link, (uint32_t)want, 1, 0x20203852 /* DRM_FORMAT_R8 */,
				     &req)) {
		goto fail;
	}
	if (req.size < (uint64_t)size) {
		vmsim_log("image requirements of %llu bytes for a pool of %d",
			  (unsigned long long)req.size, size);
		goto fail;
	}
	struct crossway_backend_blob_reply reply;
	int blob = link_create_blob(&app->link, req.blob_id, req.size, &pool->resource_id, &reply);
	if (blob < 0) {
		goto fail;
	}
	pool->shadow_size = req.size;
	pool->shadow = mmap(NULL, pool->shadow_size, PROT_READ | PROT_WRITE, MAP_SHARED, blob, 0);
	close(blob);
	// The guest closes the GEM handle once the blob is exported.
	link_detach(&app->link, pool->resource_id);
	if (pool->shadow == MAP_FAILED) {
		vmsim_log("cannot map the host blob: %s", strerror(errno));
		link_unref(&app->link, pool->resource_id);
		goto fail;
	}
	pool->refs = 1;
	return pool;
fail:
	fail(app, "no host memory for a wl_shm pool of %d bytes", size);
	munmap(pool->client_map, pool->client_size);
	close(fd);
	free(pool);
	return NULL;
}

static bool pool_resize(struct app *app, struct pool *pool, int32_t size) {
	if (size <= 0 || (size_t)size > pool->shadow_size) {
		fail(app,
		     "wl_shm_pool.resize to %d bytes: its host shadow has %zu (vmsim shadows "
		     "pools at twice their first size, 16 MiB at least)",
		     size, pool->shadow_size);
		return false;
	}
	if ((size_t)size <= pool->client_size) {
		return true; // pools only grow; crosswayd rejects a shrink
	}
	void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, pool->client_fd, 0);
	if (map == MAP_FAILED) {
		fail(app, "cannot map the resized pool: %s", strerror(errno));
		return false;
	}
	munmap(pool->client_map, pool->client_size);
	pool->client_map = map;
	pool->client_size = (size_t)size;
	return true;
}

static void rows_union(struct rows *into, struct rows add) {
	if (add.y0 >= add.y1) {
		return;
	}
	if (into->y0 >= into->y1) {
		*into = add;
		return;
	}
	into->y0 = add.y0 < into->y0 ? add.y0 : into->y0;
	into->y1 = add.y1 > into->y1 ? add.y1 : into->y1;
}

/* Copies the rows of @b the host has not seen yet into the shadow. */
static void copy_for_commit(struct app *app, struct surface *s, struct buffer *b) {
	struct rows r = {0, INT32_MAX};
	uint64_t behind = s->seq - b->copied_seq;
	if (b->copied_surface == s->uid && behind >= 1 && behind <= DAMAGE_HISTORY) {
		// Everything damaged since this buffer was last shown here.
		r = (struct rows){0, 0};
		for (uint64_t n = b->copied_seq + 1; n <= s->seq; n++) {
			rows_union(&r, s->history[n % DAMAGE_HISTORY]);
		}
	}
	b->copied_surface = s->uid;
	b->copied_seq = s->seq;
	int32_t y0 = r.y0 < 0 ? 0 : r.y0;
	int32_t y1 = r.y1 > b->height ? b->height : r.y1;
	if (y0 >= y1 || b->stride <= 0 || b->offset < 0) {
		return;
	}
	uint64_t start = (uint64_t)b->offset + (uint64_t)y0 * (uint64_t)b->stride;
	uint64_t len = (uint64_t)(y1 - y0) * (uint64_t)b->stride;
	struct pool *p = b->pool;
	uint64_t limit = p->client_size < p->shadow_size ? p->client_size : p->shadow_size;
	if (start >= limit) {
		return;
	}
	if (start + len > limit) {
		len = limit - start; // crosswayd rejects such buffers anyway
	}
	memcpy(p->shadow + start, p->client_map + start, len);
	app->bytes_copied += len;
}

static void surface_request(struct app *app, struct object *obj, uint16_t opcode,
			    const struct wayland_args *args) {
	struct surface *s = obj->state;
	if (s == NULL) {
		return;
	}
	switch (opcode) {
	case PROTO_WL_SURFACE_REQ_ATTACH:
		s->pending_buffer = args->value[0];
		s->pending_attach = true;
		break;
	case PROTO_WL_SURFACE_REQ_DAMAGE:
		// Surface coordinates: scale and transform would be needed to
		// find the rows, so take them all.
		rows_union(&s->pending, (struct rows){0, INT32_MAX});
		break;
	case PROTO_WL_SURFACE_REQ_DAMAGE_BUFFER: {
		int32_t y = (int32_t)args->value[1], h = (int32_t)args->value[3];
		if (h > 0) {
			int64_t end = (int64_t)y + h;
			rows_union(&s->pending,
				   (struct rows){y, end > INT32_MAX ? INT32_MAX : (int32_t)end});
		}
		break;
	}
	case PROTO_WL_SURFACE_REQ_COMMIT: {
		s->seq++;
		s->history[s->seq % DAMAGE_HISTORY] = s->pending;
		struct object *bo = s->pending_attach && s->pending_buffer
					    ? object_get(app, s->pending_buffer)
					    : NULL;
		if (bo != NULL && bo->iface == &proto_wl_buffer && bo->state != NULL) {
			copy_for_commit(app, s, bo->state);
		}
		s->pending_attach = false;
		s->pending = (struct rows){0, 0};
		break;
	}
	default:
		break;
	}
}

/* --- requests --- */

static int pop_fd(struct app *app) {
	if (app->fd_count == 0) {
		return -1;
	}
	int fd = app->fds[0];
	memmove(app->fds, app->fds + 1, (app->fd_count - 1) * sizeof(int));
	app->fd_count--;
	return fd;
}

static struct pipe_end *pipe_slot(struct pipe_end *table, uint32_t id) {
	for (int i = 0; i < MAX_PIPES; i++) {
		if (table[i].id == id && table[i].fd >= 0 && id != 0) {
			return &table[i];
		}
	}
	return NULL;
}

static bool pipe_add(struct pipe_end *table, uint32_t id, int fd) {
	for (int i = 0; i < MAX_PIPES; i++) {
		if (table[i].fd < 0) {
			table[i] = (struct pipe_end){.id = id, .fd = fd};
			return true;
		}
	}
	return false;
}

static void pipe_close(struct pipe_end *p) {
	close(p->fd);
	p->fd = -1;
	p->id = 0;
}

/* Handles one whole request: returns false when the app must be dropped. */
static bool handle_request(struct app *app, uint8_t *msg, const struct wayland_msg_header *hdr) {
	struct object *obj = object_get(app, hdr->object_id);
	if (obj == NULL) {
		fail(app, "request to object %u, which vmsim does not know", hdr->object_id);
		return false;
	}
	if (hdr->opcode >= obj->iface->request_count) {
		fail(app, "%s#%u has no request %u", obj->iface->name, hdr->object_id, hdr->opcode);
		return false;
	}
	const struct proto_message *m = &obj->iface->requests[hdr->opcode];
	struct wayland_args args;
	struct wire_error err = {{0}};
	if (!wayland_msg_decode(msg, hdr, obj->iface, m, &args, &err)) {
		fail(app, "bad request from the app: %s", err.text);
		return false;
	}
	uint32_t ids[CROSS_DOMAIN_MAX_IDENTIFIERS], types[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t count = 0;
	if (m->fd_count > CROSS_DOMAIN_MAX_IDENTIFIERS) {
		fail(app, "%s.%s carries too many fds", obj->iface->name, m->name);
		return false;
	}
	const struct proto_interface *iface = obj->iface;
	for (unsigned i = 0; i < m->arg_count; i++) {
		if (m->args[i].type != PROTO_ARG_FD) {
			continue;
		}
		int fd = pop_fd(app);
		if (fd < 0) {
			fail(app, "%s.%s came without its fd", iface->name, m->name);
			return false;
		}
		struct stat st;
		if (fstat(fd, &st) != 0) {
			close(fd);
			fail(app, "fstat: %s", strerror(errno));
			return false;
		}
		if (iface == &proto_wl_shm && hdr->opcode == PROTO_WL_SHM_REQ_CREATE_POOL) {
			struct pool *pool = pool_create(app, fd, (int32_t)args.value[2]);
			if (pool == NULL) {
				return false;
			}
			note_new_ids(app, msg, obj, m, &args);
			struct object *po = object_get(app, args.value[0]);
			if (po == NULL) {
				pool_unref(app, pool);
				return false;
			}
			po->state = pool;
			ids[count] = pool->resource_id;
			types[count++] = CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB;
			return queue_message(app, msg, hdr->size, ids, types, count);
		}
		if (S_ISFIFO(st.st_mode)) {
			// The host fills this pipe: READ records for a guest id.
			if (++app->next_read_pipe == 0) {
				app->next_read_pipe = CROSS_DOMAIN_PIPE_READ_START;
			}
			if (!pipe_add(app->read_pipes, app->next_read_pipe, fd)) {
				close(fd);
				fail(app, "more than %d pipes open", MAX_PIPES);
				return false;
			}
			ids[count] = app->next_read_pipe;
			types[count++] = CROSS_DOMAIN_ID_TYPE_READ_PIPE;
			continue;
		}
		close(fd);
		fail(app,
		     "%s.%s passes an fd that is neither a pipe nor a wl_shm pool; a "
		     "guest would need a GPU resource for it",
		     iface->name, m->name);
		return false;
	}
	note_new_ids(app, msg, obj, m, &args);
	if (app->done) {
		return false;
	}
	if (iface == &proto_wl_shm_pool) {
		struct pool *pool = obj->state;
		if (pool != NULL && hdr->opcode == PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER) {
			struct object *bo = object_get(app, args.value[0]);
			struct buffer *b = calloc(1, sizeof(*b));
			if (bo == NULL || b == NULL) {
				free(b);
				fail(app, "out of memory");
				return false;
			}
			*b = (struct buffer){
				.pool = pool,
				.offset = (int32_t)args.value[1],
				.width = (int32_t)args.value[2],
				.height = (int32_t)args.value[3],
				.stride = (int32_t)args.value[4],
			};
			pool->refs++;
			bo->state = b;
		} else if (pool != NULL && hdr->opcode == PROTO_WL_SHM_POOL_REQ_RESIZE) {
			if (!pool_resize(app, pool, (int32_t)args.value[0])) {
				return false;
			}
		}
	} else if (iface == &proto_wl_surface) {
		surface_request(app, obj, hdr->opcode, &args);
	}
	if (!queue_message(app, msg, hdr->size, ids, types, count)) {
		return false;
	}
	if (m->destructor) {
		// Flush first: the blob must stay alive until the SEND naming it
		// is out.
		if (obj->iface == &proto_wl_shm_pool && !flush_send(app)) {
			return false;
		}
		free_state(app, obj);
	}
	return true;
}

static void read_requests(struct app *app) {
	union {
		char buf[CMSG_SPACE(sizeof(int) * 28)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = app->in + app->in_len,
			    .iov_len = sizeof(app->in) - app->in_len};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	ssize_t n = recvmsg(app->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			continue;
		}
		size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < count; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (app->fd_count < MAX_QUEUED_FDS) {
				app->fds[app->fd_count++] = fd;
			} else {
				close(fd);
				fail(app, "the app sent more than %d fds ahead of its messages",
				     MAX_QUEUED_FDS);
			}
		}
	}
	if (n <= 0) {
		if (n < 0) {
			vmsim_log("reading from the app: %s", strerror(errno));
		}
		app->done = true; // the app went away
		return;
	}
	if (mh.msg_flags & MSG_CTRUNC) {
		fail(app, "fds from the app were lost (control data truncated)");
		return;
	}
	app->in_len += (size_t)n;
	size_t pos = 0;
	while (!app->done) {
		struct wayland_msg_header hdr;
		struct wire_error err = {{0}};
		enum wayland_msg_result r = wayland_msg_header_parse(
			app->in + pos, app->in_len - pos, WAYLAND_MSG_HARD_MAX_SIZE, &hdr, &err);
		if (r == WAYLAND_MSG_INVALID) {
			fail(app, "bad request from the app: %s", err.text);
			return;
		}
		if (r == WAYLAND_MSG_INCOMPLETE || app->in_len - pos < hdr.size) {
			break;
		}
		if (!handle_request(app, app->in + pos, &hdr)) {
			return;
		}
		pos += hdr.size;
	}
	memmove(app->in, app->in + pos, app->in_len - pos);
	app->in_len -= pos;
	flush_send(app);
}

/* --- records from the host --- */

/* Learns the ids that events create, from whole messages. */
static void parse_events(struct app *app, const uint8_t *data, uint32_t len) {
	if (app->ev_len + len > sizeof(app->ev)) {
		fail(app, "event stream out of step (%zu bytes without a whole message)",
		     app->ev_len + len);
		return;
	}
	memcpy(app->ev + app->ev_len, data, len);
	app->ev_len += len;
	size_t pos = 0;
	for (;;) {
		struct wayland_msg_header hdr;
		struct wire_error err = {{0}};
		enum wayland_msg_result r = wayland_msg_header_parse(
			app->ev + pos, app->ev_len - pos, WAYLAND_MSG_HARD_MAX_SIZE, &hdr, &err);
		if (r == WAYLAND_MSG_INVALID) {
			fail(app, "bad event from crosswayd: %s", err.text);
			return;
		}
		if (r == WAYLAND_MSG_INCOMPLETE || app->ev_len - pos < hdr.size) {
			break;
		}
		struct object *obj = object_get(app, hdr.object_id);
		if (obj != NULL && hdr.opcode < obj->iface->event_count) {
			const struct proto_message *m = &obj->iface->events[hdr.opcode];
			struct wayland_args args;
			if (m->new_id_count > 0 &&
			    wayland_msg_decode(app->ev + pos, &hdr, obj->iface, m, &args, &err)) {
				note_new_ids(app, app->ev + pos, obj, m, &args);
			}
		}
		pos += hdr.size;
	}
	memmove(app->ev, app->ev + pos, app->ev_len - pos);
	app->ev_len -= pos;
}

static void handle_receive(struct app *app, const struct cross_domain_record *rec) {
	int fds[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t blobs[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t nfds = 0, nblobs = 0;
	if (rec->data_size == 0 && rec->num_identifiers == 0) {
		vmsim_log("the compositor connection ended");
		app->done = true;
		return;
	}
	for (uint32_t i = 0; i < rec->num_identifiers; i++) {
		uint32_t type = rec->identifier_types[i];
		if (type == CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB) {
			// RESOURCE_CREATE_BLOB with blob_id = the identifier; the
			// guest kernel rounds host3d sizes up to whole pages.
			uint64_t size = ((uint64_t)rec->identifier_sizes[i] + PAGE - 1) &
					~(uint64_t)(PAGE - 1);
			struct crossway_backend_blob_reply reply;
			uint32_t res;
			int fd = link_create_blob(&app->link, rec->identifiers[i], size, &res,
						  &reply);
			if (fd < 0) {
				fail(app, "cannot make a blob for host item %u",
				     rec->identifiers[i]);
				goto out;
			}
			link_detach(&app->link, res);
			blobs[nblobs++] = res;
			fds[nfds++] = fd;
		} else if (type == CROSS_DOMAIN_ID_TYPE_WRITE_PIPE) {
			// The write-pipe table owns the read end, the app gets the
			// write end (ours is closed after sending).
			int p[2];
			if (pipe2(p, O_CLOEXEC) != 0) {
				fail(app, "cannot make a pipe for host item %u",
				     rec->identifiers[i]);
				goto out;
			}
			if (!pipe_add(app->write_pipes, rec->identifiers[i], p[0])) {
				close(p[0]);
				close(p[1]);
				fail(app, "more than %d pipes open", MAX_PIPES);
				goto out;
			}
			fds[nfds++] = p[1];
		} else {
			fail(app, "RECEIVE with identifier type %u, which guests do not know",
			     type);
			goto out;
		}
	}
	union {
		char buf[CMSG_SPACE(sizeof(int) * CROSS_DOMAIN_MAX_IDENTIFIERS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = (void *)rec->data, .iov_len = rec->data_size};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds > 0) {
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	ssize_t sent;
	do {
		sent = sendmsg(app->fd, &mh, MSG_NOSIGNAL);
	} while (sent < 0 && errno == EINTR);
	if (sent >= 0 && (uint32_t)sent < rec->data_size) {
		// The rest without fds; the socket is blocking, so this waits
		// for the app to read.
		const uint8_t *rest = rec->data + sent;
		size_t left = rec->data_size - (size_t)sent;
		while (left > 0) {
			ssize_t w = send(app->fd, rest, left, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR) {
				continue;
			}
			if (w <= 0) {
				sent = -1;
				break;
			}
			rest += w;
			left -= (size_t)w;
		}
	}
	if (sent < 0) {
		app->done = true; // the app went away
	}
	app->receives++;
	parse_events(app, rec->data, rec->data_size);
out:
	for (uint32_t i = 0; i < nfds; i++) {
		close(fds[i]);
	}
	// The app holds its own reference to each blob's memory now; the guest
	// side of vmsim does not keep the resources.
	for (uint32_t i = 0; i < nblobs; i++) {
		link_unref(&app->link, blobs[i]);
	}
}

static void handle_read(struct app *app, const struct cross_domain_record *rec) {
	struct pipe_end *p = pipe_slot(app->read_pipes, rec->identifier);
	if (p == NULL) {
		vmsim_log("READ for pipe %#x, which is not open", rec->identifier);
		return;
	}
	const uint8_t *data = rec->data;
	uint32_t left = rec->data_size;
	while (left > 0) {
		ssize_t w = write(p->fd, data, left);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			// The app closed its end: drop the rest, as a guest would.
			break;
		}
		data += w;
		left -= (uint32_t)w;
	}
	if (rec->hang_up) {
		pipe_close(p);
	}
}

static void handle_record(struct app *app) {
	struct cross_domain_record rec;
	struct wire_error err = {{0}};
	app->link.record_ready = false;
	if (!cross_domain_decode_record(app->link.record, VM_RING_SIZE, app->opt->identifiers, &rec,
					&err)) {
		fail(app, "bad record in the channel ring: %s", err.text);
		return;
	}
	if (rec.cmd == CROSS_DOMAIN_CMD_RECEIVE) {
		handle_receive(app, &rec);
	} else {
		handle_read(app, &rec);
	}
	if (!app->done && !link_poll(&app->link)) {
		fail(app, "cannot poll: the link to crosswayd is gone");
	}
}

/* Data the app writes into a pipe the host gave it goes out in WRITEs. */
static void drain_write_pipe(struct app *app, struct pipe_end *p) {
	uint8_t cmd[CROSS_DOMAIN_READ_WRITE_HEADER_SIZE + WRITE_CHUNK];
	uint8_t data[WRITE_CHUNK];
	ssize_t n = read(p->fd, data, sizeof(data));
	if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
		return;
	}
	uint32_t len = n > 0 ? (uint32_t)n : 0;
	size_t size = cross_domain_encode_write(cmd, sizeof(cmd), p->id, n <= 0 ? 1 : 0, data, len);
	if (size == 0 || !link_submit(&app->link, cmd, (uint32_t)size)) {
		fail(app, "cannot send a WRITE");
	}
	if (n <= 0) {
		pipe_close(p);
	}
}

/* --- the loop --- */

int vmsim_serve_app(int app_fd, const struct vmsim_options *opt, uint32_t ctx_id,
		    const char *app_name) {
	static struct app app_storage;
	struct app *app = &app_storage;
	memset(app, 0, sizeof(*app));
	app->opt = opt;
	app->fd = app_fd;
	app->next_read_pipe = CROSS_DOMAIN_PIPE_READ_START;
	for (int i = 0; i < MAX_PIPES; i++) {
		app->read_pipes[i].fd = -1;
		app->write_pipes[i].fd = -1;
	}
	struct object *display = object_new(app, 1, &proto_wl_display, 1);
	if (display == NULL) {
		return 1;
	}

	struct vm_link *link = &app->link;
	if (!link_spawn(link, opt->crosswayd, opt->wayland_display, opt->crosswayd_args)) {
		vmsim_log("cannot start %s: %s", opt->crosswayd, strerror(errno));
		return 1;
	}
	if (!link_hello(link, opt->vm_name, app_name, ctx_id) ||
	    !link_init_rings(link, opt->init_size) || !link_poll(link)) {
		vmsim_log("crosswayd did not start the context%s%s", link->error[0] ? ": " : "",
			  link->error);
		close(app_fd);
		int status = link_finish(link, 5000);
		vmsim_log("crosswayd exited with status %d", status);
		return 1;
	}
	if (opt->verbose) {
		vmsim_log("context up for %s: %u-byte INIT, %u-identifier SENDs, dmabuf %s",
			  app_name, opt->init_size, opt->identifiers,
			  link->caps.supports_dmabuf ? "yes" : "no");
	}

	while (!app->done) {
		if (link->record_ready) {
			handle_record(app);
			continue;
		}
		struct pollfd pfds[2 + MAX_PIPES];
		struct pipe_end *owners[2 + MAX_PIPES];
		nfds_t n = 0;
		pfds[n++] = (struct pollfd){.fd = app->fd, .events = POLLIN};
		pfds[n++] = (struct pollfd){.fd = link->fd, .events = POLLIN};
		for (int i = 0; i < MAX_PIPES; i++) {
			if (app->write_pipes[i].fd >= 0) {
				owners[n] = &app->write_pipes[i];
				pfds[n++] = (struct pollfd){.fd = app->write_pipes[i].fd,
							    .events = POLLIN};
			}
		}
		if (poll(pfds, n, -1) < 0) {
			if (errno == EINTR) {
				continue;
			}
			fail(app, "poll: %s", strerror(errno));
			break;
		}
		if (pfds[1].revents) {
			if (link_dispatch(link, 0) < 0) {
				vmsim_log("crosswayd closed the link%s%s",
					  link->error[0] ? ": " : "", link->error);
				app->status = link->error[0] ? 1 : 0;
				break;
			}
		}
		if (pfds[0].revents) {
			read_requests(app);
		}
		for (nfds_t i = 2; i < n && !app->done; i++) {
			if (pfds[i].revents) {
				drain_write_pipe(app, owners[i]);
			}
		}
	}

	// The app is gone (or the context failed): the guest proxy closes its
	// DRM file, which detaches the rings, and the VMM destroys the context.
	close(app->fd);
	for (int i = 0; i < MAX_PIPES; i++) {
		if (app->read_pipes[i].fd >= 0) {
			pipe_close(&app->read_pipes[i]);
		}
		if (app->write_pipes[i].fd >= 0) {
			pipe_close(&app->write_pipes[i]);
		}
	}
	for (size_t i = 0; i < app->fd_count; i++) {
		close(app->fds[i]);
	}
	for (uint32_t i = 0; i < app->client_cap; i++) {
		free_state(app, &app->client_objs[i]);
	}
	for (uint32_t i = 0; i < app->server_cap; i++) {
		free_state(app, &app->server_objs[i]);
	}
	free(app->client_objs);
	free(app->server_objs);
	// The guest proxy closing its DRM file releases the rings (DETACH and,
	// as nothing else holds them, UNREF); then the VMM destroys the context.
	if (!link->closed) {
		link_detach(link, link->query_ring_id);
		link_unref(link, link->query_ring_id);
		if (!link->shared_ring) {
			link_detach(link, link->channel_ring_id);
			link_unref(link, link->channel_ring_id);
		}
	}
	if (!link->closed && link_shutdown(link)) {
		// crosswayd answers SHUTDOWN by closing the link; reading until
		// then lets it finish what it was sending.
		for (int waited = 0; waited < 5000 && link_dispatch(link, 100) >= 0;
		     waited += 100) {
		}
	}
	int status = link_finish(link, 5000);
	if (opt->verbose || status != 0) {
		vmsim_log("%llu SENDs, %llu RECEIVEs, %.1f MiB of pixels copied; crosswayd exit "
			  "status %d",
			  (unsigned long long)app->sends, (unsigned long long)app->receives,
			  (double)app->bytes_copied / (1024.0 * 1024.0), status);
	}
	return app->status != 0 ? app->status : (status == 0 ? 0 : 1);
}
