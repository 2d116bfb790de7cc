/* random_fill_impl.h — the contiguous fills of random.c for one element type, included once per
 * type with NB_T (float, double) and NB_E (NB_F32, NB_F64) defined; undefines them. Defines
 * fill_normal_<T> and fill_uniform_<T>. No include guard. */
#define NB_FN(name) NB__PASTE3(name, _, NB_T)

/* nb_normal_ of a contiguous tensor, value for value what the element loop of random.c gives:
 * the uniforms are drawn in order (a block of NORMAL_BLOCK pairs at a time), the Box-Muller
 * transforms (the costly part: log, sqrt, sin, cos) then run in parallel, each pair's result
 * depending only on its uniforms. */
static void NB_FN(fill_normal)(NB_T *out, int64_t n, double mean, double std, nb_generator *g)
{
    int64_t i = 0;
    if (n > 0 && g->has_spare) {
        out[i++] = (NB_T)(mean + std * g->spare_normal);
        g->has_spare = false;
    }
    double *u = nb__alloc(2 * NORMAL_BLOCK * sizeof *u), spare = 0;
    while (i < n) {
        int64_t np = (n - i + 1) / 2 < NORMAL_BLOCK ? (n - i + 1) / 2 : NORMAL_BLOCK;
        for (int64_t k = 0; k < np; k++) {
            double u1;
            do
                u1 = nb_generator_uniform(g);
            while (u1 <= 0.0);
            u[2 * k] = u1;
            u[2 * k + 1] = nb_generator_uniform(g);
        }
        int nt = nb__threads_for(np * 64);
        NB__OMP_PARALLEL_FOR(nt)
        for (int64_t k = 0; k < np; k++) {
            double c, s;
            box_muller(u[2 * k], u[2 * k + 1], &c, &s);
            out[i + 2 * k] = (NB_T)(mean + std * c);
            if (i + 2 * k + 1 < n)
                out[i + 2 * k + 1] = (NB_T)(mean + std * s);
            else
                spare = s; /* one pair at most: the last of an odd count */
        }
        i += 2 * np;
    }
    if (i > n) { /* the last pair's second value is the generator's spare, as one by one */
        g->spare_normal = spare;
        g->has_spare = true;
    }
    nb__free(u, 2 * NORMAL_BLOCK * sizeof *u);
}

/* nb_uniform_ of a contiguous tensor: the element loop without the per-element addressing. */
static void NB_FN(fill_uniform)(NB_T *out, int64_t n, double lo, double hi, nb_generator *g)
{
    const NB_T below =
        NB_E == NB_F32 ? (NB_T)nextafterf((float)hi, -INFINITY) : (NB_T)nextafter(hi, -INFINITY);
    for (int64_t i = 0; i < n; i++) {
        NB_T v = (NB_T)(lo + (hi - lo) * nb_generator_uniform(g));
        out[i] = lo < hi && (double)v >= hi ? below : v;
    }
}

#undef NB_FN
#undef NB_T
#undef NB_E
