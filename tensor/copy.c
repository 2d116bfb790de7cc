/* copy.c — copy with broadcast and dtype conversion, fill, contiguous copies. */
#include "config.h"
#include "nb__tensor.h"

typedef struct {
    nb_dtype dst, src;
    int bad;        /* set (atomically: loops may run in parallel) when a value did not fit */
    uint64_t bad_v; /* the bits of one such double */
} copy_ctx;

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
NB__COPY_SAME(NB_BF16, uint16_t) /* bfloat16 and float16: their 16-bit patterns */
#undef NB__COPY_SAME

/* Integer and bool sources convert exactly through int64 (wrapping into int32, rounding once
 * into floats); float sources through double, a value that does not fit an integer dst flagged. */
static void copy_convert(char **p, const int64_t *s, int64_t n, void *ctx)
{
    copy_ctx *c = ctx;
    if (nb__half_copy_fast(c->dst, c->src)) {
        nb__half_copy_loop(c->dst, c->src, p, s, n);
        return;
    }
    if (!nb__dtype_is_fp(c->src)) {
        for (int64_t i = 0; i < n; i++)
            nb__store_i64(c->dst, p[0] + i * s[0], nb__load_i64(c->src, p[1] + i * s[1]));
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = nb__load(c->src, p[1] + i * s[1]);
        if (!nb__fits(c->dst, v)) {
            uint64_t bits;
            memcpy(&bits, &v, sizeof bits);
            __atomic_store_n(&c->bad_v, bits, __ATOMIC_RELAXED);
            __atomic_store_n(&c->bad, 1, __ATOMIC_RELAXED);
        }
        nb__store(c->dst, p[0] + i * s[0], v);
    }
}

void nb__copy_into(nb_tensor *dst, const nb_tensor *src) { nb__copy_into_op("nb_copy_", dst, src); }

void nb__copy_into_op(const char *op, nb_tensor *dst, const nb_tensor *src)
{
    nb__check_live(op, dst);
    nb__check_live(op, src);
    if (!nb__broadcastable_to(src->ndim, src->shape, dst->ndim, dst->shape))
        nb__fail("%s: source shape %s cannot be broadcast to destination shape %s", op,
                 NB__SHAPE(src), NB__SHAPE(dst));
    nb__iter it;
    nb__iter_init(&it, dst, 1, &src);
    nb__loop_fn fn = copy_convert;
    if (dst->dtype == src->dtype) {
        switch (dst->dtype) {
#define NB_X(e, T) case e: fn = copy_same_##T; break;
            NB__ALL_TYPES(NB_X)
#undef NB_X
        case NB_BF16:
        case NB_F16: fn = copy_same_uint16_t; break;
        default: break;
        }
    }
    copy_ctx c = {dst->dtype, src->dtype, 0, 0};
    it.cost = 0.25; /* memory-bound */
    nb__iter_run(&it, fn, &c);
    nb__bump_version(dst);
    if (c.bad) { /* dst holds saturated values; report as PyTorch's full() does */
        double v;
        memcpy(&v, &c.bad_v, sizeof v);
        nb__fail("%s: value %g cannot be converted to %s without overflow", op, v, nb_dtype_name(dst->dtype));
    }
}

typedef struct { nb_dtype dt; double v; } fill_ctx;

static void fill_loop(char **p, const int64_t *s, int64_t n, void *ctx)
{
    const fill_ctx *c = ctx;
    char one[8];
    nb__store(c->dt, one, c->v);
    size_t es = nb_dtype_size(c->dt);
    if (s[0] == (int64_t)es && (es == 2 || es == 4 || es == 8)) { /* a run of 16/32/64-bit patterns */
        if (es == 2) {
            uint16_t v, *d = (uint16_t *)(void *)p[0];
            memcpy(&v, one, 2);
            for (int64_t i = 0; i < n; i++)
                d[i] = v;
        } else if (es == 4) {
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
    nb__check_live("nb_fill_", t);
    nb__check_fits("nb_fill_", t->dtype, v);
    nb__iter it;
    nb__iter_init(&it, t, 0, NULL);
    fill_ctx c = {t->dtype, v};
    it.cost = 0.25; /* memory-bound */
    nb__iter_run(&it, fill_loop, &c);
    nb__bump_version(t);
}

nb_tensor *nb__contiguous_copy(const nb_tensor *t)
{
    nb__check_live("nb_contiguous", t);
    nb_tensor *out = nb__tensor_new(t->dtype, t->shape, t->ndim);
    nb__copy_into(out, t);
    return out;
}

nb_tensor *nb__convert(const nb_tensor *t, nb_dtype dt)
{
    nb__check_live("nb_to_dtype", t);
    nb_tensor *out = nb__tensor_new(dt, t->shape, t->ndim);
    nb__copy_into_op("nb_to_dtype", out, t);
    return out;
}
