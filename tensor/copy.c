/* copy.c — copy with broadcast and dtype conversion, fill, contiguous copies. */
#include "config.h"
#include "nb__tensor.h"

typedef struct { nb_dtype dst, src; } copy_ctx;

#define NB__COPY_SAME(e, T)                                                                  \
    static void copy_same_##T(char **p, const int64_t *s, int64_t n, void *ctx)             \
    {                                                                                        \
        (void)ctx;                                                                           \
        if (s[0] == (int64_t)sizeof(T) && s[1] == (int64_t)sizeof(T)) {                                        \
            memcpy(p[0], p[1], (size_t)n * sizeof(T));                                       \
            return;                                                                          \
        }                                                                                    \
        for (int64_t i = 0; i < n; i++)                                                      \
            *(T *)(p[0] + i * s[0]) = *(const T *)(p[1] + i * s[1]);                         \
    }
NB__ALL_TYPES(NB__COPY_SAME)
#undef NB__COPY_SAME

static void copy_convert(char **p, const int64_t *s, int64_t n, void *ctx)
{
    const copy_ctx *c = ctx;
    for (int64_t i = 0; i < n; i++)
        nb__store(c->dst, p[0] + i * s[0], nb__load(c->src, p[1] + i * s[1]));
}

void nb__copy_into(nb_tensor *dst, const nb_tensor *src)
{
    if (!nb__broadcastable_to(src->ndim, src->shape, dst->ndim, dst->shape))
        nb__fail("nb_copy_: source shape %s cannot be broadcast to destination shape %s",
                 NB__SHAPE(src), NB__SHAPE(dst));
    nb__iter it;
    nb__iter_init(&it, dst, 1, &src);
    nb__loop_fn fn = copy_convert;
    if (dst->dtype == src->dtype) {
        switch (dst->dtype) {
#define NB_X(e, T) case e: fn = copy_same_##T; break;
            NB__ALL_TYPES(NB_X)
#undef NB_X
        default: break;
        }
    }
    copy_ctx c = {dst->dtype, src->dtype};
    it.cost = 0.25; /* memory-bound */
    nb__iter_run(&it, fn, &c);
    nb__bump_version(dst);
}

typedef struct { nb_dtype dt; double v; } fill_ctx;

static void fill_loop(char **p, const int64_t *s, int64_t n, void *ctx)
{
    const fill_ctx *c = ctx;
    char one[8];
    nb__store(c->dt, one, c->v);
    size_t es = nb_dtype_size(c->dt);
    if (s[0] == (int64_t)es && (es == 4 || es == 8)) { /* a run of 32/64-bit patterns */
        if (es == 4) {
            uint32_t v, *d = (uint32_t *)(void *)p[0];
            memcpy(&v, one, 4);
            for (int64_t i = 0; i < n; i++)
                d[i] = v;
        } else {
            uint64_t v, *d = (uint64_t *)(void *)p[0];
            memcpy(&v, one, 8);
            for (int64_t i = 0; i < n; i++)
                d[i] = v;
        }
        return;
    }
    for (int64_t i = 0; i < n; i++)
        memcpy(p[0] + i * s[0], one, es);
}

void nb__fill(nb_tensor *t, double v)
{
    nb__iter it;
    nb__iter_init(&it, t, 0, NULL);
    fill_ctx c = {t->dtype, v};
    it.cost = 0.25; /* memory-bound */
    nb__iter_run(&it, fill_loop, &c);
    nb__bump_version(t);
}

nb_tensor *nb__contiguous_copy(const nb_tensor *t)
{
    nb_tensor *out = nb__tensor_new(t->dtype, t->ndim, t->shape);
    nb__copy_into(out, t);
    return out;
}

nb_tensor *nb__convert(const nb_tensor *t, nb_dtype dt)
{
    nb_tensor *out = nb__tensor_new(dt, t->ndim, t->shape);
    nb__copy_into(out, t);
    return out;
}
