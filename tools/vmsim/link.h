/*
 * The VMM half of crossway-vmsim: a reference implementation of the backend
 * side of the crossway backend link (crossway-backend(7)), plus the little of
 * a guest kernel that the link needs — resource ids, the two ring pages, and
 * fences.
 *
 * A VMM author can read this file top to bottom: spawn crosswayd with one end
 * of a SOCK_SEQPACKET socketpair, HELLO, ATTACH the rings, SUBMIT the guest's
 * command buffers, FENCE for polls and queries, CREATE_BLOB for blob
 * resources, and apply what comes back (RING_WRITE into guest memory with
 * bounds checks, FENCE_DONE, BLOB_REPLY fds, ERROR).
 *
 * Single-threaded and blocking: one link per vmsim child process.
 */
#ifndef CROSSWAY_TOOLS_VMSIM_LINK_H
#define CROSSWAY_TOOLS_VMSIM_LINK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire/crossway-backend.h"
#include "wire/cross_domain.h"

/* One guest page per ring, as sommelier and wayland-proxy-virtwl allocate. */
#define VM_RING_SIZE 4096u

struct vm_link {
	int fd;    // our end of the link (owned)
	pid_t pid; // the crosswayd we spawned
	uint32_t serial;
	uint64_t next_fence;
	uint32_t next_resource; // guest-kernel resource ids, from 1
	uint32_t max_message;   // from HELLO_REPLY
	struct crossway_backend_cross_domain_caps caps;
	uint32_t max_identifiers;

	// Guest memory of the rings (the 16-byte INIT form shares one ring).
	uint32_t query_ring_id, channel_ring_id;
	uint8_t query_ring[VM_RING_SIZE];
	uint8_t channel_ring[VM_RING_SIZE];
	bool shared_ring;

	// The outstanding query fence (ring 0), if any.
	uint64_t query_fence;
	bool query_done;
	// The outstanding channel (poll) fence (ring 1), 0 when none. When it
	// completes, the record is copied out of the ring at once, so a later
	// query reply on a shared ring cannot clobber it before it is read.
	uint64_t channel_fence;
	bool record_ready;
	uint8_t record[VM_RING_SIZE];

	// The CREATE_BLOB being waited for.
	uint32_t blob_serial;
	bool blob_replied;
	struct crossway_backend_blob_reply blob_reply;
	int blob_fd; // owned until link_create_blob returns it

	bool closed;     // crosswayd closed the link
	char error[600]; // its ERROR text, if one came
};

/**
 * Starts @crosswayd with one end of a socketpair as --fd 3, adding
 * --wayland-display @display when non-NULL and @extra_args (NULL-terminated,
 * may be NULL). Returns false with errno set on failure.
 */
bool link_spawn(struct vm_link *link, const char *crosswayd, const char *display,
		char *const *extra_args);

/** HELLO and wait for HELLO_REPLY. @ctx_name is the guest's debug name. */
bool link_hello(struct vm_link *link, const char *vm_name, const char *ctx_name, uint32_t ctx_id);

/** A fresh resource id, as the guest kernel would allocate it. */
uint32_t link_new_resource(struct vm_link *link);

/* Requests. Each returns false if the link is gone. */
bool link_attach_ring(struct vm_link *link, uint32_t resource_id);
bool link_attach_blob(struct vm_link *link, uint32_t resource_id);
bool link_detach(struct vm_link *link, uint32_t resource_id);
bool link_unref(struct vm_link *link, uint32_t resource_id);
bool link_submit(struct vm_link *link, const void *cmds, uint32_t len);
bool link_shutdown(struct vm_link *link);

/** ATTACHes both rings and SUBMITs INIT in @init_size bytes (16/20/24/36). */
bool link_init_rings(struct vm_link *link, uint32_t init_size);

/** SUBMITs POLL and a channel-ring fence; the record arrives later. */
bool link_poll(struct vm_link *link);

/**
 * GET_IMAGE_REQUIREMENTS: SUBMIT, fence ring 0, wait, read the reply from
 * the query ring. Other link messages are handled while waiting.
 */
bool link_image_requirements(struct vm_link *link, uint32_t width, uint32_t height, uint32_t fourcc,
			     struct cross_domain_image_requirements *req);

/**
 * CREATE_BLOB (host3d, mappable | shareable) of @size bytes from @blob_id into
 * a new resource, as RESOURCE_CREATE_BLOB in the guest would; the guest
 * kernel's GEM handle is modelled by an ATTACH that the caller undoes with
 * link_detach once it has the fd. Returns the fd (caller owns) or -1;
 * *resource_id and *reply are filled.
 */
int link_create_blob(struct vm_link *link, uint64_t blob_id, uint64_t size, uint32_t *resource_id,
		     struct crossway_backend_blob_reply *reply);

/**
 * Reads and applies one link message, waiting up to @timeout_ms.
 * Returns 1 when one was handled, 0 on timeout, -1 when the link is closed
 * or broken (link->error says why when crosswayd sent ERROR).
 */
int link_dispatch(struct vm_link *link, int timeout_ms);

/** Closes the link and reaps crosswayd, waiting up to @timeout_ms before
 * killing it. Returns its exit status, or 128 + signal. */
int link_finish(struct vm_link *link, int timeout_ms);

#endif
