/* threads.c — how many threads a kernel uses.
 *
 * The requested count, first that is set: nb_set_num_threads() (chargpt's --threads), then the
 * NB_NUM_THREADS environment variable, then OMP_NUM_THREADS (its first entry), then the cores
 * this process may run on. An invalid environment value is ignored.
 *
 * Dynamic threads (on by default; NB_DYNAMIC_THREADS=0 or nb_set_dynamic_threads(false) turns them
 * off): on a machine where other processes keep cores busy, a parallel region waits at its barrier
 * for a worker the kernel has not scheduled (milliseconds each, hundreds of regions per training
 * step), so two threads beside one busy process ran 4x slower than one thread. So every 250 ms one
 * caller measures how much CPU the rest of the machine used in that window — all busy time in
 * /proc/stat (steal included) minus this process's own CPU time — and kernels use at most the
 * cores that leaves free, rounded down (a quarter core of slack), at least 1 and at most the
 * requested count. The measure is an average over the window, not a snapshot of runnable threads,
 * so a busy neighbour is seen whether or not it happens to be runnable at one instant, and our own
 * spinning workers are never counted as a neighbour. Every kernel's result is independent of its
 * thread count, so this changes timings only, never values. */
#define _DEFAULT_SOURCE /* CLOCK_MONOTONIC_COARSE */
#include "config.h"
#include "nb__tensor.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- the requested count ---------------------------------------------------------------------- */
static atomic_int g_threads; /* set by nb_set_num_threads; 0 = not set */
static atomic_int g_env_threads = -1; /* from the environment; -1 = not read yet, 0 = none */

/* A positive thread count at the start of s ("4" or OMP_NUM_THREADS' "4,2"), else 0. */
static int parse_count(const char *s)
{
    if (!s)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || v <= 0 || v > 4096 || (*end != '\0' && *end != ','))
        return 0;
    return (int)v;
}

static int env_threads(void)
{
    int n = atomic_load(&g_env_threads);
    if (n < 0) {
        n = parse_count(getenv("NB_NUM_THREADS"));
        if (n == 0)
            n = parse_count(getenv("OMP_NUM_THREADS"));
        atomic_store(&g_env_threads, n);
    }
    return n;
}

static int cores(void)
{
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

void nb_set_num_threads(int n) { atomic_store(&g_threads, n > 0 ? n : 0); }

int nb_get_num_threads(void)
{
    int n = atomic_load(&g_threads);
    if (n > 0)
        return n;
    n = env_threads();
    return n > 0 ? n : cores();
}

/* ---- dynamic threads -------------------------------------------------------------------------- */
static atomic_int g_dynamic = -1; /* -1: not yet read from NB_DYNAMIC_THREADS */

void nb_set_dynamic_threads(bool on) { atomic_store(&g_dynamic, on ? 1 : 0); }

bool nb_get_dynamic_threads(void)
{
    int d = atomic_load(&g_dynamic);
    if (d < 0) {
        const char *e = getenv("NB_DYNAMIC_THREADS");
        d = !(e && strcmp(e, "0") == 0); /* on unless explicitly "0" */
        atomic_store(&g_dynamic, d);
    }
    return d;
}

int nb__free_cores_from(long long busy_ns, long long own_ns, long long wall_ns, int n_cores)
{
    double others = wall_ns > 0 ? (double)(busy_ns - own_ns) / (double)wall_ns : 0;
    int n = (int)((double)n_cores - (others > 0 ? others : 0) + 0.25);
    return n > 1 ? n : 1;
}

void nb__threads_reread_env(void)
{
    atomic_store(&g_env_threads, -1);
    atomic_store(&g_dynamic, -1);
}

#if defined(_OPENMP) && defined(__linux__)
#define PROBE_NS 250000000LL

static atomic_llong g_probe_at;  /* CLOCK_MONOTONIC_COARSE ns of the next sample */
static atomic_int g_free_cores;  /* cores left free by other processes in the last window; 0 = unknown */
static atomic_llong g_last_wall, g_last_busy, g_last_own; /* the previous sample */

static long long now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Busy time of all CPUs since boot in ns (user, nice, system, irq, softirq, steal), or -1. */
static long long machine_busy_ns(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return -1;
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
                     &v[5], &v[6], &v[7]);
    fclose(f);
    if (got < 8)
        return -1;
    static long hz;
    if (!hz)
        hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
    unsigned long long ticks = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* not idle (3), iowait (4) */
    return (long long)(ticks * (1000000000ULL / (unsigned long long)hz));
}

/* Takes a sample when the window has passed (one caller at a time); returns the free cores. */
static int free_cores(void)
{
    long long t = now_ns(CLOCK_MONOTONIC_COARSE), at = atomic_load(&g_probe_at);
    if (t < at || !atomic_compare_exchange_strong(&g_probe_at, &at, t + PROBE_NS))
        return atomic_load(&g_free_cores);
    long long wall = now_ns(CLOCK_MONOTONIC), busy = machine_busy_ns(), own = now_ns(CLOCK_PROCESS_CPUTIME_ID);
    long long w0 = atomic_load(&g_last_wall), b0 = atomic_load(&g_last_busy), o0 = atomic_load(&g_last_own);
    if (busy >= 0 && w0 > 0 && wall > w0)
        atomic_store(&g_free_cores, nb__free_cores_from(busy - b0, own - o0, wall - w0, cores()));
    atomic_store(&g_last_wall, wall), atomic_store(&g_last_busy, busy), atomic_store(&g_last_own, own);
    return atomic_load(&g_free_cores);
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
        int f = free_cores();
        if (f > 0 && f < nt)
            nt = f;
    }
#endif
    return nt;
#else
    (void)work;
    return 1;
#endif
}
