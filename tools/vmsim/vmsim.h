/*
 * crossway-vmsim: a stand-in for a VM with a virtio-gpu cross-domain device.
 * It offers a Wayland socket (the inside of the VM); every app that connects
 * gets its own cross-domain context, served by its own crosswayd spawned as a
 * VMM would. proxy.c is the guest proxy (what sommelier or
 * wayland-proxy-virtwl do inside a guest), link.c the VMM backend.
 */
#ifndef CROSSWAY_TOOLS_VMSIM_VMSIM_H
#define CROSSWAY_TOOLS_VMSIM_VMSIM_H

#include <stdbool.h>
#include <stdint.h>

struct vmsim_options {
	const char *socket_name;     // in XDG_RUNTIME_DIR
	const char *vm_name;         // HELLO vm_name
	const char *crosswayd;       // path, or a name looked up in PATH
	const char *wayland_display; // passed to crosswayd, may be NULL
	char **crosswayd_args;       // extra arguments, NULL-terminated
	uint32_t init_size;          // 16, 20, 24 or 36
	uint32_t identifiers;        // SEND layout: 28, or 4 like old guests
	bool verbose;
};

/** Logs one line to stderr, prefixed with the VM and context. */
__attribute__((format(printf, 1, 2))) void vmsim_log(const char *fmt, ...);

/** Sets the prefix vmsim_log uses in this process ("vm-a ctx 3"). */
void vmsim_log_prefix(const char *prefix);

/**
 * Serves one app connection (@app_fd, taken) as one cross-domain context
 * with its own crosswayd. Returns the process exit status for the child.
 */
int vmsim_serve_app(int app_fd, const struct vmsim_options *opt, uint32_t ctx_id,
		    const char *app_name);

#endif
