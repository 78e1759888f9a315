/* _GNU_SOURCE: none needed; open_memstream is POSIX 2008. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "daemon/fd.h"
#include "tests/recorder/recorder_internal.h"

struct recorder_log_entry {
	struct recorder_record pub; // points at the fields below
	char *name;                 // owned
	char *text;                 // owned
	struct recorder_arg *args;  // owned
	int *fds;                   // owned array; each fd owned unless -1
	void *blob;                 // owned: copies of string and array arguments
};

/* Walks a wl_message signature: skips "since" digits, notes '?'. */
static const char *next_arg(const char *sig, char *type, bool *nullable) {
	*nullable = false;
	for (; *sig != '\0'; sig++) {
		if (*sig == '?') {
			*nullable = true;
		} else if (*sig < '0' || *sig > '9') {
			*type = *sig;
			return sig + 1;
		}
	}
	return NULL;
}

/*
 * Whether a record keeps a copy of @fd. Not for pipes and sockets: a copy
 * held here would keep their peer from ever seeing EOF or EPIPE (a clipboard
 * reader would wait forever).
 */
static bool fd_kept(int fd, uint32_t *mode) {
	struct stat st;
	if (fstat(fd, &st) != 0) {
		return false;
	}
	// Anonymous inodes (dma-buf, eventfd, sync_file) have no type bits: 0.
	uint32_t type = (uint32_t)(st.st_mode & S_IFMT);
	if (mode != NULL) {
		*mode = type;
	}
	return type != S_IFIFO && type != S_IFSOCK;
}

static void entry_close_fds(struct recorder_log *log, struct recorder_log_entry *e) {
	for (size_t i = 0; i < e->pub.fd_count; i++) {
		if (e->fds[i] >= 0) {
			fd_close(&e->fds[i]);
			log->fd_copies--;
		}
	}
	for (size_t i = 0; i < e->pub.arg_count; i++) {
		if (e->args[i].type == 'h') {
			e->args[i].fd = -1;
		}
	}
}

static void entry_destroy(struct recorder_log *log, struct recorder_log_entry *e) {
	if (e == NULL) {
		return;
	}
	entry_close_fds(log, e);
	free(e->name);
	free(e->text);
	free(e->args);
	free(e->fds);
	free(e->blob);
	free(e);
}

/* Closes the oldest fd copies until @incoming more fit under the limit. */
static void make_room_for_fds(struct recorder_log *log, size_t incoming) {
	if (log->len == 0) {
		return;
	}
	uint64_t first_seq = log->entries[log->head]->pub.seq;
	size_t i = log->fd_release_seq > first_seq ? (size_t)(log->fd_release_seq - first_seq) : 0;
	for (; i < log->len && log->fd_copies + incoming > log->max_fd_copies; i++) {
		struct recorder_log_entry *e = log->entries[log->head + i];
		entry_close_fds(log, e);
		log->fd_release_seq = e->pub.seq + 1;
	}
}

static void drop_oldest(struct recorder_log *log) {
	entry_destroy(log, log->entries[log->head]);
	log->entries[log->head] = NULL;
	log->head++;
	log->len--;
	log->dropped++;
}

static bool store(struct recorder_log *log, struct recorder_log_entry *e) {
	if (log->len >= log->max_records) {
		drop_oldest(log);
	}
	if (log->head + log->len == log->cap) {
		if (log->head > 0) {
			memmove(log->entries, log->entries + log->head,
				log->len * sizeof(log->entries[0]));
			log->head = 0;
		} else {
			size_t cap = log->cap ? log->cap * 2 : 256;
			struct recorder_log_entry **v = realloc(log->entries, cap * sizeof(*v));
			if (v == NULL) {
				return false;
			}
			log->entries = v;
			log->cap = cap;
		}
	}
	log->entries[log->head + log->len++] = e;
	return true;
}

/* Size of the copies of string and array arguments. */
static size_t blob_size(const char *sig, const union wl_argument *args, int count) {
	size_t size = 0;
	char type;
	bool nullable;
	for (int i = 0; i < count && (sig = next_arg(sig, &type, &nullable)) != NULL; i++) {
		if (type == 's' && args[i].s != NULL) {
			size += strlen(args[i].s) + 1;
		} else if (type == 'a' && args[i].a != NULL) {
			size += args[i].a->size;
		}
	}
	return size;
}

static void format_text(FILE *f, const struct recorder_log_entry *e, const union wl_argument *raw) {
	fprintf(f, "%s#%u.%s(", e->pub.interface, e->pub.object_id, e->pub.message);
	for (size_t i = 0; i < e->pub.arg_count; i++) {
		const struct recorder_arg *a = &e->args[i];
		fputs(i ? ", " : "", f);
		switch (a->type) {
		case 'i':
			fprintf(f, "%d", a->i);
			break;
		case 'u':
			fprintf(f, "%u", a->u);
			break;
		case 'f':
			fprintf(f, "%f", wl_fixed_to_double(a->f));
			break;
		case 's':
			if (a->s != NULL) {
				fprintf(f, "\"%s\"", a->s);
			} else {
				fputs("nil", f);
			}
			break;
		case 'o':
			if (a->id != 0) {
				fprintf(f, "%s#%u", a->interface ? a->interface : "[unknown]",
					a->id);
			} else {
				fputs("nil", f);
			}
			break;
		case 'n':
			fprintf(f, "new id %s#%u", a->interface ? a->interface : "[unknown]",
				a->id);
			break;
		case 'a':
			fprintf(f, "array[%zu]", a->a.size);
			break;
		case 'h':
			// The fd number the message carried, as WAYLAND_DEBUG shows it.
			fprintf(f, "fd %d", raw[i].h);
			break;
		default:
			fputs("?", f);
			break;
		}
	}
	fputs(")", f);
}

static struct recorder_log_entry *entry_create(struct recorder *rec,
					       enum wl_protocol_logger_type direction,
					       const struct wl_protocol_logger_message *m) {
	struct recorder_log *log = &rec->log;
	struct recorder_log_entry *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		return NULL;
	}
	struct wl_resource *resource = m->resource;
	const char *sig = m->message->signature;
	size_t count = m->arguments_count > 0 ? (size_t)m->arguments_count : 0;
	e->pub.direction = direction == WL_PROTOCOL_LOGGER_EVENT ? RECORDER_DIRECTION_EVENT
								 : RECORDER_DIRECTION_REQUEST;
	e->pub.client = recorder_client_index(rec, wl_resource_get_client(resource));
	e->pub.interface = wl_resource_get_class(resource);
	e->pub.object_id = wl_resource_get_id(resource);
	e->pub.version = (uint32_t)wl_resource_get_version(resource);
	e->pub.opcode = (uint32_t)m->message_opcode;
	e->pub.message = m->message->name;

	size_t blob_len = blob_size(sig, m->arguments, m->arguments_count);
	e->args = calloc(count ? count : 1, sizeof(*e->args));
	e->fds = calloc(count ? count : 1, sizeof(*e->fds));
	e->blob = malloc(blob_len ? blob_len : 1);
	if (e->args == NULL || e->fds == NULL || e->blob == NULL) {
		goto error_entry;
	}

	size_t kept = 0;
	char t;
	bool nl;
	const char *s = sig;
	for (size_t i = 0; i < count && (s = next_arg(s, &t, &nl)) != NULL; i++) {
		kept += t == 'h' && fd_kept(m->arguments[i].h, NULL);
	}
	make_room_for_fds(log, kept);

	char *blob = e->blob;
	const char *bind_interface = NULL; // wl_registry.bind-style "usun": the string names it
	char arg_type;
	for (size_t i = 0; i < count && (sig = next_arg(sig, &arg_type, &nl)) != NULL; i++) {
		const union wl_argument *in = &m->arguments[i];
		struct recorder_arg *a = &e->args[i];
		a->type = arg_type;
		switch (arg_type) {
		case 'i':
			a->i = in->i;
			break;
		case 'u':
			a->u = in->u;
			break;
		case 'f':
			a->f = in->f;
			break;
		case 's':
			a->s = NULL;
			if (in->s != NULL) {
				size_t n = strlen(in->s) + 1;
				memcpy(blob, in->s, n);
				a->s = blob;
				blob += n;
				bind_interface = a->s;
			}
			break;
		case 'o': {
			// Server-side objects are the wl_object at the start of a wl_resource.
			struct wl_resource *obj = (struct wl_resource *)in->o;
			a->id = obj ? wl_resource_get_id(obj) : 0;
			a->interface = obj ? wl_resource_get_class(obj) : NULL;
			break;
		}
		case 'n': {
			const struct wl_interface *iface = m->message->types[i];
			a->id = in->n;
			a->interface = iface ? iface->name : bind_interface;
			break;
		}
		case 'a':
			a->a.data = NULL;
			a->a.size = 0;
			if (in->a != NULL) {
				if (in->a->size > 0) { // an empty wl_array's data may be NULL
					memcpy(blob, in->a->data, in->a->size);
				}
				a->a.data = blob;
				a->a.size = in->a->size;
				blob += in->a->size;
			}
			break;
		case 'h':
			a->fd = fd_kept(in->h, &a->fd_mode) ? fd_dup(in->h) : -1;
			e->fds[e->pub.fd_count++] = a->fd;
			if (a->fd >= 0) {
				log->fd_copies++;
			}
			break;
		default:
			break;
		}
		e->pub.arg_count++;
	}
	e->pub.args = e->args;
	e->pub.fds = e->fds;

	size_t name_len = strlen(e->pub.interface) + 1 + strlen(e->pub.message) + 1;
	e->name = malloc(name_len);
	if (e->name == NULL) {
		goto error_entry;
	}
	snprintf(e->name, name_len, "%s.%s", e->pub.interface, e->pub.message);
	e->pub.name = e->name;

	size_t text_len = 0;
	FILE *f = open_memstream(&e->text, &text_len);
	if (f == NULL) {
		goto error_entry;
	}
	format_text(f, e, m->arguments);
	if (fclose(f) != 0) {
		goto error_entry;
	}
	e->pub.text = e->text;
	return e;

error_entry:
	entry_destroy(log, e);
	return NULL;
}

static void on_message(void *data, enum wl_protocol_logger_type type,
		       const struct wl_protocol_logger_message *message) {
	struct recorder *rec = data;
	struct recorder_log_entry *e = entry_create(rec, type, message);
	if (e == NULL) {
		return;
	}
	e->pub.seq = rec->log.next_seq;
	if (!store(&rec->log, e)) {
		entry_destroy(&rec->log, e);
		return;
	}
	rec->log.next_seq++;
	if (rec->options.record_func != NULL) {
		rec->options.record_func(rec->options.record_data, &e->pub);
	}
}

bool recorder_log_init(struct recorder *rec) {
	struct recorder_log *log = &rec->log;
	log->max_records = rec->options.max_records ? rec->options.max_records
						    : RECORDER_DEFAULT_MAX_RECORDS;
	log->max_fd_copies = rec->options.max_fd_copies ? rec->options.max_fd_copies
							: RECORDER_DEFAULT_MAX_FD_COPIES;
	log->logger = wl_display_add_protocol_logger(rec->display, on_message, rec);
	return log->logger != NULL;
}

void recorder_log_finish(struct recorder *rec) {
	struct recorder_log *log = &rec->log;
	if (log->logger != NULL) {
		wl_protocol_logger_destroy(log->logger);
		log->logger = NULL;
	}
	recorder_clear(rec);
	free(log->entries);
	log->entries = NULL;
	log->cap = 0;
}

size_t recorder_record_count(const struct recorder *rec) {
	return rec->log.len;
}

const struct recorder_record *recorder_record_get(const struct recorder *rec, size_t index) {
	if (index >= rec->log.len) {
		return NULL;
	}
	return &rec->log.entries[rec->log.head + index]->pub;
}

uint64_t recorder_dropped(const struct recorder *rec) {
	return rec->log.dropped;
}

static bool matches(const struct recorder_log_entry *e, const char *name) {
	return name == NULL || strcmp(e->name, name) == 0;
}

size_t recorder_count(const struct recorder *rec, const char *name) {
	size_t n = 0;
	for (size_t i = 0; i < rec->log.len; i++) {
		n += matches(rec->log.entries[rec->log.head + i], name);
	}
	return n;
}

const struct recorder_record *recorder_find(const struct recorder *rec, const char *name,
					    size_t nth) {
	for (size_t i = 0; i < rec->log.len; i++) {
		const struct recorder_log_entry *e = rec->log.entries[rec->log.head + i];
		if (matches(e, name) && nth-- == 0) {
			return &e->pub;
		}
	}
	return NULL;
}

const struct recorder_record *recorder_last(const struct recorder *rec, const char *name) {
	for (size_t i = rec->log.len; i > 0; i--) {
		const struct recorder_log_entry *e = rec->log.entries[rec->log.head + i - 1];
		if (matches(e, name)) {
			return &e->pub;
		}
	}
	return NULL;
}

void recorder_clear(struct recorder *rec) {
	struct recorder_log *log = &rec->log;
	for (size_t i = 0; i < log->len; i++) {
		entry_destroy(log, log->entries[log->head + i]);
		log->entries[log->head + i] = NULL;
	}
	log->head = 0;
	log->len = 0;
	log->fd_release_seq = log->next_seq;
}
