/* threads.c — the thread count kernels use.
 *
 * Dynamic threads (on by default, like OMP_DYNAMIC): a parallel region on a machine whose
 * cores are all busy with other processes' threads waits at every barrier for a thread the
 * kernel has not scheduled yet (milliseconds each, and a spinning OpenMP worker makes it worse),
 * so a multi-threaded step can run many times slower than a single-threaded one. Kernels
 * therefore use at most the cores left free by other runnable threads, sampled from
 * /proc/loadavg at most every 100 ms. Every kernel's result is independent of its thread count,
 * so this changes timings only, never values. */
#define _DEFAULT_SOURCE /* CLOCK_MONOTONIC_COARSE */
#include "config.h"
#include "nb__tensor.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

static int g_threads; /* 0 = not set: use the core count */

void nb_set_num_threads(int n) { g_threads = n > 0 ? n : 0; }

int nb_get_num_threads(void)
{
    if (g_threads > 0)
        return g_threads;
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

static atomic_int g_dynamic = -1; /* -1: not yet read from NB_DYNAMIC_THREADS */

void nb_set_dynamic_threads(bool on) { atomic_store(&g_dynamic, on ? 1 : 0); }

bool nb_get_dynamic_threads(void)
{
    int d = atomic_load(&g_dynamic);
    if (d < 0) {
        const char *e = getenv("NB_DYNAMIC_THREADS");
        d = e && *e && strcmp(e, "0") != 0; /* opt-in: the thread count stays what was asked */
        atomic_store(&g_dynamic, d);
    }
    return d;
}

#if defined(_OPENMP) && defined(__linux__)
static atomic_llong g_probe_at; /* CLOCK_MONOTONIC_COARSE ns of the next sample */
static atomic_int g_runnable;   /* runnable threads of the whole system at the last sample */

/* Runnable threads system-wide (the "3" of "3/512" in /proc/loadavg), refreshed at most every
 * 100 ms; 0 when unknown. */
static int runnable_threads(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    long long now = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, at = atomic_load(&g_probe_at);
    if (now >= at && atomic_compare_exchange_strong(&g_probe_at, &at, now + 100000000LL)) {
        int r = 0;
        FILE *f = fopen("/proc/loadavg", "r");
        if (f) {
            if (fscanf(f, "%*f %*f %*f %d", &r) != 1)
                r = 0;
            fclose(f);
        }
        atomic_store(&g_runnable, r);
    }
    return atomic_load(&g_runnable);
}
#endif

int nb__threads_for(int64_t work)
{
#ifdef _OPENMP
    /* any enclosing region, even a one-thread one: a nested region would get a team of its own,
     * new threads created for every call */
    if (work < 32768 || omp_get_level() > 0)
        return 1;
    int nt = nb_get_num_threads();
    int64_t most = work / 16384;
    nt = most < nt ? (int)(most > 0 ? most : 1) : nt;
#ifdef __linux__
    if (nt > 1 && nb_get_dynamic_threads()) {
        /* our own threads may all be among the runnable ones: count the rest as others' */
        int others = runnable_threads() - nb_get_num_threads(), free_cores = omp_get_num_procs() - others;
        if (free_cores < nt)
            nt = free_cores > 1 ? free_cores : 1;
    }
#endif
    return nt;
#else
    (void)work;
    return 1;
#endif
}
