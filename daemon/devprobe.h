/*
 * Which GPU the host compositor renders with, so crosswayd can allocate
 * guest images on the same device (buffers from another GPU may not be
 * importable, or only through a slow copy).
 *
 * linux-dmabuf v4 names it: zwp_linux_dmabuf_feedback_v1.main_device of the
 * default feedback. crosswayd asks on a short-lived connection of its own,
 * before the sandbox, and only when there is a choice (more than one render
 * node and no --render-node): the guest's connection never sees it.
 */
#ifndef CROSSWAY_DAEMON_DEVPROBE_H
#define CROSSWAY_DAEMON_DEVPROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/**
 * Asks the compositor on the connected socket @fd for its main device.
 * Blocks for at most @timeout_ms in total. Closes every fd the compositor
 * sends (the format table); does not close @fd. Returns true and sets
 * *@dev, or false with a reason in @err (no linux-dmabuf v4, a protocol
 * error, a malformed event, timeout).
 */
bool devprobe_main_device(int fd, int timeout_ms, dev_t *dev, char *err, size_t err_cap);

/** A render node and the device numbers of its device's nodes. */
struct devprobe_node {
	const char *render_path; // e.g. /dev/dri/renderD128
	dev_t devs[2];           // its primary and render node (0: absent)
};

/**
 * The index of the node whose device is @main (the compositor names either
 * the primary or the render node), or -1 when none matches.
 */
int devprobe_pick(const struct devprobe_node *nodes, size_t count, dev_t main);

#endif
