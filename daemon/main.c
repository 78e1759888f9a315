#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "crossway-config.h"
#include "daemon/compositor.h"
#include "daemon/config.h"
#include "daemon/context.h"
#include "daemon/devprobe.h"
#include "daemon/fd.h"
#include "daemon/log.h"
#include "daemon/backend.h"
#include "daemon/sandbox.h"
#include "daemon/secctx.h"
#include "daemon/service.h"
#include "daemon/socket_front.h"
#include "wire/cross_domain.h"
#include "wire/crossway-backend.h"
#include "wire/limits.h"

static const char usage[] =
	"Usage: crosswayd --fd N [options]     serve one cross-domain context on fd N\n"
	"       crosswayd --service [options]  serve every backend that connects\n"
	"       crosswayd --listen PATH --vm NAME [options]\n"
	"                                      be a Wayland socket for a VMM that connects\n"
	"                                      its cross-domain channel to a socket path\n"
	"       crosswayd --probe              print the capabilities a backend gets\n"
	"\n"
	"Options:\n"
	"  --fd N                  the backend link: one end of a SOCK_SEQPACKET socketpair\n"
	"  --service               listen on $XDG_RUNTIME_DIR/crossway/backend (or a\n"
	"                          socket-activated fd) and fork a context per connection\n"
	"  --socket PATH           --service: listen here instead\n"
	"  --allow-uid UID         --service, --listen: also accept peers run by UID\n"
	"  --vm-sockets            --service: also listen on $XDG_RUNTIME_DIR/crossway/vm/\n"
	"                          NAME/wayland-0 for every [vm NAME] of the policy file\n"
	"  --listen PATH           a Wayland socket (absolute, or in $XDG_RUNTIME_DIR); each\n"
	"                          client gets its own sandboxed process; needs --vm\n"
	"  --vm NAME               the VM's name (default: the name in the backend's HELLO)\n"
	"  --wayland-display NAME  the host compositor (socket name or absolute path; default:\n"
	"                          WAYLAND_SOCKET, else WAYLAND_DISPLAY, else wayland-0)\n"
	"  --config PATH           the policy file (default: $XDG_CONFIG_HOME/crossway/\n"
	"                          crossway.conf, else the shipped default policy)\n"
	"  --log-level LEVEL       silent, error, info (default) or debug\n"
	"  --trace                 print every Wayland message, both directions\n"
	"  --render-node PATH      allocate images with gbm on this node (default: that of\n"
	"                          the compositor's main device, else the first found;\n"
	"                          \"none\": shared memory only)\n"
	"  --no-sandbox            do not sandbox the context (debugging only)\n"
	"  --sandbox-debug         report a forbidden syscall by name instead of dying\n"
	"  --require-landlock      refuse to run on a kernel without Landlock\n"
	"  --probe                 print capabilities and exit\n"
	"  --print-policy [VM]     print the policy a VM gets and exit\n"
	"  --print-seccomp         print the syscall allowlist and exit\n"
	"  -h, --help              show this help\n"
	"  --version               show the version\n";

struct daemon_options {
	int backend_fd;
	const char *vm;
	const char *display;
	const char *config_path;
	bool trace;
	struct sandbox_options sandbox;
	const char *test_syscall;
	const char *render_node; // --render-node; NULL: find one
	struct config config;
};

static bool valid_vm_name(const char *name) {
	size_t len = strlen(name);
	if (len == 0 || len >= CROSSWAY_BACKEND_NAME_SIZE) {
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-')) {
			return false;
		}
	}
	return true;
}

static int print_probe(const char *render_node) {
	struct image_allocator alloc;
	char error[256];
	bool ok = image_allocator_init(&alloc, render_node, NULL, NULL, error, sizeof(error));
	printf("crossway %s\n", CROSSWAY_VERSION);
	printf("backend link version: %u\n", CROSSWAY_BACKEND_VERSION);
	printf("capset: %u (cross-domain), version 1\n", CROSSWAY_BACKEND_CAPSET_CROSS_DOMAIN);
	printf("channels: wayland (type %u)\n", CROSS_DOMAIN_CHANNEL_TYPE_WAYLAND);
	if (!ok) {
		printf("dmabuf: no (%s)\n", error);
	} else if (image_allocator_dmabuf(&alloc)) {
		printf("dmabuf: yes (gbm on %s)\n", alloc.render_node);
	} else {
		printf("dmabuf: no (images are shared memory; no usable render node)\n");
	}
	image_allocator_finish(&alloc);
	printf("external GPU memory: no\n");
	printf("identifiers per SEND/RECEIVE: %u (4-identifier guests are detected per SEND)\n",
	       CROSS_DOMAIN_MAX_IDENTIFIERS);
	printf("largest link message: %u bytes\n", CROSSWAY_BACKEND_MAX_MESSAGE_SIZE);
	return 0;
}

/*
 * Connects to the compositor for one context, as the VM's policy says
 * (through a security context or plainly). @vm may be NULL (no HELLO seen).
 */
static void connect_compositor(struct daemon_options *o, const char *vm, uint32_t ctx_id,
			       struct service_compositor *out) {
	struct policy_config pc;
	config_policy_for(&o->config, vm ? vm : "vm", &pc);
	out->fd = secctx_compositor_connect(o->display, &pc, ctx_id, &out->close_fd, out->error,
					    sizeof(out->error));
}

static void service_connect(void *data, const struct service_listener *listener,
			    const struct crossway_backend_hello *hello, uint32_t ctx_id,
			    struct service_compositor *out) {
	struct daemon_options *o = data;
	if (hello != NULL && (hello->flags & CROSSWAY_BACKEND_HELLO_PROBE)) {
		snprintf(out->error, sizeof(out->error), "not needed for a probe");
		return;
	}
	const char *vm = listener->vm_name[0] ? listener->vm_name
			 : o->vm              ? o->vm
			 : hello != NULL      ? hello->vm_name
					      : NULL;
	connect_compositor(o, vm, hello ? hello->ctx_id : ctx_id, out);
}

/*
 * The image allocator's question when it has render nodes to choose from:
 * which device the compositor renders with (linux-dmabuf v4's main device),
 * asked on a connection of its own that lives for one round trip, so guest
 * images are allocated where the compositor can use them. Not possible with
 * an inherited WAYLAND_SOCKET.
 */
static bool compositor_main_device(void *data, dev_t *dev) {
	const struct daemon_options *o = data;
	if (o->display == NULL && getenv("WAYLAND_SOCKET")) {
		return false;
	}
	char error[256];
	int fd = compositor_connect(o->display, error, sizeof(error));
	bool ok = fd >= 0 && devprobe_main_device(fd, 1000, dev, error, sizeof(error));
	if (fd >= 0) {
		close(fd);
	}
	if (ok) {
		cw_log(CW_LOG_DEBUG, "Compositor's main device: %u:%u", major(*dev), minor(*dev));
	} else {
		cw_log(CW_LOG_INFO, "Render node: the compositor's main device is unknown (%s)",
		       error);
	}
	return ok;
}

/* Runs one context on @backend_fd: sandbox, event loop, context. Takes the fds. */
static int serve_context(void *data, int backend_fd, struct service_compositor *comp) {
	struct daemon_options *o = data;
	int comp_fd = comp->fd;
	const char *comp_error = comp->error;
	if (comp_fd < 0) {
		// Not fatal yet: a PROBE HELLO needs no compositor.
		cw_log(CW_LOG_DEBUG, "Compositor: %s", comp_error);
	}
	// Everything that needs the file system or new sockets is done: from
	// here on the process can reach only the fds it holds. A security
	// context's close fd stays open for the life of the process.
	struct image_allocator alloc;
	char error[256];
	if (!image_allocator_init(&alloc, o->render_node,
				  comp_fd >= 0 ? compositor_main_device : NULL, o, error,
				  sizeof(error))) {
		cw_log(CW_LOG_ERROR, "Images: %s", error);
		fd_close(&backend_fd);
		fd_close(&comp_fd);
		return CONTEXT_EXIT_ERROR;
	}
	int keep[3 + IMAGE_ALLOCATOR_MAX_FDS + 1] = {backend_fd, comp_fd, comp->close_fd,
						     alloc.render_fd};
	for (size_t i = 0; i < alloc.driver_fd_count; i++) {
		keep[4 + i] = alloc.driver_fds[i];
	}
	o->sandbox.keep_fds = keep;
	o->sandbox.keep_count = 4 + alloc.driver_fd_count;
	o->sandbox.max_fds = CROSSWAY_CONTEXT_MAX_FDS;
	o->sandbox.gpu = image_allocator_dmabuf(&alloc);
	if (alloc.gbm != NULL) {
		cw_log(CW_LOG_INFO, "Images: gbm on %s", alloc.render_node);
	}
	struct sandbox_report report;
	if (!sandbox_isolate(&o->sandbox, &report, error, sizeof(error))) {
		cw_log(CW_LOG_ERROR, "Sandbox: %s", error);
		image_allocator_finish(&alloc);
		fd_close(&backend_fd);
		fd_close(&comp_fd);
		return CONTEXT_EXIT_ERROR;
	}
	struct wl_event_loop *loop = wl_event_loop_create();
	if (loop == NULL) {
		cw_log(CW_LOG_ERROR, "Cannot create the event loop");
		fd_close(&backend_fd);
		fd_close(&comp_fd);
		return CONTEXT_EXIT_ERROR;
	}
	struct context_options opts = {
		.backend_fd = backend_fd,
		.compositor_fd = comp_fd,
		.compositor_error = comp_error,
		.vm_name = o->vm,
		.trace = o->trace,
		.config = &o->config,
		.allocator = &alloc,
	};
	struct context *ctx = context_create(loop, &opts);
	if (ctx == NULL) {
		wl_event_loop_destroy(loop);
		image_allocator_finish(&alloc);
		return CONTEXT_EXIT_ERROR;
	}
	if (!sandbox_lock(&o->sandbox, &report, error, sizeof(error))) {
		cw_log(CW_LOG_ERROR, "Sandbox: %s", error);
		context_destroy(ctx);
		wl_event_loop_destroy(loop);
		image_allocator_finish(&alloc);
		return CONTEXT_EXIT_ERROR;
	}
	if (o->sandbox.enabled) {
		cw_log(CW_LOG_DEBUG,
		       "Sandbox: namespaces %s, PID namespace %s, Landlock ABI %d, seccomp %s (%zu "
		       "syscalls)",
		       report.namespaces ? "on" : "off", report.pid_namespace ? "on" : "off",
		       report.landlock_abi, report.seccomp ? "on" : "off", report.syscalls);
	}
	if (o->test_syscall != NULL && !sandbox_call_forbidden(o->test_syscall)) {
		cw_log(CW_LOG_ERROR, "--test-forbidden-syscall: unknown syscall %s",
		       o->test_syscall);
	}
	int code = context_run(ctx);
	context_destroy(ctx);
	wl_event_loop_destroy(loop);
	image_allocator_finish(&alloc);
	return code;
}

/* Serves one Wayland client of a --listen or per-VM socket. */
static int serve_socket(void *data, const struct service_listener *listener, int guest_fd,
			struct service_compositor *comp) {
	struct daemon_options *o = data;
	int comp_fd = comp->fd;
	const char *comp_error = comp->error;
	cw_log_set_tag(listener->vm_name);
	int keep[3] = {guest_fd, comp_fd, comp->close_fd};
	o->sandbox.keep_fds = keep;
	o->sandbox.keep_count = 3;
	o->sandbox.max_fds = CROSSWAY_CONTEXT_MAX_FDS;
	struct sandbox_report report;
	char error[256];
	if (!sandbox_isolate(&o->sandbox, &report, error, sizeof(error))) {
		cw_log(CW_LOG_ERROR, "Sandbox: %s", error);
		fd_close(&guest_fd);
		fd_close(&comp_fd);
		return CONTEXT_EXIT_ERROR;
	}
	struct wl_event_loop *loop = wl_event_loop_create();
	if (loop == NULL) {
		fd_close(&guest_fd);
		fd_close(&comp_fd);
		return CONTEXT_EXIT_ERROR;
	}
	struct socket_front_options opts = {
		.guest_fd = guest_fd,
		.compositor_fd = comp_fd,
		.compositor_error = comp_error,
		.vm_name = listener->vm_name,
		.trace = o->trace,
		.config = &o->config,
	};
	struct socket_front *sf = socket_front_create(loop, &opts);
	if (sf == NULL) {
		wl_event_loop_destroy(loop);
		return comp_fd < 0 ? CONTEXT_EXIT_COMPOSITOR : CONTEXT_EXIT_ERROR;
	}
	int code = CONTEXT_EXIT_ERROR;
	if (sandbox_lock(&o->sandbox, &report, error, sizeof(error))) {
		code = socket_front_run(sf);
	} else {
		cw_log(CW_LOG_ERROR, "Sandbox: %s", error);
	}
	socket_front_destroy(sf);
	wl_event_loop_destroy(loop);
	return code;
}

static int serve_backend(void *data, const struct service_listener *listener, int conn_fd,
			 struct service_compositor *comp) {
	(void)listener;
	return serve_context(data, conn_fd, comp);
}

static bool add_listener(struct service_options *svc, const char *path, int type, const char *vm,
			 service_serve_func_t serve) {
	if (svc->listener_count == SERVICE_MAX_LISTENERS) {
		fprintf(stderr, "crosswayd: too many sockets\n");
		return false;
	}
	struct service_listener *l = &svc->listeners[svc->listener_count++];
	const char *dir = getenv("XDG_RUNTIME_DIR");
	int n;
	if (path[0] == '/') {
		n = snprintf(l->path, sizeof(l->path), "%s", path);
	} else if (dir != NULL && dir[0] == '/') {
		n = snprintf(l->path, sizeof(l->path), "%s/%s", dir, path);
	} else {
		fprintf(stderr, "crosswayd: XDG_RUNTIME_DIR is not set (needed for %s)\n", path);
		return false;
	}
	if (n < 0 || (size_t)n >= sizeof(l->path)) {
		fprintf(stderr, "crosswayd: socket path too long: %s\n", path);
		return false;
	}
	l->type = type;
	snprintf(l->vm_name, sizeof(l->vm_name), "%s", vm ? vm : "");
	l->serve = serve;
	return true;
}

static bool add_listeners(struct service_options *svc, struct daemon_options *o, bool service,
			  const char *socket_path, const char *listen_path, bool vm_sockets) {
	char path[108];
	if (listen_path != NULL) {
		return add_listener(svc, listen_path, SOCK_STREAM, o->vm, serve_socket);
	}
	if (socket_path == NULL && service_socket_activated()) {
		svc->activated = true;
		svc->listeners[0] = (struct service_listener){.type = SOCK_SEQPACKET,
							      .serve = serve_backend};
		svc->listener_count = 1;
	} else {
		if (socket_path == NULL && !service_runtime_path(path, sizeof(path), "backend")) {
			fprintf(stderr, "crosswayd: XDG_RUNTIME_DIR is not set\n");
			return false;
		}
		if (!add_listener(svc, socket_path ? socket_path : path, SOCK_SEQPACKET, NULL,
				  serve_backend)) {
			return false;
		}
	}
	for (size_t i = 1; service && vm_sockets && i < o->config.count; i++) {
		const char *vm = o->config.sections[i].vm_name;
		char sub[96];
		snprintf(sub, sizeof(sub), "vm/%s/wayland-0", vm);
		if (!service_runtime_path(path, sizeof(path), sub) ||
		    !add_listener(svc, path, SOCK_STREAM, vm, serve_socket)) {
			return false;
		}
	}
	return true;
}

int main(int argc, char *argv[]) {
	enum {
		OPT_FD = 256,
		OPT_SERVICE,
		OPT_SOCKET,
		OPT_LISTEN,
		OPT_VM_SOCKETS,
		OPT_ALLOW_UID,
		OPT_VM,
		OPT_DISPLAY,
		OPT_LOG,
		OPT_TRACE,
		OPT_PROBE,
		OPT_VERSION,
		OPT_CONFIG,
		OPT_PRINT_POLICY,
		OPT_NO_SANDBOX,
		OPT_SANDBOX_DEBUG,
		OPT_REQUIRE_LANDLOCK,
		OPT_PRINT_SECCOMP,
		OPT_TEST_SYSCALL,
		OPT_TEST_LANDLOCK,
		OPT_RENDER_NODE,
	};
	static const struct option long_opts[] = {
		{"fd", required_argument, NULL, OPT_FD},
		{"service", no_argument, NULL, OPT_SERVICE},
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"listen", required_argument, NULL, OPT_LISTEN},
		{"vm-sockets", no_argument, NULL, OPT_VM_SOCKETS},
		{"allow-uid", required_argument, NULL, OPT_ALLOW_UID},
		{"vm", required_argument, NULL, OPT_VM},
		{"wayland-display", required_argument, NULL, OPT_DISPLAY},
		{"log-level", required_argument, NULL, OPT_LOG},
		{"trace", no_argument, NULL, OPT_TRACE},
		{"probe", no_argument, NULL, OPT_PROBE},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"print-policy", no_argument, NULL, OPT_PRINT_POLICY},
		{"no-sandbox", no_argument, NULL, OPT_NO_SANDBOX},
		{"sandbox-debug", no_argument, NULL, OPT_SANDBOX_DEBUG},
		{"require-landlock", no_argument, NULL, OPT_REQUIRE_LANDLOCK},
		{"print-seccomp", no_argument, NULL, OPT_PRINT_SECCOMP},
		{"render-node", required_argument, NULL, OPT_RENDER_NODE},
		// Test-only: after locking down, make a forbidden syscall.
		{"test-forbidden-syscall", required_argument, NULL, OPT_TEST_SYSCALL},
		// Test-only: report what opening paths gives under Landlock.
		{"test-landlock-probe", no_argument, NULL, OPT_TEST_LANDLOCK},
		{0},
	};
	static struct daemon_options o = {.backend_fd = -1, .sandbox = {.enabled = true}};
	static struct service_options svc = {
		.max_children = 256, .connect = service_connect, .data = &o};
	bool probe = false, print_policy = false, service = false, vm_sockets = false;
	const char *socket_path = NULL, *listen_path = NULL;
	int opt;
	while ((opt = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_FD: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end != '\0' || v < 0 || v > 1 << 20) {
				fprintf(stderr, "crosswayd: --fd needs a file descriptor number\n");
				return CONTEXT_EXIT_USAGE;
			}
			o.backend_fd = (int)v;
			break;
		}
		case OPT_SERVICE:
			service = true;
			break;
		case OPT_SOCKET:
			socket_path = optarg;
			break;
		case OPT_LISTEN:
			listen_path = optarg;
			break;
		case OPT_VM_SOCKETS:
			vm_sockets = true;
			break;
		case OPT_ALLOW_UID: {
			char *end;
			long v = strtol(optarg, &end, 10);
			if (*end != '\0' || v < 0 ||
			    svc.allowed_count == SERVICE_MAX_ALLOWED_UIDS) {
				fprintf(stderr, "crosswayd: --allow-uid needs a numeric uid\n");
				return CONTEXT_EXIT_USAGE;
			}
			svc.allowed_uids[svc.allowed_count++] = (uid_t)v;
			break;
		}
		case OPT_VM:
			if (!valid_vm_name(optarg)) {
				fprintf(stderr, "crosswayd: --vm: 1-63 characters of "
						"[A-Za-z0-9._-] please\n");
				return CONTEXT_EXIT_USAGE;
			}
			o.vm = optarg;
			break;
		case OPT_DISPLAY:
			o.display = optarg;
			break;
		case OPT_LOG: {
			enum cw_log_level level;
			if (!cw_log_parse_level(optarg, &level)) {
				fprintf(stderr,
					"crosswayd: --log-level: silent, error, info or debug\n");
				return CONTEXT_EXIT_USAGE;
			}
			cw_log_set_level(level);
			break;
		}
		case OPT_TRACE:
			o.trace = true;
			break;
		case OPT_PROBE:
			probe = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		case OPT_VERSION:
			printf("crosswayd %s\n", CROSSWAY_VERSION);
			return 0;
		case OPT_CONFIG:
			o.config_path = optarg;
			break;
		case OPT_PRINT_POLICY:
			print_policy = true;
			break;
		case OPT_NO_SANDBOX:
			o.sandbox.enabled = false;
			break;
		case OPT_SANDBOX_DEBUG:
			o.sandbox.debug = true;
			break;
		case OPT_REQUIRE_LANDLOCK:
			o.sandbox.require_landlock = true;
			break;
		case OPT_PRINT_SECCOMP:
			sandbox_print_rules(stdout);
			return 0;
		case OPT_TEST_SYSCALL:
			o.test_syscall = optarg;
			break;
		case OPT_TEST_LANDLOCK:
			o.sandbox.landlock_probe = true;
			break;
		case OPT_RENDER_NODE:
			o.render_node = optarg;
			break;
		default:
			fputs(usage, stderr);
			return CONTEXT_EXIT_USAGE;
		}
	}
	if (print_policy && optind < argc) {
		o.vm = argv[optind++];
	}
	if (optind < argc) {
		fprintf(stderr, "crosswayd: unexpected argument '%s'\n", argv[optind]);
		return CONTEXT_EXIT_USAGE;
	}
	if (probe) {
		return print_probe(o.render_node);
	}
	// The whole policy file is read now: later the sandbox closes the file
	// system, and the VM's section is picked when HELLO names it.
	char config_error[CONFIG_ERROR_MAX];
	if (!config_load_default(&o.config, o.config_path, config_error, sizeof(config_error))) {
		fprintf(stderr, "crosswayd: %s\n", config_error);
		return CONTEXT_EXIT_USAGE;
	}
	if (print_policy) {
		struct policy_config pc;
		config_policy_for(&o.config, o.vm ? o.vm : "vm", &pc);
		printf("# from %s\n", o.config.path[0] ? o.config.path : "the built-in defaults");
		config_print(&pc, stdout);
		return 0;
	}
	int modes = service + (o.backend_fd >= 0) + (listen_path != NULL);
	if (modes != 1) {
		fputs(modes ? "crosswayd: --fd, --service and --listen do not mix\n" : usage,
		      stderr);
		return CONTEXT_EXIT_USAGE;
	}
	if (listen_path != NULL && o.vm == NULL) {
		fputs("crosswayd: --listen needs --vm NAME (it labels the windows)\n", stderr);
		return CONTEXT_EXIT_USAGE;
	}
	// A peer that goes away must give EPIPE, not kill us.
	signal(SIGPIPE, SIG_IGN);
	if (o.vm != NULL) {
		cw_log_set_tag(o.vm);
	}
	cw_log_capture_wayland();
	if (service || listen_path != NULL) {
		svc.display = o.display;
		if (!add_listeners(&svc, &o, service, socket_path, listen_path, vm_sockets)) {
			return CONTEXT_EXIT_USAGE;
		}
		return service_run(&svc);
	}
	if (fcntl(o.backend_fd, F_GETFD) < 0) {
		fprintf(stderr, "crosswayd: --fd %d is not an open file descriptor\n",
			o.backend_fd);
		return CONTEXT_EXIT_USAGE;
	}
	fd_set_cloexec(o.backend_fd);
	// The policy (and with it how to reach the compositor) depends on the
	// VM that HELLO names: look at it without consuming it.
	struct crossway_backend_hello hello;
	bool have_hello = backend_peek_hello(o.backend_fd, 10000, &hello);
	struct service_compositor comp = {.fd = -1, .close_fd = -1};
	if (have_hello && (hello.flags & CROSSWAY_BACKEND_HELLO_PROBE)) {
		snprintf(comp.error, sizeof(comp.error), "not needed for a probe");
	} else {
		connect_compositor(&o,
				   o.vm         ? o.vm
				   : have_hello ? hello.vm_name
						: NULL,
				   have_hello ? hello.ctx_id : 0, &comp);
	}
	return serve_context(&o, o.backend_fd, &comp);
}
