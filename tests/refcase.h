/* refcase.h — shared by test_norm.c and test_loss.c: inputs from the closed formulas of
 * tests/ref_norm.py and tests/ref_loss.py, and the comparison of an op's output and gradients
 * with one reference row (output, then each differentiable input's gradient, flattened). */
#ifndef NB_REFCASE_H
#define NB_REFCASE_H

#include "testutil.h"

/* fs(shape)[k] = a * sin(b * k + c) + d over the flat index k, as ref_*.py's fs(); dtype dt. */
nb_tensor *rc_fs(nb_dtype dt, const int64_t *shape, int nd, double a, double b, double c, double d);
#define RC_FS(dt, a, b, c, d, ...) rc_fs(dt, NB_DIMS(__VA_ARGS__), a, b, c, d)
/* The same with requires_grad set. */
nb_tensor *rc_leaf(nb_tensor *t);
/* Backpropagates dy = fs(out's shape, 1, 0.37, 0.5, 0) from out (a 0-dim out: dy = that one
 * value) and asserts out, then the grads of ins[0..n) match ref[0..) within atol + rtol*|ref|.
 * Returns the number of reference values consumed. */
int64_t rc_check(nb_tensor *out, int n, nb_tensor *const *ins, const double *ref, double atol, double rtol);
/* Asserts t's values equal ref[0..numel) within atol + rtol*|ref|; returns numel. */
int64_t rc_check_values(const nb_tensor *t, const double *ref, double atol, double rtol);
/* Tolerances against torch in dtype dt: float32 loose, float64 tight. */
double rc_tol(nb_dtype dt);

#endif
