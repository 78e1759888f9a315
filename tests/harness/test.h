/*
 * The crossway test harness.
 *
 *   TEST(name) { ... }            a plain test
 *   TEST_P(name, table) { ... }   runs once per element of the array `table`;
 *                                 the element is `data` (a pointer to it)
 *
 * Each test runs in a forked child with an alarm timeout (30 s, or
 * test_set_timeout) and a private XDG_RUNTIME_DIR. After the test the child
 * compares its open fds with the count before it, so a leaked fd fails the
 * test. Output is TAP. CROSSWAY_TEST_NO_FORK=1 runs tests in-process (for
 * gdb; no leak or timeout checks); a command-line argument runs only the
 * tests whose name contains it.
 *
 * Assertions print file, line and expression and fail the test.
 */
#ifndef CROSSWAY_TESTS_HARNESS_TEST_H
#define CROSSWAY_TESTS_HARNESS_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*run)(const void *data);
	const void *table; // TEST_P: the array; NULL for TEST
	size_t elem_size;
	size_t count;
};

#define TEST_SECTION __attribute__((used, section("crossway_tests"), aligned(sizeof(void *))))

#define TEST(tname)                                                                                \
	static void tname(const void *data);                                                       \
	static const struct test_case test_case_##tname TEST_SECTION = {                           \
		.name = #tname, .run = tname, .table = NULL, .elem_size = 0, .count = 1};          \
	static void tname(const void *data __attribute__((unused)))

#define TEST_P(tname, tbl)                                                                         \
	static void tname##_body(const __typeof__((tbl)[0]) *data);                                \
	static void tname(const void *data) {                                                      \
		tname##_body(data);                                                                \
	}                                                                                          \
	static const struct test_case test_case_##tname TEST_SECTION = {                           \
		.name = #tname,                                                                    \
		.run = tname,                                                                      \
		.table = (tbl),                                                                    \
		.elem_size = sizeof((tbl)[0]),                                                     \
		.count = sizeof(tbl) / sizeof((tbl)[0])};                                          \
	static void tname##_body(const __typeof__((tbl)[0]) *data)

/** Ends the current test as failed, with a message. Does not return. */
__attribute__((noreturn, format(printf, 3, 4))) void test_fail(const char *file, int line,
							       const char *fmt, ...);

/** Ends the current test as skipped (TAP "# SKIP reason"). Does not return. */
__attribute__((noreturn, format(printf, 1, 2))) void test_skip(const char *fmt, ...);

/** Replaces the current test's timeout (seconds). */
void test_set_timeout(unsigned seconds);

/** Prints a TAP diagnostic line ("# ..."). */
__attribute__((format(printf, 1, 2))) void test_note(const char *fmt, ...);

/**
 * Runs @run(@data) as the harness runs a test: in a forked child with its own
 * process group and XDG_RUNTIME_DIR, the timeout, and the fd-leak check.
 * Returns 0 (pass), 1 (fail) or 2 (skip), with the reason in @reason. For
 * programs that list their cases at run time and bring their own main().
 */
int test_run_forked(void (*run)(const void *data), const void *data, char *reason,
		    size_t reason_cap);

/** Number of fds the process has open (entries of /proc/self/fd). */
int test_count_fds(void);

/**
 * The program named by environment variable @var (set by meson, e.g.
 * CROSSWAYD); skips the current test when it is unset or not executable.
 */
const char *test_program(const char *var);

#define test_assert(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			test_fail(__FILE__, __LINE__, "assertion failed: %s", #cond);              \
		}                                                                                  \
	} while (0)

#define test_assert_msg(cond, ...)                                                                 \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			test_fail(__FILE__, __LINE__, __VA_ARGS__);                                \
		}                                                                                  \
	} while (0)

#define test_assert_int_eq(a, b)                                                                   \
	do {                                                                                       \
		long long test_a_ = (long long)(a), test_b_ = (long long)(b);                      \
		if (test_a_ != test_b_) {                                                          \
			test_fail(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, test_a_,   \
				  test_b_);                                                        \
		}                                                                                  \
	} while (0)

#define test_assert_str_eq(a, b)                                                                   \
	do {                                                                                       \
		const char *test_a_ = (a), *test_b_ = (b);                                         \
		if (test_a_ == NULL || test_b_ == NULL || strcmp(test_a_, test_b_) != 0) {         \
			test_fail(__FILE__, __LINE__, "%s == %s:\n#   \"%s\"\n# != \"%s\"", #a,    \
				  #b, test_a_ ? test_a_ : "(null)", test_b_ ? test_b_ : "(null)"); \
		}                                                                                  \
	} while (0)

/* The string @haystack contains @needle. */
#define test_assert_str_contains(haystack, needle)                                                 \
	do {                                                                                       \
		const char *test_h_ = (haystack), *test_n_ = (needle);                             \
		if (test_h_ == NULL || strstr(test_h_, test_n_) == NULL) {                         \
			test_fail(__FILE__, __LINE__, "\"%s\" does not contain \"%s\"",            \
				  test_h_ ? test_h_ : "(null)", test_n_);                          \
		}                                                                                  \
	} while (0)

#endif
