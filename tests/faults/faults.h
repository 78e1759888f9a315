/*
 * Shared fixtures of the fault-case tests (security.md §7.6): processes
 * started and reaped by the test, /proc readers and guest-side message
 * builders. Everything here fails the current test on error.
 */
#ifndef CROSSWAY_TESTS_FAULTS_FAULTS_H
#define CROSSWAY_TESTS_FAULTS_FAULTS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tests/common/sim.h"

#define FAULTS_TIMEOUT_MS 5000

/** A crossway-recorder process. */
struct ext_recorder {
	pid_t pid; // 0 once reaped
	char name[64];
	char log[256]; // log file path, "" without --log
};

/** How to start crosswayd. */
struct faults_spawn {
	const char *display;        // --wayland-display, may be NULL
	const char *const *args;    // extra arguments, NULL-terminated, may be NULL
	const char *preload;        // LD_PRELOAD for crosswayd; may be NULL
	bool small_asan_quarantine; // sanitizer builds: keep ASan's quarantine out of RSS
};

/** Milliseconds on CLOCK_MONOTONIC. */
int64_t faults_now_ms(void);

/** $CROSSWAYD; skips the test when unset. */
const char *faults_crosswayd(void);

/** Whether crosswayd was built with sanitizers ($CROSSWAY_SANITIZED=1). */
bool faults_sanitized(void);

/**
 * Starts crossway-recorder on socket @name with @extra options
 * (NULL-terminated, may be NULL) and waits until it listens. With @log, it
 * logs one line per request/event into a file in $XDG_RUNTIME_DIR.
 */
void ext_recorder_start(struct ext_recorder *r, const char *name, const char *const *extra,
			bool log);

/** SIGKILLs (if still running) and reaps the recorder; removes its log. */
void ext_recorder_stop(struct ext_recorder *r);

/** Counts the lines of the recorder log that contain @needle. */
size_t ext_recorder_count(const struct ext_recorder *r, const char *needle);

/**
 * Starts crosswayd on a fresh socket pair as --fd 3, its stderr captured into
 * sim->stderr_fd, and sets up @sim for it (sim->pid is crosswayd).
 */
void faults_spawn(struct sim *sim, const struct faults_spawn *opts);

/**
 * Waits up to @timeout_ms for @pid (a child of ours) to end without touching
 * its link. Returns its wait status, or -1 on timeout (@pid is left alone).
 */
int faults_wait_pid(pid_t pid, int timeout_ms);

/**
 * The process that runs the context of crosswayd @pid: @pid itself, or, when
 * crosswayd sandboxed itself into a PID namespace, its innermost descendant.
 */
pid_t faults_context_pid(pid_t pid);

/** The first child of @pid, or 0 (from /proc/PID/task/∗/children). */
pid_t faults_first_child(pid_t pid);

/** All children of @pid into @out (at most @cap); returns the count. */
size_t faults_children(pid_t pid, pid_t *out, size_t cap);

/** A "VmRSS"/"VmHWM" style field of /proc/PID/status, in KiB, or -1. */
long faults_status_kib(pid_t pid, const char *field);

/** Number of entries in /proc/PID/fd, or -1; *max_fd gets the highest fd. */
int faults_count_fds(pid_t pid, int *max_fd);

/** SUBMITs a POLL and a channel fence (a guest waiting for events). Returns the fence. */
uint64_t faults_issue_poll(struct sim *sim);

/**
 * Lays out one Wayland message (@n argument words) at @buf; returns its
 * size in bytes.
 */
uint32_t faults_msg(uint8_t *buf, uint32_t object, uint16_t opcode, const uint32_t *words,
		    unsigned n);

/** Writes @text to a file named @name in $XDG_RUNTIME_DIR; returns its path (static). */
const char *faults_write_config(const char *name, const char *text);

#endif
