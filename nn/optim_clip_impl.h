/* optim_clip_impl.h — the gradient-clipping kernels of optim.c for one element type, included
 * once per type with NB_T (float, double) defined; undefines it. Defines sumsq_<T> (sum of
 * squares of x[lo, hi) in double, vectorized in a fixed order) and scale_<T> (x[lo, hi) *= coef).
 * No include guard. */
#define NB_FN(name) NB__PASTE3(name, _, NB_T)

static double NB_FN(sumsq)(const void *data, int64_t lo, int64_t hi)
{
    const NB_T *x = data;
    double s = 0;
    _Pragma("omp simd reduction(+ : s)")
    for (int64_t i = lo; i < hi; i++)
        s += (double)x[i] * (double)x[i];
    return s;
}
static void NB_FN(scale)(void *data, int64_t lo, int64_t hi, double coef)
{
    NB_T *x = data;
    const NB_T c = (NB_T)coef;
    _Pragma("omp simd")
    for (int64_t i = lo; i < hi; i++)
        x[i] = x[i] * c;
}

#undef NB_FN
#undef NB_T
