/*
 * The harness's runner: every TEST and TEST_P of the program, each through
 * test_run_forked, as TAP. A static-library member of its own, so a test
 * program that lists its cases at run time can bring its own main() and
 * still use the rest of the harness.
 */
/* _GNU_SOURCE: strsignal. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/harness/test.h"

extern const struct test_case __start_crossway_tests[];
extern const struct test_case __stop_crossway_tests[];

int main(int argc, char *argv[]) {
	const char *filter = argc > 1 ? argv[1] : NULL;
	bool no_fork = getenv("CROSSWAY_TEST_NO_FORK") != NULL;
	signal(SIGPIPE, SIG_IGN);
	size_t total = 0;
	for (const struct test_case *tc = __start_crossway_tests; tc < __stop_crossway_tests;
	     tc++) {
		if (filter == NULL || strstr(tc->name, filter) != NULL) {
			total += tc->count;
		}
	}
	printf("1..%zu\n", total);
	fflush(stdout);
	size_t index = 0, failed = 0;
	for (const struct test_case *tc = __start_crossway_tests; tc < __stop_crossway_tests;
	     tc++) {
		if (filter != NULL && strstr(tc->name, filter) == NULL) {
			continue;
		}
		for (size_t i = 0; i < tc->count; i++) {
			const void *data = tc->table ? (const char *)tc->table + i * tc->elem_size
						     : NULL;
			char name[256];
			if (tc->table) {
				snprintf(name, sizeof(name), "%s[%zu]", tc->name, i);
			} else {
				snprintf(name, sizeof(name), "%s", tc->name);
			}
			index++;
			if (no_fork) {
				tc->run(data);
				printf("ok %zu %s\n", index, name);
				continue;
			}
			char reason[2048];
			int res = test_run_forked(tc->run, data, reason, sizeof(reason));
			if (res == 0) {
				printf("ok %zu %s\n", index, name);
			} else if (res == 2) {
				printf("ok %zu %s # SKIP %s\n", index, name, reason);
			} else {
				failed++;
				printf("not ok %zu %s\n", index, name);
				for (char *line = strtok(reason, "\n"); line;
				     line = strtok(NULL, "\n")) {
					printf("# %s\n", line);
				}
			}
			fflush(stdout);
		}
	}
	return failed ? 1 : 0;
}
