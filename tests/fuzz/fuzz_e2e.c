/*
 * End-to-end fuzz target: one whole context in this process. The real
 * context code (daemon/context.c, created with context_create on an event
 * loop this harness dispatches) talks to a fake VMM and guest over a
 * SOCK_SEQPACKET socketpair (the backend link) and to the recording
 * compositor (tests/recorder, libwayland-server) over a SOCK_STREAM
 * socketpair. Each step the harness dispatches the daemon's loop, the
 * recorder and the link until nothing moves.
 *
 * Input: [config] then actions. config bits:
 *     0-1  INIT form: 0 20 bytes, 1 36, 2 24, 3 16 (one shared ring, 4-slot
 *          identifier tables)
 *     2    no prologue: no HELLO, rings or INIT (raw packets may send them)
 *     3    the Wayland session: registry, sync, binds, a surface, seat
 *          devices, a data device (a valid guest's start)
 *     4    HELLO asks for a probe (the context answers and ends)
 *     5-6  clipboard policy: guest-to-host, both, deny, both
 *     7    primary selection allowed
 * The policy is the built-in default with small limits (64 items, 4 pipes,
 * 16 and 64 KiB queues, 1 MiB of blobs ...), and crosswayd's socket to the
 * compositor has a 16 KiB buffer, so that inputs can reach them.
 * Actions: byte a; a & 15 picks:
 *     0  a guest request: [sender] [opcode] [args...], appended to the
 *        pending SEND; sent at once unless bit 7
 *     1  send the pending SEND (bytes and identifiers), even empty
 *     2  raw guest Wayland bytes: [len/4] [bytes], appended
 *     3  a shm blob through the cross-domain commands: [shape] [page]:
 *        GET_IMAGE_REQUIREMENTS (R8 x 0/192/10000/65536, or an XRGB8888
 *        image), CREATE_BLOB of the size rounded to a 4/16/64 KiB page or
 *        not, ATTACH
 *     4  a resource made by the VMM: ATTACH HOST_FD with [kind] (see make_fd)
 *     5  polls: [count]: 1..4 POLL + channel-ring FENCE
 *     6  a compositor event through libwayland: [object] [opcode] [args...]
 *        (objects and object arguments picked as for the guest: by id, else
 *        the (sel % n)-th; events that create objects are skipped)
 *     7  the compositor: [what] [mime]: what & 7: 0 offers a host selection
 *        (of 0, 5, 4096 or 70000 bytes: what >> 4), 1 asks for the client
 *        selection (the harness keeps the pipe's read end), 2 clears its
 *        records, 3 stops or resumes reading (backpressure), 4 drops the
 *        client, 5 reads (what >> 4) + 1 times 4 KiB from those pipes
 *     8  WRITE: [pipe] [len] [bytes] [hang up]
 *     9  a raw SUBMIT: [len/4] [bytes]
 *    10  a raw link packet: [len/8] [bytes] [fd kind]
 *    11  DETACH / UNREF / re-ATTACH a resource: [resource] [op]
 *    12  a FENCE on ring [ring]
 *    13  raw compositor bytes: [len/4] [bytes] [nfds] [kinds...]
 *    14  CREATE_BLOB for a blob identifier the guest received: [which] [page]
 *    15  the end: [how]: SHUTDOWN, or the VMM closes the link
 * Arguments of guest requests and compositor events use fuzz_args.h; a
 * request's fd argument names an identifier: [kind]: kind & 3: 0 one of
 * our blob resources, 1 a new read pipe, 2 a raw id and type, 3 a VMM
 * resource. wl_registry.bind takes [global] [version] (a global the guest
 * saw; version 0: the advertised one). A uint named "serial" takes [b]:
 * b < 0x10 the b-th newest serial of an event, else an integer.
 *
 * The checks (besides the sanitizers):
 *  - every link packet crosswayd sends decodes (backend_link_decode) and
 *    carries the fds it should; HELLO_REPLY comes first; RING_WRITEs land
 *    inside an INIT ring; a channel-ring record is only written for an
 *    outstanding poll fence, at most one per fence, and decodes as a guest
 *    decodes it (cross_domain_decode_record); FENCE_DONE names a fence
 *    that was sent and not yet completed; BLOB_REPLY answers a CREATE_BLOB,
 *    with one memory fd of the reply's size on success; at most one ERROR,
 *    with a reason;
 *  - what reaches the guest frames as Wayland messages, with identifiers
 *    of the kinds crosswayd hands out (blobs and write pipes);
 *  - after the input, with the context destroyed and the compositor's
 *    client gone, the process has exactly the fds it had before (the
 *    recorder's copies of the last dmabuf's planes, which it keeps until
 *    the next one, aside); the open fds are listed if not;
 *  - the inputs leave as many mallocs as frees, so that libFuzzer's leak
 *    detection stays on (it gives up after a thousand suspects).
 * Each input gets a fresh context and compositor client; the recorder and
 * the daemon's event loop live for the process (a recorder that was given
 * a host selection is replaced after the input). The recorder makes no
 * records unless CROSSWAY_FUZZ_VERBOSE is set.
 *
 * Known crosswayd bug, worked around until fixed: the link closing before
 * HELLO crashes the daemon (see A_END in act()).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "daemon/config.h"
#include "daemon/context.h"
#include "daemon/image.h"
#include "daemon/log.h"
#include "proto_tables.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_args.h"
#include "tests/fuzz/fuzz_fds.h"
#include "tests/recorder/recorder.h"
#include "tests/recorder/recorder_internal.h"
#include "wire/backend_link.h"
#include "wire/cross_domain.h"
#include "wire/limits.h"
#include "wire/wayland_msg.h"

#define MAX_ACTIONS 128  // per input
#define SETTLE_ROUNDS 64 // dispatch rounds before the harness moves on
#define RING_SIZE 4096u
#define QUERY_RING 1u
#define CHANNEL_RING 2u
#define FIRST_RESOURCE 16u
#define CAP 256u // guest object ids 1..CAP-1 and 0xff000000..
#define MAX_RESOURCES 32
#define MAX_PIPES 16
#define MAX_BLOBS 16
#define MAX_GLOBALS 64
#define MAX_FENCES 1024 // sent and not yet done (or never: after the end)
#define MAX_CREATES 64
#define MAX_MEMORY 64
#define VM "fz"

enum action {
	A_REQUEST = 0,
	A_FLUSH,
	A_RAW_WAYLAND,
	A_SHM_BLOB,
	A_HOST_FD,
	A_POLL,
	A_EVENT,
	A_HOST,
	A_WRITE,
	A_RAW_SUBMIT,
	A_RAW_PACKET,
	A_RESOURCE,
	A_FENCE,
	A_RAW_EVENT,
	A_IMPORT,
	A_END,
};

enum gstate { G_FREE = 0, G_LIVE, G_ZOMBIE };

struct gobj {
	const struct proto_interface *iface;
	uint32_t version;
	uint8_t state;
};

struct global {
	uint32_t name, version;
	const struct proto_interface *iface;
};

/* A resource the guest can name in a SEND. */
struct resource {
	uint32_t id;
	uint64_t size;
	bool host_fd; // made by the VMM (ATTACH HOST_FD), else a blob crosswayd made
};

struct fence {
	uint64_t id;
	uint32_t ring;
};

struct harness {
	// The link, as the VMM sees it.
	int link;     // our end (SEQPACKET)
	int comp_raw; // a copy of the compositor's end of the Wayland socket
	uint32_t serial;
	uint64_t next_fence;
	uint8_t query[RING_SIZE], channel[RING_SIZE];
	uint32_t layout; // identifier slots the guest uses: 28, or 4
	// What crosswayd was told, from every packet sent (raw ones too): the
	// rings of the first INIT, guest memory sizes, the latched layout.
	uint32_t query_id, channel_id; // 0 until an INIT
	uint32_t record_layout;        // slots in RECEIVE records
	bool layout_latched;           // by the first SEND
	struct {
		uint32_t id;
		uint64_t size;
	} memory[MAX_MEMORY]; // ATTACH GUEST_MEMORY, by resource id
	unsigned memory_count;
	bool hello_reply;
	bool error;                      // an ERROR came: the context ended
	bool ended;                      // the harness ended the context (SHUTDOWN, link closed)
	struct fence fences[MAX_FENCES]; // sent, not yet done
	unsigned fence_count;
	bool untracked; // more fences, CREATE_BLOBs or ATTACHes than the tables hold were sent
	unsigned channel_records; // channel RING_WRITEs since the last channel FENCE_DONE
	struct {
		uint32_t serial;
		uint64_t size;
	} creates[MAX_CREATES]; // CREATE_BLOBs sent, not yet answered
	unsigned create_count;
	uint32_t image_serial; // a CREATE_BLOB of an image crosswayd laid out (0: none)
	int blob_status;       // the reply to the harness's own CREATE_BLOB: 1 none yet,
			       // 0 success, < 0 failed
	bool have_requirements;
	struct cross_domain_image_requirements req;

	// The guest's side of its identifiers.
	struct resource res[MAX_RESOURCES];
	unsigned res_count;
	uint32_t next_resource;
	uint32_t next_read_pipe;
	uint32_t write_pipes[MAX_PIPES]; // WRITE_PIPE identifiers received
	unsigned write_pipe_count;
	struct {
		uint32_t id, size;
	} blobs[MAX_BLOBS]; // VIRTGPU_BLOB identifiers received
	unsigned blob_count;

	// The pending SEND.
	uint8_t send[CROSS_DOMAIN_MAX_SEND_RECV_SIZE];
	size_t send_len;
	uint32_t ids[CROSS_DOMAIN_MAX_IDENTIFIERS], types[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t id_count;

	// The guest's Wayland client: its objects, as it sent and received them.
	struct gobj client[CAP], server[CAP];
	uint32_t next_client;
	struct global globals[MAX_GLOBALS];
	unsigned global_count;
	uint32_t serials[8]; // the last serials events carried, newest at [serial_count - 1 & 7]
	unsigned serial_count;
	uint8_t events[2 * WAYLAND_MSG_DEFAULT_MAX_SIZE]; // event bytes, partial message
	size_t events_len;

	// Host side.
	int selection_fds[4]; // read ends from recorder_receive_selection
	unsigned selection_count;
	bool recorder_dirty; // state that outlives the client: re-create the recorder
	bool comp_stalled;   // the compositor is not dispatched (backpressure)
};

static struct harness harness;
static struct config config; // the policy file: built-in defaults, small limits
static struct recorder *rec;
static struct wl_event_loop *loop;
static struct image_allocator alloc;
static char runtime_dir[64];

/* ---------------------------------------------------------------------- */
/* fds                                                                    */

/* Kinds: bits 0-2: memfds of 0, 192, 10000, 65536, 4096 bytes (bit 3:
 * sealed against shrinking), 5 a pipe's read end, 6 its write end, 7 a
 * socket; bit 4: /dev/null instead. */
static int make_fd(uint32_t kind) {
	static const uint32_t sizes[] = {0, 192, 10000, 65536, 4096};
	uint32_t base = kind & 7;
	if (kind & 16) {
		int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		fuzz_check(fd >= 0, "open /dev/null");
		return fd;
	}
	if (base == 5 || base == 6) {
		int p[2];
		fuzz_check(pipe2(p, O_CLOEXEC) == 0, "pipe");
		close(p[base == 5 ? 1 : 0]);
		return p[base == 5 ? 0 : 1];
	}
	if (base == 7) {
		int s[2];
		fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0,
			   "socketpair");
		close(s[1]);
		return s[0];
	}
	bool seal = kind & 8;
	int fd = memfd_create("fuzz-e2e", MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));
	fuzz_check(fd >= 0, "memfd_create");
	fuzz_check(ftruncate(fd, sizes[base]) == 0, "ftruncate");
	if (seal) {
		fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
	}
	return fd;
}

/* ---------------------------------------------------------------------- */
/* The link: sending                                                      */

static uint8_t pkt[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE];

static void settle(struct harness *h);
static void observe(struct harness *h, const uint8_t *p, size_t len, size_t nfds);

/* Sends one packet (with @fd, taken; -1 for none). A full socket (the
 * context stopped reading: backpressure) gets one settle and one retry,
 * then the packet is dropped, as a VMM would wait. */
static bool link_send(struct harness *h, const void *p, size_t len, int fd) {
	if (h->link < 0 || len == 0) {
		if (fd >= 0) {
			close(fd);
		}
		return false;
	}
	struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	if (fd >= 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n = -1;
	for (int attempt = 0; attempt < 2 && n < 0; attempt++) {
		n = sendmsg(h->link, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN && attempt == 0) {
			settle(h);
		}
	}
	if (fd >= 0) {
		close(fd); // the kernel holds a copy in flight
	}
	if (n >= 0) {
		observe(h, p, len, fd >= 0 ? 1 : 0);
	}
	if (n < 0) {
		fuzz_check(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET,
			   "sendmsg on the link: %s", strerror(errno));
		fuzz_note("link: packet dropped (%s)", strerror(errno));
		return false;
	}
	return true;
}

static void send_attach(struct harness *h, uint32_t id, uint32_t kind, uint64_t size, int fd) {
	size_t n = backend_link_encode_attach(
		pkt, sizeof(pkt), ++h->serial, id, kind, size,
		kind == CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY ? CROSSWAY_BACKEND_BLOB_MEM_GUEST
							     : CROSSWAY_BACKEND_BLOB_MEM_HOST3D,
		kind == CROSSWAY_BACKEND_ATTACH_HOST_FD ? CROSSWAY_BACKEND_HANDLE_SHM : 0, 0);
	link_send(h, pkt, n, fd);
}

static void send_resource(struct harness *h, uint32_t type, uint32_t id) {
	link_send(h, pkt, backend_link_encode_resource(pkt, sizeof(pkt), type, ++h->serial, id),
		  -1);
}

static void send_submit(struct harness *h, const void *cmds, size_t len) {
	size_t n = len <= CROSSWAY_BACKEND_MAX_SUBMIT_LENGTH
			   ? backend_link_encode_submit(pkt, sizeof(pkt), ++h->serial, cmds,
							(uint32_t)len)
			   : 0;
	link_send(h, pkt, n, -1);
}

static void send_fence(struct harness *h, uint32_t ring) {
	uint64_t id = h->next_fence++;
	link_send(h, pkt, backend_link_encode_fence(pkt, sizeof(pkt), ++h->serial, id, ring), -1);
}

/* ---------------------------------------------------------------------- */
/* The link: receiving and checking                                       */

static void guest_events(struct harness *h, const uint8_t *p, size_t len);

/* What crosswayd should now know from a packet the harness sent. */
static void observe(struct harness *h, const uint8_t *p, size_t len, size_t nfds) {
	struct backend_msg m;
	if (!backend_link_decode(p, len, nfds, CROSSWAY_BACKEND_MAX_MESSAGE_SIZE,
				 BACKEND_LINK_TO_CROSSWAYD, &m, NULL)) {
		return; // crosswayd ends the context
	}
	switch (m.hdr.type) {
	case CROSSWAY_BACKEND_ATTACH:
		if (m.attach.kind == CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY) {
			unsigned i = 0;
			while (i < h->memory_count && h->memory[i].id != m.attach.resource_id) {
				i++;
			}
			if (i == MAX_MEMORY) {
				h->untracked = true;
				return;
			}
			h->memory_count += i == h->memory_count;
			h->memory[i].id = m.attach.resource_id;
			h->memory[i].size = m.attach.size;
		}
		return;
	case CROSSWAY_BACKEND_FENCE:
		if (h->fence_count == MAX_FENCES) {
			h->untracked = true;
			return;
		}
		h->fences[h->fence_count++] = (struct fence){m.fence.fence_id, m.fence.ring_idx};
		return;
	case CROSSWAY_BACKEND_CREATE_BLOB:
		if (h->create_count == MAX_CREATES) {
			h->untracked = true;
			return;
		}
		h->creates[h->create_count].serial = m.hdr.serial;
		h->creates[h->create_count++].size = m.create_blob.size;
		return;
	case CROSSWAY_BACKEND_SUBMIT:
		break;
	default:
		return;
	}
	struct cross_domain_reader r = cross_domain_reader_init(m.payload, m.payload_size);
	struct cross_domain_cmd cmd;
	while (cross_domain_next(&r, &cmd, NULL) == CROSS_DOMAIN_OK) {
		if (cmd.cmd == CROSS_DOMAIN_CMD_INIT && h->query_id == 0) {
			h->query_id = cmd.init.query_ring_id;
			h->channel_id = cmd.init.channel_ring_id;
			if (!h->layout_latched) {
				h->record_layout = cmd.cmd_size == CROSS_DOMAIN_INIT_LEGACY_SIZE
							   ? CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY
							   : CROSS_DOMAIN_MAX_IDENTIFIERS;
			}
		} else if (cmd.cmd == CROSS_DOMAIN_CMD_SEND && !h->layout_latched) {
			h->record_layout = cmd.send.layout;
			h->layout_latched = true;
		}
	}
}

/* The ring memory of resource @id, and the bytes it was attached with. */
static uint8_t *ring_for(struct harness *h, uint32_t id, uint64_t *size) {
	uint8_t *mem = NULL;
	if (id != 0 && id == h->query_id) {
		mem = h->query;
	} else if (id != 0 && id == h->channel_id) {
		mem = h->channel;
	}
	*size = h->untracked ? RING_SIZE : 0;
	for (unsigned i = 0; i < h->memory_count; i++) {
		if (h->memory[i].id == id) {
			*size = h->memory[i].size < RING_SIZE ? h->memory[i].size : RING_SIZE;
		}
	}
	return mem;
}

static void remember_blob(struct harness *h, uint32_t id, uint32_t size) {
	if (h->blob_count < MAX_BLOBS) {
		h->blobs[h->blob_count].id = id;
		h->blobs[h->blob_count++].size = size;
	}
}

/* A channel record, as the guest proxy reads it at FENCE_DONE. */
static void channel_record(struct harness *h) {
	uint64_t size;
	const uint8_t *ring = ring_for(h, h->channel_id, &size);
	struct cross_domain_record r;
	struct wire_error err = {{0}};
	bool ok = ring != NULL &&
		  cross_domain_decode_record(ring, size, h->record_layout, &r, &err);
	if (h->query_id == h->channel_id && !ok) {
		return; // one shared ring: the last write may have been a query reply
	}
	fuzz_check(ok, "the channel record does not decode: %s", err.text);
	if (r.cmd == CROSS_DOMAIN_CMD_READ) {
		fuzz_note("record: READ %" PRIu32 ", %" PRIu32 " bytes%s", r.identifier,
			  r.data_size, r.hang_up ? ", hang up" : "");
		return;
	}
	fuzz_note("record: RECEIVE %" PRIu32 " bytes, %" PRIu32 " identifiers", r.data_size,
		  r.num_identifiers);
	for (uint32_t i = 0; i < r.num_identifiers; i++) {
		uint32_t type = r.identifier_types[i];
		fuzz_check(type == CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB ||
				   type == CROSS_DOMAIN_ID_TYPE_WRITE_PIPE,
			   "an identifier of type %" PRIu32 " reached the guest", type);
		if (type == CROSS_DOMAIN_ID_TYPE_WRITE_PIPE) {
			if (h->write_pipe_count < MAX_PIPES) {
				h->write_pipes[h->write_pipe_count++] = r.identifiers[i];
			}
		} else {
			remember_blob(h, r.identifiers[i], r.identifier_sizes[i]);
		}
	}
	guest_events(h, r.data, r.data_size);
}

static void fence_done(struct harness *h, const struct crossway_backend_fence_done *d) {
	unsigned i = 0;
	while (i < h->fence_count && h->fences[i].id != d->fence_id) {
		i++;
	}
	if (i == h->fence_count && h->untracked) {
		return;
	}
	fuzz_check(i < h->fence_count, "FENCE_DONE for fence %" PRIu64 ", never sent or done",
		   d->fence_id);
	fuzz_check(h->fences[i].ring == d->ring_idx, "FENCE_DONE of fence %" PRIu64 " on ring %u",
		   d->fence_id, d->ring_idx);
	h->fence_count--;
	memmove(&h->fences[i], &h->fences[i + 1], (h->fence_count - i) * sizeof(h->fences[0]));
	if (d->ring_idx != CROSSWAY_BACKEND_RING_CHANNEL) {
		for (unsigned k = 0; k < i; k++) {
			fuzz_check(h->fences[k].ring == CROSSWAY_BACKEND_RING_CHANNEL,
				   "fence %" PRIu64 " done before the earlier %" PRIu64,
				   d->fence_id, h->fences[k].id);
		}
		if (d->ring_idx == CROSSWAY_BACKEND_RING_QUERY && h->query_id != 0) {
			h->have_requirements = cross_domain_decode_image_requirements(
				h->query, RING_SIZE, &h->req);
		}
		return;
	}
	bool shared = h->query_id == h->channel_id;
	fuzz_check(shared || h->channel_records <= 1, "%u records for one poll fence",
		   h->channel_records);
	if (h->channel_records > 0) {
		channel_record(h);
	}
	h->channel_records = 0;
}

static void blob_reply(struct harness *h, const struct backend_msg *m, int fd) {
	const struct crossway_backend_blob_reply *b = &m->blob_reply;
	unsigned i = 0;
	while (i < h->create_count && h->creates[i].serial != b->hdr.serial) {
		i++;
	}
	if (i == h->create_count && h->untracked) {
		if (fd >= 0) {
			close(fd);
		}
		return;
	}
	fuzz_check(i < h->create_count, "BLOB_REPLY %" PRIu32 " answers no CREATE_BLOB",
		   b->hdr.serial);
	uint64_t size = h->creates[i].size;
	h->creates[i] = h->creates[--h->create_count];
	bool image = b->hdr.serial == h->image_serial;
	h->blob_status = b->status;
	fuzz_check((b->status == 0) == (fd >= 0), "BLOB_REPLY status %d with %s fd", b->status,
		   fd >= 0 ? "an" : "no");
	if (fd >= 0) {
		struct stat st;
		fuzz_check(fstat(fd, &st) == 0 && S_ISREG(st.st_mode),
			   "BLOB_REPLY fd is no memory");
		fuzz_check(b->size == size, "BLOB_REPLY of %" PRIu64 " bytes, asked %" PRIu64,
			   b->size, size);
		// An image is backed in full; a received blob keeps its fd's size,
		// which the guest's page rounding may exceed.
		fuzz_check(!image || (uint64_t)st.st_size >= size,
			   "BLOB_REPLY fd of %jd bytes for an image blob of %" PRIu64,
			   (intmax_t)st.st_size, size);
		close(fd); // the VMM would map it into the guest
	}
}

/* Reads and checks every packet crosswayd has sent. Returns how many. */
static int link_read(struct harness *h) {
	static uint8_t buf[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE + 8];
	int count = 0;
	while (h->link >= 0) {
		union {
			struct cmsghdr hdr;
			char b[CMSG_SPACE(sizeof(int) * 4)];
		} control;
		struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control.b,
				    .msg_controllen = sizeof(control.b)};
		ssize_t n = recvmsg(h->link, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			fuzz_check(errno == EAGAIN || errno == ECONNRESET, "recvmsg: %s",
				   strerror(errno));
			break;
		}
		int fds[4], nfds = 0;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				for (size_t i = 0; i < k && nfds < 4; i++) {
					memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int),
					       sizeof(int));
				}
			}
		}
		if (n == 0) {
			fuzz_check(nfds == 0, "fds on an empty packet");
			break; // (only when crosswayd closed its end)
		}
		count++;
		struct backend_msg m;
		struct wire_error err = {{0}};
		fuzz_check(!(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)), "a truncated packet");
		fuzz_check(backend_link_decode(buf, (size_t)n, (size_t)nfds,
					       CROSSWAY_BACKEND_MAX_MESSAGE_SIZE,
					       BACKEND_LINK_TO_BACKEND, &m, &err),
			   "crosswayd sent a bad packet: %s", err.text);
		fuzz_check(!h->error, "%s after ERROR", backend_link_type_name(m.hdr.type));
		fuzz_check(h->hello_reply || m.hdr.type == CROSSWAY_BACKEND_HELLO_REPLY ||
				   m.hdr.type == CROSSWAY_BACKEND_ERROR,
			   "%s before HELLO_REPLY", backend_link_type_name(m.hdr.type));
		int fd = nfds > 0 ? fds[0] : -1;
		switch (m.hdr.type) {
		case CROSSWAY_BACKEND_HELLO_REPLY:
			fuzz_check(!h->hello_reply, "a second HELLO_REPLY");
			h->hello_reply = true;
			break;
		case CROSSWAY_BACKEND_RING_WRITE: {
			uint64_t ring_size;
			uint32_t id = m.ring_write.resource_id;
			uint8_t *mem = ring_for(h, id, &ring_size);
			fuzz_check(mem != NULL, "RING_WRITE to resource %" PRIu32 ", not a ring",
				   id);
			fuzz_check((uint64_t)m.ring_write.offset + m.ring_write.length <= ring_size,
				   "RING_WRITE of %" PRIu32 " bytes at %" PRIu32
				   " past ring %" PRIu32 " (%" PRIu64 " bytes)",
				   m.ring_write.length, m.ring_write.offset, id, ring_size);
			memcpy(mem + m.ring_write.offset, m.payload, m.ring_write.length);
			if (id == h->channel_id) {
				bool polled = false;
				for (unsigned i = 0; i < h->fence_count; i++) {
					polled |= h->fences[i].ring ==
						  CROSSWAY_BACKEND_RING_CHANNEL;
				}
				// (One shared ring also takes query replies.)
				fuzz_check(polled || id == h->query_id,
					   "a channel record without a poll fence");
				h->channel_records++;
			}
			break;
		}
		case CROSSWAY_BACKEND_FENCE_DONE:
			fence_done(h, &m.fence_done);
			break;
		case CROSSWAY_BACKEND_BLOB_REPLY:
			blob_reply(h, &m, fd);
			fd = -1;
			break;
		case CROSSWAY_BACKEND_ERROR:
			fuzz_check(m.payload_size > 1, "ERROR without a reason");
			fuzz_note("ERROR %d: %s", m.error.code, (const char *)m.payload);
			h->error = true;
			break;
		default:
			fuzz_fail(__FILE__, __LINE__, "type", "type %u to the backend", m.hdr.type);
		}
		for (int i = fd >= 0 ? 0 : 1; i < nfds; i++) {
			close(fds[i]);
		}
	}
	return count;
}

/* ---------------------------------------------------------------------- */
/* Dispatching                                                            */

/* Runs the daemon's loop, the recorder and the link until nothing moves
 * (or SETTLE_ROUNDS rounds). */
static void settle(struct harness *h) {
	static int depth;
	if (depth > 0) {
		return; // (a send inside a settle found the socket full)
	}
	depth++;
	for (int round = 0; round < SETTLE_ROUNDS; round++) {
		// (A stalled compositor is left out: it reads nothing.)
		struct pollfd p[3] = {
			{.fd = wl_event_loop_get_fd(loop), .events = POLLIN},
			{.fd = h->comp_stalled ? -1 : recorder_get_fd(rec), .events = POLLIN},
			{.fd = h->link, .events = POLLIN},
		};
		wl_event_loop_dispatch_idle(loop);
		if (poll(p, 3, 0) <= 0) {
			break;
		}
		if (p[0].revents) {
			wl_event_loop_dispatch(loop, 0);
		}
		if (p[1].revents) {
			recorder_dispatch(rec, 0);
		}
		if (h->link >= 0 && p[2].revents) {
			link_read(h);
		}
	}
	depth--;
}

/* ---------------------------------------------------------------------- */
/* The guest's Wayland client                                             */

static struct gobj *gget(struct harness *h, uint32_t id) {
	if (id > 0 && id < CAP) {
		return &h->client[id];
	}
	if (id >= WAYLAND_SERVER_ID_START && id - WAYLAND_SERVER_ID_START < CAP) {
		return &h->server[id - WAYLAND_SERVER_ID_START];
	}
	return NULL;
}

static uint32_t new_client_id(struct harness *h) {
	for (uint32_t i = 2; i < h->next_client && i < CAP; i++) {
		if (h->client[i].state == G_FREE) {
			return i;
		}
	}
	return h->next_client;
}

/* Picks a live object by selector: id @sel (< 0x80) or server id
 * 0xff000000 + sel - 0x80 when live and of @iface (NULL: any), else the
 * (sel % n)-th such object; 0 when there is none. */
static uint32_t pick(struct harness *h, uint32_t sel, const struct proto_interface *iface) {
	uint32_t direct = sel < 0x80 ? sel : WAYLAND_SERVER_ID_START + sel - 0x80;
	struct gobj *o = gget(h, direct);
	if (o != NULL && o->state == G_LIVE && (iface == NULL || o->iface == iface)) {
		return direct;
	}
	uint32_t ids[2 * CAP];
	unsigned n = 0;
	uint32_t end = h->next_client < CAP ? h->next_client : CAP;
	for (uint32_t i = 1; i < end; i++) {
		if (h->client[i].state == G_LIVE &&
		    (iface == NULL || h->client[i].iface == iface)) {
			ids[n++] = i;
		}
	}
	for (uint32_t i = 0; i < CAP; i++) {
		if (h->server[i].state == G_LIVE &&
		    (iface == NULL || h->server[i].iface == iface)) {
			ids[n++] = WAYLAND_SERVER_ID_START + i;
		}
	}
	return n ? ids[sel % n] : 0;
}

static void add_global(struct harness *h, uint32_t name, const char *iface, uint32_t version) {
	const struct proto_interface *pi = proto_find_interface(iface);
	if (pi != NULL && h->global_count < MAX_GLOBALS) {
		h->globals[h->global_count++] = (struct global){name, version, pi};
	}
}

/* Events as the guest reads them: framing is checked, and the client's
 * object map follows what it can decode (a message it cannot place is
 * skipped: raw bytes may have made objects it does not know). */
static void guest_events(struct harness *h, const uint8_t *p, size_t len) {
	fuzz_check(h->events_len + len <= sizeof(h->events), "%zu event bytes without a message",
		   h->events_len + len);
	memcpy(h->events + h->events_len, p, len);
	h->events_len += len;
	size_t pos = 0;
	for (;;) {
		struct wayland_msg_header hdr;
		struct wire_error err = {{0}};
		enum wayland_msg_result r = wayland_msg_header_parse(
			h->events + pos, h->events_len - pos, WAYLAND_MSG_DEFAULT_MAX_SIZE, &hdr,
			&err);
		fuzz_check(r != WAYLAND_MSG_INVALID, "the guest got a bad event header: %s",
			   err.text);
		if (r == WAYLAND_MSG_INCOMPLETE || hdr.size > h->events_len - pos) {
			break;
		}
		const uint8_t *msg = h->events + pos;
		pos += hdr.size;
		struct gobj *s = gget(h, hdr.object_id);
		if (s == NULL || s->state == G_FREE || hdr.opcode >= s->iface->event_count) {
			continue;
		}
		const struct proto_message *pm = &s->iface->events[hdr.opcode];
		struct wayland_args args;
		if (!wayland_msg_decode(msg, &hdr, s->iface, pm, &args, &err)) {
			continue;
		}
		if (fuzz_verbose()) {
			char text[256];
			wayland_msg_format(text, sizeof(text), msg, hdr.object_id, s->iface, pm,
					   &args);
			fuzz_note(" <- %s", text);
		}
		for (unsigned i = 0; i < pm->arg_count; i++) {
			struct gobj *o = gget(h, args.value[i]);
			if (pm->args[i].type == PROTO_ARG_NEW_ID && o != NULL) {
				*o = (struct gobj){pm->args[i].interface, s->version, G_LIVE};
			}
			if (pm->args[i].type == PROTO_ARG_UINT &&
			    strcmp(pm->args[i].name, "serial") == 0) {
				h->serials[h->serial_count++ & 7] = args.value[i];
			}
		}
		if (s->iface == &proto_wl_registry && hdr.opcode == PROTO_WL_REGISTRY_EVT_GLOBAL) {
			add_global(h, args.value[0], wayland_args_string(msg, &args, 1),
				   args.value[2]);
		} else if (s->iface == &proto_wl_display &&
			   hdr.opcode == PROTO_WL_DISPLAY_EVT_DELETE_ID) {
			struct gobj *o = gget(h, args.value[0]);
			if (o != NULL && args.value[0] != 1) {
				o->state = G_FREE;
			}
		} else if (pm->destructor) {
			s->state = G_ZOMBIE;
		}
	}
	memmove(h->events, h->events + pos, h->events_len - pos);
	h->events_len -= pos;
}

/* Sends the pending SEND as one SUBMIT. */
static void flush_send(struct harness *h) {
	static uint8_t cmd[CROSSWAY_BACKEND_MAX_SUBMIT_LENGTH];
	uint32_t sizes[CROSS_DOMAIN_MAX_IDENTIFIERS] = {0};
	size_t n = cross_domain_encode_send(cmd, sizeof(cmd), h->layout, h->id_count, h->ids,
					    h->types, sizes, h->send, (uint32_t)h->send_len);
	fuzz_note("SEND %zu bytes, %u identifiers", h->send_len, h->id_count);
	h->send_len = 0;
	h->id_count = 0;
	if (n > 0) {
		send_submit(h, cmd, n);
	}
}

static void append(struct harness *h, const uint8_t *p, size_t len) {
	if (h->send_len + len > sizeof(h->send)) {
		flush_send(h);
	}
	len = len < sizeof(h->send) ? len : sizeof(h->send);
	memcpy(h->send + h->send_len, p, len);
	h->send_len += len;
}

static void add_identifier(struct harness *h, uint32_t id, uint32_t type) {
	if (h->id_count == h->layout) {
		flush_send(h);
	}
	h->ids[h->id_count] = id;
	h->types[h->id_count++] = type;
}

/* An fd argument of a request: an identifier, per [kind]. */
static void take_identifier(struct harness *h, struct fuzz_input *in) {
	uint32_t kind = take8(in);
	if ((kind & 3) == 2) {
		uint32_t id = take32(in);
		add_identifier(h, id, (kind >> 2) % 5);
		return;
	}
	if ((kind & 3) != 1) {
		bool want_host = (kind & 3) == 3;
		unsigned n = 0;
		for (unsigned i = 0; i < h->res_count; i++) {
			n += h->res[i].host_fd == want_host;
		}
		unsigned target = n > 0 ? (kind >> 2) % n : 0;
		for (unsigned i = 0; i < h->res_count; i++) {
			if (h->res[i].host_fd == want_host && target-- == 0) {
				add_identifier(h, h->res[i].id, CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB);
				return;
			}
		}
	}
	add_identifier(h, h->next_read_pipe++, CROSS_DOMAIN_ID_TYPE_READ_PIPE);
}

/*
 * A "serial" argument: [b]: b < 0x10 the b-th newest serial the guest saw
 * in an event (the compositor's serials grow over the fuzzer's life, so
 * inputs name them relatively), else as take_int.
 */
static uint32_t take_serial(struct harness *h, struct fuzz_input *in) {
	uint32_t b = take8(in);
	if (b < 0x10) {
		return b < h->serial_count && b < 8 ? h->serials[(h->serial_count - 1 - b) & 7] : b;
	}
	if (b < 0x80) {
		return b;
	}
	return b < 0xf0 ? interesting[(b - 0x80) % INTERESTING] : take32(in);
}

/* Builds a request from the input and appends it to the pending SEND. */
static void guest_request(struct harness *h, struct fuzz_input *in) {
	uint32_t id = pick(h, take8(in), NULL);
	uint32_t op = take8(in);
	struct gobj *s = gget(h, id);
	if (s == NULL || s->iface->request_count == 0) {
		return;
	}
	const struct proto_message *pm = &s->iface->requests[op % s->iface->request_count];
	union wayland_value v[PROTO_MAX_ARGS] = {{0}};
	static char store[PROTO_MAX_ARGS][256];
	uint32_t created = 0;
	const struct proto_interface *created_iface = NULL;
	uint32_t created_version = s->version;
	if (s->iface == &proto_wl_registry && pm->opcode == PROTO_WL_REGISTRY_REQ_BIND) {
		uint32_t gsel = take8(in), vsel = take8(in);
		if (h->global_count == 0) {
			return;
		}
		const struct global *g = &h->globals[gsel % h->global_count];
		v[0].u = g->name;
		v[1].bytes.data = g->iface->name;
		v[1].bytes.len = (uint32_t)strlen(g->iface->name) + 1;
		v[2].u = vsel == 0 ? g->version : vsel;
		v[3].u = created = new_client_id(h);
		created_iface = g->iface;
		created_version = v[2].u;
	} else {
		for (unsigned i = 0; i < pm->arg_count; i++) {
			const struct proto_arg *a = &pm->args[i];
			switch (a->type) {
			case PROTO_ARG_STRING:
			case PROTO_ARG_ARRAY:
				take_bytes(in, a->type == PROTO_ARG_STRING, store[i], &v[i]);
				break;
			case PROTO_ARG_OBJECT: {
				uint32_t sel = take8(in);
				v[i].u = a->nullable && sel == 0 ? 0 : pick(h, sel, a->interface);
				break;
			}
			case PROTO_ARG_NEW_ID:
				v[i].u = created = new_client_id(h);
				created_iface = a->interface;
				break;
			case PROTO_ARG_FD:
				take_identifier(h, in);
				break;
			case PROTO_ARG_UINT:
				v[i].u = strcmp(a->name, "serial") == 0 ? take_serial(h, in)
									: take_int(in);
				break;
			default:
				v[i].u = take_int(in);
				break;
			}
		}
	}
	uint8_t buf[WAYLAND_MSG_DEFAULT_MAX_SIZE];
	size_t n = wayland_msg_encode(buf, sizeof(buf), id, pm->opcode, pm, v);
	fuzz_note("guest %s#%" PRIu32 ".%s (%zu bytes)", s->iface->name, id, pm->name, n);
	if (n == 0) {
		return;
	}
	append(h, buf, n);
	if (created != 0 && created < CAP && created_iface != NULL) {
		h->client[created] = (struct gobj){created_iface, created_version, G_LIVE};
		if (created == h->next_client) {
			h->next_client++;
		}
	}
	if (pm->destructor) {
		s->state = G_ZOMBIE;
	}
}

/* ---------------------------------------------------------------------- */
/* Resources                                                              */

static struct resource *add_resource(struct harness *h, uint64_t size, bool host_fd) {
	if (h->res_count == MAX_RESOURCES) {
		return NULL;
	}
	struct resource *r = &h->res[h->res_count++];
	*r = (struct resource){.id = h->next_resource++, .size = size, .host_fd = host_fd};
	return r;
}

/* CREATE_BLOB of @blob_id into a new resource, then ATTACH. */
static void create_blob(struct harness *h, uint64_t blob_id, uint64_t size, bool image) {
	struct resource *r = add_resource(h, size, false);
	if (r == NULL) {
		return;
	}
	uint32_t serial = ++h->serial;
	h->image_serial = image ? serial : 0;
	h->blob_status = 1;
	size_t n = backend_link_encode_create_blob(
		pkt, sizeof(pkt), serial, r->id, CROSSWAY_BACKEND_BLOB_MEM_HOST3D,
		CROSSWAY_BACKEND_BLOB_FLAG_MAPPABLE | CROSSWAY_BACKEND_BLOB_FLAG_SHAREABLE, blob_id,
		size);
	link_send(h, pkt, n, -1);
	settle(h);
	if (h->blob_status == 0) {
		send_attach(h, r->id, CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, size, -1);
	}
}

static uint64_t page_round(uint64_t size, uint32_t sel) {
	static const uint64_t pages[] = {1, 4096, 16384, 65536};
	uint64_t p = pages[sel & 3];
	return (size + p - 1) / p * p;
}

static void shm_blob(struct harness *h, struct fuzz_input *in) {
	static const uint32_t sizes[] = {0, 192, 10000, 65536};
	uint32_t shape = take8(in), page = take8(in);
	uint32_t w = sizes[shape & 3], hgt = 1, format = IMAGE_FORMAT_R8;
	if (shape & 4) {
		format = IMAGE_FORMAT_XRGB8888;
		w = 1 + (shape >> 3) * 7;
		hgt = 1 + (page >> 2) * 5;
	}
	uint8_t cmd[CROSS_DOMAIN_GET_IMAGE_REQUIREMENTS_SIZE];
	size_t n = cross_domain_encode_get_image_requirements(
		cmd, sizeof(cmd), w, hgt, format,
		CROSS_DOMAIN_GBM_BO_USE_SCANOUT | CROSS_DOMAIN_GBM_BO_USE_LINEAR);
	h->have_requirements = false;
	send_submit(h, cmd, n);
	send_fence(h, CROSSWAY_BACKEND_RING_QUERY);
	settle(h);
	fuzz_note("shm blob %" PRIu32 "x%" PRIu32 ": %s", w, hgt,
		  h->have_requirements ? "requirements" : "no requirements");
	if (h->have_requirements) {
		create_blob(h, h->req.blob_id, page_round(h->req.size, page), true);
	}
}

static void host_fd(struct harness *h, struct fuzz_input *in) {
	uint32_t kind = take8(in);
	int fd = make_fd(kind);
	struct stat st;
	fstat(fd, &st);
	struct resource *r = add_resource(h, (uint64_t)st.st_size, true);
	if (r == NULL) {
		close(fd);
		return;
	}
	send_attach(h, r->id, CROSSWAY_BACKEND_ATTACH_HOST_FD, r->size, fd);
}

static void resource_op(struct harness *h, struct fuzz_input *in) {
	uint32_t sel = take8(in), op = take8(in);
	uint32_t id = h->res_count > 0 ? h->res[sel % h->res_count].id : sel;
	if (op & 8) {
		id = sel & 4 ? CHANNEL_RING : QUERY_RING; // the guest lets go of a ring
	}
	switch (op & 3) {
	case 0:
		send_resource(h, CROSSWAY_BACKEND_DETACH, id);
		break;
	case 1:
		send_resource(h, CROSSWAY_BACKEND_UNREF, id);
		break;
	case 2:
		send_attach(h, id, CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, 0, -1);
		break;
	case 3:
		send_attach(h, id, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, RING_SIZE, -1);
		break;
	}
}

/* ---------------------------------------------------------------------- */
/* The compositor's side                                                  */

static struct wl_client *our_client(void) {
	struct wl_list *clients = wl_display_get_client_list(recorder_display(rec));
	return wl_list_empty(clients) ? NULL : wl_client_from_link(clients->next);
}

struct collect {
	struct wl_resource *list[128];
	unsigned n;
};

static enum wl_iterator_result collect_resource(struct wl_resource *r, void *data) {
	struct collect *c = data;
	if (c->n < sizeof(c->list) / sizeof(c->list[0])) {
		c->list[c->n++] = r;
	}
	return WL_ITERATOR_CONTINUE;
}

/* An event built from the input, sent through libwayland-server on one of
 * the client's objects (its own marshalling, as a compositor sends). */
static void comp_event(struct harness *h, struct fuzz_input *in) {
	uint32_t sel = take8(in), op = take8(in);
	struct wl_client *client = our_client();
	if (client == NULL) {
		return;
	}
	struct collect c = {.n = 0};
	wl_client_for_each_resource(client, collect_resource, &c);
	if (c.n == 0) {
		return;
	}
	// As for the guest: the object with id sel (server id 0xff000000 +
	// sel - 0x80 from 0x80 on), else the (sel % n)-th one.
	struct wl_resource *res = wl_client_get_object(
		client, sel < 0x80 ? sel : WAYLAND_SERVER_ID_START + sel - 0x80);
	if (res == NULL) {
		res = c.list[sel % c.n];
	}
	const struct proto_interface *iface = proto_find_interface(wl_resource_get_class(res));
	if (iface == NULL || iface->event_count == 0) {
		return;
	}
	const struct proto_message *pm = &iface->events[op % iface->event_count];
	if (pm->since > (uint32_t)wl_resource_get_version(res) || pm->new_id_count > 0 ||
	    pm->arg_count > PROTO_MAX_ARGS) {
		return;
	}
	union wl_argument args[PROTO_MAX_ARGS];
	struct wl_array arrays[PROTO_MAX_ARGS];
	static char store[PROTO_MAX_ARGS][256];
	int fds[PROTO_MAX_ARGS];
	unsigned nfds = 0;
	for (unsigned i = 0; i < pm->arg_count; i++) {
		const struct proto_arg *a = &pm->args[i];
		union wayland_value v;
		switch (a->type) {
		case PROTO_ARG_STRING:
			take_bytes(in, true, store[i], &v);
			args[i].s = v.bytes.data;
			break;
		case PROTO_ARG_ARRAY:
			take_bytes(in, false, store[i], &v);
			arrays[i] = (struct wl_array){.size = v.bytes.len,
						      .alloc = v.bytes.len,
						      .data = (void *)v.bytes.data};
			args[i].a = &arrays[i];
			break;
		case PROTO_ARG_OBJECT: {
			uint32_t osel = take8(in);
			struct wl_resource *o =
				osel == 0 ? NULL
					  : wl_client_get_object(
						    client, osel < 0x80 ? osel
									: WAYLAND_SERVER_ID_START +
										  osel - 0x80);
			if (o != NULL && a->interface != NULL &&
			    strcmp(wl_resource_get_class(o), a->interface->name) != 0) {
				o = NULL;
			}
			for (unsigned k = 0; k < c.n && osel != 0 && o == NULL; k++) {
				struct wl_resource *cand = c.list[(osel + k) % c.n];
				if (a->interface == NULL ||
				    strcmp(wl_resource_get_class(cand), a->interface->name) == 0) {
					o = cand;
					break;
				}
			}
			if (o == NULL && !a->nullable) {
				for (unsigned k = 0; k < nfds; k++) {
					close(fds[k]);
				}
				return;
			}
			args[i].o = (struct wl_object *)o;
			break;
		}
		case PROTO_ARG_FD:
			args[i].h = fds[nfds++] = make_fd(take8(in));
			break;
		default:
			args[i].u = take_int(in);
			break;
		}
	}
	fuzz_note("compositor %s#%" PRIu32 ".%s", iface->name, wl_resource_get_id(res), pm->name);
	wl_resource_post_event_array(res, pm->opcode, args);
	for (unsigned k = 0; k < nfds; k++) {
		close(fds[k]); // libwayland sends its own copies
	}
	wl_display_flush_clients(recorder_display(rec));
	(void)h;
}

/* Raw bytes (and fds) on the compositor's end of the socket, between the
 * messages libwayland sends. */
static void comp_raw(struct harness *h, struct fuzz_input *in) {
	const uint8_t *p;
	size_t n = fuzz_take_bytes(in, take8(in) * 4, &p);
	uint32_t nfds = take8(in) % 4;
	int fds[4];
	for (uint32_t i = 0; i < nfds; i++) {
		fds[i] = make_fd(take8(in));
	}
	wl_display_flush_clients(recorder_display(rec));
	struct iovec iov = {.iov_base = (void *)p, .iov_len = n};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	if (nfds > 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	fuzz_note("compositor raw %zu bytes, %" PRIu32 " fds", n, nfds);
	if (h->comp_raw >= 0 && (n > 0 || nfds > 0)) {
		if (sendmsg(h->comp_raw, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
			fuzz_note("compositor raw: %s", strerror(errno));
		}
	}
	for (uint32_t i = 0; i < nfds; i++) {
		close(fds[i]);
	}
}

static void host_action(struct harness *h, struct fuzz_input *in) {
	uint32_t what = take8(in);
	const char *mime = strings[take8(in) % 4]; // the text types
	switch (what & 7) {
	case 0: {
		static const uint32_t lens[] = {0, 5, 4096, 70000};
		static uint8_t data[70000];
		uint32_t len = lens[(what >> 4) & 3];
		fuzz_note("compositor: a host selection of %" PRIu32 " bytes as %s", len, mime);
		recorder_offer_selection(rec, mime, data, len);
		h->recorder_dirty = true; // the host selection outlives the client
		break;
	}
	case 1: {
		int fd = recorder_receive_selection(rec, mime);
		fuzz_note("compositor: receive the client selection as %s: %s", mime,
			  fd >= 0 ? "a pipe" : strerror(errno));
		if (fd >= 0 && h->selection_count < 4) {
			fcntl(fd, F_SETFL, O_NONBLOCK);
			h->selection_fds[h->selection_count++] = fd;
		} else if (fd >= 0) {
			close(fd);
		}
		break;
	}
	case 2:
		recorder_clear(rec);
		break;
	case 3:
		h->comp_stalled = !h->comp_stalled;
		fuzz_note("compositor: %s", h->comp_stalled ? "stops reading" : "reads again");
		break;
	case 4: {
		struct wl_client *client = our_client();
		fuzz_note("compositor: drops the client");
		if (client != NULL) {
			wl_client_destroy(client);
		}
		if (h->comp_raw >= 0) {
			close(h->comp_raw); // (the harness's copy of the socket)
			h->comp_raw = -1;
		}
		break;
	}
	case 5:
		// Reads what the guest wrote into the selection pipes: up to
		// 4 KiB each times [what >> 4] + 1.
		for (unsigned i = 0; i < h->selection_count; i++) {
			for (uint32_t k = 0; k <= what >> 4; k++) {
				char buf[4096];
				if (read(h->selection_fds[i], buf, sizeof(buf)) <= 0) {
					break;
				}
			}
		}
		break;
	default:
		break;
	}
}

/* ---------------------------------------------------------------------- */
/* The prologue and the session                                           */

static void poll_once(struct harness *h) {
	uint8_t cmd[CROSS_DOMAIN_POLL_SIZE];
	send_submit(h, cmd, cross_domain_encode_poll(cmd, sizeof(cmd)));
	send_fence(h, CROSSWAY_BACKEND_RING_CHANNEL);
}

static void prologue(struct harness *h, uint32_t flags) {
	size_t n = backend_link_encode_hello(pkt, sizeof(pkt), ++h->serial, 1,
					     flags & 16 ? CROSSWAY_BACKEND_HELLO_PROBE : 0, VM,
					     "fuzz");
	link_send(h, pkt, n, -1);
	static const uint32_t forms[] = {20, 36, 24, 16};
	uint32_t form = forms[flags & 3];
	bool shared = form == CROSS_DOMAIN_INIT_LEGACY_SIZE;
	h->layout = shared ? CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY : CROSS_DOMAIN_MAX_IDENTIFIERS;
	send_attach(h, QUERY_RING, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, RING_SIZE, -1);
	if (!shared) {
		send_attach(h, CHANNEL_RING, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, RING_SIZE, -1);
	}
	uint8_t cmd[64];
	n = cross_domain_encode_init(cmd, sizeof(cmd), form, QUERY_RING,
				     shared ? QUERY_RING : CHANNEL_RING,
				     CROSS_DOMAIN_CHANNEL_TYPE_WAYLAND);
	send_submit(h, cmd, n);
	settle(h);
}

static uint32_t request(struct harness *h, uint32_t id, const struct proto_interface *iface,
			uint16_t op, union wayland_value *v) {
	const struct proto_message *pm = &iface->requests[op];
	uint32_t created = 0;
	const struct proto_interface *ci = NULL;
	for (unsigned i = 0; i < pm->arg_count; i++) {
		if (pm->args[i].type == PROTO_ARG_NEW_ID) {
			created = v[i].u = new_client_id(h);
			ci = pm->args[i].interface;
		}
	}
	if (iface == &proto_wl_registry && op == PROTO_WL_REGISTRY_REQ_BIND) {
		ci = proto_find_interface(v[1].bytes.data);
	}
	uint8_t buf[512];
	size_t n = wayland_msg_encode(buf, sizeof(buf), id, op, pm, v);
	fuzz_check(n > 0, "session request");
	append(h, buf, n);
	if (created != 0) {
		h->client[created] = (struct gobj){
			ci, iface == &proto_wl_registry ? v[2].u : h->client[id].version, G_LIVE};
		if (created == h->next_client) {
			h->next_client++;
		}
	}
	return created;
}

static uint32_t session_bind(struct harness *h, uint32_t registry, const char *name) {
	for (unsigned i = 0; i < h->global_count; i++) {
		const struct global *g = &h->globals[i];
		if (strcmp(g->iface->name, name) == 0) {
			union wayland_value v[4] = {{.u = g->name},
						    {.bytes = {name, (uint32_t)strlen(name) + 1}},
						    {.u = g->version}};
			return request(h, registry, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
				       v);
		}
	}
	return 0;
}

#define S(text)                                                                                    \
	{                                                                                          \
		.bytes = { text, sizeof(text) }                                                    \
	}

/* What a guest client does first: the registry and a round trip, binds, a
 * window, input devices, a data device. */
static void session(struct harness *h) {
	union wayland_value none[4] = {{0}};
	uint32_t registry = request(h, 1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY,
				    none);
	request(h, 1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, none);
	flush_send(h);
	for (int i = 0; i < 3 && h->global_count == 0 && !h->error; i++) {
		poll_once(h);
		settle(h);
	}
	uint32_t compositor = session_bind(h, registry, "wl_compositor");
	uint32_t shm = session_bind(h, registry, "wl_shm");
	uint32_t seat = session_bind(h, registry, "wl_seat");
	uint32_t wm = session_bind(h, registry, "xdg_wm_base");
	uint32_t ddm = session_bind(h, registry, "wl_data_device_manager");
	session_bind(h, registry, "zwp_linux_dmabuf_v1");
	session_bind(h, registry, "wl_output");
	(void)shm;
	union wayland_value v[4] = {{0}};
	if (compositor != 0 && wm != 0) {
		uint32_t surface = request(h, compositor, &proto_wl_compositor,
					   PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE, v);
		union wayland_value xs[2] = {{0}, {.u = surface}};
		uint32_t xdg = request(h, wm, &proto_xdg_wm_base,
				       PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE, xs);
		uint32_t top = request(h, xdg, &proto_xdg_surface,
				       PROTO_XDG_SURFACE_REQ_GET_TOPLEVEL, v);
		union wayland_value title[1] = {S("Terminal")};
		request(h, top, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE, title);
		request(h, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, v);
	}
	if (seat != 0) {
		request(h, seat, &proto_wl_seat, PROTO_WL_SEAT_REQ_GET_KEYBOARD, v);
		request(h, seat, &proto_wl_seat, PROTO_WL_SEAT_REQ_GET_POINTER, v);
	}
	if (seat != 0 && ddm != 0) {
		union wayland_value dd[2] = {{0}, {.u = seat}};
		request(h, ddm, &proto_wl_data_device_manager,
			PROTO_WL_DATA_DEVICE_MANAGER_REQ_GET_DATA_DEVICE, dd);
	}
	flush_send(h);
	poll_once(h);
	settle(h);
}

/* ---------------------------------------------------------------------- */
/* Per-process setup                                                      */

/*
 * Makes a new recorder allocate what it keeps for its life (its record
 * array, on the first record) now, in the input that destroyed the old
 * one: libFuzzer takes an input that ends with more mallocs than frees for
 * a leak, runs a leak check on it, and stops checking after a thousand.
 * A client that sends one wl_display.sync does it.
 */
static void prime_recorder(void) {
	int s[2];
	fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0, "socketpair");
	union wayland_value id = {.u = 2};
	uint8_t msg[12];
	size_t n = wayland_msg_encode(msg, sizeof(msg), 1, PROTO_WL_DISPLAY_REQ_SYNC,
				      &proto_wl_display.requests[PROTO_WL_DISPLAY_REQ_SYNC], &id);
	fuzz_check(n == sizeof(msg) && write(s[1], msg, n) == (ssize_t)n, "priming request");
	fuzz_check(recorder_add_client(rec, s[0]), "priming client");
	recorder_dispatch(rec, 0);
	close(s[1]);
	for (int i = 0; i == 0 || (i < SETTLE_ROUNDS && recorder_client_count(rec) > 0); i++) {
		recorder_dispatch(rec, i < 8 ? 0 : 10);
	}
	recorder_clear(rec);
}

static void cleanup(void) {
	recorder_destroy(rec);
	rec = NULL;
	if (runtime_dir[0] != '\0') {
		rmdir(runtime_dir); // (fails while other processes use it)
	}
}

static struct recorder *make_recorder(void) {
	struct recorder_options o = {
		.seat = true,
		.data_device = true,
		.fast = true,
		.dmabuf_version = 4,
		.extra_globals = true,
		.skip_pixel_copy = true,
		.max_records = 256,
		.max_fd_copies = 16,
	};
	struct recorder *r = recorder_create(&o);
	fuzz_check(r != NULL, "cannot create the recording compositor");
	if (!fuzz_verbose()) {
		// The harness reads no records, and making them (a text and fd
		// copies for every message, through open_memstream) is a
		// quarter of an input's time: the recorder's protocol logger
		// goes. recorder.h has no switch for this (yet), hence the
		// internal header.
		wl_protocol_logger_destroy(r->log.logger);
		r->log.logger = NULL;
	}
	return r;
}

static int first_timer(void *data) {
	return 0;
}

__attribute__((format(printf, 1, 0))) static void quiet(const char *fmt, va_list ap) {
	if (fuzz_verbose()) {
		fprintf(stderr, "libwayland-server: ");
		vfprintf(stderr, fmt, ap);
	}
}

static void setup(void) {
	cw_log_set_level(fuzz_verbose() ? CW_LOG_DEBUG : CW_LOG_SILENT);
	// The recorder's protocol errors ("error in client communication")
	// are the fuzzer's daily bread: not worth a line each.
	wl_log_set_handler_server(quiet);
	const char *dir = getenv("XDG_RUNTIME_DIR");
	if (dir == NULL || access(dir, W_OK) != 0) {
		// One directory per user, reused: libFuzzer often ends a
		// process without running atexit handlers, so per-process
		// directories would pile up. Ours only if it is private.
		snprintf(runtime_dir, sizeof(runtime_dir), "/tmp/crossway-fuzz-%ld",
			 (long)getuid());
		struct stat st;
		mkdir(runtime_dir, 0700);
		if (lstat(runtime_dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid() ||
		    (st.st_mode & 077) != 0) {
			snprintf(runtime_dir, sizeof(runtime_dir), "/tmp/crossway-fuzz-XXXXXX");
			fuzz_check(mkdtemp(runtime_dir) != NULL, "mkdtemp: %s", strerror(errno));
		}
		setenv("XDG_RUNTIME_DIR", runtime_dir, 1);
	}
	rec = make_recorder();
	prime_recorder();
	// Limits an input can reach (and tables that are cheap to set up and
	// scan: the defaults size the item and resource tables for 4096).
	config_defaults(&config);
	struct policy_limits *l = &config.sections[0].policy.limits;
	l->max_items = 64;
	l->max_pipes = 4;
	l->max_objects = 512;
	l->max_toplevels = 4;
	l->max_damage_rects = 4;
	l->max_buffer_bytes = 256 * 1024;
	l->max_total_bytes = 1024 * 1024;
	l->guest_queue_bytes = 16 * 1024;
	l->host_queue_bytes = 64 * 1024;
	l->clipboard_text_bytes = 8192;
	l->clipboard_bytes = 65536;
	l->max_mime_types = 8;
	loop = wl_event_loop_create();
	fuzz_check(loop != NULL, "wl_event_loop_create");
	char err[256];
	fuzz_check(image_allocator_init(&alloc, "none", NULL, NULL, err, sizeof(err)),
		   "allocator: %s", err);
	// fds the loops open on first use, opened now so they are not counted
	// as leaks: libwayland's timerfd for all timers of a loop (the context
	// adds timers) and the counter's own directory fd.
	struct wl_event_source *timer = wl_event_loop_add_timer(loop, first_timer, NULL);
	fuzz_check(timer != NULL, "timer");
	wl_event_source_remove(timer);
	fuzz_fds_count();
	atexit(cleanup);
}

/* ---------------------------------------------------------------------- */

/* With CROSSWAY_FUZZ_VERBOSE: what the compositor got and sent since the
 * last call. */
static void show_records(void) {
	static uint64_t next;
	if (!fuzz_verbose()) {
		return;
	}
	for (size_t i = 0; i < recorder_record_count(rec); i++) {
		const struct recorder_record *r = recorder_record_get(rec, i);
		if (r->seq >= next) {
			fuzz_note("  compositor %s %s",
				  r->direction == RECORDER_DIRECTION_REQUEST ? "got" : "sent",
				  r->text);
			next = r->seq + 1;
		}
	}
}

static void act(struct harness *h, struct fuzz_input *in, uint32_t a) {
	static const char *const names[] = {"request", "flush",      "raw wayland", "shm blob",
					    "host fd", "poll",       "event",       "host",
					    "write",   "raw submit", "raw packet",  "resource",
					    "fence",   "raw event",  "import",      "end"};
	fuzz_note("action %s (0x%02x)", names[a & 15], a);
	switch (a & 15) {
	case A_REQUEST:
		guest_request(h, in);
		if (!(a & 0x80)) {
			flush_send(h);
		}
		break;
	case A_FLUSH:
		flush_send(h);
		break;
	case A_RAW_WAYLAND: {
		const uint8_t *p;
		size_t n = fuzz_take_bytes(in, take8(in) * 4, &p);
		append(h, p, n);
		break;
	}
	case A_SHM_BLOB:
		shm_blob(h, in);
		break;
	case A_HOST_FD:
		host_fd(h, in);
		break;
	case A_POLL: {
		uint32_t count = 1 + take8(in) % 4;
		for (uint32_t i = 0; i < count; i++) {
			poll_once(h);
		}
		break;
	}
	case A_EVENT:
		comp_event(h, in);
		break;
	case A_HOST:
		host_action(h, in);
		break;
	case A_WRITE: {
		uint32_t sel = take8(in);
		uint32_t id = h->write_pipe_count > 0 ? h->write_pipes[sel % h->write_pipe_count]
						      : sel;
		const uint8_t *p;
		size_t n = fuzz_take_bytes(in, take8(in) * 16, &p);
		static uint8_t cmd[CROSSWAY_BACKEND_MAX_SUBMIT_LENGTH];
		size_t len = cross_domain_encode_write(cmd, sizeof(cmd), id, take8(in) & 1, p,
						       (uint32_t)n);
		send_submit(h, cmd, len);
		break;
	}
	case A_RAW_SUBMIT: {
		const uint8_t *p;
		size_t n = fuzz_take_bytes(in, take8(in) * 4, &p);
		send_submit(h, p, n);
		break;
	}
	case A_RAW_PACKET: {
		const uint8_t *p;
		size_t n = fuzz_take_bytes(in, take8(in) * 8, &p);
		uint32_t kind = take8(in);
		link_send(h, p, n, kind & 0x80 ? make_fd(kind) : -1);
		break;
	}
	case A_RESOURCE:
		resource_op(h, in);
		break;
	case A_FENCE: {
		static const uint32_t rings[] = {CROSSWAY_BACKEND_RING_QUERY,
						 CROSSWAY_BACKEND_RING_CHANNEL,
						 CROSSWAY_BACKEND_RING_GLOBAL, 7};
		send_fence(h, rings[take8(in) & 3]);
		break;
	}
	case A_RAW_EVENT:
		comp_raw(h, in);
		break;
	case A_IMPORT: {
		uint32_t sel = take8(in), page = take8(in);
		if (h->blob_count > 0) {
			uint32_t i = sel % h->blob_count;
			create_blob(h, h->blobs[i].id, page_round(h->blobs[i].size, page), false);
		}
		break;
	}
	case A_END:
		// The VMM may close the link at any time, even before HELLO.
		if (take8(in) & 1) {
			fuzz_note("the VMM closes the link");
			close(h->link);
			h->link = -1;
		} else {
			fuzz_note("SHUTDOWN");
			link_send(h, pkt,
				  backend_link_encode_shutdown(pkt, sizeof(pkt), ++h->serial), -1);
		}
		h->ended = true;
		break;
	}
	settle(h);
	show_records();
}

/* Recorder-owned copies of the last dmabuf's plane fds (they live until
 * the next dmabuf or the recorder's end, by design). */
static int recorder_kept_fds(void) {
	const struct recorder_dmabuf *d = recorder_last_dmabuf(rec);
	int n = 0;
	for (uint32_t i = 0; d != NULL && i < d->plane_count; i++) {
		n += d->planes[i].fd >= 0;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static bool once;
	if (!once) {
		once = true;
		setup();
	}
	// (The recorder's copies of the last dmabuf's fds, kept across inputs, aside.)
	int fds_before = fuzz_fds_count() - recorder_kept_fds();
	struct harness *h = &harness;
	struct fuzz_input in = {.data = data, .size = size};
	uint32_t config_byte = take8(&in);
	*h = (struct harness){
		.link = -1,
		.comp_raw = -1,
		.next_fence = 1,
		.next_resource = FIRST_RESOURCE,
		.next_read_pipe = CROSS_DOMAIN_PIPE_READ_START + 1,
		.layout = CROSS_DOMAIN_MAX_IDENTIFIERS,
		.record_layout = CROSS_DOMAIN_MAX_IDENTIFIERS,
		.next_client = 2,
	};
	h->client[1] = (struct gobj){&proto_wl_display, 1, G_LIVE};

	int link[2], wl[2];
	fuzz_check(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, link) == 0, "socketpair");
	fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, wl) == 0, "socketpair");
	// A small socket buffer towards the compositor, so that a compositor
	// that stops reading fills it (and crosswayd's queue) within an input.
	int sndbuf = 16384;
	setsockopt(wl[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	h->link = link[0];
	h->comp_raw = fcntl(wl[0], F_DUPFD_CLOEXEC, 0);
	fuzz_check(h->comp_raw >= 0 && recorder_add_client(rec, wl[0]), "recorder client");
	static const enum policy_clipboard clipboard[] = {
		POLICY_CLIPBOARD_GUEST_TO_HOST, POLICY_CLIPBOARD_BOTH, POLICY_CLIPBOARD_DENY,
		POLICY_CLIPBOARD_BOTH};
	config.sections[0].policy.clipboard = clipboard[(config_byte >> 5) & 3];
	config.sections[0].policy.primary_selection = config_byte & 0x80;
	struct context_options opts = {
		.backend_fd = link[1],
		.compositor_fd = wl[1],
		.config = &config,
		.allocator = &alloc,
	};
	struct context *ctx = context_create(loop, &opts);
	fuzz_check(ctx != NULL, "context_create");

	if (!(config_byte & 4)) {
		prologue(h, config_byte);
		if (config_byte & 8) {
			session(h);
		}
	}
	for (int n = 0; n < MAX_ACTIONS && in.pos < in.size && !h->error && !h->ended; n++) {
		act(h, &in, take8(&in));
	}
	settle(h);

	// Teardown: the context, then everything of ours, then the client.
	context_destroy(ctx);
	// libwayland frees removed sources at the end of the next dispatch:
	// do that now, so the input ends with its memory freed (libFuzzer runs
	// a leak check after any input that leaves more mallocs than frees).
	wl_event_loop_dispatch(loop, 0);
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_UNBLOCK, &term, NULL); // (the context's signal source blocked it)
	if (h->link >= 0) {
		link_read(h);
		close(h->link);
	}
	if (h->comp_raw >= 0) {
		close(h->comp_raw);
	}
	for (unsigned i = 0; i < h->selection_count; i++) {
		close(h->selection_fds[i]);
	}
	// (At least one dispatch: it also frees what was removed outside one,
	// such as the client the compositor dropped.)
	for (int i = 0; i == 0 || (i < SETTLE_ROUNDS && (recorder_client_count(rec) > 0 ||
							 recorder_transfer_count(rec) > 0));
	     i++) {
		recorder_dispatch(rec, i < 8 ? 0 : 10);
	}
	fuzz_check(recorder_client_count(rec) == 0, "the compositor still has the client");
	fuzz_check(recorder_transfer_count(rec) == 0, "the compositor still writes a transfer");
	recorder_clear(rec);
	fuzz_fds_check(fds_before + recorder_kept_fds(), "after the input");
	if (h->recorder_dirty) {
		// A host selection outlives the client: a fresh compositor for
		// the next input. (The copies of the last dmabuf's fds that the
		// recorder keeps change nothing it does; they are counted above.)
		recorder_destroy(rec);
		rec = make_recorder();
		prime_recorder();
	}
	return 0;
}
