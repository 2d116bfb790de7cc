/* refcase.c — see refcase.h. */
#include "refcase.h"

#include <math.h>
#include <stdlib.h>

nb_tensor *rc_fs(nb_dtype dt, const int64_t *shape, int nd, double a, double b, double c, double d)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= shape[i];
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t k = 0; k < n; k++)
        v[k] = a * sin(b * (double)k + c) + d;
    nb_tensor *t = nb_from_doubles(v, shape, nd, dt);
    free(v);
    return t;
}

nb_tensor *rc_leaf(nb_tensor *t) { return nb_tensor_requires_grad_(t, true); }

int64_t rc_check_values(const nb_tensor *t, const double *ref, double atol, double rtol)
{
    tu_assert_values_rel_n(t, nb_tensor_numel(t), ref, atol, rtol); /* callers check the total count */
    return nb_tensor_numel(t);
}

int64_t rc_check(nb_tensor *out, int n, nb_tensor *const *ins, const double *ref, double atol, double rtol)
{
    nb_tensor *dy = rc_fs(nb_tensor_dtype(out), nb_tensor_shape(out), nb_tensor_ndim(out), 1, 0.37, 0.5, 0);
    int64_t off = rc_check_values(out, ref, atol, rtol);
    nb_backward(out, dy, false);
    for (int i = 0; i < n; i++) {
        nb_tensor *g = nb_tensor_get_grad(ins[i]);
        ck_assert_msg(g != NULL, "input %d got no gradient", i);
        off += rc_check_values(g, ref + off, atol, rtol);
    }
    return off;
}

double rc_tol(nb_dtype dt) { return dt == NB_F32 ? 2e-5 : 1e-12; }
