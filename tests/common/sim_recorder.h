/*
 * Runs the in-process recording compositor (tests/recorder) while a sim
 * waits for crosswayd, so one test process can be both the VMM and the
 * compositor. Header-only: tests/common itself does not link the recorder.
 */
#ifndef CROSSWAY_TESTS_COMMON_SIM_RECORDER_H
#define CROSSWAY_TESTS_COMMON_SIM_RECORDER_H

#include "tests/common/sim.h"
#include "tests/recorder/recorder.h"

static inline void sim_recorder_dispatch(void *rec, int timeout_ms) {
	recorder_dispatch(rec, timeout_ms);
}

/** Dispatches @rec (borrowed; it must outlive the sim's waits) in @sim's waits. */
static inline void sim_attach_recorder(struct sim *sim, struct recorder *rec) {
	sim->extra_fd = recorder_get_fd(rec);
	sim->extra_dispatch = sim_recorder_dispatch;
	sim->extra_data = rec;
}

#endif
