/* threads.c — the thread count kernels use. */
#include "config.h"
#include "nb__tensor.h"

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

int nb__threads_for(int64_t work)
{
#ifdef _OPENMP
    if (work < 32768 || omp_in_parallel())
        return 1;
    int nt = nb_get_num_threads();
    int64_t most = work / 16384;
    return most < nt ? (int)(most > 0 ? most : 1) : nt;
#else
    (void)work;
    return 1;
#endif
}
