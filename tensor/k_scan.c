/* k_scan.c — scan, product, norm, sort, any/all and linspace kernels (see nb__k_scan.h). The
 * per-dtype bodies are in k_scan_impl.h, included once per dtype below; the functions here
 * dispatch on the dtype. */
#include "config.h"
#include "nb__k_scan.h"

#include <math.h>

#define NB_T float
#define NB_SFX f32
#define NB_ACC double
#define NB_IS_FLOAT 1
#define NB_SCAN_ARITH 1
#include "k_scan_impl.h"
#undef NB_T
#undef NB_SFX
#undef NB_ACC
#undef NB_IS_FLOAT
#undef NB_SCAN_ARITH

#define NB_T double
#define NB_SFX f64
#define NB_ACC double
#define NB_IS_FLOAT 1
#define NB_SCAN_ARITH 1
#include "k_scan_impl.h"
#undef NB_T
#undef NB_SFX
#undef NB_ACC
#undef NB_IS_FLOAT
#undef NB_SCAN_ARITH

/* unsigned accumulation: integer overflow wraps (as torch) instead of being undefined */
#define NB_T int64_t
#define NB_SFX i64
#define NB_ACC uint64_t
#define NB_IS_FLOAT 0
#define NB_SCAN_ARITH 1
#include "k_scan_impl.h"
#undef NB_T
#undef NB_SFX
#undef NB_ACC
#undef NB_IS_FLOAT
#undef NB_SCAN_ARITH

#define NB_T int32_t
#define NB_SFX i32
#define NB_ACC int64_t
#define NB_IS_FLOAT 0
#define NB_SCAN_ARITH 0
#include "k_scan_impl.h"
#undef NB_T
#undef NB_SFX
#undef NB_ACC
#undef NB_IS_FLOAT
#undef NB_SCAN_ARITH

#define NB_T uint8_t
#define NB_SFX u8
#define NB_ACC int64_t
#define NB_IS_FLOAT 0
#define NB_SCAN_ARITH 0
#include "k_scan_impl.h"
#undef NB_T
#undef NB_SFX
#undef NB_ACC
#undef NB_IS_FLOAT
#undef NB_SCAN_ARITH

nb__lines nb__lines_of(int ndim, const int64_t *shape, int d)
{
    nb__lines l = {1, 1, 1};
    for (int k = 0; k < ndim; k++) {
        if (k < d)
            l.outer *= shape[k];
        else if (k == d)
            l.n = shape[k];
        else
            l.inner *= shape[k];
    }
    return l;
}

static void *data(const nb_tensor *t)
{
    return (char *)t->storage->data + t->offset * (int64_t)nb_dtype_size(t->dtype);
}

static NB_NORETURN void bad_dtype(const char *kernel, nb_dtype dt)
{
    nb__fail("%s: dtype %s not supported", kernel, nb_dtype_name(dt));
}

void nb__k_cumulative(nb_tensor *y, const nb_tensor *x, nb__lines l, bool prod, bool reverse)
{
    switch (x->dtype) {
    case NB_F32: cumulative_f32(data(y), data(x), l, prod, reverse); break;
    case NB_F64: cumulative_f64(data(y), data(x), l, prod, reverse); break;
    case NB_I64: cumulative_i64(data(y), data(x), l, prod, reverse); break;
    default: bad_dtype("nb__k_cumulative", x->dtype);
    }
}

void nb__k_cumprod_grad(nb_tensor *gin, const nb_tensor *x, const nb_tensor *g, nb__lines l)
{
    switch (x->dtype) {
    case NB_F32: cumprod_grad_f32(data(gin), data(x), data(g), l); break;
    case NB_F64: cumprod_grad_f64(data(gin), data(x), data(g), l); break;
    default: bad_dtype("nb__k_cumprod_grad", x->dtype);
    }
}

void nb__k_prod(nb_tensor *out, const nb_tensor *x, nb__lines l)
{
    switch (x->dtype) {
    case NB_F32: prod_f32(data(out), data(x), l); break;
    case NB_F64: prod_f64(data(out), data(x), l); break;
    case NB_I64: prod_i64(data(out), data(x), l); break;
    default: bad_dtype("nb__k_prod", x->dtype);
    }
}

void nb__k_prod_grad(nb_tensor *gin, const nb_tensor *x, const nb_tensor *g, nb__lines l)
{
    switch (x->dtype) {
    case NB_F32: prod_grad_f32(data(gin), data(x), data(g), l); break;
    case NB_F64: prod_grad_f64(data(gin), data(x), data(g), l); break;
    default: bad_dtype("nb__k_prod_grad", x->dtype);
    }
}

void nb__k_norm(nb_tensor *out, const nb_tensor *x, nb__lines l, double p)
{
    switch (x->dtype) {
    case NB_F32: norm_f32(data(out), data(x), l, p); break;
    case NB_F64: norm_f64(data(out), data(x), l, p); break;
    default: bad_dtype("nb__k_norm", x->dtype);
    }
}

void nb__k_sort(nb_tensor *vals, nb_tensor *idx, const nb_tensor *x, nb__lines l, int64_t k, bool descending)
{
    void *v = vals ? data(vals) : NULL;
    int64_t *ix = idx ? data(idx) : NULL;
    switch (x->dtype) {
    case NB_F32: sort_f32(v, ix, data(x), l, k, descending); break;
    case NB_F64: sort_f64(v, ix, data(x), l, k, descending); break;
    case NB_I64: sort_i64(v, ix, data(x), l, k, descending); break;
    case NB_I32: sort_i32(v, ix, data(x), l, k, descending); break;
    case NB_BOOL: sort_u8(v, ix, data(x), l, k, descending); break;
    default: bad_dtype("nb__k_sort", x->dtype);
    }
}

void nb__k_any_all(nb_tensor *out, const nb_tensor *x, nb__lines l, bool all)
{
    switch (x->dtype) {
    case NB_F32: any_all_f32(data(out), data(x), l, all); break;
    case NB_F64: any_all_f64(data(out), data(x), l, all); break;
    case NB_I64: any_all_i64(data(out), data(x), l, all); break;
    case NB_I32: any_all_i32(data(out), data(x), l, all); break;
    case NB_BOOL: any_all_u8(data(out), data(x), l, all); break;
    default: bad_dtype("nb__k_any_all", x->dtype);
    }
}

void nb__k_linspace(nb_tensor *out, double start, double end)
{
    int64_t steps = out->shape[0];
    switch (out->dtype) {
    case NB_F32: linspace_f32(data(out), steps, start, end); break;
    case NB_F64: linspace_f64(data(out), steps, start, end); break;
    case NB_I64: linspace_i64(data(out), steps, start, end); break;
    default: bad_dtype("nb__k_linspace", out->dtype);
    }
}

void nb__k_select_grad(nb__sgrad_kind kind, nb_tensor *out, const nb_tensor *x, const nb_tensor *v,
                       const nb_tensor *q)
{
    nb__iter it;
    nb__iter_init(&it, out, 3, (const nb_tensor *[]){x, v, q});
    switch (out->dtype) {
    case NB_F32: nb__iter_run(&it, sgrad_loop_f32, &kind); break;
    case NB_F64: nb__iter_run(&it, sgrad_loop_f64, &kind); break;
    default: bad_dtype("nb__k_select_grad", out->dtype);
    }
}
