/* test_gradcheck.c — the gradient-check suite.
 *
 * Every op of the registry (nb_op_count / nb_op_name_at) has an entry (k_entries below) that builds
 * the op from its inputs and gradchecks it (nb_gradcheck, float64, PyTorch's settings) on each input
 * class it lists: contiguous, transposed, sliced with an offset (NaN in the gaps), broadcast (the input is
 * small and the op broadcasts it; both sides for binary ops), zero-size and 0-dim; plus a float32
 * pass (nb_gradcheck_opts_f32) on contiguous inputs. A registered op without an entry fails the
 * suite, so no op lands without its gradient check.
 *
 * This file holds the input makers, check(), the registry k_entries, the Check tests and --table; the
 * entries (e_*) are split by op family: tests/gradcheck_pointwise.c (elementwise, matmul),
 * tests/gradcheck_shape.c (views, reductions, indexing, scans, shape ops) and tests/gradcheck_nn.c
 * (norms, losses, attention, conv/pool, LSTM), sharing tests/gradcheck_entries.h.
 *
 *   tests/test_gradcheck           the Check suite
 *   tests/test_gradcheck --table   one row per op: classes checked, max abs / rel error
 */
#define _POSIX_C_SOURCE 200809L
#include "gradcheck_entries.h"

#include <sys/wait.h>
#include <unistd.h>

/* ==== input classes ============================================================================ */
const char *const k_class_names[C_COUNT] = {"contig", "transp", "sliced", "bcast", "zero", "0dim"};

/* ==== inputs ==================================================================================== */

/* Values of kind k in [lo, hi): uniform; on a 0.1 grid +0.05 (never within 0.05 of a multiple of
 * 0.1: away from kinks at 0, clamp bounds and ties with K_GRID0); on the grid; all distinct with
 * gaps >= (hi-lo)/n (no ties for max/min). */
nb_tensor *vals(gc_run *r, const int64_t *sh, int nd, int k, double lo, double hi)
{
    nb_generator g;
    nb_generator_seed(&g, 1000 + 7919 * ++r->seed);
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= sh[i];
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) {
        double u = lo + (hi - lo) * nb_generator_uniform(&g);
        v[i] = k == K_GRID5 ? floor(u * 10) / 10 + 0.05 : k == K_GRID0 ? round(u * 10) / 10 : u;
        if (k == K_DISTINCT)
            v[i] = lo + (hi - lo) * ((double)i + 0.5) / (double)n;
    }
    if (k == K_DISTINCT)
        for (int64_t i = n - 1; i > 0; i--) {
            int64_t j = (int64_t)nb_generator_below(&g, (uint64_t)i + 1);
            double t = v[i];
            v[i] = v[j], v[j] = t;
        }
    nb_tensor *t = nb_from_doubles(v, sh, nd, r->dt);
    free(v);
    return t;
}

nb_tensor *ints(nb_dtype dt, const int64_t *sh, int nd, const double *v)
{
    return tu_tensor(dt, sh, nd, v);
}

nb_tensor *mask(gc_run *r, const int64_t *sh, int nd)
{
    nb_generator g;
    nb_generator_seed(&g, 77 + ++r->seed);
    int64_t n = 1;
    for (int i = 0; i < nd; i++)
        n *= sh[i];
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = nb_generator_uniform(&g) < 0.5;
    nb_tensor *t = nb_from_doubles(v, sh, nd, NB_BOOL);
    free(v);
    return t;
}

static void shape_text(const nb_tensor *t, char *buf, size_t n)
{
    nb_shape_str(nb_tensor_shape(t), nb_tensor_ndim(t), buf, n);
}

/* Lays the inputs out for the run's class, marks the float inputs in `diff` as requiring grad,
 * gradchecks f and records the errors. Inputs are borrowed (scope-owned plain tensors). */
void check(gc_run *r, nb_gradcheck_fn f, void *ctx, int n, nb_tensor **in, unsigned diff)
{
    nb_tensor *args[8], *own[8] = {0};
    if (n > 8) /* no ck_assert here: --table runs this outside Check */
        abort();
    for (int i = 0; i < n; i++) {
        args[i] = in[i];
        if ((r->cls == C_TRANSP || r->cls == C_SLICED) && nb_tensor_ndim(in[i]) >= 1)
            args[i] = own[i] = tu_relayout(in[i], r->cls == C_TRANSP ? TU_TRANSPOSED : TU_SLICED);
        if (diff & (1u << i))
            nb_tensor_requires_grad_(args[i], true);
    }
    nb_gradcheck_opts o32 = nb_gradcheck_opts_f32();
    nb_gradcheck_result res = nb_gradcheck(f, ctx, args, n, r->dt == NB_F32 ? &o32 : NULL);
    r->checks++;
    if (res.max_abs_err > r->max_abs)
        r->max_abs = res.max_abs_err;
    if (res.max_rel_err > r->max_rel)
        r->max_rel = res.max_rel_err;
    if (!res.ok && !r->failed) {
        char shapes[300] = "", one[64];
        for (int i = 0; i < n; i++) {
            shape_text(args[i], one, sizeof one);
            strncat(shapes, i ? " x " : "", sizeof shapes - strlen(shapes) - 1);
            strncat(shapes, one, sizeof shapes - strlen(shapes) - 1);
        }
        r->failed = true;
        snprintf(r->msg, sizeof r->msg, "%s %s check #%d, inputs %s: %s", k_class_names[r->cls],
                 nb_dtype_name(r->dt), r->checks, shapes, res.message);
    }
    for (int i = 0; i < n; i++)
        nb_tensor_release(own[i]);
}

/* ==== the registry ============================================================================== */
static const gc_entry k_entries[] = {
    {"nb_view", NO_BCAST, e_view},
    {"nb_reshape", NO_BCAST, e_reshape},
    {"nb_transpose", NO_BCAST, e_transpose},
    {"nb_permute", NO_BCAST, e_permute},
    {"nb_narrow", LAYOUTS | CB(C_ZERO), e_narrow}, /* a 0-dim tensor has no dim to narrow */
    {"nb_slice", LAYOUTS | CB(C_ZERO), e_slice},
    {"nb_select", LAYOUTS | CB(C_ZERO), e_select},
    {"nb_expand", ALL, e_expand},
    {"nb_squeeze", NO_BCAST, e_squeeze},
    {"nb_unsqueeze", NO_BCAST, e_unsqueeze},
    {"nb_flatten", NO_BCAST, e_flatten},
    {"nb_contiguous", NO_BCAST, e_contiguous},
    {"nb_clone", NO_BCAST, e_clone},
    {"nb_to_dtype", NO_BCAST, e_to_dtype},
    {"nb_gelu", NO_BCAST, e_gelu},
#define NB_PW_UNARY(name, ...) {"nb_" #name, NO_BCAST, e_##name},
#define NB_PW_BINARY(name, ...) {"nb_" #name, ALL, e_##name},
#include "nb_pointwise.def"
    {"nb_where", ALL, e_where},
    {"nb_masked_fill", ALL, e_masked_fill},
    {"nb_sum", NO_BCAST, e_sum},
    {"nb_mean", NO_BCAST, e_mean},
    {"nb_var", NO_BCAST, e_var},
    {"nb_std", LAYOUTS | CB(C_ZERO), e_std}, /* 0-dim: std 0 is a kink */
    {"nb_logsumexp", NO_BCAST, e_logsumexp},
    {"nb_max", NO_BCAST, e_max},
    {"nb_min", NO_BCAST, e_min},
    {"nb_softmax", NO_BCAST, e_softmax},
    {"nb_log_softmax", NO_BCAST, e_log_softmax},
    {"nb_matmul", LAYOUTS | CB(C_BCAST) | CB(C_ZERO), e_matmul}, /* matmul needs >= 1 dim */
    {"nb_index_select", LAYOUTS | CB(C_ZERO), e_index_select},
    {"nb_gather", LAYOUTS | CB(C_ZERO), e_gather},
    {"nb_scatter_add", LAYOUTS | CB(C_ZERO), e_scatter_add},
    {"nb_embedding", NO_BCAST, e_embedding},
    {"nb_cat", LAYOUTS | CB(C_ZERO), e_cat},
    {"nb_stack", NO_BCAST, e_stack},
    {"nb_tril", LAYOUTS | CB(C_ZERO), e_tril}, /* needs >= 2 dims */
    {"nb_triu", LAYOUTS | CB(C_ZERO), e_triu},
    {"nb_layer_norm", LAYOUTS | CB(C_ZERO), e_layer_norm}, /* needs a last dim */
    {"nb_cross_entropy", NO_BCAST, e_cross_entropy},
    {"nb_dropout", NO_BCAST, e_dropout},
    {"nb_linear", LAYOUTS | CB(C_ZERO), e_fused_linear}, /* weight is 2-D */
    {"nb_scaled_dot_product_attention", LAYOUTS | CB(C_BCAST) | CB(C_ZERO), e_sdpa}, /* 4-D; masks broadcast */
    /* scans, products, norms, sorting, shape ops */
    {"nb_cumsum", NO_BCAST, e_cumsum},
    {"nb_cumprod", NO_BCAST, e_cumprod},
    {"nb_prod", NO_BCAST, e_prod},
    {"nb_amax", NO_BCAST, e_amax},
    {"nb_amin", NO_BCAST, e_amin},
    {"nb_norm", NO_BCAST, e_norm},
    {"nb_sort", NO_BCAST, e_sort},
    {"nb_topk", NO_BCAST, e_topk},
    {"nb_outer", LAYOUTS | CB(C_ZERO), e_outer}, /* 1-D inputs only */
    {"nb_pad", NO_BCAST, e_pad},
    {"nb_repeat", NO_BCAST, e_repeat},
    {"nb_flip", NO_BCAST, e_flip},
    {"nb_roll", NO_BCAST, e_roll},
    /* norms, rotary embedding, losses */
    {"nb_rms_norm", LAYOUTS | CB(C_ZERO), e_rms_norm},
    {"nb_rope", LAYOUTS | CB(C_ZERO), e_rope}, /* [..., T, hs] */
    {"nb_group_norm", LAYOUTS | CB(C_ZERO), e_group_norm}, /* [N, C, *] */
    {"nb_batch_norm", LAYOUTS | CB(C_ZERO), e_batch_norm},
    {"nb_mse_loss", NO_BCAST, e_mse_loss},
    {"nb_l1_loss", NO_BCAST, e_l1_loss},
    {"nb_smooth_l1_loss", NO_BCAST, e_smooth_l1_loss},
    {"nb_huber_loss", NO_BCAST, e_huber_loss},
    {"nb_binary_cross_entropy_with_logits", NO_BCAST, e_bce_logits},
    {"nb_kl_div", NO_BCAST, e_kl_div},
    {"nb_nll_loss", LAYOUTS | CB(C_ZERO), e_nll_loss},
    {"nb_cross_entropy_prob", LAYOUTS | CB(C_ZERO), e_ce_prob},
    /* convolution and pooling (nn/conv.c, nn/pool.c) */
    {"nb_conv1d", LAYOUTS | CB(C_ZERO), e_conv1d}, /* 3-D / 4-D inputs only */
    {"nb_conv2d", LAYOUTS | CB(C_ZERO), e_conv2d},
    {"nb_max_pool1d", LAYOUTS | CB(C_ZERO), e_max_pool1d},
    {"nb_max_pool2d", LAYOUTS | CB(C_ZERO), e_max_pool2d},
    {"nb_avg_pool1d", LAYOUTS | CB(C_ZERO), e_avg_pool1d},
    {"nb_avg_pool2d", LAYOUTS | CB(C_ZERO), e_avg_pool2d},
    /* max unpooling (issue #15, nn/pool.c) */
    {"nb_max_unpool1d", LAYOUTS | CB(C_ZERO), e_max_unpool1d},
    {"nb_max_unpool2d", LAYOUTS | CB(C_ZERO), e_max_unpool2d},
    /* transposed convolution (nn/conv_transpose.c) */
    {"nb_conv_transpose1d", LAYOUTS | CB(C_ZERO), e_conv_transpose1d}, /* 3-D / 4-D inputs only */
    {"nb_conv_transpose2d", LAYOUTS | CB(C_ZERO), e_conv_transpose2d},
    /* perf: fused LSTM recurrence (nn/lstm_op.c) */
    {"nb_lstm_recurrence", LAYOUTS | CB(C_ZERO), e_lstm_recurrence}, /* [T, B, 4H] only */
    /* interpolation (nn/interp.c) */
    {"nb_interpolate", LAYOUTS | CB(C_ZERO), e_interpolate},
};
#define N_ENTRIES ((int)(sizeof k_entries / sizeof *k_entries))

static const gc_entry *find_entry(const char *name)
{
    for (int i = 0; i < N_ENTRIES; i++)
        if (!strcmp(k_entries[i].name, name))
            return &k_entries[i];
    return NULL;
}

/* The outcome of every class (float64) plus the float32 contiguous pass of one entry. */
typedef struct {
    unsigned checked; /* classes with at least one passing-or-failing check */
    bool f32;
    int checks;
    double max_abs, max_rel;         /* float64 classes */
    double max_abs_f32, max_rel_f32; /* the float32 pass */
    bool failed;
    char msg[700];
} entry_result;

static void run_entry(const gc_entry *e, entry_result *out)
{
    memset(out, 0, sizeof *out);
    for (int pass = 0; pass <= C_COUNT; pass++) {
        bool f32 = pass == C_COUNT;
        if (!f32 && !(e->classes & CB(pass)))
            continue;
        gc_run r = {.cls = f32 ? C_CONTIG : pass, .dt = f32 ? NB_F32 : NB_F64};
        int s = nb_scope_begin();
        e->run(&r);
        nb_scope_end(s);
        if (r.checks == 0 && !out->failed) {
            out->failed = true;
            snprintf(out->msg, sizeof out->msg, "class %s is listed but checked nothing", k_class_names[r.cls]);
        }
        if (f32)
            out->f32 = r.checks > 0;
        else if (r.checks)
            out->checked |= CB(pass);
        out->checks += r.checks;
        if (f32) {
            out->max_abs_f32 = r.max_abs;
            out->max_rel_f32 = r.max_rel;
        } else {
            out->max_abs = fmax(out->max_abs, r.max_abs);
            out->max_rel = fmax(out->max_rel, r.max_rel);
        }
        if (r.failed && !out->failed) {
            out->failed = true;
            memcpy(out->msg, r.msg, sizeof out->msg);
        }
    }
}

static void classes_text(const entry_result *er, char *buf, size_t n)
{
    buf[0] = '\0';
    for (int c = 0; c < C_COUNT; c++)
        if (er->checked & CB(c)) {
            strncat(buf, buf[0] ? "," : "", n - strlen(buf) - 1);
            strncat(buf, k_class_names[c], n - strlen(buf) - 1);
        }
    if (er->f32)
        strncat(buf, buf[0] ? ",f32" : "f32", n - strlen(buf) - 1);
}

/* ==== Check tests: registry coverage and one gradcheck per op ================================== */
START_TEST(test_every_op_has_entry)
{
    char missing[2048] = "";
    for (int i = 0; i < nb_op_count(); i++)
        if (!find_entry(nb_op_name_at(i))) {
            strncat(missing, " ", sizeof missing - strlen(missing) - 1);
            strncat(missing, nb_op_name_at(i), sizeof missing - strlen(missing) - 1);
        }
    ck_assert_msg(missing[0] == '\0', "registered ops without a gradcheck entry:%s", missing);
    for (int i = 0; i < N_ENTRIES; i++) { /* and no stale entry */
        bool found = false;
        for (int j = 0; j < nb_op_count() && !found; j++)
            found = !strcmp(nb_op_name_at(j), k_entries[i].name);
        ck_assert_msg(found, "gradcheck entry %s names no registered op", k_entries[i].name);
        ck_assert_msg(k_entries[i].classes & CB(C_CONTIG), "%s: no contiguous class", k_entries[i].name);
    }
}
END_TEST

START_TEST(test_op_gradcheck)
{
    const char *name = nb_op_name_at(_i);
    const gc_entry *e = find_entry(name);
    ck_assert_msg(e != NULL, "%s (%s) has no gradcheck entry", name, nb_op_family_name_at(_i));
    entry_result er;
    run_entry(e, &er);
    ck_assert_msg(!er.failed, "%s: %s", name, er.msg);
    ck_assert_msg(er.checked == e->classes, "%s: classes checked 0x%x, listed 0x%x", name, er.checked, e->classes);
    ck_assert_msg(er.f32, "%s: no float32 pass", name);
    ck_assert_int_eq(nb_scope_depth(), 0);
}
END_TEST

/* ==== composite graphs ========================================================================== */
static nb_gradcheck_result gc1(nb_gradcheck_fn f, void *ctx, nb_tensor *x)
{
    nb_tensor_requires_grad_(x, true);
    return nb_gradcheck(f, ctx, &x, 1, NULL);
}
#define ASSERT_GC_OK(res) ck_assert_msg((res).ok, "gradcheck failed: %s", (res).message)

/* y = tanh(x) used 50 times, x itself 49 more times. */
static nb_tensor *f_reuse(nb_tensor *const *x, int n, void *c)
{
    (void)n, (void)c;
    nb_tensor *y = nb_tanh(x[0]), *acc = y;
    for (int i = 1; i < 50; i++)
        acc = nb_add(acc, nb_mul_scalar(nb_mul(y, x[0]), 0.02 * i));
    return acc;
}

START_TEST(test_node_reused_50_times)
{
    int s = nb_scope_begin();
    ASSERT_GC_OK(gc1(f_reuse, NULL, tu_random(NB_F64, NB_DIMS(2, 3), -1, 1, 11)));
    nb_scope_end(s);
}
END_TEST

/* Diamond: y = exp(x); z = tanh(y) + y*y. */
static nb_tensor *f_diamond(nb_tensor *const *x, int n, void *c)
{
    (void)n, (void)c;
    nb_tensor *y = nb_exp(x[0]);
    return nb_add(nb_tanh(y), nb_mul(y, y));
}

START_TEST(test_diamond)
{
    int s = nb_scope_begin();
    ASSERT_GC_OK(gc1(f_diamond, NULL, tu_random(NB_F64, NB_DIMS(3, 2), -1, 1, 12)));
    nb_scope_end(s);
}
END_TEST

/* transpose of a slice of an expand; select of a narrow of a permute of a reshape. */
static nb_tensor *f_views_of_views(nb_tensor *const *x, int n, void *c)
{
    (void)n, (void)c;
    nb_tensor *a = nb_expand(x[0], NB_DIMS(3, 5, 4));                /* x: (3, 1, 4) */
    nb_tensor *b = nb_transpose(nb_slice(a, 1, 1, 5, 2), 0, 2);      /* (4, 2, 3) */
    nb_tensor *r = nb_reshape(x[0], NB_DIMS(2, 6));
    nb_tensor *q = nb_permute(nb_reshape(r, NB_DIMS(2, 2, 3)), (const int[]){2, 0, 1}); /* (3, 2, 2) */
    nb_tensor *d = nb_select(nb_narrow(q, 0, 1, 2), 1, 1);                                 /* (2, 2) */
    nb_tensor *e = nb_mul(b, nb_unsqueeze(nb_sum(d, NB_ALL_AXES, false), 0)); /* (4, 2, 3) */
    return nb_mul(e, b);
}

START_TEST(test_views_of_views)
{
    int s = nb_scope_begin();
    ASSERT_GC_OK(gc1(f_views_of_views, NULL, tu_random(NB_F64, NB_DIMS(3, 1, 4), -1, 1, 13)));
    nb_tensor *sl = tu_relayout(tu_random(NB_F64, NB_DIMS(3, 1, 4), -1, 1, 14), TU_SLICED);
    ASSERT_GC_OK(gc1(f_views_of_views, NULL, sl));
    nb_tensor_release(sl);
    nb_scope_end(s);
}
END_TEST

/* 10,000 cheap ops, then a nonlinearity. */
static nb_tensor *f_chain(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    int len = *(int *)c;
    nb_tensor *y = x[0];
    for (int i = 0; i < len; i++)
        y = i % 2 ? nb_mul_scalar(y, 0.9999) : nb_add_scalar(y, 1e-4);
    return nb_mul(y, nb_tanh(y));
}

START_TEST(test_chain_10000_gradcheck)
{
    int s = nb_scope_begin(), len = 10000;
    ASSERT_GC_OK(gc1(f_chain, &len, tu_random(NB_F64, NB_DIMS(2), -1, 1, 15)));
    nb_scope_end(s);
}
END_TEST

START_TEST(test_chain_100000_backward)
{
    int s = nb_scope_begin();
    nb_tensor *x = nb_tensor_requires_grad_(nb_scalar(1.0, NB_F64), true), *y = x;
    for (int i = 0; i < 100000; i++)
        y = nb_mul_scalar(y, 1.0001);
    nb_backward(y, NULL, false);
    double want = 1.0;
    for (int i = 0; i < 100000; i++)
        want *= 1.0001;
    ck_assert_double_eq_tol(want, pow(1.0001, 100000), want * 1e-9);
    ck_assert_msg(fabs(nb_tensor_item(nb_tensor_get_grad(x)) - want) <= want * 1e-9, "dy/dx %.17g, expected %.17g",
                  nb_tensor_item(nb_tensor_get_grad(x)), want);
    ck_assert_msg(fabs(nb_tensor_item(y) - want) <= want * 1e-9, "y %.17g", nb_tensor_item(y));
    nb_scope_end(s); /* frees the 100,000-node graph (iteratively) */
}
END_TEST

/* ==== nb_gradcheck itself ======================================================================= */
FN(f_exp_mul, nb_mul(nb_exp(x[0]), x[0]))
FN(f_wrong, nb_mul(x[0], nb_detach(x[0])))
static nb_tensor *f_drift(nb_tensor *const *x, int n, void *c)
{
    (void)n;
    return nb_mul_scalar(x[0], 1.0 + 1e-3 * (*(int *)c)++);
}
FN(f_mul2, nb_mul(x[0], x[1]))
FN(f_tanh1, nb_tanh(x[0]))

START_TEST(test_gc_options)
{
    nb_gradcheck_opts d = nb_gradcheck_opts_default(), f = nb_gradcheck_opts_f32();
    ck_assert(d.eps == 1e-6 && d.atol == 1e-5 && d.rtol == 1e-3 && d.check_determinism && d.check_zero_grad);
    ck_assert(f.eps == 1e-3 && f.atol == 1e-3 && f.rtol == 2e-2 && f.check_determinism && f.check_zero_grad);
}
END_TEST

START_TEST(test_gc_passes_and_reports_small_error)
{
    int s = nb_scope_begin();
    nb_gradcheck_result res = gc1(f_exp_mul, NULL, tu_random(NB_F64, NB_DIMS(3, 4), -1, 1, 21));
    ASSERT_GC_OK(res);
    ck_assert_str_eq(res.message, "");
    ck_assert_msg(res.max_abs_err < 1e-7 && res.max_rel_err < 1e-5, "errors %g %g", res.max_abs_err, res.max_rel_err);
    res = gc1(f_exp_mul, NULL, tu_random(NB_F32, NB_DIMS(3, 4), -1, 1, 22)); /* NULL opts: float32 settings */
    ASSERT_GC_OK(res);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_gc_detects_wrong_gradient)
{
    int s = nb_scope_begin();
    nb_gradcheck_result res = gc1(f_wrong, NULL, tu_random(NB_F64, NB_DIMS(2, 2), 0.5, 1, 23));
    ck_assert(!res.ok);
    ck_assert_msg(strstr(res.message, "input 0, element 0: analytic") && strstr(res.message, "numeric"), "%s",
                  res.message);
    ck_assert(res.max_abs_err > 0.1);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_gc_detects_nondeterminism)
{
    int s = nb_scope_begin(), calls = 0;
    nb_gradcheck_result res = gc1(f_drift, &calls, tu_random(NB_F64, NB_DIMS(3), -1, 1, 24));
    ck_assert(!res.ok);
    ck_assert_msg(strstr(res.message, "not deterministic"), "%s", res.message);
    nb_scope_end(s);
}
END_TEST

START_TEST(test_gc_refuses_stride0_and_no_grad)
{
    int s = nb_scope_begin();
    nb_tensor *base = tu_random(NB_F64, NB_DIMS(3, 1), -1, 1, 25);
    nb_tensor *e = nb_tensor_requires_grad_(nb_detach(nb_expand(base, NB_DIMS(3, 4))), true);
    nb_gradcheck_result res = nb_gradcheck(f_tanh1, NULL, &e, 1, NULL);
    ck_assert(!res.ok);
    ck_assert_msg(strstr(res.message, "stride-0"), "%s", res.message);
    nb_tensor *plain = tu_random(NB_F64, NB_DIMS(3), -1, 1, 26);
    res = nb_gradcheck(f_tanh1, NULL, &plain, 1, NULL);
    ck_assert(!res.ok);
    ck_assert_msg(strstr(res.message, "no input requires grad"), "%s", res.message);
    nb_scope_end(s);
}
END_TEST

/* A strided input with NaN gaps and an existing .grad: values (and gaps) restored bit for bit,
 * .grad untouched, no scope left open. */
START_TEST(test_gc_restores_inputs_and_grad)
{
    int s = nb_scope_begin();
    nb_tensor *base = nb_full(NB_DIMS(4, 9), NAN, NB_F64);
    nb_tensor *x = nb_slice(nb_slice(base, 0, 1, 4, 1), 1, 1, 9, 2); /* (3, 4), offset 10 */
    nb_copy_(x, tu_random(NB_F64, NB_DIMS(3, 4), -1, 1, 27));
    nb_tensor_requires_grad_(x, true);
    nb_tensor *g = nb_full(NB_DIMS(3, 4), 7.0, NB_F64);
    nb_tensor_set_grad(x, g);
    unsigned char before[36 * 8], after[36 * 8];
    memcpy(before, nb_tensor_data(base), sizeof before);
    int depth = nb_scope_depth();
    int64_t refs = x->refcount, storage_refs = x->storage->refcount, grad_refs = g->refcount;
    ASSERT_GC_OK(nb_gradcheck(f_exp_mul, NULL, &x, 1, NULL));
    ck_assert_int_eq(nb_scope_depth(), depth);
    ck_assert_int_eq(x->refcount, refs); /* its aliases and every graph were freed */
    ck_assert_int_eq(x->storage->refcount, storage_refs);
    ck_assert_int_eq(g->refcount, grad_refs);
    memcpy(after, nb_tensor_data(base), sizeof after);
    ck_assert_msg(!memcmp(before, after, sizeof before), "input storage not restored exactly");
    ck_assert_ptr_eq(nb_tensor_get_grad(x), g);
    tu_assert_shape_values(g, NB_DIMS(3, 4), VALS(7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7), 0);
    nb_scope_end(s);
}
END_TEST

/* A non-leaf input is checked without disturbing its graph; an input passed twice is one input. */
START_TEST(test_gc_nonleaf_and_duplicate_inputs)
{
    int s = nb_scope_begin();
    nb_tensor *leaf = nb_tensor_requires_grad_(tu_random(NB_F64, NB_DIMS(2, 3), -1, 1, 28), true);
    nb_tensor *h = nb_mul_scalar(leaf, 2.0);
    int64_t fn_refs = h->grad_fn->refcount;
    ASSERT_GC_OK(nb_gradcheck(f_tanh1, NULL, &h, 1, NULL));
    ck_assert_int_eq(h->grad_fn->refcount, fn_refs);
    ck_assert_ptr_null(nb_tensor_get_grad(h));
    ck_assert_str_eq(nb_tensor_grad_fn_name(h), "nb_mul_scalar");
    nb_backward(nb_sum(h, NB_ALL_AXES, false), NULL, false);
    tu_assert_shape_values(nb_tensor_get_grad(leaf), NB_DIMS(2, 3), VALS(2, 2, 2, 2, 2, 2), 0);
    nb_tensor *two[2] = {leaf, leaf};
    ASSERT_GC_OK(nb_gradcheck(f_mul2, NULL, two, 2, NULL));
    tu_assert_shape_values(nb_tensor_get_grad(leaf), NB_DIMS(2, 3), VALS(2, 2, 2, 2, 2, 2), 0);
    nb_scope_end(s);
}
END_TEST

/* ==== --table ================================================================================== */
static int print_table(void)
{
    int fails = 0, missing = 0, w = 16; /* op column: as wide as the longest name */
    for (int i = 0; i < nb_op_count(); i++)
        if ((int)strlen(nb_op_name_at(i)) > w)
            w = (int)strlen(nb_op_name_at(i));
    printf("%-*s %-12s %-40s %10s %10s %10s %10s  %s\n", w, "op", "family", "classes checked (f64 + f32 pass)",
           "f64 abs", "f64 rel", "f32 abs", "f32 rel", "status");
    for (int i = 0; i < nb_op_count(); i++) {
        const char *name = nb_op_name_at(i), *fam = nb_op_family_name_at(i);
        const gc_entry *e = find_entry(name);
        if (!e) {
            printf("%-*s %-12s %-40s %10s %10s %10s %10s  MISSING (no gradcheck entry)\n", w, name, fam, "-", "-",
                   "-", "-", "-");
            missing++;
            continue;
        }
        entry_result er;
        memset(&er, 0, sizeof er);
        int fd[2];
        fflush(stdout);
        if (pipe(fd) != 0)
            return 2;
        pid_t pid = fork();
        if (pid == 0) { /* the child runs the entry: a misuse abort takes down only this row */
            close(fd[0]);
            run_entry(e, &er);
            ssize_t w = write(fd[1], &er, sizeof er);
            _exit(w == (ssize_t)sizeof er ? 0 : 1);
        }
        close(fd[1]);
        size_t got = 0;
        ssize_t k;
        while (got < sizeof er && (k = read(fd[0], (char *)&er + got, sizeof er - got)) > 0)
            got += (size_t)k;
        close(fd[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        char cls[128];
        if (got != sizeof er) {
            printf("%-*s %-12s %-40s %10s %10s %10s %10s  CRASHED (%s %d)\n", w, name, fam, "-", "-", "-", "-", "-",
                   WIFSIGNALED(status) ? "signal" : "exit",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            fails++;
            continue;
        }
        classes_text(&er, cls, sizeof cls);
        printf("%-*s %-12s %-40s %10.2e %10.2e %10.2e %10.2e  %s%s\n", w, name, fam, cls, er.max_abs, er.max_rel,
               er.max_abs_f32, er.max_rel_f32, er.failed ? "FAIL: " : "ok", er.failed ? er.msg : "");
        fails += er.failed;
    }
    printf("%d ops: %d ok, %d failed, %d without an entry\n", nb_op_count(), nb_op_count() - fails - missing, fails,
           missing);
    return fails || missing ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "--table"))
        return print_table();
    Suite *s = suite_create("gradcheck");
    TCase *reg = tcase_create("registry");
    tcase_add_test(reg, test_every_op_has_entry);
    suite_add_tcase(s, reg);
    TCase *ops = tcase_create("ops");
    tcase_set_timeout(ops, 30);
    tcase_add_loop_test(ops, test_op_gradcheck, 0, nb_op_count());
    suite_add_tcase(s, ops);
    TCase *comp = tcase_create("composite");
    tcase_set_timeout(comp, 60);
    tcase_add_test(comp, test_node_reused_50_times);
    tcase_add_test(comp, test_diamond);
    tcase_add_test(comp, test_views_of_views);
    tcase_add_test(comp, test_chain_10000_gradcheck);
    tcase_add_test(comp, test_chain_100000_backward);
    suite_add_tcase(s, comp);
    TCase *gc = tcase_create("nb_gradcheck");
    tcase_add_test(gc, test_gc_options);
    tcase_add_test(gc, test_gc_passes_and_reports_small_error);
    tcase_add_test(gc, test_gc_detects_wrong_gradient);
    tcase_add_test(gc, test_gc_detects_nondeterminism);
    tcase_add_test(gc, test_gc_refuses_stride0_and_no_grad);
    tcase_add_test(gc, test_gc_restores_inputs_and_grad);
    tcase_add_test(gc, test_gc_nonleaf_and_duplicate_inputs);
    suite_add_tcase(s, gc);
    return tu_run_suite(s);
}
