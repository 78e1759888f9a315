/*
 * F-08's allocation-failure injector, preloaded into crosswayd (LD_PRELOAD).
 *
 * It wraps malloc, calloc, realloc, mmap, memfd_create and gbm_bo_create
 * (with gbm_bo_create_with_modifiers2) and names every call by its site:
 * the innermost return address inside crosswayd's own executable, as an
 * offset from its load address (stable across runs despite ASLR), plus,
 * when crosswayd reached the allocation through a library (strdup,
 * wl_event_loop_add_fd, libseccomp ...), the library and the offset of the
 * allocating call inside it. A site is also told apart by the next two
 * crosswayd frames out, its callers: a helper such as byte_queue_reserve
 * (or byte_queue_append, which calls it) grows every queue of the
 * context, and each caller handles the failure in its own way. And it has
 * a phase: "startup" until the event loop first waits (the first
 * epoll_wait), "context" after, so the same line of code reached in both
 * phases is two sites. Allocations before main() (the dynamic loader,
 * libc's and a sanitizer runtime's set-up) or with no crosswayd frame on
 * the stack are not sites and never fail. Frames are found with libgcc_s's
 * unwinder (a dependency of the shim; backtrace() would dlopen it, and
 * allocate, on its first call).
 *
 * $CROSSWAY_ALLOC_MODE:
 *   census   report every new site on stderr, once: "crossway-alloc-shim:
 *            site PHASE KIND 0xEXE 0xCALLER 0xCALLER2 LIB 0xLIB SYMBOL"
 *            (offsets of return addresses in the executable, 0 for no
 *            caller; LIB is "-" for a direct call, SYMBOL the library
 *            function nearest to the allocating call, or "-")
 *   inject   fail the first call of the site in $CROSSWAY_ALLOC_SITE (its
 *            first seven fields, as the census printed them) the way the
 *            kernel or libc would for want of memory (NULL, MAP_FAILED or
 *            -1 with errno ENOMEM) and report "crossway-alloc-shim:
 *            injected ..." on stderr
 *   unset    pass everything through
 * Reports go to stderr with one write(2) each, which the sandbox allows
 * (crosswayd logs there), so the shim works with the sandbox on.
 *
 * The real allocator is AddressSanitizer's when crosswayd is built with it
 * (the shim then comes first: ASAN_OPTIONS=verify_asan_link_order=0), found
 * through weak references to its __interceptor_malloc family, which the
 * dynamic linker resolves before anything runs; otherwise glibc's
 * __libc_malloc family. No dlsym for these: glibc's dlsym allocates, and
 * frees what it allocated through whichever free comes first. The other
 * functions come from dlsym(RTLD_NEXT) in the constructor; a call before it
 * (the sanitizer runtime starts first) is made as a plain system call.
 * crosswayd is single-threaded, and so is the shim's state.
 */
#define _GNU_SOURCE
// Both mmap and mmap64 are wrapped: neither may be an alias of the other.
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <unwind.h>

#define MAX_SITES 4096
#define MAX_FRAMES 32
#define LIB_NAME_MAX 64
#define CALLERS 2
#define PREFIX "crossway-alloc-shim: "

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__interceptor_malloc(size_t size) __attribute__((weak));
extern void *__interceptor_calloc(size_t n, size_t size) __attribute__((weak));
extern void *__interceptor_realloc(void *p, size_t size) __attribute__((weak));

/* libgbm's, declared here: the shim does not need its headers. */
struct gbm_device;
struct gbm_bo;
struct gbm_bo *gbm_bo_create(struct gbm_device *gbm, uint32_t width, uint32_t height,
			     uint32_t format, uint32_t flags);
struct gbm_bo *gbm_bo_create_with_modifiers2(struct gbm_device *gbm, uint32_t width,
					     uint32_t height, uint32_t format,
					     const uint64_t *modifiers, const unsigned count,
					     uint32_t flags);

enum kind { KIND_MALLOC, KIND_CALLOC, KIND_REALLOC, KIND_MMAP, KIND_MEMFD, KIND_GBM, KIND_COUNT };

static const char *const kind_names[KIND_COUNT] = {
	"malloc", "calloc", "realloc", "mmap", "memfd_create", "gbm_bo_create",
};

static const char *const phase_names[2] = {"startup", "context"};

enum mode { MODE_OFF, MODE_CENSUS, MODE_INJECT };

struct site {
	unsigned phase;
	enum kind kind;
	uintptr_t exe_off;
	uintptr_t callers[CALLERS]; // 0: none
	char lib[LIB_NAME_MAX];     // "-" for a direct call
	uintptr_t lib_off;
};

static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static void *(*real_mmap64)(void *, size_t, int, int, int, off64_t);
static int (*real_memfd_create)(const char *, unsigned);
static int (*real_epoll_wait)(int, struct epoll_event *, int, int);
static int (*real_libc_start_main)(int (*)(int, char **, char **), int, char **, void (*)(void),
				   void (*)(void), void (*)(void), void *);
static int (*real_main)(int, char **, char **);

static enum mode mode;
static bool ready;     // set up and in main(): sites are looked at
static unsigned phase; // 0: start-up, 1: the event loop ran
static unsigned busy;  // inside the shim: nested allocations pass through
static uintptr_t exe_lo, exe_hi, exe_base;
static struct site target; // MODE_INJECT
static bool injected;
static struct site seen[MAX_SITES]; // MODE_CENSUS
static size_t seen_count;

static int find_exe(struct dl_phdr_info *info, size_t size, void *data) {
	(void)size;
	(void)data;
	// The first object is the program itself.
	exe_base = info->dlpi_addr;
	exe_lo = UINTPTR_MAX;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X)) {
			continue; // return addresses are in code
		}
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		uintptr_t hi = lo + ph->p_memsz;
		exe_lo = lo < exe_lo ? lo : exe_lo;
		exe_hi = hi > exe_hi ? hi : exe_hi;
	}
	return 1;
}

static bool in_exe(uintptr_t pc) {
	return pc >= exe_lo && pc < exe_hi;
}

static void say(const char *line, size_t len) {
	ssize_t unused = write(STDERR_FILENO, line, len);
	(void)unused;
}

static bool parse_target(const char *text) {
	char phase_name[16], kind_name[16];
	unsigned long long exe_off, callers[CALLERS], lib_off;
	if (sscanf(text, "%15s %15s %llx %llx %llx %63s %llx", phase_name, kind_name, &exe_off,
		   &callers[0], &callers[1], target.lib, &lib_off) != 7) {
		return false;
	}
	for (int i = 0; i < CALLERS; i++) {
		target.callers[i] = (uintptr_t)callers[i];
	}
	target.phase = strcmp(phase_name, "context") == 0 ? 1 : 0;
	target.kind = KIND_COUNT;
	for (int k = 0; k < KIND_COUNT; k++) {
		if (strcmp(kind_name, kind_names[k]) == 0) {
			target.kind = (enum kind)k;
		}
	}
	target.exe_off = (uintptr_t)exe_off;
	target.lib_off = (uintptr_t)lib_off;
	return target.kind != KIND_COUNT;
}

__attribute__((constructor)) static void shim_init(void) {
	busy++;
	real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
	real_mmap64 = (void *(*)(void *, size_t, int, int, int, off64_t))dlsym(RTLD_NEXT, "mmap64");
	real_memfd_create = (int (*)(const char *, unsigned))dlsym(RTLD_NEXT, "memfd_create");
	real_epoll_wait = (int (*)(int, struct epoll_event *, int, int))dlsym(RTLD_NEXT,
									      "epoll_wait");
	dl_iterate_phdr(find_exe, NULL);
	real_libc_start_main = (int (*)(int (*)(int, char **, char **), int, char **,
					void (*)(void), void (*)(void), void (*)(void),
					void *))dlsym(RTLD_NEXT, "__libc_start_main");
	const char *m = getenv("CROSSWAY_ALLOC_MODE");
	if (m != NULL && strcmp(m, "census") == 0) {
		mode = MODE_CENSUS;
	} else if (m != NULL && strcmp(m, "inject") == 0) {
		const char *t = getenv("CROSSWAY_ALLOC_SITE");
		if (t != NULL && parse_target(t)) {
			mode = MODE_INJECT;
		} else {
			static const char bad[] = PREFIX "bad CROSSWAY_ALLOC_SITE\n";
			say(bad, sizeof(bad) - 1);
		}
	}
	busy--;
}

static int wrapped_main(int argc, char **argv, char **envp) {
	ready = real_mmap != NULL && real_mmap64 != NULL && real_memfd_create != NULL &&
		real_epoll_wait != NULL && exe_hi > exe_lo;
	return real_main(argc, argv, envp);
}

int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void), void *stack_end);

/* Wrapped to see main() start: what runs before it is not crosswayd's. */
int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv, void (*init)(void),
		      void (*fini)(void), void (*rtld_fini)(void), void *stack_end) {
	real_main = main;
	return real_libc_start_main(wrapped_main, argc, argv, init, fini, rtld_fini, stack_end);
}

struct unwind {
	uintptr_t pcs[MAX_FRAMES];
	int n;
};

static _Unwind_Reason_Code unwind_one(struct _Unwind_Context *uc, void *data) {
	struct unwind *u = data;
	if (u->n == MAX_FRAMES) {
		return _URC_END_OF_STACK;
	}
	u->pcs[u->n++] = (uintptr_t)_Unwind_GetIP(uc);
	return _URC_NO_REASON;
}

/* The library holding @pc and @pc's offset in it; false if in none. */
static bool lib_of(uintptr_t pc, char *name, uintptr_t *off, const char **symbol) {
	Dl_info info;
	if (dladdr((void *)pc, &info) == 0 || info.dli_fname == NULL) {
		return false;
	}
	const char *base = strrchr(info.dli_fname, '/');
	snprintf(name, LIB_NAME_MAX, "%s", base != NULL ? base + 1 : info.dli_fname);
	*off = pc - (uintptr_t)info.dli_fbase;
	if (symbol != NULL) {
		*symbol = info.dli_sname;
	}
	return true;
}

/*
 * Names the call that returns to @ret (the allocation function's caller).
 * Returns false when no frame is crosswayd's.
 */
static bool locate(uintptr_t ret, enum kind kind, struct site *s, const char **symbol) {
	s->phase = phase;
	s->kind = kind;
	s->exe_off = 0;
	memset(s->callers, 0, sizeof(s->callers));
	if (symbol != NULL) {
		*symbol = NULL;
	}
	if (in_exe(ret)) {
		s->exe_off = ret - exe_base;
		snprintf(s->lib, sizeof(s->lib), "-");
		s->lib_off = 0;
	} else if (!lib_of(ret, s->lib, &s->lib_off, symbol)) {
		return false;
	}
	if (mode == MODE_INJECT &&
	    (s->lib_off != target.lib_off || strcmp(s->lib, target.lib) != 0 ||
	     (s->exe_off != 0 && s->exe_off != target.exe_off))) {
		return true; // not the target: no need to unwind
	}
	struct unwind u = {.n = 0};
	_Unwind_Backtrace(unwind_one, &u);
	int i = 0;
	while (i < u.n && !in_exe(u.pcs[i])) {
		i++;
	}
	if (i == u.n) {
		return false;
	}
	s->exe_off = u.pcs[i] - exe_base;
	for (int c = 0; c < CALLERS && ++i < u.n;) {
		if (in_exe(u.pcs[i])) {
			s->callers[c++] = u.pcs[i] - exe_base;
		}
	}
	return true;
}

static bool same_site(const struct site *a, const struct site *b) {
	return a->phase == b->phase && a->kind == b->kind && a->exe_off == b->exe_off &&
	       memcmp(a->callers, b->callers, sizeof(a->callers)) == 0 &&
	       a->lib_off == b->lib_off && strcmp(a->lib, b->lib) == 0;
}

static void report(const char *what, const struct site *s, const char *symbol) {
	char line[256];
	int n = snprintf(line, sizeof(line), PREFIX "%s %s %s 0x%llx 0x%llx 0x%llx %s 0x%llx %s\n",
			 what, phase_names[s->phase], kind_names[s->kind],
			 (unsigned long long)s->exe_off, (unsigned long long)s->callers[0],
			 (unsigned long long)s->callers[1], s->lib, (unsigned long long)s->lib_off,
			 symbol != NULL ? symbol : "-");
	if (n > 0) {
		say(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
}

static void census(const struct site *s, const char *symbol) {
	for (size_t i = 0; i < seen_count; i++) {
		if (same_site(&seen[i], s)) {
			return;
		}
	}
	if (seen_count == MAX_SITES) {
		return;
	}
	seen[seen_count++] = *s;
	report("site", s, symbol);
}

/* Whether the call of @kind returning to @ret must fail. */
static bool should_fail(enum kind kind, uintptr_t ret) {
	if (!ready || busy > 0 || mode == MODE_OFF || (mode == MODE_INJECT && injected)) {
		return false;
	}
	if (mode == MODE_INJECT && (kind != target.kind || phase != target.phase)) {
		return false;
	}
	busy++;
	struct site s;
	const char *symbol;
	bool fail = false;
	if (locate(ret, kind, &s, &symbol)) {
		if (mode == MODE_CENSUS) {
			census(&s, symbol);
		} else if (same_site(&s, &target)) {
			injected = true;
			fail = true;
			report("injected", &s, symbol);
		}
	}
	busy--;
	return fail;
}

#define CALLER ((uintptr_t)__builtin_return_address(0))

void *malloc(size_t size) {
	if (should_fail(KIND_MALLOC, CALLER)) {
		errno = ENOMEM;
		return NULL;
	}
	return __interceptor_malloc != NULL ? __interceptor_malloc(size) : __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
	if (should_fail(KIND_CALLOC, CALLER)) {
		errno = ENOMEM;
		return NULL;
	}
	return __interceptor_calloc != NULL ? __interceptor_calloc(n, size)
					    : __libc_calloc(n, size);
}

void *realloc(void *p, size_t size) {
	if (should_fail(KIND_REALLOC, CALLER)) {
		errno = ENOMEM;
		return NULL;
	}
	return __interceptor_realloc != NULL ? __interceptor_realloc(p, size)
					     : __libc_realloc(p, size);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
	if (should_fail(KIND_MMAP, CALLER)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	if (real_mmap == NULL) {
		return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	}
	return real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off) {
	if (should_fail(KIND_MMAP, CALLER)) {
		errno = ENOMEM;
		return MAP_FAILED;
	}
	if (real_mmap64 == NULL) {
		return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	}
	return real_mmap64(addr, len, prot, flags, fd, off);
}

int memfd_create(const char *name, unsigned flags) {
	if (should_fail(KIND_MEMFD, CALLER)) {
		errno = ENOMEM;
		return -1;
	}
	if (real_memfd_create == NULL) {
		return (int)syscall(SYS_memfd_create, name, flags);
	}
	return real_memfd_create(name, flags);
}

struct gbm_bo *gbm_bo_create(struct gbm_device *gbm, uint32_t width, uint32_t height,
			     uint32_t format, uint32_t flags) {
	static struct gbm_bo *(*real)(struct gbm_device *, uint32_t, uint32_t, uint32_t, uint32_t);
	if (should_fail(KIND_GBM, CALLER)) {
		errno = ENOMEM;
		return NULL;
	}
	if (real == NULL) {
		real = (struct gbm_bo * (*)(struct gbm_device *, uint32_t, uint32_t, uint32_t,
					    uint32_t)) dlsym(RTLD_NEXT, "gbm_bo_create");
	}
	return real != NULL ? real(gbm, width, height, format, flags) : NULL;
}

struct gbm_bo *gbm_bo_create_with_modifiers2(struct gbm_device *gbm, uint32_t width,
					     uint32_t height, uint32_t format,
					     const uint64_t *modifiers, const unsigned count,
					     uint32_t flags) {
	static struct gbm_bo *(*real)(struct gbm_device *, uint32_t, uint32_t, uint32_t,
				      const uint64_t *, unsigned, uint32_t);
	if (should_fail(KIND_GBM, CALLER)) {
		errno = ENOMEM;
		return NULL;
	}
	if (real == NULL) {
		real = (struct gbm_bo * (*)(struct gbm_device *, uint32_t, uint32_t, uint32_t,
					    const uint64_t *, unsigned, uint32_t))
			dlsym(RTLD_NEXT, "gbm_bo_create_with_modifiers2");
	}
	return real != NULL ? real(gbm, width, height, format, modifiers, count, flags) : NULL;
}

/* The event loop's first wait ends the start-up phase. */
int epoll_wait(int epfd, struct epoll_event *events, int max, int timeout) {
	phase = 1;
	if (real_epoll_wait == NULL) {
		return (int)syscall(SYS_epoll_wait, epfd, events, max, timeout);
	}
	return real_epoll_wait(epfd, events, max, timeout);
}
