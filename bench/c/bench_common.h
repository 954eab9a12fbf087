/*
 * What the benchmark's C helpers (flowgen.c, nfq_accept.c) share: a stop
 * flag set by SIGINT/SIGTERM, and clocks as seconds in a double.
 */
#ifndef L7MESH_BENCH_COMMON_H
#define L7MESH_BENCH_COMMON_H

#include <signal.h>
#include <time.h>

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

/* SIGINT and SIGTERM set stop_requested; the main loop ends at its next check. */
static void stop_on_signals(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

static double clock_seconds(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_mono(void) { return clock_seconds(CLOCK_MONOTONIC); }

#endif
