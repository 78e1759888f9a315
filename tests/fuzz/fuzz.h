/*
 * Shared pieces of crossway's fuzz targets.
 *
 * Each target defines LLVMFuzzerTestOneInput. Built with clang and
 * -fsanitize=fuzzer, libFuzzer supplies main(); in every other build
 * tests/fuzz/replay.c supplies one that feeds files through the same entry
 * point, so gcc builds (and CI without clang) replay the corpus.
 *
 * Targets state what the codecs promise with fuzz_check(): a failed check
 * prints why and calls abort(), also in NDEBUG builds, so libFuzzer records
 * the input as a crash and the replay runner stops with a signal.
 */
#ifndef CROSSWAY_TESTS_FUZZ_FUZZ_H
#define CROSSWAY_TESTS_FUZZ_FUZZ_H

#include <sanitizer/asan_interface.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/**
 * Runs one input. @data is @size bytes, borrowed for the call (libFuzzer and
 * the replay runner both pass a heap block of exactly @size bytes, so
 * AddressSanitizer sees any read past it). Returns 0; every failure aborts.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** Prints "fuzz check failed at file:line: expr: message" and aborts. */
__attribute__((noreturn, format(printf, 4, 5))) static inline void fuzz_fail(const char *file,
									     int line,
									     const char *expr,
									     const char *fmt, ...) {
	fprintf(stderr, "fuzz check failed at %s:%d: %s: ", file, line, expr);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	abort();
}

/* fuzz_check(cond, fmt, ...): abort with a message unless @cond holds. */
#define fuzz_check(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                         \
		}                                                                                  \
	} while (0)

/**
 * True when CROSSWAY_FUZZ_VERBOSE is set: targets then print what they
 * decoded and why they stopped, to check what a seed exercises
 * (CROSSWAY_FUZZ_VERBOSE=1 <target>-replay FILE).
 */
static inline bool fuzz_verbose(void) {
	static int verbose = -1;
	if (verbose < 0) {
		verbose = getenv("CROSSWAY_FUZZ_VERBOSE") != NULL;
	}
	return verbose;
}

/** Prints one line to stderr when fuzz_verbose(). */
__attribute__((format(printf, 1, 2))) static inline void fuzz_note(const char *fmt, ...) {
	if (!fuzz_verbose()) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Guarded scratch blocks. fuzz_block(slot, n) returns a static block of
 * which exactly @n bytes are addressable under AddressSanitizer: the bytes
 * before and after it are poisoned, so code that reads or writes past a
 * buffer it was given is reported as it would be with malloc(n), without
 * the allocator's cost per call (a stack unwind and a stack-depot insert,
 * a fifth of a decoder target's time). Without ASan it is a plain static
 * block. Slots are independent; a new block on a slot ends the previous
 * one. @n is at most FUZZ_BLOCK_MAX.
 */
#define FUZZ_BLOCK_SLOTS 4
#define FUZZ_BLOCK_MAX (64 * 1024)
#define FUZZ_BLOCK_REDZONE 64

static inline void *fuzz_block(unsigned slot, size_t n) {
	static _Alignas(16) uint8_t arena[FUZZ_BLOCK_SLOTS]
					 [FUZZ_BLOCK_REDZONE + FUZZ_BLOCK_MAX + FUZZ_BLOCK_REDZONE];
	static size_t opened[FUZZ_BLOCK_SLOTS]; // bytes unpoisoned now, plus one; 0: never
	fuzz_check(slot < FUZZ_BLOCK_SLOTS && n <= FUZZ_BLOCK_MAX, "fuzz_block(%u, %zu)", slot, n);
	uint8_t *block = arena[slot] + FUZZ_BLOCK_REDZONE;
	if (opened[slot] == 0) {
		ASAN_POISON_MEMORY_REGION(arena[slot], sizeof(arena[slot]));
	} else {
		ASAN_POISON_MEMORY_REGION(block, opened[slot] - 1);
	}
	ASAN_UNPOISON_MEMORY_REGION(block, n);
	opened[slot] = n + 1;
	return block;
}

/*
 * Reader over the fuzz input for the targets' own framing (mode bytes,
 * action scripts). Short reads yield false; values are little-endian.
 */
struct fuzz_input {
	const uint8_t *data; // borrowed
	size_t size;
	size_t pos;
};

static inline bool fuzz_take_u8(struct fuzz_input *in, uint8_t *out) {
	if (in->size - in->pos < 1) {
		return false;
	}
	*out = in->data[in->pos++];
	return true;
}

static inline bool fuzz_take_u16(struct fuzz_input *in, uint16_t *out) {
	if (in->size - in->pos < 2) {
		return false;
	}
	*out = (uint16_t)(in->data[in->pos] | in->data[in->pos + 1] << 8);
	in->pos += 2;
	return true;
}

/* Borrows up to @max bytes (fewer when the input ends); returns the count. */
static inline size_t fuzz_take_bytes(struct fuzz_input *in, size_t max, const uint8_t **out) {
	size_t n = in->size - in->pos < max ? in->size - in->pos : max;
	*out = in->data + in->pos;
	in->pos += n;
	return n;
}

#endif
