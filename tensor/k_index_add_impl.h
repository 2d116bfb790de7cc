/* k_index_add_impl.h — index_add_<T> of k_index.c, included once per numeric type with NB_T
 * defined; undefines it. No include guard.
 *
 * p[0]: run of dst positions, p[1]: the matching src run. For each destination element the
 * contributions are added in ascending j, whatever the split into runs. */
static void NB__PASTE(index_add_, NB_T)(char **p, const int64_t *s, int64_t n, void *vctx)
{
    const add_ctx *c = vctx;
    for (int64_t j = 0; j < c->nidx; j++) {
        char *dp = p[0] + c->idx[j] * c->dd;
        const char *sp = p[1] + j * c->sd;
        if (s[0] == (int64_t)sizeof(NB_T) && s[1] == (int64_t)sizeof(NB_T)) {
            NB_T *dv = (NB_T *)dp;
            const NB_T *sv = (const NB_T *)sp;
            for (int64_t i = 0; i < n; i++)
                dv[i] += sv[i];
        } else {
            for (int64_t i = 0; i < n; i++)
                *(NB_T *)(dp + i * s[0]) += *(const NB_T *)(sp + i * s[1]);
        }
    }
}

#undef NB_T
