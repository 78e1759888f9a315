/*
 * Every protocol limit crossway knows, in one place. Configurable limits
 * (daemon/config) may lower these; none may raise a hard protocol bound.
 */
#ifndef CROSSWAY_WIRE_LIMITS_H
#define CROSSWAY_WIRE_LIMITS_H

/* Wayland */

/* Default cap on one Wayland message, either direction: libwayland 1.21's
 * fixed connection buffer, and the server default (WL_BUFFER_DEFAULT_MAX_SIZE)
 * in later releases. */
#define WAYLAND_MSG_DEFAULT_MAX_SIZE 4096u
/* The size field is 16 bits; messages are multiples of 4 bytes. */
#define WAYLAND_MSG_HARD_MAX_SIZE 65532u
#define WAYLAND_MSG_HEADER_SIZE 8u
/* fds per sendmsg, as libwayland's MAX_FDS_OUT and virtio-wl's
 * VIRTWL_SEND_MAX_ALLOCS. */
#define WAYLAND_MAX_FDS_PER_SENDMSG 28u
/* Client-allocated ids are 1..0xfeffffff, server-allocated ids start here. */
#define WAYLAND_SERVER_ID_START 0xff000000u
#define WAYLAND_CLIENT_ID_MAX 0xfeffffffu
/* Default live protocol objects per connection (both id ranges together);
 * far below libwayland's WL_MAP_MAX_OBJECTS so refcount-overflow style bugs
 * (CVE-2021-3782) stay unreachable through us. */
#define WAYLAND_DEFAULT_MAX_OBJECTS 65536u

/* Cross-domain (rutabaga_gfx cross_domain_protocol, sommelier, WPV) */

#define CROSS_DOMAIN_MAX_IDENTIFIERS 28u
#define CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY 4u
/* Ring pages are one guest page; guests size their buffers with 4096. */
#define CROSS_DOMAIN_RING_BUFFER_SIZE 4096u
/* Largest RECEIVE payload rutabaga sends and guests expect: 4096 - 352. */
#define CROSS_DOMAIN_MAX_SEND_RECV_SIZE 3744u

/* Backend link (crossway-backend(7)) */

#define BACKEND_LINK_DEFAULT_MAX_MESSAGE 65536u

/* crosswayd defaults (security.md section 7.4); config may lower them */

#define CROSSWAY_DEFAULT_MAX_ITEMS 4096u
/* Distinct image shapes one context may ask about (daemon/image_reqs.h):
 * each answer stays until the context ends, as guests reuse them. */
#define CROSSWAY_DEFAULT_MAX_IMAGE_REQUIREMENTS 65536u
#define CROSSWAY_DEFAULT_MAX_PIPES 32u
#define CROSSWAY_DEFAULT_MAX_TOPLEVELS 256u
/* Bytes queued towards the compositor before we stop reading the backend. */
#define CROSSWAY_DEFAULT_GUEST_QUEUE_BYTES (1u << 20)
/* fds queued towards the compositor. */
#define CROSSWAY_DEFAULT_GUEST_QUEUE_FDS 256u
/* Bytes queued towards the guest before we stop reading the compositor. */
#define CROSSWAY_DEFAULT_HOST_QUEUE_BYTES (4u << 20)
/* fds queued towards the guest (received from the compositor, not yet in a
 * RECEIVE record). */
#define CROSSWAY_DEFAULT_HOST_QUEUE_FDS 1024u
/*
 * RLIMIT_NOFILE of a context process: every table and queue that holds fds
 * full at once (guest items and blob resources, the queues both ways, the
 * compositor connection's, two per pipe) still fits, so a guest meets a
 * limit with its own error before the process runs out of fds (which would
 * look like the compositor's or the backend's fault).
 */
#define CROSSWAY_CONTEXT_MAX_FDS                                                                   \
	(2u * CROSSWAY_DEFAULT_MAX_ITEMS + CROSSWAY_DEFAULT_HOST_QUEUE_FDS +                       \
	 3u * CROSSWAY_DEFAULT_GUEST_QUEUE_FDS + 2u * CROSSWAY_DEFAULT_MAX_PIPES + 256u)
/* Seconds the compositor->guest queue may stay full before the context ends. */
#define CROSSWAY_DEFAULT_STALL_SECONDS 10u
/* Buffer per pipe relay (WRITE data the host reader has not taken yet). */
#define CROSSWAY_DEFAULT_PIPE_BUFFER (64u << 10)
/* Seconds open transfers may run after the Wayland connection has ended. */
#define CROSSWAY_DEFAULT_PIPE_LINGER_SECONDS 5u
#define CROSSWAY_DEFAULT_MAX_BUFFER_BYTES (256ull << 20)
#define CROSSWAY_DEFAULT_MAX_TOTAL_BYTES (1ull << 30)
#define CROSSWAY_DEFAULT_MAX_BUFFER_DIMENSION 16384u
#define CROSSWAY_DEFAULT_MAX_DAMAGE_RECTS 256u
/* One clipboard or drag-and-drop transfer through a pipe relay: Qubes'
 * default for text, and a bound for images and files. */
#define CROSSWAY_DEFAULT_CLIPBOARD_TEXT_BYTES 64000u
#define CROSSWAY_DEFAULT_CLIPBOARD_BYTES (16u << 20)
/* Subsurfaces per window (one surface tree) and their nesting depth (rule 9). */
#define CROSSWAY_DEFAULT_MAX_SUBSURFACES 64u
#define CROSSWAY_DEFAULT_MAX_SUBSURFACE_DEPTH 8u
/* Mime types one data source may offer; more are dropped (rule 11). */
#define CROSSWAY_DEFAULT_MAX_MIME_TYPES 64u
/* Outstanding channel-ring poll fences (guests keep one). */
#define CROSSWAY_MAX_POLL_FENCES 16u
/* Backend-bound messages queued when the backend is slow to read. */
#define CROSSWAY_DEFAULT_BACKEND_QUEUE_BYTES (4u << 20)

#endif
