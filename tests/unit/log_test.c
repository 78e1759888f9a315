/*
 * daemon/log: what peers chose (a VM's context name, a compositor's error
 * text) cannot forge log lines or reach a terminal as escape sequences.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "tests/harness/test.h"

TEST(sanitize_escapes_everything_but_printable_ascii) {
	char out[64];
	cw_log_sanitize("vm-1 (work)", out, sizeof(out));
	test_assert_str_eq(out, "vm-1 (work)");
	cw_log_sanitize("a\nb\x1b[2J\\\x7f\xc3\xa9", out, sizeof(out));
	test_assert_str_eq(out, "a\\x0ab\\x1b[2J\\x5c\\x7f\\xc3\\xa9");
	// Truncation never splits an escape and always leaves a NUL.
	for (size_t cap = 1; cap <= 12; cap++) {
		memset(out, 'Z', sizeof(out));
		cw_log_sanitize("ab\ncd", out, cap);
		test_assert_msg(memchr(out, '\0', cap) != NULL, "cap %zu: no NUL", cap);
		test_assert_int_eq(out[cap], 'Z');
		const char *whole = "ab\\x0acd";
		size_t len = strlen(out);
		test_assert(strncmp(out, whole, len) == 0);
		test_assert_msg(len == 0 || len == 1 || len == 2 || len >= 6, "cap %zu: '%s'", cap,
				out);
	}
	cw_log_sanitize("x", out, 0); // writes nothing
}

/* Runs one cw_log call with stderr on a pipe and returns what was written. */
static void capture(char *buf, size_t cap, const char *arg) {
	int p[2];
	test_assert(pipe(p) == 0);
	int saved = dup(STDERR_FILENO);
	test_assert(saved >= 0 && dup2(p[1], STDERR_FILENO) == STDERR_FILENO);
	cw_log(CW_LOG_ERROR, "compositor said: %s", arg);
	test_assert(dup2(saved, STDERR_FILENO) == STDERR_FILENO);
	close(saved);
	close(p[1]);
	ssize_t n = read(p[0], buf, cap - 1);
	close(p[0]);
	test_assert(n > 0);
	buf[n] = '\0';
}

TEST(one_line_per_message_whatever_the_arguments) {
	cw_log_set_level(CW_LOG_INFO);
	cw_log_set_tag("vm-a");
	char line[256];
	capture(line, sizeof(line), "bad\ncrosswayd[vm-b]: forged\x1b[0m\t!");
	test_assert_str_eq(line, "crosswayd[vm-a]: compositor said: bad?crosswayd[vm-b]: "
				 "forged?[0m?!\n");
	// UTF-8 text stays; C1 controls in UTF-8 (here CSI, U+009B, and NEL,
	// U+0085) and bytes that are not well-formed UTF-8 (a raw 8-bit CSI, a
	// stray continuation byte, an overlong '/', a surrogate, a cut-off
	// sequence) become '?', byte for byte.
	capture(line, sizeof(line),
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80|\xc2\x9b"
		"2J|\xc2\x85|\x9b|\x80|"
		"\xc0\xaf|\xed\xa0\x80|\xe2\x82");
	test_assert_str_eq(line, "crosswayd[vm-a]: compositor said: caf\xc3\xa9 \xe2\x82\xac "
				 "\xf0\x9f\x98\x80|??2J|??|?|?|??|???|??\n");
	// A line longer than the buffer is cut but still ends with its newline.
	char big[4096];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	char out[4096];
	capture(out, sizeof(out), big);
	size_t len = strlen(out);
	test_assert(len > 1000 && out[len - 1] == '\n');
	test_assert(strchr(out, '\n') == out + len - 1);
}
