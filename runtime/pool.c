/*
 * pool.c — helper threads for large elementwise kernels (optimiser updates).
 *
 * Design: OpenBLAS already spreads each GEMM over the cores, but everything between GEMMs
 * (Adam, apply_updates) ran on one core while the others idled; on a 2-core machine that
 * was a third of a jitted training step. eqx__parallel_for splits a range into one chunk
 * per core: the calling thread runs the first, persistent helpers the rest. Helpers spin
 * for up to 50 us on a generation counter before sleeping on a condition variable,
 * because the next job usually comes microseconds later (the next parameter's update),
 * while the gap between training steps is GEMM time they must not steal. One job at a
 * time: a second thread calling in while a job runs just runs its range inline, so the
 * library stays thread-safe without queueing. Small ranges (below min_chunk per core)
 * run inline too: waking a thread costs more than they do. EQX_NUM_THREADS=1 disables
 * the helpers; the default is the number of online CPUs, at most EQX__MAX_THREADS.
 * Helpers are created once, on first use, and never allocate through the libeqx hook.
 */
#include "eqx_internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define EQX__MAX_THREADS 8
#define SPIN_NS 50000L

typedef struct job {
    eqx__range_fn fn;
    void *arg;
    int64_t n;
    int parts;
} job;

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_nthreads = 1;                /* including the caller */
static pthread_mutex_t g_busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_wake = PTHREAD_COND_INITIALIZER;
static job g_job;
static atomic_long g_gen;                 /* bumped per job */
static atomic_int g_left;                 /* helper chunks not yet finished */

static void run_part(const job *j, int part) {
    int64_t lo = j->n * part / j->parts, hi = j->n * (part + 1) / j->parts;
    if (lo < hi) j->fn(j->arg, lo, hi);
}

static void *helper(void *p) {
    int id = (int)(intptr_t)p;
    long seen = 0;
    for (;;) {
        /* Spin for at most SPIN_NS: the optimiser's jobs come microseconds apart (one per
         * parameter), but between training steps come milliseconds of GEMMs, during which
         * a spinning helper would take a core from OpenBLAS; so then it sleeps. */
        long gen = atomic_load_explicit(&g_gen, memory_order_acquire);
        if (gen == seen) {
            struct timespec t0, t;
            clock_gettime(CLOCK_MONOTONIC, &t0);
            for (int spin = 1; gen == seen; spin++) {
                if (spin % 64 == 0) {
                    clock_gettime(CLOCK_MONOTONIC, &t);
                    if ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) > SPIN_NS)
                        break;
                }
                gen = atomic_load_explicit(&g_gen, memory_order_acquire);
            }
        }
        /* the job is read and its completion reported under g_lock: the happens-before
         * edges are then plain mutex ones, which race checkers (helgrind, TSan) follow */
        pthread_mutex_lock(&g_lock);
        while (atomic_load_explicit(&g_gen, memory_order_relaxed) == seen)
            pthread_cond_wait(&g_wake, &g_lock);
        seen = atomic_load_explicit(&g_gen, memory_order_relaxed);
        job j = g_job;
        pthread_mutex_unlock(&g_lock);
        if (id < j.parts) run_part(&j, id);
        /* every helper acknowledges every job, even one it has no part in, so the caller
         * never rewrites g_job while a helper may still be copying it */
        pthread_mutex_lock(&g_lock);
        atomic_fetch_sub_explicit(&g_left, 1, memory_order_release);
        pthread_mutex_unlock(&g_lock);
    }
    return NULL;
}

static void pool_init(void) {
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    const char *env = getenv("EQX_NUM_THREADS");
    long want = env ? atol(env) : cpus;
    if (want < 1) want = 1;
    if (want > EQX__MAX_THREADS) want = EQX__MAX_THREADS;
    int made = 1;
    for (int i = 1; i < want; i++) {
        pthread_t t;
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&t, &at, helper, (void *)(intptr_t)i);
        pthread_attr_destroy(&at);
        if (rc != 0) break; /* fewer helpers is still correct */
        made++;
    }
    g_nthreads = made;
}

void eqx__parallel_for(int64_t n, int64_t min_chunk, eqx__range_fn fn, void *arg) {
    if (n <= 0) return;
    if (min_chunk > 0 && n < 2 * min_chunk) { /* too small to split: no threads needed */
        fn(arg, 0, n);
        return;
    }
    pthread_once(&g_once, pool_init);
    int parts = g_nthreads;
    if (min_chunk > 0 && n / min_chunk < parts) parts = (int)(n / min_chunk);
    if (parts <= 1 || pthread_mutex_trylock(&g_busy) != 0) {
        fn(arg, 0, n);
        return;
    }
    job mine = {fn, arg, n, parts};
    pthread_mutex_lock(&g_lock);
    g_job = mine;
    atomic_store_explicit(&g_left, g_nthreads - 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&g_gen, 1, memory_order_release);
    pthread_cond_broadcast(&g_wake);
    pthread_mutex_unlock(&g_lock);
    run_part(&mine, 0);
    while (atomic_load_explicit(&g_left, memory_order_acquire) > 0) sched_yield();
    pthread_mutex_lock(&g_lock); /* after the helpers' last unlock: their writes are visible */
    pthread_mutex_unlock(&g_lock);
    pthread_mutex_unlock(&g_busy);
}
