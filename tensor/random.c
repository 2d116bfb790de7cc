/* random.c — a portable seedable generator (xoshiro256**, splitmix64 seeding) and the random
 * creation functions. Values are drawn sequentially in row-major order, so a stream depends only
 * on the seed and call order, never on the machine or the thread count. */
#include "config.h"
#include "nb__tensor.h"
#include "nb__paste.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void nb_generator_seed(nb_generator *g, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&x);
    g->has_spare = false;
    g->spare_normal = 0;
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nb_generator_next(nb_generator *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double nb_generator_uniform(nb_generator *g) { return (double)(nb_generator_next(g) >> 11) * 0x1.0p-53; }

/* The pair of standard normals (c, s) of uniforms u1 in (0, 1), u2 in [0, 1). One function for
 * nb_generator_normal and the bulk fill below, so both give the same values. */
static inline void box_muller(double u1, double u2, double *c, double *s)
{
    double r = sqrt(-2.0 * log(u1)), th = 6.283185307179586476925 * u2;
    *c = r * cos(th);
    *s = r * sin(th);
}

double nb_generator_normal(nb_generator *g)
{
    if (g->has_spare) {
        g->has_spare = false;
        return g->spare_normal;
    }
    double u1, u2;
    do
        u1 = nb_generator_uniform(g);
    while (u1 <= 0.0);
    u2 = nb_generator_uniform(g);
    double c, s;
    box_muller(u1, u2, &c, &s);
    g->spare_normal = s;
    g->has_spare = true;
    return c;
}

uint64_t nb_generator_below(nb_generator *g, uint64_t n)
{
    if (n == 0)
        nb__fail("nb_generator_below: n must be > 0");
    uint64_t limit = UINT64_MAX - UINT64_MAX % n; /* reject the biased tail */
    uint64_t x;
    do
        x = nb_generator_next(g);
    while (x >= limit);
    return x % n;
}

static nb_generator g_default;
static bool g_default_ready;

nb_generator *nb_default_generator(void)
{
    if (!g_default_ready) {
        nb_generator_seed(&g_default, 0);
        g_default_ready = true;
    }
    return &g_default;
}

void nb_manual_seed(uint64_t seed)
{
    nb_generator_seed(&g_default, seed);
    g_default_ready = true;
}

typedef double (*draw_fn)(nb_generator *g, double a, double b);

static double draw_normal(nb_generator *g, double mean, double std) { return mean + std * nb_generator_normal(g); }
static double draw_uniform(nb_generator *g, double lo, double hi) { return lo + (hi - lo) * nb_generator_uniform(g); }

/* The contiguous fills, per type (random_fill_impl.h). */
#define NORMAL_BLOCK 8192 /* pairs per block */
#define NB_T float
#define NB_E NB_F32
#include "random_fill_impl.h"
#define NB_T double
#define NB_E NB_F64
#include "random_fill_impl.h"

static nb_tensor *fill_random(const char *op, nb_tensor *t, draw_fn draw, double a, double b, nb_generator *gen)
{
    nb__check_float(op, t);
    if (!gen)
        gen = nb_default_generator();
    int64_t n = nb_tensor_numel(t);
    if (nb_tensor_is_contiguous(t)) {
        switch (t->dtype) {
#define NB_X(E, T)                                                                                 \
    case E:                                                                                        \
        if (draw == draw_normal)                                                                   \
            fill_normal_##T(nb_tensor_data(t), n, a, b, gen);                                      \
        else                                                                                       \
            fill_uniform_##T(nb_tensor_data(t), n, a, b, gen);                                     \
        break;
            NB__FLOAT_TYPES(NB_X)
#undef NB_X
        default: break;
        }
        nb__bump_version(t);
        return t;
    }
    for (int64_t i = 0; i < n; i++) {
        char *p = nb__elem_ptr(t, i);
        nb__store(t->dtype, p, draw(gen, a, b));
        /* U[low, high) must exclude high even where rounding (to float32, or of low + span*u)
         * reaches it: nb_rand float32 would give 1.0 for u >= 1 - 2^-25 */
        if (draw == draw_uniform && a < b && nb__load(t->dtype, p) >= b)
            nb__store(t->dtype, p, t->dtype == NB_F32 ? (double)nextafterf((float)b, -INFINITY) : nextafter(b, -INFINITY));
    }
    nb__bump_version(t);
    return t;
}

nb_tensor *nb_normal_(nb_tensor *t, double mean, double std, nb_generator *gen)
{
    return fill_random("nb_normal_", t, draw_normal, mean, std, gen);
}

nb_tensor *nb_uniform_(nb_tensor *t, double low, double high, nb_generator *gen)
{
    return fill_random("nb_uniform_", t, draw_uniform, low, high, gen);
}

nb_tensor *nb_rand(const int64_t *shape, int ndim, nb_dtype dt, nb_generator *gen)
{
    return nb_uniform_(nb_empty(shape, ndim, dt), 0.0, 1.0, gen);
}

nb_tensor *nb_randn(const int64_t *shape, int ndim, nb_dtype dt, nb_generator *gen)
{
    return nb_normal_(nb_empty(shape, ndim, dt), 0.0, 1.0, gen);
}

nb_tensor *nb_randint(int64_t low, int64_t high, const int64_t *shape, int ndim, nb_dtype dt, nb_generator *gen)
{
    if (low >= high)
        nb__fail("nb_randint: empty range [%lld, %lld)", (long long)low, (long long)high);
    if (dt == NB_BOOL)
        nb__fail("nb_randint: dtype bool is not supported");
    if (dt == NB_I32 && (low < INT32_MIN || high - 1 > INT32_MAX))
        nb__fail("nb_randint: range [%lld, %lld) is out of bounds for int32", (long long)low, (long long)high);
    nb_tensor *t = nb_empty(shape, ndim, dt);
    if (!gen)
        gen = nb_default_generator();
    int64_t n = nb_tensor_numel(t);
    char *p = t->storage->data;
    size_t es = nb_dtype_size(dt);
    for (int64_t i = 0; i < n; i++)
        nb__store_i64(dt, p + (size_t)i * es, (int64_t)((uint64_t)low + nb_generator_below(gen, (uint64_t)high - (uint64_t)low)));
    return t;
}
