/*
 * crossway-backend.h: the crossway backend link, version 1.
 *
 * STABLE INTERFACE. This header is installed for VMM authors. It describes
 * the messages between a VMM's virtio-gpu device model (the "backend") and
 * one crosswayd process serving one virtio-gpu cross-domain context. The
 * normative text is crossway-backend(7); this header gives its constants and
 * byte layouts. Layout changes only come with a new link version, and
 * crosswayd keeps accepting version 1.
 *
 * Transport: AF_UNIX SOCK_SEQPACKET, one message per packet, file
 * descriptors in SCM_RIGHTS on the packet of the message that carries them.
 * All integers are little-endian; every message is a multiple of 8 bytes and
 * starts with struct crossway_backend_header. Reserved fields must be 0.
 *
 * The structs have no implicit padding (checked below), so a message can be
 * memcpy'd into or out of them on a little-endian host. Variable-length
 * payloads (SUBMIT, RING_WRITE, ERROR) follow their struct directly and are
 * zero-padded to a multiple of 8.
 *
 * Only <stdint.h> is needed; the file is valid C11 and C++11.
 */
#ifndef CROSSWAY_BACKEND_H
#define CROSSWAY_BACKEND_H

#include <stdint.h>

#ifdef __cplusplus
#define CROSSWAY_BACKEND_STATIC_ASSERT(e, m) static_assert(e, m)
#else
#define CROSSWAY_BACKEND_STATIC_ASSERT(e, m) _Static_assert(e, m)
#endif

#define CROSSWAY_BACKEND_VERSION 1u
#define CROSSWAY_BACKEND_HEADER_SIZE 16u
/* Largest message either side sends unless HELLO_REPLY says otherwise. */
#define CROSSWAY_BACKEND_MAX_MESSAGE_SIZE 65536u
#define CROSSWAY_BACKEND_NAME_SIZE 64u

/* virtio-gpu capset id of the cross-domain context type. */
#define CROSSWAY_BACKEND_CAPSET_CROSS_DOMAIN 5u

/* Requests: backend -> crosswayd */
#define CROSSWAY_BACKEND_HELLO 0x0001u
#define CROSSWAY_BACKEND_ATTACH 0x0002u
#define CROSSWAY_BACKEND_DETACH 0x0003u
#define CROSSWAY_BACKEND_SUBMIT 0x0004u
#define CROSSWAY_BACKEND_FENCE 0x0005u
#define CROSSWAY_BACKEND_CREATE_BLOB 0x0006u
#define CROSSWAY_BACKEND_SHUTDOWN 0x0007u
#define CROSSWAY_BACKEND_UNREF 0x0008u

/* Replies and events: crosswayd -> backend */
#define CROSSWAY_BACKEND_HELLO_REPLY 0x8001u
#define CROSSWAY_BACKEND_RING_WRITE 0x8002u
#define CROSSWAY_BACKEND_FENCE_DONE 0x8003u
#define CROSSWAY_BACKEND_BLOB_REPLY 0x8004u
#define CROSSWAY_BACKEND_ERROR 0x80ffu

/* ERROR codes (negative errno values on Linux; treat unknown ones as
 * CROSSWAY_BACKEND_ERROR_PROTOCOL) */
#define CROSSWAY_BACKEND_ERROR_PROTOCOL (-71)   // -EPROTO: the guest or the backend broke a rule
#define CROSSWAY_BACKEND_ERROR_COMPOSITOR (-32) // -EPIPE: the compositor is unreachable or gone

/* Exit status of the crosswayd process */
#define CROSSWAY_BACKEND_EXIT_CLEAN 0      // probe answered, SHUTDOWN, link closed, rings released
#define CROSSWAY_BACKEND_EXIT_ERROR 1      // a rule was broken (an ERROR was sent if possible)
#define CROSSWAY_BACKEND_EXIT_USAGE 2      // bad command line
#define CROSSWAY_BACKEND_EXIT_COMPOSITOR 3 // no compositor, or it went away

/* Limits (crossway-backend(7), LIMITS) */
#define CROSSWAY_BACKEND_MAX_FDS_PER_MESSAGE 1u
/* SUBMIT command bytes in a message of CROSSWAY_BACKEND_MAX_MESSAGE_SIZE */
#define CROSSWAY_BACKEND_MAX_SUBMIT_LENGTH (CROSSWAY_BACKEND_MAX_MESSAGE_SIZE - 24u)
#define CROSSWAY_BACKEND_MAX_POLL_FENCES 16u // pending ring 1 fences per context
#define CROSSWAY_BACKEND_MAX_RESOURCES 4096u // known resources; policy may lower it
#define CROSSWAY_BACKEND_MIN_QUERY_RING_SIZE 64u
#define CROSSWAY_BACKEND_MIN_CHANNEL_RING_SIZE 416u
#define CROSSWAY_BACKEND_MAX_RECORD_SIZE 4096u // bytes of one RING_WRITE record
#define CROSSWAY_BACKEND_MAX_IDENTIFIERS 28u   // HELLO_REPLY.max_identifiers
/* CREATE_BLOB sizes: what the guest was told, rounded up to its page size,
 * one of these (see BLOBS in the man page). */
#define CROSSWAY_BACKEND_BLOB_PAGE_4K 4096u
#define CROSSWAY_BACKEND_BLOB_PAGE_16K 16384u
#define CROSSWAY_BACKEND_BLOB_PAGE_64K 65536u
/* Seconds a backend waits for crosswayd to exit after SHUTDOWN */
#define CROSSWAY_BACKEND_SHUTDOWN_TIMEOUT_SECONDS 10u

/* HELLO flags */
#define CROSSWAY_BACKEND_HELLO_PROBE 0x1u // answer HELLO_REPLY, then exit 0

/* ATTACH kinds */
#define CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY 1u  // guest pages (the rings); no fd
#define CROSSWAY_BACKEND_ATTACH_HOST_FD 2u       // host resource made elsewhere; 1 fd
#define CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB 3u // a blob crosswayd created; no fd

/* Rings and fence timelines (FENCE.ring_idx) */
#define CROSSWAY_BACKEND_RING_QUERY 0u
#define CROSSWAY_BACKEND_RING_CHANNEL 1u
/* A fence on the context's global timeline (no ring): completes at once. */
#define CROSSWAY_BACKEND_RING_GLOBAL 0xffffffffu

/* Handle types of BLOB_REPLY fds */
#define CROSSWAY_BACKEND_HANDLE_DMABUF 1u
#define CROSSWAY_BACKEND_HANDLE_SHM 2u    // memfd or other shared memory
#define CROSSWAY_BACKEND_HANDLE_OPAQUE 3u // another mappable fd

/* map_info: virtio-gpu cache type ORed with access bits */
#define CROSSWAY_BACKEND_MAP_CACHE_CACHED 0x01u
#define CROSSWAY_BACKEND_MAP_CACHE_UNCACHED 0x02u
#define CROSSWAY_BACKEND_MAP_CACHE_WC 0x03u
#define CROSSWAY_BACKEND_MAP_CACHE_MASK 0x0fu
#define CROSSWAY_BACKEND_MAP_ACCESS_READ 0x10u
#define CROSSWAY_BACKEND_MAP_ACCESS_WRITE 0x20u
#define CROSSWAY_BACKEND_MAP_ACCESS_MASK 0x30u

/* virtio-gpu blob_mem and blob_flags values */
#define CROSSWAY_BACKEND_BLOB_MEM_GUEST 1u
#define CROSSWAY_BACKEND_BLOB_MEM_HOST3D 2u
#define CROSSWAY_BACKEND_BLOB_MEM_HOST3D_GUEST 3u
#define CROSSWAY_BACKEND_BLOB_FLAG_MAPPABLE 1u
#define CROSSWAY_BACKEND_BLOB_FLAG_SHAREABLE 2u
#define CROSSWAY_BACKEND_BLOB_FLAG_CROSS_DEVICE 4u
#define CROSSWAY_BACKEND_BLOB_FLAGS_ALL 7u // other bits are errors

struct crossway_backend_header {
	uint32_t type;
	uint32_t size;   // whole message, header included, multiple of 8
	uint32_t serial; // requests: chosen by the backend; replies: echoed; events: 0
	uint32_t flags;  // 0 in version 1
};

struct crossway_backend_hello {
	struct crossway_backend_header hdr;
	uint32_t version_min;
	uint32_t version_max;
	uint32_t capset_id; // CROSSWAY_BACKEND_CAPSET_CROSS_DOMAIN
	uint32_t ctx_id;
	uint32_t flags; // CROSSWAY_BACKEND_HELLO_*
	uint32_t reserved;
	char vm_name[CROSSWAY_BACKEND_NAME_SIZE];  // [A-Za-z0-9._-]+, NUL-terminated
	char ctx_name[CROSSWAY_BACKEND_NAME_SIZE]; // guest debug name, NUL-terminated
};

/* The virtio-gpu capset 5 payload (rutabaga's CrossDomainCapabilities). */
struct crossway_backend_cross_domain_caps {
	uint32_t version;
	uint32_t supported_channels; // bit n set: channel type n (1 = Wayland)
	uint32_t supports_dmabuf;
	uint32_t supports_external_gpu_memory;
};

struct crossway_backend_hello_reply {
	struct crossway_backend_header hdr;
	uint32_t version;          // link version chosen
	uint32_t max_message_size; // largest message crosswayd accepts and sends
	struct crossway_backend_cross_domain_caps caps;
	uint32_t max_identifiers; // SEND/RECEIVE identifier slots (28)
	uint32_t reserved;
};

struct crossway_backend_attach {
	struct crossway_backend_header hdr;
	uint32_t resource_id;
	uint32_t kind; // CROSSWAY_BACKEND_ATTACH_*
	uint64_t size; // bytes of the resource
	uint32_t blob_mem;
	uint32_t handle_type; // kind 2: CROSSWAY_BACKEND_HANDLE_*
	uint32_t map_info;
	uint32_t reserved;
};

/* DETACH and UNREF share this layout. */
struct crossway_backend_resource {
	struct crossway_backend_header hdr;
	uint32_t resource_id;
	uint32_t reserved;
};

struct crossway_backend_submit {
	struct crossway_backend_header hdr;
	uint32_t length; // bytes of cross-domain commands that follow
	uint32_t reserved;
	// uint8_t commands[length], zero-padded to a multiple of 8
};

struct crossway_backend_fence {
	struct crossway_backend_header hdr;
	uint64_t fence_id;
	uint32_t ring_idx; // CROSSWAY_BACKEND_RING_*
	uint32_t flags;    // 0
};

struct crossway_backend_create_blob {
	struct crossway_backend_header hdr;
	uint32_t resource_id;
	uint32_t blob_mem;
	uint32_t blob_flags;
	uint32_t reserved;
	uint64_t blob_id; // from an image-requirements reply or a RECEIVE blob identifier
	uint64_t size;
};

struct crossway_backend_ring_write {
	struct crossway_backend_header hdr;
	uint32_t resource_id;
	uint32_t offset; // byte offset in the resource
	uint32_t length; // bytes that follow
	uint32_t reserved;
	// uint8_t bytes[length], zero-padded to a multiple of 8
};

struct crossway_backend_fence_done {
	struct crossway_backend_header hdr;
	uint64_t fence_id;
	uint32_t ring_idx;
	uint32_t reserved;
};

struct crossway_backend_blob_reply {
	struct crossway_backend_header hdr;
	int32_t status; // 0, or -errno (then no fd)
	uint32_t resource_id;
	uint32_t handle_type; // CROSSWAY_BACKEND_HANDLE_*
	uint32_t map_info;    // CROSSWAY_BACKEND_MAP_*
	uint64_t size;
	uint32_t width; // image blobs; 0 for plain memory
	uint32_t height;
	uint32_t drm_fourcc;
	uint32_t reserved;
	uint32_t strides[4];
	uint32_t offsets[4];
	uint64_t modifier;
};

struct crossway_backend_error {
	struct crossway_backend_header hdr;
	int32_t code;    // -errno
	uint32_t length; // bytes of message, NUL included
			 // char message[length], UTF-8, zero-padded to a multiple of 8
};

CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_header) == 16, "header");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_hello) == 168, "HELLO");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_cross_domain_caps) == 16, "caps");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_hello_reply) == 48, "HELLO_REPLY");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_attach) == 48, "ATTACH");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_resource) == 24, "DETACH/UNREF");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_submit) == 24, "SUBMIT");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_fence) == 32, "FENCE");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_create_blob) == 48, "CREATE_BLOB");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_ring_write) == 32, "RING_WRITE");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_fence_done) == 32, "FENCE_DONE");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_blob_reply) == 96, "BLOB_REPLY");
CROSSWAY_BACKEND_STATIC_ASSERT(sizeof(struct crossway_backend_error) == 24, "ERROR");

/* Offsets of the fields whose alignment matters (u64s, arrays, names). */
CROSSWAY_BACKEND_STATIC_ASSERT(__builtin_offsetof(struct crossway_backend_hello, vm_name) == 40,
			       "HELLO.vm_name");
CROSSWAY_BACKEND_STATIC_ASSERT(__builtin_offsetof(struct crossway_backend_hello, ctx_name) == 104,
			       "HELLO.ctx_name");
CROSSWAY_BACKEND_STATIC_ASSERT(__builtin_offsetof(struct crossway_backend_hello_reply, caps) == 24,
			       "HELLO_REPLY.caps");
CROSSWAY_BACKEND_STATIC_ASSERT(__builtin_offsetof(struct crossway_backend_attach, size) == 24,
			       "ATTACH.size");
CROSSWAY_BACKEND_STATIC_ASSERT(__builtin_offsetof(struct crossway_backend_fence, fence_id) == 16,
			       "FENCE.fence_id");
CROSSWAY_BACKEND_STATIC_ASSERT(__builtin_offsetof(struct crossway_backend_create_blob, blob_id) ==
				       32,
			       "CREATE_BLOB.blob_id");
CROSSWAY_BACKEND_STATIC_ASSERT(__builtin_offsetof(struct crossway_backend_blob_reply, size) == 32,
			       "BLOB_REPLY.size");
CROSSWAY_BACKEND_STATIC_ASSERT(__builtin_offsetof(struct crossway_backend_blob_reply, strides) ==
				       56,
			       "BLOB_REPLY.strides");
CROSSWAY_BACKEND_STATIC_ASSERT(__builtin_offsetof(struct crossway_backend_blob_reply, modifier) ==
				       88,
			       "BLOB_REPLY.modifier");

#endif
