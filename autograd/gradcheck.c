/* gradcheck.c — finite-difference gradient checking (see nb_gradcheck.h).
 *
 * The function runs on detached aliases of the inputs (sharing their storage): the analytic
 * gradients land in the aliases' .grad, so the callers' tensors keep their .grad and graph, and
 * non-leaf inputs work as well as leaves. An input passed twice gets one alias, so both uses
 * see one perturbation and one accumulated gradient.
 *
 * Every evaluation builds a fresh graph inside its own scope. Perturbations write the element at
 * its strided address in the storage and bump the version counter (a graph built afterwards
 * saves the new version); the original bytes are put back exactly.
 *
 * Order of checks: analytic gradients (backward of v through one graph twice with retain_graph,
 * then through a fresh graph: all three bit-identical), a zero upstream gradient, then central
 * differences per input element. Misuse raised inside f or its backward goes to the error
 * handler as anywhere else (it is not caught here). */
#include "config.h"
#include "nb__autograd.h"
#include "nb_gradcheck.h"

#include <math.h>
#include <stdlib.h>

#define GC_SEED 0x6e61626c61ULL /* "nabla" */

nb_gradcheck_opts nb_gradcheck_opts_default(void)
{
    return (nb_gradcheck_opts){.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3, .check_determinism = true,
                               .check_zero_grad = true};
}

nb_gradcheck_opts nb_gradcheck_opts_f32(void)
{
    return (nb_gradcheck_opts){.eps = 1e-3, .atol = 1e-3, .rtol = 2e-2, .check_determinism = true,
                               .check_zero_grad = true};
}

typedef struct {
    nb_gradcheck_fn f;
    void *ctx;
    int n;
    nb_tensor **args;  /* what f receives: aliases for inputs requiring grad, else the input */
    bool *wrt;         /* args[i] is the first occurrence of an input requiring grad */
    nb_gradcheck_result *res;
} gc_state;

static void gc_fail(nb_gradcheck_result *r, const char *fmt, ...) NB_PRINTF(2, 3);
static void gc_fail(nb_gradcheck_result *r, const char *fmt, ...)
{
    if (!r->ok) /* keep the first reason */
        return;
    r->ok = false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
}

/* Evaluates f in the caller's (open) scope; misuse unless it returns a tensor. */
static nb_tensor *gc_eval(const gc_state *s)
{
    nb_tensor *out = s->f(s->args, s->n, s->ctx);
    if (!out)
        nb__fail("nb_gradcheck: the function returned NULL");
    return out;
}

/* sum(out * v) in double, v read from the (same-shaped) tensor actually fed to backward. */
static double gc_dot(const nb_tensor *out, const nb_tensor *v)
{
    int64_t n = nb_tensor_numel(out);
    double acc = 0;
    for (int64_t k = 0; k < n; k++)
        acc += nb__load(out->dtype, nb__elem_ptr(out, k)) * nb__load(v->dtype, nb__elem_ptr(v, k));
    return acc;
}

/* One analytic pass: builds a graph, backpropagates v (retain_graph for a second pass when
 * `again`), and copies every wrt input's gradient into grads[i] (zeros when none arrived).
 * Returns false (with the result failed) when the output cannot be backpropagated. */
static bool gc_analytic(const gc_state *s, const nb_tensor *v, bool zero_v, double **grads, double **grads2)
{
    int scope = nb_scope_begin();
    for (int i = 0; i < s->n; i++)
        if (s->wrt[i])
            nb_tensor_zero_grad(s->args[i], true);
    nb_tensor *out = gc_eval(s);
    bool ok = true;
    if (!nb_tensor_same_shape(out, v) || out->dtype != v->dtype) {
        gc_fail(s->res, "the function's output changed shape or dtype between evaluations (%s %s, then %s %s)",
                NB__SHAPE(v), nb_dtype_name(v->dtype), NB__SHAPE(out), nb_dtype_name(out->dtype));
        ok = false;
    }
    nb_tensor *g = NULL;
    if (ok && out->requires_grad)
        g = zero_v ? nb_zeros_like(out) : (nb_tensor *)v;
    for (int pass = 0; ok && pass < (grads2 ? 2 : 1); pass++) {
        double **dst = pass ? grads2 : grads;
        if (g) {
            if (pass)
                for (int i = 0; i < s->n; i++)
                    if (s->wrt[i])
                        nb_tensor_zero_grad(s->args[i], true);
            nb_backward(out, g, grads2 != NULL && pass == 0);
        }
        for (int i = 0; i < s->n; i++) {
            if (!s->wrt[i])
                continue;
            const nb_tensor *x = s->args[i], *gx = x->grad;
            int64_t m = nb_tensor_numel(x);
            if (!gx) {
                for (int64_t k = 0; k < m; k++)
                    dst[i][k] = 0;
                continue;
            }
            if (!nb_tensor_same_shape(gx, x) || gx->dtype != x->dtype) {
                gc_fail(s->res, "input %d: gradient of shape %s (%s) for an input of shape %s (%s)", i,
                        NB__SHAPE(gx), nb_dtype_name(gx->dtype), NB__SHAPE(x), nb_dtype_name(x->dtype));
                ok = false;
                break;
            }
            for (int64_t k = 0; k < m; k++)
                dst[i][k] = nb__load(gx->dtype, nb__elem_ptr(gx, k));
        }
    }
    for (int i = 0; i < s->n; i++)
        if (s->wrt[i])
            nb_tensor_zero_grad(s->args[i], true);
    nb_scope_end(scope);
    return ok;
}

/* Writes v (converted to x's dtype) into x's element at p and marks the storage written; returns
 * the value actually stored (rounded for float32). */
static double gc_poke(nb_tensor *x, char *p, double v)
{
    nb__store(x->dtype, p, v);
    nb__bump_version(x);
    return nb__load(x->dtype, p);
}

static double gc_eval_dot(const gc_state *s, const nb_tensor *v)
{
    int scope = nb_scope_begin();
    bool prev = nb_set_grad_enabled(false);
    nb_tensor *out = gc_eval(s);
    double d = nb_tensor_same_shape(out, v) ? gc_dot(out, v) : NAN;
    nb_set_grad_enabled(prev);
    nb_scope_end(scope);
    return d;
}

static bool gc_same_bits(const double *a, const double *b, int64_t n, int64_t *where)
{
    for (int64_t k = 0; k < n; k++)
        if (memcmp(&a[k], &b[k], sizeof a[k]) != 0) {
            *where = k;
            return false;
        }
    return true;
}

nb_gradcheck_result nb_gradcheck(nb_gradcheck_fn f, void *ctx, nb_tensor *const *inputs, int n_inputs,
                                 const nb_gradcheck_opts *opts)
{
    nb_gradcheck_result res = {.ok = true, .max_abs_err = 0, .max_rel_err = 0, .message = ""};
    if (!f || n_inputs < 0 || (n_inputs > 0 && !inputs)) {
        gc_fail(&res, "nb_gradcheck: invalid arguments (f %s, %d inputs)", f ? "set" : "NULL", n_inputs);
        return res;
    }
    /* ---- validate the inputs, pick the options ---- */
    bool any_wrt = false, any_f32 = false;
    for (int i = 0; i < n_inputs; i++) {
        const nb_tensor *x = inputs[i];
        if (!x) {
            gc_fail(&res, "nb_gradcheck: input %d is NULL", i);
            return res;
        }
        if (!x->requires_grad)
            continue;
        if (!nb_dtype_is_float(x->dtype)) {
            gc_fail(&res, "nb_gradcheck: input %d requires grad but is %s (only float inputs can be checked)", i,
                    nb_dtype_name(x->dtype));
            return res;
        }
        for (int d = 0; d < x->ndim; d++)
            if (x->strides[d] == 0 && x->shape[d] > 1) {
                gc_fail(&res,
                        "nb_gradcheck: input %d (shape %s, strides %s) has a stride-0 dim %d: perturbing one "
                        "element would move its aliases; pass a contiguous copy",
                        i, NB__SHAPE(x), nb__shape_text(x->ndim, x->strides).s, d);
                return res;
            }
        any_wrt = true;
        any_f32 |= x->dtype == NB_F32;
    }
    if (!any_wrt) {
        gc_fail(&res, "nb_gradcheck: no input requires grad");
        return res;
    }
    nb_gradcheck_opts o = opts ? *opts : any_f32 ? nb_gradcheck_opts_f32() : nb_gradcheck_opts_default();
    if (!(o.eps > 0) || !(o.atol >= 0) || !(o.rtol >= 0)) {
        gc_fail(&res, "nb_gradcheck: invalid options (eps %g, atol %g, rtol %g)", o.eps, o.atol, o.rtol);
        return res;
    }

    int scope = nb_scope_begin();
    bool prev_mode = nb_set_grad_enabled(true);
    gc_state s = {f, ctx, n_inputs, NULL, NULL, &res};
    s.args = calloc((size_t)n_inputs + 1, sizeof *s.args);
    s.wrt = calloc((size_t)n_inputs + 1, sizeof *s.wrt);
    double **ga = calloc((size_t)n_inputs + 1, sizeof *ga), **gb = calloc((size_t)n_inputs + 1, sizeof *gb);
    if (!s.args || !s.wrt || !ga || !gb)
        nb__fail("nb_gradcheck: out of memory");
    for (int i = 0; i < n_inputs; i++) {
        nb_tensor *x = inputs[i];
        int first = i;
        for (int j = 0; j < i; j++)
            if (inputs[j] == x) {
                first = j;
                break;
            }
        if (first < i) {
            s.args[i] = s.args[first];
            continue;
        }
        if (!x->requires_grad) {
            s.args[i] = x;
            continue;
        }
        s.args[i] = nb_detach(x); /* scope-owned alias: a fresh leaf over the same storage */
        s.args[i]->requires_grad = true;
        s.wrt[i] = true;
        size_t m = (size_t)nb_tensor_numel(x);
        ga[i] = malloc((m ? m : 1) * sizeof **ga);
        gb[i] = malloc((m ? m : 1) * sizeof **gb);
        if (!ga[i] || !gb[i])
            nb__fail("nb_gradcheck: out of memory");
    }

    /* ---- the upstream gradient v: fixed pseudo-random values, in the output's dtype ---- */
    nb_tensor *v = NULL;
    {
        bool m0 = nb_set_grad_enabled(false);
        nb_tensor *out0 = gc_eval(&s); /* stays in this function's scope */
        nb_set_grad_enabled(m0);
        if (!nb_dtype_is_float(out0->dtype)) {
            gc_fail(&res, "nb_gradcheck: the function returned a %s tensor (float expected)",
                    nb_dtype_name(out0->dtype));
            goto done;
        }
        nb_generator gen;
        nb_generator_seed(&gen, GC_SEED);
        v = nb__tensor_new(out0->dtype, out0->shape, out0->ndim);
        int64_t m = nb_tensor_numel(v);
        for (int64_t k = 0; k < m; k++)
            nb__store(v->dtype, nb__elem_ptr(v, k), 2.0 * nb_generator_uniform(&gen) - 1.0);
    }

    /* ---- analytic gradients; determinism (same graph twice, then a fresh graph) ---- */
    if (!gc_analytic(&s, v, false, ga, o.check_determinism ? gb : NULL))
        goto done;
    if (o.check_determinism) {
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && !gc_analytic(&s, v, false, gb, NULL))
                goto done;
            for (int i = 0; i < n_inputs; i++) {
                int64_t k;
                if (s.wrt[i] && !gc_same_bits(ga[i], gb[i], nb_tensor_numel(inputs[i]), &k)) {
                    gc_fail(&res,
                            "input %d, element %lld: backward is not deterministic (%s: %.17g, then %.17g)", i,
                            (long long)k, pass ? "fresh graph" : "second pass over a retained graph", ga[i][k],
                            gb[i][k]);
                    goto done;
                }
            }
        }
    }
    if (o.check_zero_grad) {
        if (!gc_analytic(&s, v, true, gb, NULL))
            goto done;
        for (int i = 0; i < n_inputs; i++) {
            if (!s.wrt[i])
                continue;
            int64_t m = nb_tensor_numel(inputs[i]);
            for (int64_t k = 0; k < m; k++)
                if (gb[i][k] != 0) {
                    gc_fail(&res, "input %d, element %lld: a zero upstream gradient gave gradient %.17g", i,
                            (long long)k, gb[i][k]);
                    goto done;
                }
        }
    }

    /* ---- numeric: central differences of sum(f * v), one input element at a time ---- */
    for (int i = 0; i < n_inputs; i++) {
        if (!s.wrt[i])
            continue;
        nb_tensor *x = s.args[i];
        int64_t m = nb_tensor_numel(x);
        size_t es = nb_dtype_size(x->dtype);
        for (int64_t k = 0; k < m; k++) {
            char *p = nb__elem_ptr(x, k);
            unsigned char orig[8];
            memcpy(orig, p, es);
            double x0 = nb__load(x->dtype, p);
            double xp = gc_poke(x, p, x0 + o.eps);
            double fp = gc_eval_dot(&s, v);
            double xm = gc_poke(x, p, x0 - o.eps);
            double fm = gc_eval_dot(&s, v);
            memcpy(p, orig, es); /* exact restore */
            nb__bump_version(x);
            double num = (fp - fm) / (xp - xm), ana = ga[i][k];
            double err = fabs(ana - num), rel = err / fmax(fabs(num), o.atol > 0 ? o.atol : 1e-300);
            if (isnan(err) || isnan(num)) {
                err = rel = INFINITY;
            }
            if (err > res.max_abs_err)
                res.max_abs_err = err;
            if (rel > res.max_rel_err)
                res.max_rel_err = rel;
            if (!(err <= o.atol + o.rtol * fabs(num)))
                gc_fail(&res, "input %d, element %lld: analytic %.10g, numeric %.10g (|diff| %.3g > atol %g + "
                        "rtol %g * |numeric|)",
                        i, (long long)k, ana, num, err, o.atol, o.rtol);
        }
    }

done:
    for (int i = 0; i < n_inputs; i++) {
        free(ga[i]);
        free(gb[i]);
    }
    free(ga);
    free(gb);
    free(s.args);
    free(s.wrt);
    nb_set_grad_enabled(prev_mode);
    nb_scope_end(scope);
    return res;
}
