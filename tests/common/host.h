/*
 * A real compositor for C tests: weston headless (pixman, --debug for
 * screenshots, with the test seat module when $FAKE_SEAT names it), started
 * in the test's own XDG_RUNTIME_DIR and stopped with its process group.
 */
#ifndef CROSSWAY_TESTS_COMMON_HOST_H
#define CROSSWAY_TESTS_COMMON_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct host {
	pid_t pid;
	char display[64]; // socket name in $XDG_RUNTIME_DIR
	char fifo[256];   // the test seat's input FIFO ("" without a seat)
	bool seat;
};

/** Starts weston; false (test should skip) when weston is not installed. */
bool host_start(struct host *h, int width, int height);
void host_stop(struct host *h);

/** Whether the compositor still answers a round trip. */
bool host_alive(const struct host *h);

/** Screenshot into @rgba (caller frees): width*height*4 bytes. */
bool host_screenshot(const struct host *h, uint8_t **rgba, int *width, int *height);

/** Sends a line to the test seat ("key 30 1", "motion 10 10" ...). */
bool host_input(const struct host *h, const char *line);

#endif
