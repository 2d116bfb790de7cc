/* test_cnn.c — the convolution and pooling modules (nn/modules_conv.c) and RMSNorm without weight
 * against PyTorch 1.13 (tests/ref_cnn.py: PyTorch-initialized weights loaded through the state
 * dict, outputs and the gradients of the input and every parameter, float32 and float64), their
 * default initialization's statistics, and a small CNN (Conv2d-BatchNorm2d-ReLU-MaxPool2d x 2 +
 * Linear) on generated shape images: the data generator equals the script's, the first 20 SGD
 * losses equal PyTorch's from the same initial weights, and training reaches > 95% held-out
 * accuracy. */
#include "nb_gradcheck.h"
#include "nb_optim.h"
#include "nb_state_dict.h"
#include "refcase.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* clang-format off */
#include "test_cnn_ref.h" /* the generated PyTorch references (tests/ref_cnn.py) */
/* clang-format on */

static const nb_dtype DTS[2] = {NB_F32, NB_F64};

/* A state dict of m's parameter names holding the float32 values vals[0..) (registration order). */
static nb_state_dict *params_dict(nb_module *m, const float *vals)
{
    nb_param_list l;
    nb_module_parameters(m, false, &l);
    nb_state_dict *sd = nb_state_dict_new();
    int64_t off = 0;
    for (int i = 0; i < l.n; i++) {
        nb_tensor *p = l.params[i];
        nb_state_dict_add(sd, l.names[i], nb_from_data(vals + off, nb_tensor_shape(p), nb_tensor_ndim(p), NB_F32));
        off += nb_tensor_numel(p);
    }
    nb_param_list_free(&l);
    return sd;
}

/* ==== modules against torch.nn ================================================================= */
static nb_conv_opts copts(int64_t s0, int64_t s1, int64_t p0, int64_t p1, int64_t d0, int64_t d1, int64_t g,
                          bool same)
{
    return (nb_conv_opts){{s0, s1}, {p0, p1}, {d0, d1}, g, same};
}
static nb_pool_opts popts(int64_t s0, int64_t s1, int64_t p0, int64_t p1, int64_t d0, int64_t d1, bool ceil,
                          bool include_pad)
{
    return (nb_pool_opts){{s0, s1}, {p0, p1}, {d0, d1}, ceil, include_pad, 0};
}

static nb_module *mk_conv1d(void)
{
    nb_conv_opts o = copts(2, 1, 1, 0, 1, 1, 2, false);
    return &nb_conv1d_new(NULL, NULL, 4, 6, 3, &o, true, NULL)->base;
}
static nb_module *mk_conv1d_same(void)
{
    nb_conv_opts o = copts(1, 1, 0, 0, 1, 1, 1, true);
    return &nb_conv1d_new(NULL, NULL, 3, 4, 4, &o, false, NULL)->base;
}
static nb_module *mk_conv1d_dil(void)
{
    nb_conv_opts o = copts(1, 1, 2, 0, 3, 1, 1, false);
    return &nb_conv1d_new(NULL, NULL, 2, 3, 2, &o, true, NULL)->base;
}
static nb_module *mk_conv2d(void)
{
    nb_conv_opts o = copts(2, 1, 1, 0, 1, 2, 1, false);
    return &nb_conv2d_new(NULL, NULL, 3, 4, 3, 2, &o, true, NULL)->base;
}
static nb_module *mk_conv2d_same(void)
{
    nb_conv_opts o = copts(1, 1, 0, 0, 2, 2, 2, true);
    return &nb_conv2d_new(NULL, NULL, 4, 6, 3, 3, &o, true, NULL)->base;
}
static nb_module *mk_conv2d_unb(void) { return &nb_conv2d_new(NULL, NULL, 3, 2, 3, 3, NULL, false, NULL)->base; }
static nb_module *mk_mp1(void)
{
    nb_pool_opts o = popts(2, 0, 1, 0, 1, 1, true, true);
    return &nb_max_pool1d_new(NULL, NULL, 3, &o)->base;
}
static nb_module *mk_mp2(void) { return &nb_max_pool2d_new(NULL, NULL, 2, 2, NULL)->base; }
static nb_module *mk_mp2_b(void)
{
    nb_pool_opts o = popts(2, 1, 1, 1, 1, 2, true, true);
    return &nb_max_pool2d_new(NULL, NULL, 3, 2, &o)->base;
}
static nb_module *mk_ap1(void)
{
    nb_pool_opts o = popts(2, 0, 1, 0, 1, 1, false, true);
    return &nb_avg_pool1d_new(NULL, NULL, 3, &o)->base;
}
static nb_module *mk_ap2(void)
{
    nb_pool_opts o = popts(2, 2, 1, 1, 1, 1, true, false);
    return &nb_avg_pool2d_new(NULL, NULL, 3, 3, &o)->base;
}
static nb_module *mk_ap2_b(void)
{
    nb_pool_opts o = popts(0, 0, 1, 1, 1, 1, false, true);
    return &nb_avg_pool2d_new(NULL, NULL, 2, 3, &o)->base;
}
static nb_module *mk_ap2_div(void) /* divisor_override (issue #15) */
{
    nb_pool_opts o = popts(2, 2, 1, 1, 1, 1, true, false);
    o.divisor_override = 5;
    return &nb_avg_pool2d_new(NULL, NULL, 3, 3, &o)->base;
}
static nb_module *mk_ap2_div_b(void)
{
    nb_pool_opts o = popts(0, 0, 1, 1, 1, 1, false, true);
    o.divisor_override = 4;
    return &nb_avg_pool2d_new(NULL, NULL, 2, 3, &o)->base;
}
static nb_module *mk_ap1_div(void)
{
    nb_pool_opts o = popts(2, 0, 1, 0, 1, 1, false, true);
    o.divisor_override = 2;
    return &nb_avg_pool1d_new(NULL, NULL, 3, &o)->base;
}
static nb_module *mk_aap1(void) { return &nb_adaptive_avg_pool2d_new(NULL, NULL, 1, 1)->base; }
static nb_module *mk_aap32(void) { return &nb_adaptive_avg_pool2d_new(NULL, NULL, 3, 2)->base; }
static nb_module *mk_aap_none(void) { return &nb_adaptive_avg_pool2d_new(NULL, NULL, 4, 0)->base; }
static nb_module *mk_aap_div(void) { return &nb_adaptive_avg_pool2d_new(NULL, NULL, 2, 5)->base; }
static nb_module *mk_rms_noaff(void) { return &nb_rms_norm_new_ex(NULL, NULL, 6, 1e-6, false)->base; }
static nb_module *mk_rms_noeps(void) { return &nb_rms_norm_new_ex(NULL, NULL, 5, NAN, false)->base; }

static nb_tensor *ty_conv(nb_module *m, const nb_tensor *x) { return nb_conv_forward((nb_conv_mod *)m, x); }
static nb_tensor *ty_max(nb_module *m, const nb_tensor *x) { return nb_max_pool_forward((nb_max_pool_mod *)m, x); }
static nb_tensor *ty_avg(nb_module *m, const nb_tensor *x) { return nb_avg_pool_forward((nb_avg_pool_mod *)m, x); }
static nb_tensor *ty_aap(nb_module *m, const nb_tensor *x)
{
    return nb_adaptive_avg_pool2d_forward((nb_adaptive_avg_pool2d_mod *)m, x);
}
static nb_tensor *ty_rms(nb_module *m, const nb_tensor *x) { return nb_rms_norm_forward((nb_rms_norm_mod *)m, x); }

#define X_F {1.5, 0.7, 0.3, 0.1}
#define REF(c) {ref_##c[0], ref_##c[1]}
static const struct {
    const char *type_name;
    nb_module *(*make)(void);
    nb_tensor *(*typed)(nb_module *m, const nb_tensor *x);
    const float *params; /* torch's init, or NULL */
    const double *ref[2];
    int nd;
    int64_t shape[4];
    double f[4];
} CASES[] = {
    {"Conv1d", mk_conv1d, ty_conv, ref_conv1d_p, REF(conv1d), 3, {2, 4, 9}, X_F},
    {"Conv1d", mk_conv1d_same, ty_conv, ref_conv1d_same_p, REF(conv1d_same), 3, {2, 3, 7}, X_F},
    {"Conv1d", mk_conv1d_dil, ty_conv, ref_conv1d_dil_p, REF(conv1d_dil), 3, {1, 2, 8}, X_F},
    {"Conv2d", mk_conv2d, ty_conv, ref_conv2d_p, REF(conv2d), 4, {2, 3, 7, 6}, X_F},
    {"Conv2d", mk_conv2d_same, ty_conv, ref_conv2d_same_p, REF(conv2d_same), 4, {1, 4, 6, 5}, X_F},
    {"Conv2d", mk_conv2d_unb, ty_conv, ref_conv2d_unb_p, REF(conv2d_unb), 3, {3, 5, 5}, X_F},
    {"MaxPool1d", mk_mp1, ty_max, NULL, REF(mp1), 3, {2, 3, 8}, X_F},
    {"MaxPool2d", mk_mp2, ty_max, NULL, REF(mp2), 4, {2, 2, 6, 5}, X_F},
    {"MaxPool2d", mk_mp2_b, ty_max, NULL, REF(mp2_b), 4, {1, 2, 7, 6}, X_F},
    {"AvgPool1d", mk_ap1, ty_avg, NULL, REF(ap1), 3, {2, 3, 8}, X_F},
    {"AvgPool2d", mk_ap2, ty_avg, NULL, REF(ap2), 4, {2, 2, 6, 7}, X_F},
    {"AvgPool2d", mk_ap2_b, ty_avg, NULL, REF(ap2_b), 3, {3, 5, 4}, X_F},
    {"AvgPool2d", mk_ap2_div, ty_avg, NULL, REF(ap2_div), 4, {2, 2, 6, 7}, X_F},
    {"AvgPool2d", mk_ap2_div_b, ty_avg, NULL, REF(ap2_div_b), 3, {3, 5, 4}, X_F},
    {"AvgPool1d", mk_ap1_div, ty_avg, NULL, REF(ap1_div), 3, {2, 3, 8}, X_F},
    {"AdaptiveAvgPool2d", mk_aap1, ty_aap, NULL, REF(aap1), 4, {2, 3, 5, 4}, X_F},
    {"AdaptiveAvgPool2d", mk_aap32, ty_aap, NULL, REF(aap32), 4, {2, 2, 7, 5}, X_F},
    {"AdaptiveAvgPool2d", mk_aap_none, ty_aap, NULL, REF(aap_none), 4, {1, 2, 6, 3}, X_F},
    {"AdaptiveAvgPool2d", mk_aap_div, ty_aap, NULL, REF(aap_div), 3, {2, 6, 5}, X_F},
    {"RMSNorm", mk_rms_noaff, ty_rms, NULL, REF(rms_noaff), 3, {2, 3, 6}, {2, 0.7, 0.3, 0.1}},
    {"RMSNorm", mk_rms_noeps, ty_rms, NULL, REF(rms_noeps), 2, {3, 5}, {0.001, 0.9, 0.2, 0.0005}},
};
#define N_CASES ((int)(sizeof CASES / sizeof CASES[0]))

/* _i: case (_i >> 1), dtype (bit 0). The module converted to the dtype, torch's weights loaded
 * (strict), then the typed forward's output and the gradients of x and of every parameter against
 * torch's; the type's single-input forward (what nb_sequential_mod calls) gives the same output. */
START_TEST(test_module_matches_torch)
{
    int r = _i & 1, c = _i >> 1;
    nb_dtype dt = DTS[r];
    nb_module *m = CASES[c].make();
    ck_assert_str_eq(m->type->name, CASES[c].type_name);
    nb_module_to_dtype(m, dt);
    if (CASES[c].params) {
        nb_state_dict *sd = params_dict(m, CASES[c].params);
        ck_assert_int_eq(nb_module_load_state_dict(m, sd, true), NB_OK);
        nb_state_dict_free(sd);
    } else {
        ck_assert_int_eq(m->n_params + m->n_buffers, 0);
    }
    const double *f = CASES[c].f;
    nb_tensor *x = rc_leaf(rc_fs(dt, CASES[c].shape, CASES[c].nd, f[0], f[1], f[2], f[3]));
    nb_tensor *y = CASES[c].typed(m, x);
    tu_assert_close(nb_module_forward(m, x), y, 0, 0);
    nb_param_list l;
    nb_module_parameters(m, false, &l);
    nb_tensor *ins[4] = {x};
    for (int i = 0; i < l.n; i++)
        ins[i + 1] = l.params[i];
    int64_t used = rc_check(y, l.n + 1, ins, CASES[c].ref[r], rc_tol(dt), rc_tol(dt));
    int64_t want = nb_tensor_numel(y) + nb_tensor_numel(x);
    for (int i = 0; i < l.n; i++)
        want += nb_tensor_numel(l.params[i]);
    ck_assert_int_eq(used, want);
    nb_param_list_free(&l);
    nb_module_free(m);
}
END_TEST

/* Parameter names and shapes as torch's; the constructors' fields. */
START_TEST(test_conv_module_fields)
{
    nb_conv_opts o = copts(2, 3, 1, 2, 1, 1, 2, false);
    nb_conv_mod *c = nb_conv2d_new(NULL, NULL, 4, 6, 3, 5, &o, true, NULL);
    ck_assert_int_eq(c->base.n_params, 2);
    ck_assert_str_eq(c->base.param_names[0], "weight");
    ck_assert_str_eq(c->base.param_names[1], "bias");
    tu_assert_shape(c->weight, (int64_t[]){6, 2, 3, 5}, 4);
    tu_assert_shape(c->bias, (int64_t[]){6}, 1);
    ck_assert(c->kernel_size[0] == 3 && c->kernel_size[1] == 5 && c->opts.groups == 2 && c->dims == 2);
    tu_assert_shape(nb_conv_forward(c, nb_zeros(NB_DIMS(2, 4, 9, 9), NB_F32)), (int64_t[]){2, 6, 5, 3}, 4);
    nb_module_free(&c->base);
    nb_conv_mod *c1 = nb_conv1d_new(NULL, NULL, 3, 5, 4, NULL, false, NULL);
    ck_assert_int_eq(c1->base.n_params, 1);
    ck_assert_ptr_null(c1->bias);
    tu_assert_shape(c1->weight, (int64_t[]){5, 3, 4}, 3);
    ck_assert(c1->opts.stride[0] == 1 && c1->opts.padding[0] == 0 && c1->opts.dilation[0] == 1);
    nb_module_free(&c1->base);
    nb_max_pool_mod *mp = nb_max_pool2d_new(NULL, NULL, 3, 2, NULL); /* stride None = kernel */
    ck_assert(mp->opts.stride[0] == 3 && mp->opts.stride[1] == 2 && mp->is_max);
    nb_module_free(&mp->base);
    nb_rms_norm_mod *rn = nb_rms_norm_new_ex(NULL, NULL, 4, 1e-5, false);
    ck_assert_int_eq(rn->base.n_params, 0);
    ck_assert_ptr_null(rn->weight);
    nb_module_free(&rn->base);
    rn = nb_rms_norm_new_ex(NULL, NULL, 4, 1e-5, true);
    ck_assert_int_eq(rn->base.n_params, 1);
    nb_module_free(&rn->base);
}
END_TEST

/* The default init: weight and bias ~ U(-b, b), b = 1/sqrt(in/groups * kernel elements). For n
 * samples the mean has standard deviation b/sqrt(3n) and the sample variance b^2/3 * 0.894/sqrt(n)
 * relatively; asserted within 5 of those, and the extremes within 1% of b (all n draws below
 * 0.99 b has probability 0.99^n). Conv1d, Conv2d and grouped Conv2d. */
static void check_uniform(const nb_tensor *t, double b, bool stats)
{
    int64_t n = nb_tensor_numel(t);
    double *v = tu_values(t), mean = 0, var = 0, mx = 0;
    for (int64_t i = 0; i < n; i++) {
        ck_assert_msg(fabs(v[i]) <= b, "value %g outside +-%g", v[i], b);
        mean += v[i], mx = fmax(mx, fabs(v[i]));
    }
    mean /= (double)n;
    for (int64_t i = 0; i < n; i++)
        var += (v[i] - mean) * (v[i] - mean);
    var /= (double)(n - 1);
    free(v);
    if (!stats)
        return;
    ck_assert_msg(fabs(mean) <= 5 * b / sqrt(3.0 * (double)n), "mean %g for bound %g, n %lld", mean, b, (long long)n);
    ck_assert_msg(fabs(var / (b * b / 3) - 1) <= 5 * 0.894 / sqrt((double)n), "variance %g, want %g (n %lld)", var,
                  b * b / 3, (long long)n);
    ck_assert_msg(mx >= 0.99 * b, "largest |value| %g, bound %g", mx, b);
}

START_TEST(test_conv_init_statistics)
{
    nb_generator gs, gs2, *g = &gs, *g2 = &gs2;
    nb_generator_seed(g, 1234);
    nb_conv_mod *c2 = nb_conv2d_new(NULL, NULL, 16, 32, 3, 3, NULL, true, g);
    check_uniform(c2->weight, 1 / sqrt(144.0), true);
    check_uniform(c2->bias, 1 / sqrt(144.0), false);
    nb_conv_opts o = nb_conv_opts_default();
    o.groups = 4;
    nb_conv_mod *cg = nb_conv2d_new(NULL, NULL, 16, 512, 3, 2, &o, true, g);
    check_uniform(cg->weight, 1 / sqrt(24.0), true);
    check_uniform(cg->bias, 1 / sqrt(24.0), true);
    nb_conv_mod *c1 = nb_conv1d_new(NULL, NULL, 8, 600, 5, NULL, true, g);
    check_uniform(c1->weight, 1 / sqrt(40.0), true);
    check_uniform(c1->bias, 1 / sqrt(40.0), true);
    /* the same seed gives the same weights; draws come from gen */
    nb_generator_seed(g2, 1234);
    nb_conv_mod *again = nb_conv2d_new(NULL, NULL, 16, 32, 3, 3, NULL, true, g2);
    tu_assert_close(again->weight, c2->weight, 0, 0);
    tu_assert_close(again->bias, c2->bias, 0, 0);
    nb_module_free(&c2->base), nb_module_free(&cg->base), nb_module_free(&c1->base), nb_module_free(&again->base);
}
END_TEST

/* nb_adaptive_avg_pool2d's gradient by finite differences, in the uneven (narrow + mean) and
 * even (average pooling) forms. */
static nb_tensor *aap_fn(nb_tensor *const *in, int n, void *ctx)
{
    (void)n;
    const int64_t *o = ctx;
    return nb_adaptive_avg_pool2d(in[0], o[0], o[1]);
}
START_TEST(test_adaptive_gradcheck)
{
    static const int64_t sizes[][2] = {{3, 2}, {2, 4}, {1, 1}, {5, 3}};
    for (int i = 0; i < 4; i++) {
        nb_tensor *x = rc_leaf(RC_FS(NB_F64, 1.2, 0.9, 0.1, 0.2, 2, 2, 5, 4));
        nb_gradcheck_result r = nb_gradcheck(aap_fn, (void *)sizes[i], &x, 1, NULL);
        ck_assert_msg(r.ok, "output %lldx%lld: %s", (long long)sizes[i][0], (long long)sizes[i][1], r.message);
    }
}
END_TEST

START_TEST(test_misuse)
{
    nb_conv_opts o = nb_conv_opts_default();
    o.groups = 3;
    TU_EXPECT_ERROR("nb_conv2d_new: in_channels 4 and out_channels 6 must be divisible by groups 3",
                    nb_conv2d_new(NULL, NULL, 4, 6, 3, 3, &o, true, NULL));
    o = nb_conv_opts_default();
    o.padding_same = true, o.stride[0] = 2;
    TU_EXPECT_ERROR("nb_conv1d_new: padding \"same\" is not supported for strided convolutions (stride 2)",
                    nb_conv1d_new(NULL, NULL, 4, 6, 3, &o, true, NULL));
    TU_EXPECT_ERROR("nb_conv1d_new: kernel_size 0, stride 1 and dilation 1 must be >= 1",
                    nb_conv1d_new(NULL, NULL, 4, 6, 0, NULL, true, NULL));
    TU_EXPECT_ERROR("nb_conv2d_new: in_channels 0, out_channels 6 and groups 1 must be positive",
                    nb_conv2d_new(NULL, NULL, 0, 6, 3, 3, NULL, true, NULL));
    nb_pool_opts p = nb_pool_opts_default();
    p.padding[0] = 2;
    TU_EXPECT_ERROR("nb_max_pool1d_new: padding 2 must be in [0, kernel_size / 2] (kernel_size 3)",
                    nb_max_pool1d_new(NULL, NULL, 3, &p));
    p = nb_pool_opts_default();
    p.dilation[1] = 2;
    TU_EXPECT_ERROR("nb_avg_pool2d_new: average pooling has no dilation, got 2",
                    nb_avg_pool2d_new(NULL, NULL, 3, 3, &p));
    p = nb_pool_opts_default(), p.divisor_override = -3; /* divisor_override (issue #15) */
    TU_EXPECT_ERROR("nb_avg_pool2d_new: divisor_override -3 must be >= 0 (0: none)",
                    nb_avg_pool2d_new(NULL, NULL, 3, 3, &p));
    TU_EXPECT_ERROR("nb_avg_pool1d_new: divisor_override -3 must be >= 0 (0: none)",
                    nb_avg_pool1d_new(NULL, NULL, 3, &p));
    p.divisor_override = 2;
    TU_EXPECT_ERROR("nb_max_pool1d_new: divisor_override 2 must be 0 (max pooling has none)",
                    nb_max_pool1d_new(NULL, NULL, 3, &p));
    TU_EXPECT_ERROR("nb_adaptive_avg_pool2d_new: output size -1 x 2", nb_adaptive_avg_pool2d_new(NULL, NULL, -1, 2));
    TU_EXPECT_ERROR("nb_rms_norm_new: eps -1 must be >= 0", nb_rms_norm_new_ex(NULL, NULL, 4, -1, false));

    nb_sequential_mod *s = nb_sequential_new(NULL, NULL);
    nb_conv_mod *c2 = nb_conv2d_new(&s->base, "c2", 3, 4, 3, 3, NULL, true, NULL);
    nb_conv_mod *c1 = nb_conv1d_new(&s->base, "c1", 3, 4, 3, NULL, true, NULL);
    nb_max_pool_mod *mp = nb_max_pool2d_new(&s->base, "mp", 2, 2, NULL);
    nb_avg_pool_mod *ap = nb_avg_pool1d_new(&s->base, "ap", 2, NULL);
    TU_EXPECT_ERROR("nb_conv_forward: input of shape [2, 4, 5, 5] does not fit Conv2d(3, 4) (expected [N, 3, H, W] "
                    "or [3, H, W])",
                    nb_conv_forward(c2, nb_zeros(NB_DIMS(2, 4, 5, 5), NB_F32)));
    TU_EXPECT_ERROR("nb_conv_forward: input of shape [2, 3, 5, 5] does not fit Conv1d(3, 4)",
                    nb_conv_forward(c1, nb_zeros(NB_DIMS(2, 3, 5, 5), NB_F32)));
    TU_EXPECT_ERROR("nb_avg_pool_forward: called on a MaxPool2d module",
                    nb_avg_pool_forward(mp, nb_zeros(NB_DIMS(2, 3, 4, 4), NB_F32)));
    TU_EXPECT_ERROR("nb_max_pool_forward: called on a AvgPool1d module",
                    nb_max_pool_forward(ap, nb_zeros(NB_DIMS(2, 3, 4), NB_F32)));
    TU_EXPECT_ERROR("nb_adaptive_avg_pool2d: expected a 3-D or 4-D input",
                    nb_adaptive_avg_pool2d(nb_zeros(NB_DIMS(4, 4), NB_F32), 1, 1));
    nb_module_free(&s->base);
}
END_TEST

/* ==== the shape-image task (as ref_cnn.py's image()) =========================================== */
enum { S = 16, B = 32 };
typedef struct { uint64_t s; } splitmix64;
static uint64_t sm_next(splitmix64 *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}
static int sm_below(splitmix64 *r, int n) { return (int)(sm_next(r) % (uint64_t)n); }

/* One image: its label (0 square outline, 1 cross, 2 circle outline, 3 horizontal bar) and 256
 * pixels (2 fg on + noise byte - 128) / 512, fg in [160, 256). The draws in the script's order. */
static int draw_image(splitmix64 *r, float *pix)
{
    int label = sm_below(r, 4), fg = 160 + sm_below(r, 96);
    unsigned char on[S][S] = {{0}};
    if (label == 0) {
        int s = 5 + sm_below(r, 8), x0 = sm_below(r, S - s + 1), y0 = sm_below(r, S - s + 1);
        for (int i = 0; i < s; i++)
            on[y0][x0 + i] = on[y0 + s - 1][x0 + i] = on[y0 + i][x0] = on[y0 + i][x0 + s - 1] = 1;
    } else if (label == 1) {
        int a = 2 + sm_below(r, 4), cx = a + sm_below(r, S - 2 * a), cy = a + sm_below(r, S - 2 * a);
        for (int d = -a; d <= a; d++)
            on[cy][cx + d] = on[cy + d][cx] = 1;
    } else if (label == 2) {
        int rr = 3 + sm_below(r, 4), cx = rr + sm_below(r, S - 2 * rr), cy = rr + sm_below(r, S - 2 * rr);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int q = 4 * ((x - cx) * (x - cx) + (y - cy) * (y - cy));
                on[y][x] = (2 * rr - 1) * (2 * rr - 1) <= q && q <= (2 * rr + 1) * (2 * rr + 1);
            }
    } else {
        int n = 6 + sm_below(r, 9), t = 1 + sm_below(r, 2), x0 = sm_below(r, S - n + 1), y0 = sm_below(r, S - t + 1);
        for (int y = y0; y < y0 + t; y++)
            for (int x = x0; x < x0 + n; x++)
                on[y][x] = 1;
    }
    for (int i = 0; i < S * S / 8; i++) {
        uint64_t z = sm_next(r);
        for (int j = 0; j < 8; j++) {
            int k = i * 8 + j, noise = (int)((z >> (8 * j)) & 255) - 128;
            pix[k] = (float)(2 * fg * on[k / S][k % S] + noise) / 512.0f;
        }
    }
    return label;
}

/* n images [n, 1, 16, 16] float32 and their labels [n] int64 (new references). */
static void draw_batch(splitmix64 *r, int n, nb_tensor **x, nb_tensor **y)
{
    float *pix = malloc((size_t)n * S * S * sizeof *pix);
    int64_t *lab = malloc((size_t)n * sizeof *lab);
    for (int i = 0; i < n; i++)
        lab[i] = draw_image(r, pix + (size_t)i * S * S);
    *x = nb_from_data(pix, NB_DIMS(n, 1, S, S), NB_F32);
    *y = nb_from_data(lab, NB_DIMS(n), NB_I64);
    free(pix), free(lab);
}

/* The first batch equals the script's: labels and per-image pixel sums (exact: multiples of 1/512). */
START_TEST(test_generator_matches_script)
{
    splitmix64 r = {1};
    nb_tensor *x, *y;
    draw_batch(&r, B, &x, &y);
    double *px = tu_values(x);
    for (int i = 0; i < B; i++) {
        double sum = 0;
        for (int k = 0; k < S * S; k++)
            sum += px[i * S * S + k];
        ck_assert_int_eq((int)nb_tensor_get(y, (int64_t[]){i}), cnn_batch0_labels[i]);
        ck_assert_msg(sum == cnn_batch0_sums[i], "image %d: pixel sum %.17g, script %.17g", i, sum,
                      cnn_batch0_sums[i]);
    }
    free(px);
}
END_TEST

/* The script's model as an nb_sequential_mod with torch's child names "0".."9". */
static nb_sequential_mod *cnn_new(nb_generator *g)
{
    nb_sequential_mod *s = nb_sequential_new(NULL, NULL);
    nb_conv_opts pad1 = nb_conv_opts_default();
    pad1.padding[0] = pad1.padding[1] = 1;
    nb_sequential_append(s, &nb_conv2d_new(NULL, NULL, 1, 8, 3, 3, &pad1, true, g)->base);
    nb_sequential_append(s, &nb_batch_norm2d_new(NULL, NULL, 8, 1e-5, 0.1, true, true)->base);
    nb_sequential_append(s, &nb_relu_new(NULL, NULL)->base);
    nb_sequential_append(s, &nb_max_pool2d_new(NULL, NULL, 2, 2, NULL)->base);
    nb_sequential_append(s, &nb_conv2d_new(NULL, NULL, 8, 16, 3, 3, &pad1, true, g)->base);
    nb_sequential_append(s, &nb_batch_norm2d_new(NULL, NULL, 16, 1e-5, 0.1, true, true)->base);
    nb_sequential_append(s, &nb_relu_new(NULL, NULL)->base);
    nb_sequential_append(s, &nb_max_pool2d_new(NULL, NULL, 2, 2, NULL)->base);
    nb_sequential_append(s, &nb_flatten_new(NULL, NULL, 1, -1)->base);
    nb_sequential_append(s, &nb_linear_new(NULL, NULL, 256, 4, true, g)->base);
    return s;
}

/* Loads the script's initial state dict (strict: names and shapes as torch's, in torch's order). */
static void cnn_load_torch_init(nb_sequential_mod *s)
{
    nb_state_dict *own = nb_module_state_dict(&s->base), *sd = nb_state_dict_new();
    int j = 0;
    for (int i = 0; i < nb_state_dict_count(own); i++) {
        const char *name = nb_state_dict_name_at(own, i);
        if (strstr(name, "num_batches_tracked")) {
            nb_state_dict_add(sd, name, nb_zeros(NB_SCALAR, NB_I64));
            continue;
        }
        ck_assert_int_lt(j, (int)(sizeof cnn_keys / sizeof cnn_keys[0]));
        ck_assert_str_eq(name, cnn_keys[j].name);
        nb_state_dict_add(sd, name, nb_from_data(cnn_init + cnn_keys[j].off, cnn_keys[j].shape, cnn_keys[j].ndim, NB_F32));
        j++;
    }
    ck_assert_int_eq(j, (int)(sizeof cnn_keys / sizeof cnn_keys[0]));
    ck_assert_int_eq(nb_module_load_state_dict(&s->base, sd, true), NB_OK);
    nb_state_dict_free(sd), nb_state_dict_free(own);
}

/* One SGD step on (x, y); returns the loss before the step. */
static double cnn_step(nb_sequential_mod *s, nb_optimizer *opt, const nb_tensor *x, const nb_tensor *y)
{
    int scope = nb_scope_begin();
    nb_tensor *loss = nb_cross_entropy(nb_module_forward(&s->base, x), y, NULL);
    nb_optimizer_zero_grad(opt, true);
    nb_backward(loss, NULL, false);
    nb_optimizer_step(opt);
    double v = nb_tensor_item(loss);
    nb_scope_end(scope);
    return v;
}

static nb_optimizer *cnn_sgd(nb_sequential_mod *s, nb_param_list *l)
{
    nb_module_parameters(&s->base, false, l);
    nb_sgd_opts o = nb_sgd_opts_default();
    o.lr = 0.05, o.momentum = 0.9;
    return nb_sgd_new(l->params, l->n, &o);
}

/* From torch's initial weights, the first 20 losses (SGD, batches 0..19 of SplitMix64(1)) equal
 * torch's within 1e-4. */
START_TEST(test_cnn_losses_match_torch)
{
    nb_sequential_mod *s = cnn_new(NULL);
    cnn_load_torch_init(s);
    nb_param_list l;
    nb_optimizer *opt = cnn_sgd(s, &l);
    splitmix64 r = {1};
    double worst = 0;
    for (int i = 0; i < 20; i++) {
        int scope = nb_scope_begin();
        nb_tensor *x, *y;
        draw_batch(&r, B, &x, &y);
        double loss = cnn_step(s, opt, x, y);
        nb_scope_end(scope);
        ck_assert_msg(fabs(loss - cnn_losses[i]) <= 1e-4, "step %d: loss %.9g, torch %.9g", i, loss, cnn_losses[i]);
        worst = fmax(worst, fabs(loss - cnn_losses[i]));
    }
    printf("cnn: first 20 losses within %.3g of torch's\n", worst);
    nb_optimizer_free(opt), nb_param_list_free(&l), nb_module_free(&s->base);
}
END_TEST

/* Trained on one thread from its own default init (seed 0) for 300 SGD steps of 32 images, the
 * CNN classifies > 95% of 1000 held-out images (SplitMix64(2)) right in eval mode (running
 * statistics). The wall time is printed, not asserted. */
START_TEST(test_cnn_trains)
{
    nb_set_num_threads(1);
    nb_generator g;
    nb_generator_seed(&g, 0);
    nb_sequential_mod *s = cnn_new(&g);
    nb_param_list l;
    nb_optimizer *opt = cnn_sgd(s, &l);
    splitmix64 tr = {1}, te = {2};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double last = 0;
    for (int i = 0; i < 300; i++) {
        int scope = nb_scope_begin();
        nb_tensor *x, *y;
        draw_batch(&tr, B, &x, &y);
        last = cnn_step(s, opt, x, y);
        nb_scope_end(scope);
    }
    nb_module_train(&s->base, false);
    int scope = nb_scope_begin();
    nb_tensor *x, *y;
    draw_batch(&te, 1000, &x, &y);
    int64_t right = 0;
    NB_NO_GRAD
    {
        nb_tensor *pred = nb_argmax(nb_module_forward(&s->base, x), 1, false);
        for (int64_t i = 0; i < 1000; i++)
            right += nb_tensor_get(pred, (int64_t[]){i}) == nb_tensor_get(y, (int64_t[]){i});
    }
    nb_scope_end(scope);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("cnn: 300 steps, last loss %.4f, held-out accuracy %.1f%%, %.1f s on 1 thread\n", last,
           (double)right / 10.0, secs);
    ck_assert_msg(right > 950, "held-out accuracy %lld/1000", (long long)right);
    nb_optimizer_free(opt), nb_param_list_free(&l), nb_module_free(&s->base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cnn");
    TCase *tc = tcase_create("modules");
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown);
    tcase_add_loop_test(tc, test_module_matches_torch, 0, 2 * N_CASES);
    tcase_add_test(tc, test_conv_module_fields);
    tcase_add_test(tc, test_conv_init_statistics);
    tcase_add_test(tc, test_adaptive_gradcheck);
    tcase_add_test(tc, test_misuse);
    tcase_add_test(tc, test_generator_matches_script);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("train");
    tcase_add_checked_fixture(tt, tu_scope_setup, tu_scope_teardown);
    tcase_set_timeout(tt, 300);
    tcase_add_test(tt, test_cnn_losses_match_torch);
    tcase_add_test(tt, test_cnn_trains);
    suite_add_tcase(s, tt);
    return tu_run_suite(s);
}
