/*
 * The virtio-gpu cross-domain protocol as Wayland guests speak it
 * (sommelier, wayland-proxy-virtwl; layouts of rutabaga_gfx's
 * cross_domain_protocol). Guests write commands into virtio-gpu command
 * buffers (decoded here from a backend SUBMIT); the host answers by writing
 * records into two rings in guest memory (encoded here, written by the
 * backend on our behalf).
 *
 * Facts and sources: shared/design/cross-domain.md sections 0, 2, 3, 5, 7.
 * Pure: no I/O, no allocation, no logging.
 */
#ifndef CROSSWAY_WIRE_CROSS_DOMAIN_H
#define CROSSWAY_WIRE_CROSS_DOMAIN_H

#include <assert.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire/limits.h"
#include "wire/wire_error.h"

/* Command numbers (upstream names, so they grep against rutabaga). */
#define CROSS_DOMAIN_CMD_INIT 1
#define CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS 2
#define CROSS_DOMAIN_CMD_POLL 3
#define CROSS_DOMAIN_CMD_SEND 4
#define CROSS_DOMAIN_CMD_RECEIVE 5 // host -> guest only
#define CROSS_DOMAIN_CMD_READ 6    // host -> guest only
#define CROSS_DOMAIN_CMD_WRITE 7

/* Identifier types. Only 1 and 4 are ever sent to guests; guests send 1 and 3. */
#define CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB 1
#define CROSS_DOMAIN_ID_TYPE_VIRTGPU_SYNC 2
#define CROSS_DOMAIN_ID_TYPE_READ_PIPE 3
#define CROSS_DOMAIN_ID_TYPE_WRITE_PIPE 4

#define CROSS_DOMAIN_QUERY_RING 0
#define CROSS_DOMAIN_CHANNEL_RING 1
#define CROSS_DOMAIN_RING_NONE 0xffffffffu

/* Guest-chosen read-pipe ids start after this value (first id 0x80000001). */
#define CROSS_DOMAIN_PIPE_READ_START 0x80000000u

#define CROSS_DOMAIN_CHANNEL_TYPE_WAYLAND 1
#define CROSS_DOMAIN_CHANNEL_TYPE_CAMERA 2

/* gbm use flags guests put in GET_IMAGE_REQUIREMENTS (SCANOUT | LINEAR). */
#define CROSS_DOMAIN_GBM_BO_USE_SCANOUT (1u << 0)
#define CROSS_DOMAIN_GBM_BO_USE_CURSOR (1u << 1)
#define CROSS_DOMAIN_GBM_BO_USE_RENDERING (1u << 2)
#define CROSS_DOMAIN_GBM_BO_USE_WRITE (1u << 3)
#define CROSS_DOMAIN_GBM_BO_USE_LINEAR (1u << 4)

/* Wire sizes. */
#define CROSS_DOMAIN_HEADER_SIZE 8u
#define CROSS_DOMAIN_INIT_LEGACY_SIZE 16u  // one ring shared by queries and channel
#define CROSS_DOMAIN_INIT_V1_SIZE 20u      // current sommelier and WPV
#define CROSS_DOMAIN_INIT_LIBKRUN_SIZE 24u // V1 + protocol_version
#define CROSS_DOMAIN_INIT_UUID_SIZE 36u    // V1 + 16-byte socket uuid (rutabaga)
#define CROSS_DOMAIN_GET_IMAGE_REQUIREMENTS_SIZE 24u
#define CROSS_DOMAIN_IMAGE_REQUIREMENTS_SIZE 64u
#define CROSS_DOMAIN_POLL_SIZE 16u
#define CROSS_DOMAIN_READ_WRITE_HEADER_SIZE 24u
/* SEND/RECEIVE: 16 fixed bytes, then 12 bytes per identifier slot. */
#define CROSS_DOMAIN_SEND_RECEIVE_FIXED_SIZE 16u
#define CROSS_DOMAIN_SEND_RECEIVE_HEADER_SIZE(n) (16u + 12u * (n))

static_assert(CROSS_DOMAIN_SEND_RECEIVE_HEADER_SIZE(CROSS_DOMAIN_MAX_IDENTIFIERS) == 352,
	      "N=28 SEND/RECEIVE header is 352 bytes");
static_assert(CROSS_DOMAIN_SEND_RECEIVE_HEADER_SIZE(CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY) == 64,
	      "N=4 SEND/RECEIVE header is 64 bytes");
static_assert(CROSS_DOMAIN_RING_BUFFER_SIZE - 352 == CROSS_DOMAIN_MAX_SEND_RECV_SIZE,
	      "RECEIVE payload limit");

/* The 8-byte command header. */
struct cross_domain_header {
	uint8_t cmd;
	uint8_t ring_idx;  // fence_ctx_idx in sommelier; guests write 0
	uint16_t cmd_size; // whole command, header and trailing data included
	uint32_t pad;
};
static_assert(sizeof(struct cross_domain_header) == 8, "header size");

/* GET_IMAGE_REQUIREMENTS reply, written at offset 0 of the query ring. */
struct cross_domain_image_requirements {
	uint32_t strides[4];
	uint32_t offsets[4];
	uint64_t modifier;
	uint64_t size;
	uint32_t blob_id;
	uint32_t map_info;
	int32_t memory_idx;
	int32_t physical_device_idx;
};
static_assert(sizeof(struct cross_domain_image_requirements) == 64, "reply size");
static_assert(offsetof(struct cross_domain_image_requirements, modifier) == 32, "modifier");
static_assert(offsetof(struct cross_domain_image_requirements, size) == 40, "size");
static_assert(offsetof(struct cross_domain_image_requirements, blob_id) == 48, "blob_id");

/* CrossDomainCapabilities: the capset 5 payload. */
struct cross_domain_capabilities {
	uint32_t version;
	uint32_t supported_channels; // bit n = channel type n
	uint32_t supports_dmabuf;
	uint32_t supports_external_gpu_memory;
};
static_assert(sizeof(struct cross_domain_capabilities) == 16, "capabilities size");

/* A decoded guest command. Pointers point into the decoded buffer. */
struct cross_domain_cmd {
	uint8_t cmd;
	uint16_t cmd_size;
	union {
		struct {
			uint32_t query_ring_id;
			uint32_t channel_ring_id; // == query_ring_id for the 16-byte form
			uint32_t channel_type;
			uint32_t protocol_version; // 24-byte form only, else 0
			uint8_t uuid[16];          // 36-byte form only, else zeros
		} init;
		struct {
			uint32_t width;
			uint32_t height;
			uint32_t drm_format;
			uint32_t flags;
		} image;
		struct {
			uint32_t layout; // identifier slots: 28, or 4 for legacy guests
			uint32_t num_identifiers;
			uint32_t identifiers[CROSS_DOMAIN_MAX_IDENTIFIERS];
			uint32_t identifier_types[CROSS_DOMAIN_MAX_IDENTIFIERS];
			uint32_t identifier_sizes[CROSS_DOMAIN_MAX_IDENTIFIERS];
			const uint8_t *data;
			uint32_t data_size;
		} send;
		struct {
			uint32_t identifier;
			uint32_t hang_up;
			const uint8_t *data;
			uint32_t data_size;
		} write;
	};
};

/** Name of a command number ("SEND"), or "unknown". */
const char *cross_domain_cmd_name(uint32_t cmd);

enum cross_domain_result {
	CROSS_DOMAIN_OK = 0,
	CROSS_DOMAIN_END,     // no bytes left
	CROSS_DOMAIN_INVALID, // reason in the wire_error, naming the command
};

/* Iterates over the commands of one command buffer. */
struct cross_domain_reader {
	const uint8_t *data; // borrowed for the reader's life
	size_t size;
	size_t pos;
};

static inline struct cross_domain_reader cross_domain_reader_init(const void *data, size_t size) {
	return (struct cross_domain_reader){.data = data, .size = size, .pos = 0};
}

/**
 * Decodes the next command. Bounds first: at least an 8-byte header,
 * cmd_size >= 8 and <= the bytes left, then the command's exact fixed size
 * (INIT 16/20/24/36, GET_IMAGE_REQUIREMENTS 24, POLL 16), then its variable
 * part (SEND: the identifier layout is told from cmd_size - 16 -
 * opaque_data_size, 48 for 4 slots or 336 for 28, and num_identifiers must fit
 * it; WRITE: cmd_size == 24 + opaque_data_size). RECEIVE, READ and unknown
 * commands are rejected. Nothing is consumed on failure.
 */
enum cross_domain_result cross_domain_next(struct cross_domain_reader *r,
					   struct cross_domain_cmd *cmd, struct wire_error *err);

/* Encoders: each returns the bytes written, or 0 when @cap is too small or
 * the arguments do not fit the format. Bytes 1..7 of record headers are zero
 * (wayland-proxy-virtwl compares the whole first word). */

/** A RECEIVE record with a @layout-slot identifier table (28 or 4). */
size_t cross_domain_encode_receive(uint8_t *out, size_t cap, uint32_t layout, uint32_t count,
				   const uint32_t *ids, const uint32_t *types,
				   const uint32_t *sizes, const void *data, uint32_t data_size);

/** A READ record; @hang_up must be 0 or 1. */
size_t cross_domain_encode_read(uint8_t *out, size_t cap, uint32_t identifier, uint32_t hang_up,
				const void *data, uint32_t data_size);

/** The 64-byte GET_IMAGE_REQUIREMENTS reply. */
size_t cross_domain_encode_image_requirements(uint8_t *out, size_t cap,
					      const struct cross_domain_image_requirements *req);

/* Guest-side encoders (the VM simulator, tests and fuzz seeds use them). */

/** INIT in @form bytes (16, 20, 24 or 36). */
size_t cross_domain_encode_init(uint8_t *out, size_t cap, uint32_t form, uint32_t query_ring_id,
				uint32_t channel_ring_id, uint32_t channel_type);
size_t cross_domain_encode_get_image_requirements(uint8_t *out, size_t cap, uint32_t width,
						  uint32_t height, uint32_t drm_format,
						  uint32_t flags);
size_t cross_domain_encode_poll(uint8_t *out, size_t cap);
/** SEND with @layout identifier slots (28 or 4); the same format as RECEIVE. */
size_t cross_domain_encode_send(uint8_t *out, size_t cap, uint32_t layout, uint32_t count,
				const uint32_t *ids, const uint32_t *types, const uint32_t *sizes,
				const void *data, uint32_t data_size);
size_t cross_domain_encode_write(uint8_t *out, size_t cap, uint32_t identifier, uint32_t hang_up,
				 const void *data, uint32_t data_size);

/* Guest-side decoding of what the host wrote into a ring. */

struct cross_domain_record {
	uint8_t cmd; // CROSS_DOMAIN_CMD_RECEIVE or CROSS_DOMAIN_CMD_READ
	uint32_t num_identifiers;
	uint32_t identifiers[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t identifier_types[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t identifier_sizes[CROSS_DOMAIN_MAX_IDENTIFIERS];
	uint32_t identifier; // READ
	uint32_t hang_up;    // READ
	const uint8_t *data; // into the ring
	uint32_t data_size;
};

/**
 * Decodes the record at the start of a channel ring of @size bytes, as a
 * guest would: byte 0 picks RECEIVE or READ, bytes 1-7 must be zero, the
 * data must lie inside the ring. @layout is the guest's identifier slots.
 */
bool cross_domain_decode_record(const uint8_t *ring, size_t size, uint32_t layout,
				struct cross_domain_record *rec, struct wire_error *err);

/** Decodes a 64-byte image requirements reply. */
bool cross_domain_decode_image_requirements(const uint8_t *ring, size_t size,
					    struct cross_domain_image_requirements *req);

#endif
