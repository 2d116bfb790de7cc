/* test_module.c — nn modules: Linear, Embedding, the activation modules, Sequential, ModuleList
 * (values against plain double loops), the init functions (bounds and moments) and a memory check
 * over 2,000 training steps. The module tree, the default dtype and state dicts are in
 * test_module_tree.c; the fused ops under the modules in test_nn.c. */
#include "testutil.h"
/* tu_relayout's result joins the open scope like every other tensor (freed with it) */
#define tu_relayout(src, layout) tu_adopt(tu_relayout(src, layout))

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const nb_dtype DTS[2] = {NB_F32, NB_F64};
#define SQRT_2_OVER_PI 0.79788456080286535588 /* sqrt(2/pi), the tanh-GELU constant */

/* ==== modules ================================================================================== */
/* y[r][o] = sum_i x[r][i] * W[o][i] + b[o] over rows r of x [R, in]. */
static void linear_ref(const double *x, const double *w, const double *b, int R, int in, int out, double *y)
{
    for (int r = 0; r < R; r++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int i = 0; i < in; i++)
                s += x[r * in + i] * w[o * in + i];
            y[r * out + o] = s;
        }
}

START_TEST(test_linear_init)
{
    nb_generator g;
    nb_generator_seed(&g, 111);
    nb_linear_mod *l = nb_linear_new(NULL, NULL, 16, 1024, true, &g);
    ck_assert_int_eq(l->in_features, 16);
    ck_assert_int_eq(l->out_features, 1024);
    tu_assert_shape(l->weight, NB_DIMS(1024, 16));
    tu_assert_shape(l->bias, NB_DIMS(1024));
    ck_assert_int_eq(nb_tensor_dtype(l->weight), NB_F32);
    ck_assert(nb_tensor_requires_grad(l->weight) && nb_tensor_is_leaf(l->weight));
    ck_assert(nb_tensor_requires_grad(l->bias) && nb_tensor_is_leaf(l->bias));
    double bound = 1.0 / 4, *wv = tu_values(l->weight), *bv = tu_values(l->bias), wmax = 0, bmax = 0, mean = 0;
    for (int i = 0; i < 1024 * 16; i++) {
        ck_assert_msg(fabs(wv[i]) <= bound, "w[%d] = %g", i, wv[i]);
        wmax = fmax(wmax, fabs(wv[i]));
        mean += wv[i] / (1024 * 16);
    }
    for (int i = 0; i < 1024; i++) {
        ck_assert_msg(fabs(bv[i]) <= bound, "b[%d] = %g", i, bv[i]);
        bmax = fmax(bmax, fabs(bv[i]));
    }
    ck_assert_msg(wmax > 0.999 * bound && bmax > 0.99 * bound, "max |w| %g, max |b| %g", wmax, bmax);
    ck_assert_msg(fabs(mean) < 4 * bound / sqrt(3 * 1024 * 16), "mean %g", mean); /* 4 sigma */
    free(wv), free(bv);
    nb_module_free(&l->base);
}
END_TEST

/* _i: dtype (default dtype set to it). Forward on [4, 7], [2, 3, 7] and transposed inputs, and
 * backward, against loops. */
START_TEST(test_linear_forward)
{
    nb_dtype dt = DTS[_i];
    double tol = dt == NB_F32 ? 1e-5 : 1e-12;
    nb_set_default_dtype(dt);
    nb_generator g;
    nb_generator_seed(&g, 121);
    nb_linear_mod *l = nb_linear_new(NULL, NULL, 7, 5, true, &g);
    ck_assert_int_eq(nb_tensor_dtype(l->weight), dt);
    int scope = nb_scope_begin();
    double *wv = tu_values(l->weight), *bv = tu_values(l->bias), y[30], dx[42], dw[35], db[5];
    nb_tensor *x = tu_random(dt, NB_DIMS(2, 3, 7), -2, 2, 122);
    double *xv = tu_values(x);
    linear_ref(xv, wv, bv, 6, 7, 5, y);
    tu_assert_values_rel(nb_linear_forward(l, nb_reshape(x, NB_DIMS(6, 7))), y, tol, tol);
    nb_tensor *y3 = nb_module_forward(&l->base, x);
    tu_assert_shape(y3, NB_DIMS(2, 3, 5));
    tu_assert_values_rel(y3, y, tol, tol);
    nb_tensor *xt = nb_tensor_requires_grad_(tu_relayout(x, TU_TRANSPOSED), true);
    nb_tensor *yt = nb_linear_forward(l, xt);
    tu_assert_values_rel(yt, y, tol, tol);
    /* backward: dx = dy W, dW = dy^T x, db = sum_r dy */
    nb_tensor *dy = tu_random(dt, NB_DIMS(2, 3, 5), -1, 1, 123);
    double *dyv = tu_values(dy);
    nb_backward(yt, dy, false);
    for (int r = 0; r < 6; r++)
        for (int i = 0; i < 7; i++) {
            dx[r * 7 + i] = 0;
            for (int o = 0; o < 5; o++)
                dx[r * 7 + i] += dyv[r * 5 + o] * wv[o * 7 + i];
        }
    for (int o = 0; o < 5; o++) {
        db[o] = 0;
        for (int r = 0; r < 6; r++)
            db[o] += dyv[r * 5 + o];
        for (int i = 0; i < 7; i++) {
            dw[o * 7 + i] = 0;
            for (int r = 0; r < 6; r++)
                dw[o * 7 + i] += dyv[r * 5 + o] * xv[r * 7 + i];
        }
    }
    tu_assert_values_rel(nb_tensor_get_grad(xt), dx, tol, tol);
    tu_assert_values_rel(nb_tensor_get_grad(l->weight), dw, tol, tol);
    tu_assert_values_rel(nb_tensor_get_grad(l->bias), db, tol, tol);
    free(wv), free(bv), free(xv), free(dyv);
    nb_scope_end(scope);
    nb_module_free(&l->base);
    nb_set_default_dtype(NB_F32);
}
END_TEST

START_TEST(test_linear_no_bias)
{
    nb_generator g;
    nb_generator_seed(&g, 131);
    nb_linear_mod *l = nb_linear_new(NULL, NULL, 3, 4, false, &g);
    ck_assert_ptr_null(l->bias);
    ck_assert_int_eq(l->base.n_params, 1);
    ck_assert_int_eq(nb_module_parameter_numel(&l->base), 12);
    int scope = nb_scope_begin();
    nb_tensor *x = tu_random(NB_F32, NB_DIMS(2, 3), -1, 1, 132);
    double *xv = tu_values(x), *wv = tu_values(l->weight), y[8];
    linear_ref(xv, wv, NULL, 2, 3, 4, y);
    tu_assert_values_rel(nb_linear_forward(l, x), y, 1e-6, 1e-6);
    free(xv), free(wv);
    nb_scope_end(scope);
    nb_module_free(&l->base);
}
END_TEST

START_TEST(test_linear_misuse)
{
    nb_linear_mod *l = nb_linear_new(NULL, NULL, 7, 5, true, NULL);
    TU_EXPECT_ERROR("nb_linear_forward: input of shape [3, 6] does not fit Linear(7, 5) (weight [5, 7])",
                    nb_linear_forward(l, nb_zeros(NB_DIMS(3, 6), NB_F32)));
    TU_EXPECT_ERROR("input of shape [] does not fit Linear(7, 5)", nb_linear_forward(l, nb_scalar(1, NB_F32)));
    TU_EXPECT_ERROR("nb_linear_new: in_features 0 and out_features 5 must be positive",
                    nb_linear_new(NULL, NULL, 0, 5, true, NULL));
    nb_module_free(&l->base);
}
END_TEST

START_TEST(test_embedding)
{
    nb_generator g;
    nb_generator_seed(&g, 141);
    /* init N(0, 1) */
    nb_embedding_mod *big = nb_embedding_new(NULL, NULL, 1000, 64, &g);
    tu_assert_shape(big->weight, NB_DIMS(1000, 64));
    double *bv = tu_values(big->weight), m = 0, v = 0;
    for (int i = 0; i < 64000; i++)
        m += bv[i] / 64000;
    for (int i = 0; i < 64000; i++)
        v += (bv[i] - m) * (bv[i] - m) / 64000;
    ck_assert_msg(fabs(m) < 0.02 && fabs(sqrt(v) - 1) < 0.02, "mean %g std %g", m, sqrt(v));
    free(bv);
    nb_module_free(&big->base);
    /* lookup with int64 and int32 ids of shape [2, 3] */
    nb_embedding_mod *e = nb_embedding_new(NULL, NULL, 10, 4, &g);
    ck_assert_int_eq(e->num_embeddings, 10);
    ck_assert_int_eq(e->embedding_dim, 4);
    ck_assert(nb_tensor_requires_grad(e->weight));
    int scope = nb_scope_begin();
    double ids[6] = {3, 0, 9, 3, 7, 1}, *wv = tu_values(e->weight), want[24];
    for (int k = 0; k < 6; k++)
        for (int j = 0; j < 4; j++)
            want[k * 4 + j] = wv[(int)ids[k] * 4 + j];
    for (int d = 0; d < 2; d++) {
        nb_tensor *out = nb_embedding_forward(e, nb_from_doubles(ids, NB_DIMS(2, 3), d ? NB_I32 : NB_I64));
        tu_assert_shape(out, NB_DIMS(2, 3, 4));
        tu_assert_values_rel(out, want, 0, 0);
    }
    tu_assert_values_rel(nb_module_forward(&e->base, nb_from_doubles(ids, NB_DIMS(6), NB_I64)), want, 0, 0);
    free(wv);
    nb_scope_end(scope);
    TU_EXPECT_ERROR("nb_embedding: index 10 out of range for dim 0 of size 10",
                    nb_embedding_forward(e, nb_from_doubles((const double[]){1, 10}, NB_DIMS(2), NB_I64)));
    TU_EXPECT_ERROR("index -1 out of range", nb_embedding_forward(e, nb_scalar(-1, NB_I64)));
    TU_EXPECT_ERROR("nb_embedding_new: num_embeddings 0 and embedding_dim 4 must be positive",
                    nb_embedding_new(NULL, NULL, 0, 4, NULL));
    nb_module_free(&e->base);
}
END_TEST

START_TEST(test_activation_modules)
{
    int scope = nb_scope_begin();
    nb_tensor *x = tu_random(NB_F64, NB_DIMS(3, 5), -3, 3, 151);
    double *xv = tu_values(x), want[15];
    nb_module *mods[6] = {&nb_gelu_new(NULL, NULL, NB_GELU_ERF)->base, &nb_gelu_new(NULL, NULL, NB_GELU_TANH)->base,
                          &nb_relu_new(NULL, NULL)->base,                &nb_tanh_new(NULL, NULL)->base,
                          &nb_softmax_new(NULL, NULL, -1)->base,         &nb_softmax_new(NULL, NULL, 0)->base};
    const char *names[6] = {"GELU", "GELU", "ReLU", "Tanh", "Softmax", "Softmax"};
    for (int m = 0; m < 6; m++) {
        ck_assert_str_eq(mods[m]->type->name, names[m]);
        ck_assert_int_eq(mods[m]->n_params, 0);
        for (int k = 0; k < 15; k++) {
            double v = xv[k];
            switch (m) {
            case 0: want[k] = 0.5 * v * (1 + erf(v / sqrt(2.0))); break;
            case 1: want[k] = 0.5 * v * (1 + tanh(SQRT_2_OVER_PI * (v + 0.044715 * v * v * v))); break;
            case 2: want[k] = v > 0 ? v : 0; break;
            case 3: want[k] = tanh(v); break;
            default: {
                int r = k / 5, c = k % 5;
                double s = 0;
                for (int o = 0; o < (m == 4 ? 5 : 3); o++)
                    s += exp(m == 4 ? xv[r * 5 + o] : xv[o * 5 + c]);
                want[k] = exp(v) / s;
            }
            }
        }
        tu_assert_values_rel(nb_module_forward(mods[m], x), want, 1e-12, 1e-12);
    }
    free(xv);
    nb_scope_end(scope);
    for (int m = 0; m < 6; m++)
        nb_module_free(mods[m]);
}
END_TEST

START_TEST(test_sequential)
{
    nb_set_default_dtype(NB_F64);
    nb_generator g;
    nb_generator_seed(&g, 161);
    nb_module root;
    nb_module_init(&root, &(const nb_module_type){"Root", NULL, NULL});
    nb_sequential_mod *s = nb_sequential_new(NULL, NULL);
    nb_linear_mod *l0 = (nb_linear_mod *)nb_sequential_append(s, &nb_linear_new(NULL, NULL, 4, 8, true, &g)->base);
    nb_sequential_append(s, &nb_tanh_new(NULL, NULL)->base);
    nb_linear_mod *l2 = (nb_linear_mod *)nb_sequential_append(s, &nb_linear_new(NULL, NULL, 8, 3, true, &g)->base);
    nb_sequential_append(s, &nb_gelu_new(NULL, NULL, NB_GELU_TANH)->base);
    ck_assert_int_eq(s->base.n_children, 4);
    ck_assert_str_eq(s->base.child_names[3], "3");
    nb_param_list pl;
    nb_module_parameters(&s->base, false, &pl);
    ck_assert_int_eq(pl.n, 4);
    const char *want_names[4] = {"0.weight", "0.bias", "2.weight", "2.bias"};
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(pl.names[i], want_names[i]);
    ck_assert_ptr_eq(pl.params[2], l2->weight);
    nb_param_list_free(&pl);
    /* forward == the manual composition, computed by loops */
    int scope = nb_scope_begin();
    nb_tensor *x = tu_random(NB_F64, NB_DIMS(5, 4), -2, 2, 162);
    double *xv = tu_values(x), *w0 = tu_values(l0->weight), *b0 = tu_values(l0->bias), *w2 = tu_values(l2->weight),
           *b2 = tu_values(l2->bias), h[40], y[15];
    linear_ref(xv, w0, b0, 5, 4, 8, h);
    for (int i = 0; i < 40; i++)
        h[i] = tanh(h[i]);
    linear_ref(h, w2, b2, 5, 8, 3, y);
    for (int i = 0; i < 15; i++)
        y[i] = 0.5 * y[i] * (1 + tanh(SQRT_2_OVER_PI * (y[i] + 0.044715 * y[i] * y[i] * y[i])));
    tu_assert_values_rel(nb_module_forward(&s->base, x), y, 1e-12, 1e-12);
    tu_assert_values_rel(nb_sequential_forward(s, x), y, 1e-12, 1e-12); /* the typed forward */
    free(xv), free(w0), free(b0), free(w2), free(b2);
    nb_scope_end(scope);
    /* nested under a parent: hierarchical names */
    nb_module *parent = calloc(1, sizeof *parent);
    nb_module_init(parent, root.type);
    nb_module_register_module(parent, "net", &s->base);
    nb_module_parameters(parent, false, &pl);
    ck_assert_str_eq(pl.names[0], "net.0.weight");
    ck_assert_str_eq(pl.names[3], "net.2.bias");
    nb_param_list_free(&pl);
    ck_assert_ptr_eq(nb_module_get_parameter(parent, "net.2.weight"), l2->weight);
    nb_module_free(parent);
    nb_set_default_dtype(NB_F32);
}
END_TEST

START_TEST(test_sequential_dropout_eval)
{
    nb_generator g;
    nb_generator_seed(&g, 171);
    nb_sequential_mod *s = nb_sequential_new(NULL, NULL);
    nb_linear_mod *l = (nb_linear_mod *)nb_sequential_append(s, &nb_linear_new(NULL, NULL, 6, 50, true, &g)->base);
    nb_sequential_append(s, &nb_dropout_new(NULL, NULL, 0.5, &g)->base);
    int scope = nb_scope_begin();
    nb_tensor *x = tu_random(NB_F32, NB_DIMS(4, 6), -1, 1, 172);
    double *want = tu_values(nb_linear_forward(l, x)), *got = tu_values(nb_module_forward(&s->base, x));
    int zeros = 0;
    for (int i = 0; i < 200; i++)
        zeros += got[i] == 0;
    ck_assert_msg(zeros > 50, "training: only %d of 200 dropped", zeros);
    nb_module_train(&s->base, false);
    tu_assert_values_rel_n(nb_module_forward(&s->base, x), 4 * 50, want, 0, 0);
    free(want), free(got);
    nb_scope_end(scope);
    nb_module_free(&s->base);
}
END_TEST

START_TEST(test_module_list)
{
    nb_module_list_mod *l = nb_module_list_new(NULL, NULL);
    nb_linear_mod *ls[3];
    for (int i = 0; i < 3; i++) {
        ls[i] = nb_linear_new(NULL, NULL, 3, 3, i != 1, NULL);
        ck_assert_ptr_eq(nb_module_list_append(l, &ls[i]->base), &ls[i]->base);
    }
    ck_assert_int_eq(nb_module_list_count(l), 3);
    for (int i = 0; i < 3; i++)
        ck_assert_ptr_eq(nb_module_list_at(l, i), &ls[i]->base);
    nb_param_list pl;
    nb_module_parameters(&l->base, false, &pl);
    const char *want[5] = {"0.weight", "0.bias", "1.weight", "2.weight", "2.bias"};
    ck_assert_int_eq(pl.n, 5);
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(pl.names[i], want[i]);
    nb_param_list_free(&pl);
    TU_EXPECT_ERROR("nb_module_list_at: index 3 out of range for a list of 3 modules", nb_module_list_at(l, 3));
    TU_EXPECT_ERROR("index -1 out of range", nb_module_list_at(l, -1));
    TU_EXPECT_ERROR("nb_module_forward: module type ModuleList has no single-input forward",
                    nb_module_forward(&l->base, nb_zeros(NB_DIMS(3), NB_F32)));
    nb_sequential_mod *s = nb_sequential_new(NULL, NULL);
    TU_EXPECT_ERROR("nb_sequential_append: module type ModuleList has no single-input forward",
                    nb_sequential_append(s, &l->base));
    nb_module_free(&s->base);
    nb_module_free(&l->base);
}
END_TEST

/* ==== init functions =========================================================================== */
/* Checks every |v| <= bound and max |v| > frac * bound. */
static void assert_uniform(const nb_tensor *t, double bound, double frac)
{
    double *v = tu_values(t), mx = 0;
    for (int64_t i = 0; i < nb_tensor_numel(t); i++) {
        if (!(fabs(v[i]) <= bound)) /* not ck_assert per element: each passing one is a syscall */
            ck_abort_msg("element %lld = %g exceeds %g", (long long)i, v[i], bound);
        mx = fmax(mx, fabs(v[i]));
    }
    ck_assert_msg(mx > frac * bound, "max |v| %g, bound %g", mx, bound);
    free(v);
}

/* Checks sample mean ~ 0 (4 sigma) and sample std within rel of std. */
static void assert_normal(const nb_tensor *t, double std, double rel)
{
    int64_t n = nb_tensor_numel(t);
    double *v = tu_values(t), m = 0, s = 0;
    for (int64_t i = 0; i < n; i++)
        m += v[i] / (double)n;
    for (int64_t i = 0; i < n; i++)
        s += (v[i] - m) * (v[i] - m) / (double)n;
    ck_assert_msg(fabs(m) < 4 * std / sqrt((double)n), "mean %g (std %g)", m, std);
    ck_assert_msg(fabs(sqrt(s) / std - 1) < rel, "std %g, want %g", sqrt(s), std);
    free(v);
}

START_TEST(test_init_xavier_kaiming)
{
    nb_generator g;
    nb_generator_seed(&g, 231);
    int scope = nb_scope_begin();
    for (int d = 0; d < 2; d++) {
        /* [300, 200]: fan_in 200, fan_out 300; a leaf requiring grad, grad mode on */
        nb_tensor *w = nb_tensor_requires_grad_(nb_zeros(NB_DIMS(300, 200), DTS[d]), true);
        ck_assert_ptr_eq(nb_init_xavier_uniform_(w, 1.0, &g), w);
        assert_uniform(w, sqrt(6.0 / 500), 0.999);
        double *v = tu_values(w), var = 0;
        for (int i = 0; i < 60000; i++)
            var += v[i] * v[i] / 60000;
        free(v);
        ck_assert_msg(fabs(var / (6.0 / 500 / 3) - 1) < 0.03, "xavier_uniform variance %g", var);
        nb_init_xavier_uniform_(w, 2.0, &g);
        assert_uniform(w, 2 * sqrt(6.0 / 500), 0.999);
        ck_assert_ptr_eq(nb_init_xavier_normal_(w, 1.5, &g), w);
        assert_normal(w, 1.5 * sqrt(2.0 / 500), 0.02);
        ck_assert_ptr_eq(nb_init_kaiming_uniform_(w, sqrt(5.0), &g), w); /* torch Linear's default */
        assert_uniform(w, 1 / sqrt(200.0), 0.999);
        nb_init_kaiming_uniform_(w, 0, &g);
        assert_uniform(w, sqrt(6.0 / 200), 0.999);
        ck_assert_ptr_eq(nb_init_kaiming_normal_(w, 0, &g), w);
        assert_normal(w, sqrt(2.0 / 200), 0.02);
        nb_init_kaiming_normal_(w, 2.0, &g);
        assert_normal(w, sqrt(2.0 / 5 / 200), 0.02);
        nb_init_kaiming_uniform_(w, 2.0, &g);
        assert_uniform(w, sqrt(6.0 / 5 / 200), 0.999);
        ck_assert(nb_tensor_requires_grad(w) && nb_tensor_is_leaf(w) && nb_tensor_get_grad(w) == NULL);
        /* plain normal / uniform */
        NB_NO_GRAD { ck_assert_ptr_eq(nb_normal_(w, 0, 0.02, &g), w); }
        assert_normal(w, 0.02, 0.02);
        NB_NO_GRAD { ck_assert_ptr_eq(nb_uniform_(w, -0.3, 0.3, &g), w); }
        assert_uniform(w, 0.3, 0.999);
    }
    nb_scope_end(scope);
}
END_TEST

/* fans of 3-D / 4-D weights: fan_in = size(1) * receptive field, fan_out = size(0) * receptive. */
START_TEST(test_init_fans_nd)
{
    nb_generator g;
    nb_generator_seed(&g, 241);
    int scope = nb_scope_begin();
    nb_tensor *w4 = nb_zeros(NB_DIMS(16, 8, 3, 3), NB_F32); /* fan_in 72, fan_out 144 */
    nb_init_xavier_uniform_(w4, 1.0, &g);
    assert_uniform(w4, sqrt(6.0 / (72 + 144)), 0.97);
    nb_init_kaiming_uniform_(w4, 0, &g);
    assert_uniform(w4, sqrt(6.0 / 72), 0.97);
    nb_tensor *w3 = nb_zeros(NB_DIMS(4, 6, 5), NB_F64); /* fan_in 30, fan_out 20 */
    nb_init_kaiming_uniform_(w3, 0, &g);
    assert_uniform(w3, sqrt(6.0 / 30), 0.9);
    nb_init_xavier_uniform_(w3, 1.0, &g);
    assert_uniform(w3, sqrt(6.0 / 50), 0.9);
    nb_tensor *big = nb_zeros(NB_DIMS(64, 32, 3, 3), NB_F32); /* fan_in 288, fan_out 576 */
    nb_init_kaiming_normal_(big, 0, &g);
    assert_normal(big, sqrt(2.0 / 288), 0.03);
    nb_init_xavier_normal_(big, 1.0, &g);
    assert_normal(big, sqrt(2.0 / (288 + 576)), 0.03);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_init_constant)
{
    int scope = nb_scope_begin();
    nb_tensor *w = nb_tensor_requires_grad_(tu_random(NB_F32, NB_DIMS(3, 4), -1, 1, 251), true);
    double ones[12], zeros[12] = {0};
    for (int i = 0; i < 12; i++)
        ones[i] = 1;
    NB_NO_GRAD { ck_assert_ptr_eq(nb_zero_(w), w); }
    tu_assert_values_rel(w, zeros, 0, 0);
    NB_NO_GRAD { ck_assert_ptr_eq(nb_fill_(w, 1), w); }
    tu_assert_values_rel(w, ones, 0, 0);
    nb_tensor *s = tu_relayout(tu_random(NB_F64, NB_DIMS(3, 4), -1, 1, 252), TU_SLICED);
    NB_NO_GRAD { nb_fill_(s, 1); }
    tu_assert_values_rel(s, ones, 0, 0);
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_init_misuse)
{
    nb_tensor *v = nb_zeros(NB_DIMS(5), NB_F32);
    TU_EXPECT_ERROR("nb_init_xavier_uniform_: fan in/out need a tensor of at least 2 dims, got shape [5]",
                    nb_init_xavier_uniform_(v, 1, NULL));
    TU_EXPECT_ERROR("nb_init_kaiming_normal_: fan in/out need a tensor of at least 2 dims",
                    nb_init_kaiming_normal_(v, 0, NULL));
}
END_TEST

/* ==== memory =================================================================================== */
/* Resident pages (statm) and resident anonymous pages (resident minus shared: the heap, without
 * file-backed code pages that lazy faulting maps in over time). */
static void rss_pages(long *resident, long *anon)
{
    long size = 0, shared = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fscanf(f, "%ld %ld %ld", &size, resident, &shared), 3);
    fclose(f);
    *anon = *resident - shared;
}

/* 2,000 AdamW steps of a small Sequential MLP, each inside a scope: RSS stays flat after warm-up
 * (the anonymous part grows by less than 1% of the resident size; ~9 pages here, while leaking one
 * small tensor per step would add ~90). */
START_TEST(test_training_memory_flat)
{
    nb_generator g;
    nb_generator_seed(&g, 331);
    nb_sequential_mod *s = nb_sequential_new(NULL, NULL);
    nb_sequential_append(s, &nb_linear_new(NULL, NULL, 8, 32, true, &g)->base);
    nb_sequential_append(s, &nb_tanh_new(NULL, NULL)->base);
    nb_sequential_append(s, &nb_linear_new(NULL, NULL, 32, 4, true, &g)->base);
    nb_tensor *x = nb_randn(NB_DIMS(16, 8), NB_F32, &g), *y = nb_randint(0, 4, NB_DIMS(16), NB_I64, &g);
    nb_param_list pl;
    nb_module_parameters(&s->base, false, &pl);
    nb_optimizer *opt = nb_adamw_new(pl.params, pl.n, NULL);
    long warm = 0, warm_anon = 0, end, end_anon;
    int depth = nb_scope_depth();
    double first = 0, last = 0;
    for (int step = 0; step < 2000; step++) {
        int scope = nb_scope_begin();
        nb_tensor *loss = nb_cross_entropy(nb_module_forward(&s->base, x), y, NULL);
        last = nb_tensor_item(loss);
        if (step == 0)
            first = last;
        nb_optimizer_zero_grad(opt, true);
        nb_backward(loss, NULL, false);
        nb_optimizer_step(opt);
        nb_scope_end(scope);
        if (step == 199)
            rss_pages(&warm, &warm_anon);
    }
    rss_pages(&end, &end_anon);
#ifndef __SANITIZE_ADDRESS__ /* ASan's quarantine and metadata grow RSS; LeakSanitizer checks leaks there */
    ck_assert_msg((double)(end_anon - warm_anon) < 0.01 * (double)warm,
                  "anonymous RSS grew from %ld to %ld pages (resident %ld -> %ld)", warm_anon, end_anon, warm, end);
#endif
    ck_assert_int_eq(nb_scope_depth(), depth);
    ck_assert_msg(last < first, "loss %g -> %g", first, last);
    nb_optimizer_free(opt);
    nb_param_list_free(&pl);
    nb_tensor_release(x);
    nb_tensor_release(y);
    nb_module_free(&s->base);
}
END_TEST

/* The typed forward of an empty Sequential returns its input (a new reference), as torch. */
START_TEST(test_sequential_forward_empty)
{
    nb_sequential_mod *s = nb_sequential_new(NULL, NULL);
    nb_tensor *x = nb_ones(NB_DIMS(2, 3), NB_F32);
    nb_tensor *y = nb_sequential_forward(s, x);
    ck_assert_ptr_eq(y, x); /* both references belong to the fixture's scope */
    nb_module_free(&s->base);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("module");
    TCase *tc = tcase_create("modules");
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown); /* frees what tests leave */
    tcase_add_test(tc, test_linear_init);
    tcase_add_loop_test(tc, test_linear_forward, 0, 2);
    tcase_add_test(tc, test_linear_no_bias);
    tcase_add_test(tc, test_linear_misuse);
    tcase_add_test(tc, test_embedding);
    tcase_add_test(tc, test_activation_modules);
    tcase_add_test(tc, test_sequential);
    tcase_add_test(tc, test_sequential_dropout_eval);
    tcase_add_test(tc, test_sequential_forward_empty);
    tcase_add_test(tc, test_module_list);
    suite_add_tcase(s, tc);
    tc = tcase_create("init");
    tcase_add_checked_fixture(tc, tu_scope_setup, tu_scope_teardown); /* frees what tests leave */
    tcase_add_test(tc, test_init_xavier_kaiming);
    tcase_add_test(tc, test_init_fans_nd);
    tcase_add_test(tc, test_init_constant);
    tcase_add_test(tc, test_init_misuse);
    suite_add_tcase(s, tc);
    tc = tcase_create("memory");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_training_memory_flat);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
