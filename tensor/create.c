/* create.c — creation functions: empty/zeros/ones/full/scalar/arange/eye/from data. */
#include "config.h"
#include "nb__tensor.h"

#include <math.h>

static nb_dtype g_default_dtype = NB_F32;

void nb_set_default_dtype(nb_dtype dt)
{
    if (!nb_dtype_is_float(dt))
        nb__fail("nb_set_default_dtype: the default dtype must be float32 or float64, got %s", nb_dtype_name(dt));
    g_default_dtype = dt;
}

nb_dtype nb_get_default_dtype(void) { return g_default_dtype; }

/* nb_empty: its shape and dtype misuse messages name nb_empty for every creation function (op
 * names the caller in the others). */
static nb_tensor *empty_op(const char *op, const int64_t *shape, int ndim, nb_dtype dt)
{
    (void)op;
    if ((unsigned)dt >= NB_DTYPE_COUNT)
        nb__fail("nb_empty: invalid dtype %d", (int)dt);
    return nb__tensor_new(dt, shape, ndim);
}

static nb_tensor *zeros_op(const char *op, const int64_t *shape, int ndim, nb_dtype dt)
{
    nb_tensor *t = empty_op(op, shape, ndim, dt);
    memset(t->storage->data, 0, t->storage->nbytes);
    return t;
}

static nb_tensor *full_op(const char *op, int ndim, const int64_t *shape, double value, nb_dtype dt)
{
    if ((unsigned)dt < NB_DTYPE_COUNT)
        nb__check_fits(op, dt, value);
    nb_tensor *t = empty_op(op, shape, ndim, dt);
    nb__fill(t, value);
    return t;
}

nb_tensor *nb_empty(const int64_t *shape, int ndim, nb_dtype dt) { return empty_op("nb_empty", shape, ndim, dt); }
nb_tensor *nb_zeros(const int64_t *shape, int ndim, nb_dtype dt) { return zeros_op("nb_zeros", shape, ndim, dt); }

nb_tensor *nb_full(const int64_t *shape, int ndim, double value, nb_dtype dt)
{
    return full_op("nb_full", ndim, shape, value, dt);
}

nb_tensor *nb_ones(const int64_t *shape, int ndim, nb_dtype dt) { return full_op("nb_ones", ndim, shape, 1.0, dt); }
nb_tensor *nb_scalar(double v, nb_dtype dt) { return full_op("nb_scalar", 0, NULL, v, dt); }

nb_tensor *nb_zeros_like(const nb_tensor *t)
{
    nb__check_live("nb_zeros_like", t);
    return zeros_op("nb_zeros_like", t->shape, t->ndim, t->dtype);
}

nb_tensor *nb_ones_like(const nb_tensor *t)
{
    nb__check_live("nb_ones_like", t);
    return full_op("nb_ones_like", t->ndim, t->shape, 1.0, t->dtype);
}

nb_tensor *nb_empty_like(const nb_tensor *t)
{
    nb__check_live("nb_empty_like", t);
    return empty_op("nb_empty_like", t->shape, t->ndim, t->dtype);
}

nb_tensor *nb_arange(double start, double end, double step, nb_dtype dt)
{
    if (step == 0 || !isfinite(step) || !isfinite(start) || !isfinite(end))
        nb__fail("nb_arange: invalid range start=%g end=%g step=%g", start, end, step);
    double span = (end - start) / step;
    if (!(span <= (double)NB__MAX_NUMEL)) /* also inf: (int64_t)ceil(span) would be undefined */
        nb__fail("nb_arange: range start=%g end=%g step=%g has too many elements (at most %lld)", start, end,
                 step, (long long)NB__MAX_NUMEL);
    int64_t n = span > 0 ? (int64_t)ceil(span) : 0;
    if (n > 0) { /* the values are monotonic: the ends decide whether all fit dt */
        nb__check_fits("nb_arange", dt, start);
        nb__check_fits("nb_arange", dt, start + (double)(n - 1) * step);
    }
    nb_tensor *t = empty_op("nb_arange", NB_DIMS(n), dt);
    char *p = t->storage->data;
    size_t es = nb_dtype_size(dt);
    for (int64_t i = 0; i < n; i++)
        nb__store(dt, p + (size_t)i * es, start + (double)i * step);
    return t;
}

nb_tensor *nb_eye(int64_t n, int64_t m, nb_dtype dt)
{
    if (m < 0)
        m = n;
    nb_tensor *t = zeros_op("nb_eye", NB_DIMS(n, m), dt);
    char *p = t->storage->data;
    size_t es = nb_dtype_size(dt);
    for (int64_t i = 0; i < n && i < m; i++)
        nb__store(dt, p + (size_t)(i * m + i) * es, 1.0);
    return t;
}

nb_tensor *nb_from_data(const void *data, const int64_t *shape, int ndim, nb_dtype dt)
{
    nb_tensor *t = empty_op("nb_from_data", shape, ndim, dt);
    if (t->storage->nbytes && nb_tensor_numel(t))
        memcpy(t->storage->data, data, (size_t)nb_tensor_numel(t) * nb_dtype_size(dt));
    return t;
}

nb_tensor *nb_from_doubles(const double *data, const int64_t *shape, int ndim, nb_dtype dt)
{
    nb__check_shape("nb_empty", ndim, shape);
    int64_t n = nb__numel(ndim, shape);
    for (int64_t i = 0; i < n; i++)
        if ((unsigned)dt < NB_DTYPE_COUNT && !nb__fits(dt, data[i]))
            nb__fail("nb_from_doubles: value %g at element %lld cannot be converted to %s without overflow",
                     data[i], (long long)i, nb_dtype_name(dt));
    nb_tensor *t = empty_op("nb_from_doubles", shape, ndim, dt);
    char *p = t->storage->data;
    size_t es = nb_dtype_size(dt);
    for (int64_t i = 0; i < n; i++)
        nb__store(dt, p + (size_t)i * es, data[i]);
    return t;
}
