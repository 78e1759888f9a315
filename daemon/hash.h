/*
 * The mixing step of crosswayd's hash tables. Tables keyed by what a guest
 * or the compositor picks also mix in a random per-table key, so nobody can
 * choose keys that share a slot.
 */
#ifndef CROSSWAY_DAEMON_HASH_H
#define CROSSWAY_DAEMON_HASH_H

#include <stdint.h>

/* murmur3's 64-bit finaliser: every input bit moves about half the output. */
static inline uint64_t hash_mix64(uint64_t h) {
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

#endif
