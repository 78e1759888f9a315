/*
 * Replay runner: the main() of a fuzz target built without libFuzzer (gcc
 * builds, sanitizer builds, CI machines without clang). It runs inputs
 * through the target's LLVMFuzzerTestOneInput, so the corpus and every
 * recorded crash are checked on each build.
 *
 *   <target>-replay [--summary] PATH...
 *
 * A PATH is a file, or a directory whose regular files (not recursively;
 * names starting with '.' skipped) are run in name order. Each input is
 * read into a heap block of exactly its size, as libFuzzer does.
 *
 * Output is TAP: "1..N", then "ok K - PATH" per input. A failing input
 * aborts the process (a fuzz_check or a sanitizer report); the
 * "# replaying PATH" line printed before each run names it. --summary
 * prints one line instead: inputs, bytes, milliseconds.
 *
 * Exit status: 0 when every input ran, 1 when a path cannot be read,
 * 77 (skipped) when there was nothing to run.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/fuzz/fuzz.h"

struct paths {
	char **list; // owned, each owned
	size_t len;
	size_t cap;
};

/* Appends @path; takes ownership (frees it on failure). */
static bool paths_push(struct paths *p, char *path) {
	if (path == NULL) {
		return false;
	}
	if (p->len == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		char **list = realloc(p->list, cap * sizeof(*list));
		if (list == NULL) {
			free(path);
			return false;
		}
		p->list = list;
		p->cap = cap;
	}
	p->list[p->len++] = path;
	return true;
}

static void paths_finish(struct paths *p) {
	for (size_t i = 0; i < p->len; i++) {
		free(p->list[i]);
	}
	free(p->list);
}

/* "dir/name" in a new string, or NULL. */
static char *join(const char *dir, const char *name) {
	size_t n = strlen(dir) + strlen(name) + 2;
	char *path = malloc(n);
	if (path != NULL) {
		snprintf(path, n, "%s/%s", dir, name);
	}
	return path;
}

static int skip_hidden(const struct dirent *e) {
	return e->d_name[0] != '.';
}

/* Adds @arg, or the regular files inside it when it is a directory. */
static bool collect(struct paths *p, const char *arg) {
	struct stat st;
	if (stat(arg, &st) != 0) {
		fprintf(stderr, "%s: %s\n", arg, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		return paths_push(p, strdup(arg));
	}
	struct dirent **entries;
	int n = scandir(arg, &entries, skip_hidden, alphasort);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", arg, strerror(errno));
		return false;
	}
	bool ok = true;
	for (int i = 0; i < n; i++) {
		char *path = ok ? join(arg, entries[i]->d_name) : NULL;
		if (path != NULL && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			ok = paths_push(p, path);
		} else {
			ok = ok && path != NULL;
			free(path);
		}
		free(entries[i]);
	}
	free(entries);
	return ok;
}

/* Reads a whole file into a block of exactly its size (one byte for an
 * empty file, passed with size 0). Caller frees. */
static uint8_t *read_file(const char *path, size_t *size) {
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	uint8_t *buf = NULL;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		goto out;
	}
	*size = (size_t)st.st_size;
	buf = malloc(*size > 0 ? *size : 1);
	if (buf == NULL || fread(buf, 1, *size, f) != *size) {
		fprintf(stderr, "%s: short read\n", path);
		free(buf);
		buf = NULL;
	}
out:
	fclose(f);
	return buf;
}

static double now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char *argv[]) {
	bool summary = false;
	struct paths paths = {0};
	int status = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--summary") == 0) {
			summary = true;
		} else if (!collect(&paths, argv[i])) {
			status = 1;
			goto out;
		}
	}
	if (paths.len == 0) {
		printf("1..0 # SKIP no inputs\n");
		status = 77;
		goto out;
	}
	if (!summary) {
		printf("1..%zu\n", paths.len);
	}
	size_t bytes = 0;
	double start = now_ms();
	for (size_t i = 0; i < paths.len; i++) {
		size_t size;
		uint8_t *data = read_file(paths.list[i], &size);
		if (data == NULL) {
			printf("not ok %zu - %s # unreadable\n", i + 1, paths.list[i]);
			status = 1;
			continue;
		}
		if (!summary) {
			printf("# replaying %s\n", paths.list[i]);
			fflush(stdout);
		}
		LLVMFuzzerTestOneInput(data, size);
		free(data);
		bytes += size;
		if (!summary) {
			printf("ok %zu - %s\n", i + 1, paths.list[i]);
		}
	}
	if (summary) {
		printf("replayed %zu inputs, %zu bytes, in %.1f ms\n", paths.len, bytes,
		       now_ms() - start);
	}
out:
	paths_finish(&paths);
	return status;
}
