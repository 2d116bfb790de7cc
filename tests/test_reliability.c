/* test_reliability.c — reliability guarantees: the fuzz corpora (every seed and every crash the
 * fuzzers found, tests/fuzz/corpus_*) load without aborting and give the expected verdict;
 * numerical safety at extreme inputs (softmax/log-softmax/cross-entropy of [1000, 0, -1000],
 * LayerNorm of a row with mean 1e4 and std 1e-2, exp/log/gelu/tanh/sigmoid and their gradients
 * at +-80, +-1e-30, 0, +-1e30); anomaly mode (API and NB_DETECT_ANOMALY); bit-identical GPT
 * training for the same seed, run twice and across thread counts; out-of-memory reported through
 * the misuse handler. */
#define _XOPEN_SOURCE 700 /* setenv, fork, mkdtemp, setrlimit */
#include "testutil.h"

#include "chargpt.h"
#include "checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NB_SRCDIR
#define NB_SRCDIR "."
#endif

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif

static const char *g_argv0;

/* ---- the fuzz corpora ------------------------------------------------------------------------ */
/* Sorted file names of a corpus directory; returns the count (names malloc'd into *out). */
static int corpus_files(const char *target, char ***out)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus_%s", NB_SRCDIR, target);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s: %s", dir, strerror(errno));
    char **names = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        names = realloc(names, (size_t)(n + 1) * sizeof *names);
        names[n] = malloc(strlen(dir) + strlen(e->d_name) + 2);
        sprintf(names[n++], "%s/%s", dir, e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, (int (*)(const void *, const void *))strcmp);
    ck_assert_msg(n > 0, "%s is empty", dir);
    *out = names;
    return n;
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    unsigned char *b = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap)
            b = realloc(b, cap = cap ? 2 * cap : 4096);
        got = fread(b + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return b;
}

/* valid_* files load; bad_* and crash_* files are rejected with a message naming the file. */
START_TEST(test_corpus_safetensors)
{
    char **files;
    int n = corpus_files("safetensors", &files);
    for (int i = 0; i < n; i++) {
        nb_state_dict *sd;
        nb_status st = nb_safetensors_load(files[i], &sd);
        if (starts_with(base_name(files[i]), "valid_")) {
            ck_assert_msg(st == NB_OK, "%s: %s", files[i], nb_last_error());
            nb_state_dict_free(sd);
        } else {
            ck_assert_msg(st == NB_ERR_FORMAT && sd == NULL, "%s: status %d", files[i], (int)st);
            ck_assert_msg(starts_with(nb_last_error(), files[i]), "%s: message '%s'", files[i], nb_last_error());
        }
    }
    free_names(files, n);
}
END_TEST

/* Fuzz find: a size-0 dim let huge other dims through, whose strides overflowed int64. */
START_TEST(test_crash_zero_dim_stride_overflow)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus_safetensors/crash_zero_dim_stride_overflow", NB_SRCDIR);
    nb_state_dict *sd;
    ck_assert(nb_safetensors_load(path, &sd) == NB_ERR_FORMAT);
    ck_assert_msg(strstr(nb_last_error(), "shape [0, 922374406385775, 84702] has too many elements"), "%s",
                  nb_last_error());
    TU_EXPECT_ERROR("nb_empty: shape [0, 922374406385775, 84702] has too many elements",
                    nb_empty(NB_DIMS(0, 922374406385775, 84702), NB_F32));
    nb_tensor *ok = nb_empty(NB_DIMS(0, 1 << 20, 1 << 20), NB_F32); /* strides fit: allowed */
    ck_assert_int_eq(nb_tensor_numel(ok), 0);
    nb_tensor_release(ok);
}
END_TEST

/* The live state that chargpt train --resume restores into, as tests/fuzz/fuzz_checkpoint.c
 * builds it (the corpus was made by make_seeds.py with the same text and options). */
typedef struct {
    nb_char_data data;
    nb_gpt *model;
    nb_optimizer *opt;
    nb_lr_scheduler *sched;
} live_state;

static double constant_lr(int64_t it, void *ctx)
{
    (void)it, (void)ctx;
    return 1.0;
}

static void live_init(live_state *s)
{
    char dir[] = "/tmp/nb_rel_XXXXXX", path[64];
    ck_assert(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/text.txt", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < 10; i++)
        fputs("the cat sat on the mat. ", f);
    fclose(f);
    ck_assert_msg(nb_char_data_load(&s->data, path, NULL, 4) == NB_OK, "%s", nb_last_error());
    unlink(path);
    rmdir(dir);
    nb_gpt_config c = nb_gpt_config_default();
    c.n_layer = 1, c.n_head = 2, c.n_embd = 4, c.block_size = 4, c.vocab_size = s->data.vocab.n;
    s->model = nb_gpt_new(&c, NULL);
    nb_param_list pl;
    nb_module_parameters(&s->model->base, false, &pl);
    nb_tensor *decay[64], *rest[64];
    int nd = 0, nr = 0;
    for (int i = 0; i < pl.n; i++) {
        if (nb_tensor_ndim(pl.params[i]) >= 2)
            decay[nd++] = pl.params[i];
        else
            rest[nr++] = pl.params[i];
    }
    nb_adam_opts ao = nb_adamw_opts_default();
    s->opt = nb_adamw_new(decay, nd, &ao);
    nb_param_group_opts go = nb_param_group_opts_inherit();
    go.weight_decay = 0.0;
    nb_optimizer_add_param_group(s->opt, rest, nr, &go);
    nb_param_list_free(&pl);
    s->sched = nb_lambda_lr_new(s->opt, constant_lr, NULL);
}

static void live_free(live_state *s)
{
    nb_lr_scheduler_free(s->sched);
    nb_optimizer_free(s->opt);
    nb_module_free(&s->model->base);
    nb_char_data_free(&s->data);
}

static nb_status resume_fresh(live_state *s, const char *path)
{
    free(s->data.perm);
    s->data.perm = NULL;
    s->data.n_perm = s->data.cursor = s->data.epoch = 0;
    nb_train_state ts = {0};
    nb_status st = nb_resume_load(path, s->model, &s->data.vocab, s->opt, s->sched, &s->data, &ts);
    if (st == NB_OK) { /* the next batches read the restored permutation */
        int scope = nb_scope_begin();
        nb_tensor *x, *y;
        for (int k = 0; k < 3; k++)
            nb_char_data_batch_epoch(&s->data, 2, 4, &ts.rng, &x, &y);
        nb_scope_end(scope);
    }
    return st;
}

START_TEST(test_corpus_checkpoint)
{
    live_state s;
    live_init(&s);
    char **files;
    int n = corpus_files("checkpoint", &files);
    for (int i = 0; i < n; i++) {
        const char *b = base_name(files[i]);
        nb_gpt *g;
        nb_vocab v;
        nb_status st = nb_ckpt_load(files[i], &g, &v);
        if (starts_with(b, "valid_ckpt")) {
            ck_assert_msg(st == NB_OK, "%s: %s", files[i], nb_last_error());
            nb_module_free(&g->base);
        } else {
            ck_assert_msg(st != NB_OK && g == NULL, "%s: nb_ckpt_load accepted it", files[i]);
        }
        st = resume_fresh(&s, files[i]);
        if (starts_with(b, "valid_resume"))
            ck_assert_msg(st == NB_OK, "%s: %s", files[i], nb_last_error());
        else
            ck_assert_msg(st != NB_OK, "%s: nb_resume_load accepted it", files[i]);
    }
    free_names(files, n);
    live_free(&s);
}
END_TEST

/* Fuzz find: a resume state whose data.perm holds an out-of-range window start made the next
 * epoch batch read past the token array. */
START_TEST(test_crash_resume_perm_oob)
{
    live_state s;
    live_init(&s);
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus_checkpoint/crash_resume_perm_oob", NB_SRCDIR);
    ck_assert(resume_fresh(&s, path) == NB_ERR_FORMAT);
    ck_assert_msg(strstr(nb_last_error(), "is not a window start in [0, "), "%s", nb_last_error());
    live_free(&s);
}
END_TEST

/* A 2 KB checkpoint whose config says n_embd 65536 made nb_ckpt_load build a 23 GB model. */
START_TEST(test_ckpt_config_larger_than_file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fuzz/corpus_checkpoint/bad_n_embd_huge", NB_SRCDIR);
    nb_gpt *g;
    nb_vocab v;
    ck_assert(nb_ckpt_load(path, &g, &v) == NB_ERR_FORMAT);
    ck_assert_msg(strstr(nb_last_error(), "needs at least 51540590592 parameters, the file holds 264 values"), "%s",
                  nb_last_error());
}
END_TEST

/* The fuzz_tokenizer properties on every corpus file. */
START_TEST(test_corpus_tokenizer)
{
    static nb_vocab v, w;
    char **files;
    int n = corpus_files("tokenizer", &files);
    for (int i = 0; i < n; i++) {
        size_t len;
        char *text = (char *)read_file(files[i], &len);
        bool valid = !starts_with(base_name(files[i]), "bad_");
        nb_status st = nb_vocab_build(&v, text, len);
        ck_assert_msg((st == NB_OK) == valid, "%s: status %d (%s)", files[i], (int)st, nb_last_error());
        if (st != NB_OK) {
            free(text);
            continue;
        }
        int64_t *ids, m;
        ck_assert(nb_vocab_encode(&v, text, len, &ids, &m) == NB_OK);
        char *back = nb_vocab_decode(&v, ids, m);
        ck_assert(strlen(back) == len && memcmp(back, text, len) == 0);
        char *s = nb_vocab_to_utf8(&v);
        ck_assert(nb_vocab_from_utf8(&w, s) == NB_OK && w.n == v.n);
        free(s);
        free(back);
        free(ids);
        free(text);
    }
    free_names(files, n);
}
END_TEST

/* Every options corpus file parses (twice: the parser is reusable) to 0, 2 or -1 (--help). */
START_TEST(test_corpus_options)
{
    ck_assert(freopen("/dev/null", "w", stderr) != NULL);
    ck_assert(freopen("/dev/null", "w", stdout) != NULL);
    char **files;
    int n = corpus_files("options", &files);
    for (int i = 0; i < n; i++)
        for (int rep = 0; rep < 2; rep++) {
            size_t len;
            char *buf = (char *)read_file(files[i], &len), *argv[66];
            buf = realloc(buf, len + 1);
            buf[len] = '\0';
            int argc = 0;
            argv[argc++] = "train";
            for (char *p = buf; p < buf + len && argc < 65; p += strlen(p) + 1)
                argv[argc++] = p;
            argv[argc] = NULL;
            chargpt_opts o;
            chargpt_opts_default(&o);
            const char *output = NULL;
            bool mg = false;
            int rc = chargpt_parse_args(argc, argv, &o, &output, &mg);
            const char *b = base_name(files[i]);
            int want = starts_with(b, "bad_") || starts_with(b, "short_") ? 2 : starts_with(b, "help") ? -1 : 0;
            ck_assert_msg(rc == want, "%s: rc %d, expected %d", files[i], rc, want);
            free(buf);
        }
    free_names(files, n);
}
END_TEST

/* ---- numerical safety ------------------------------------------------------------------------ */
static const nb_dtype k_float_types[2] = {NB_F32, NB_F64};

START_TEST(test_softmax_ce_extreme_logits)
{
    nb_dtype dt = k_float_types[_i];
    int scope = nb_scope_begin();
    const double logits[9] = {1000, 0, -1000, 1000, 0, -1000, 1000, 0, -1000};
    nb_tensor *x = tu_tensor(dt, NB_DIMS(3, 3), logits);
    tu_assert_shape_values(nb_softmax(x, 1), NB_DIMS(3, 3), VALS(1, 0, 0, 1, 0, 0, 1, 0, 0), 0);
    tu_assert_shape_values(nb_log_softmax(x, 1), NB_DIMS(3, 3),
                           VALS(0, -1000, -2000, 0, -1000, -2000, 0, -1000, -2000), 0);
    nb_tensor *w = nb_tensor_requires_grad_(tu_tensor(dt, NB_DIMS(3, 3), logits), true);
    nb_tensor *t = nb_from_data((int64_t[]){0, 1, 2}, NB_DIMS(3), NB_I64);
    nb_cross_entropy_opts none = nb_cross_entropy_opts_default();
    none.reduction = NB_REDUCTION_NONE;
    tu_assert_shape_values(nb_cross_entropy(w, t, &none), NB_DIMS(3), VALS(0, 1000, 2000), 0);
    nb_tensor *loss = nb_cross_entropy(w, t, NULL);
    tu_assert_values(loss, VALS(1000), 0);
    nb_backward(loss, NULL, false); /* (softmax - onehot) / 3 */
    const double g3 = 1.0 / 3.0;
    tu_assert_shape_values(nb_tensor_get_grad(w), NB_DIMS(3, 3),
                           VALS(0, 0, 0, g3, -g3, 0, g3, 0, -g3), dt == NB_F32 ? 1e-7 : 1e-16);
    nb_scope_end(scope);
}
END_TEST

/* mean 1e4, std 1e-2: E[x^2] - E[x]^2 in float32 would cancel to garbage; compared with a
 * two-pass double reference on the values as stored (float32 rounds 1e4 + 1e-2 z to 2^-10). */
START_TEST(test_layer_norm_large_mean_small_std)
{
    nb_dtype dt = k_float_types[_i];
    int scope = nb_scope_begin();
    enum { R = 2, C = 16 };
    double vals[R * C], x[R * C], g[R * C], want[R * C], want_dx[R * C];
    for (int i = 0; i < R * C; i++) {
        double z = ((i * 7) % C - 7.5) / 4.6;
        vals[i] = 1e4 + 1e-2 * z;
        g[i] = sin(1.0 + i);
    }
    nb_tensor *xt = nb_tensor_requires_grad_(tu_tensor(dt, NB_DIMS(R, C), vals), true);
    nb_tensor_to_doubles(xt, x);
    const double eps = 1e-5;
    for (int r = 0; r < R; r++) {
        const double *xr = x + r * C, *gr = g + r * C;
        double mean = 0, var = 0, gm = 0, gxm = 0, xh[C];
        for (int j = 0; j < C; j++)
            mean += xr[j] / C;
        for (int j = 0; j < C; j++)
            var += (xr[j] - mean) * (xr[j] - mean) / C;
        double rstd = 1 / sqrt(var + eps);
        for (int j = 0; j < C; j++) {
            xh[j] = (xr[j] - mean) * rstd;
            want[r * C + j] = xh[j];
            gm += gr[j] / C;
            gxm += gr[j] * xh[j] / C;
        }
        for (int j = 0; j < C; j++)
            want_dx[r * C + j] = rstd * (gr[j] - gm - xh[j] * gxm);
    }
    nb_tensor *y = nb_layer_norm(xt, NULL, NULL, eps);
    nb_tensor *gt = tu_tensor(dt, NB_DIMS(R, C), g);
    nb_backward(y, gt, false);
    double tol = dt == NB_F32 ? 1e-4 : 1e-9;
    tu_assert_close(y, tu_tensor(NB_F64, NB_DIMS(R, C), want), tol, tol);
    tu_assert_close(nb_tensor_get_grad(xt), tu_tensor(NB_F64, NB_DIMS(R, C), want_dx), 100 * tol, tol);
    nb_scope_end(scope);
}
END_TEST

/* exp/log/gelu/tanh/sigmoid and their gradients at extreme inputs, against double formulas on
 * the stored inputs; every entry whose true value is finite must be finite and accurate. */
typedef enum { F_EXP, F_LOG, F_GELU_TANH, F_GELU_ERF, F_TANH, F_SIGMOID, F_COUNT } unary_fn;
static const char *const k_fn_names[F_COUNT] = {"exp", "log", "gelu_tanh", "gelu_erf", "tanh", "sigmoid"};

static double ref_value(unary_fn f, double x, double *dx)
{
    const double k = 0.79788456080286535588, c = 0.044715;
    switch (f) {
    case F_EXP: return *dx = exp(x);
    case F_LOG: *dx = 1 / x; return x > 0 ? log(x) : x == 0 ? -INFINITY : NAN;
    case F_TANH: { double t = tanh(x); *dx = 1 - t * t; return t; }
    case F_SIGMOID: { double s = 1 / (1 + exp(-x)); *dx = s * (1 - s); return s; }
    case F_GELU_ERF:
        *dx = 0.5 * erfc(-x / sqrt(2.0)) + (fabs(x) > 40 ? 0 : x * exp(-0.5 * x * x) / sqrt(2 * M_PI));
        return 0.5 * x * erfc(-x / sqrt(2.0));
    case F_GELU_TANH: {
        double u = k * (x + c * x * x * x), s = 1 / (1 + exp(-2 * u)), s1s = s * (1 - s);
        *dx = s + (s1s == 0 ? 0 : x * s1s * 2 * k * (1 + 3 * c * x * x));
        return x * s;
    }
    default: return NAN;
    }
}

static nb_tensor *apply(unary_fn f, const nb_tensor *x)
{
    switch (f) {
    case F_EXP: return nb_exp(x);
    case F_LOG: return nb_log(x);
    case F_GELU_TANH: return nb_gelu(x, NB_GELU_TANH);
    case F_GELU_ERF: return nb_gelu(x, NB_GELU_ERF);
    case F_TANH: return nb_tanh(x);
    default: return nb_sigmoid(x);
    }
}

static bool finite_in(nb_dtype dt, double v) { return isfinite(v) && (dt == NB_F64 || fabs(v) <= 3.4028234663852886e38); }

START_TEST(test_unary_extreme_inputs)
{
    nb_dtype dt = k_float_types[_i];
    const double xs[11] = {80, -80, 1e-30, -1e-30, 0, 1e30, -1e30, 700, -700, 1e200, -1e200};
    const int n = dt == NB_F32 ? 7 : 11; /* the rest only where representable */
    /* atol: the float32 GELU derivative is clamped beyond |x| = 20, where it is below 1e-30 */
    double rtol = dt == NB_F32 ? 1e-5 : 1e-12, atol = dt == NB_F32 ? 1e-30 : 1e-300;
    for (int f = 0; f < F_COUNT; f++) {
        int scope = nb_scope_begin();
        nb_tensor *x = nb_tensor_requires_grad_(tu_tensor(dt, NB_DIMS(n), xs), true);
        nb_tensor *y = apply((unary_fn)f, x);
        nb_backward(y, nb_ones_like(y), false);
        double xv[11], yv[11], gv[11];
        nb_tensor_to_doubles(x, xv);
        nb_tensor_to_doubles(y, yv);
        nb_tensor_to_doubles(nb_tensor_get_grad(x), gv);
        for (int i = 0; i < n; i++) {
            double dref, ref = ref_value((unary_fn)f, xv[i], &dref);
            if (finite_in(dt, ref))
                ck_assert_msg(isfinite(yv[i]) && fabs(yv[i] - ref) <= rtol * fabs(ref) + atol,
                              "%s %s(%g) = %.9g, expected %.9g", nb_dtype_name(dt), k_fn_names[f], xv[i], yv[i], ref);
            if (finite_in(dt, dref) && finite_in(dt, ref))
                ck_assert_msg(isfinite(gv[i]) && fabs(gv[i] - dref) <= rtol * fabs(dref) + atol,
                              "%s %s'(%g) = %.9g, expected %.9g", nb_dtype_name(dt), k_fn_names[f], xv[i], gv[i],
                              dref);
        }
        nb_scope_end(scope);
    }
}
END_TEST

/* ---- anomaly mode ---------------------------------------------------------------------------- */
START_TEST(test_anomaly_off_lets_nan_through)
{
    nb_set_detect_anomaly(false);
    int scope = nb_scope_begin();
    nb_tensor *y = nb_log(tu_tensor(NB_F32, NB_DIMS(2), (double[]){-1, 1}));
    ck_assert(isnan(nb_tensor_get(y, (int64_t[]){0})));
    nb_scope_end(scope);
}
END_TEST

START_TEST(test_anomaly_forward)
{
    nb_set_detect_anomaly(true);
    ck_assert(nb_is_anomaly_enabled());
    nb_tensor *x = tu_tensor(NB_F64, NB_DIMS(3), (double[]){1, -2, 3});
    TU_EXPECT_ERROR("anomaly: nb_log forward produced NaN at element 1 of a tensor of shape [3]", nb_log(x));
    nb_tensor_requires_grad_(x, true);
    TU_EXPECT_ERROR("nb_log forward produced NaN", nb_log(x));
    TU_EXPECT_ERROR("nb_exp forward produced Inf", nb_exp(nb_mul_scalar(x, 1000)));
    nb_set_detect_anomaly(false);
}
END_TEST

/* The aborted backwards still hold references to their grad_output: kept reachable here, so
 * the leak checker of the sanitizer build does not report what a misuse abandons by design. */
static nb_tensor *volatile g_held[2]; /* volatile: the stores must not be optimized away */

START_TEST(test_anomaly_backward)
{
    nb_set_detect_anomaly(true); /* no scope: the misuse longjmps out of nb_backward's own scopes */
    nb_tensor *x = nb_tensor_requires_grad_(tu_tensor(NB_F32, NB_DIMS(2), (double[]){4, 0}), true);
    nb_tensor *y = nb_sqrt(x); /* finite forward; d sqrt(x)/dx = inf at 0 */
    nb_tensor *ones = nb_ones(NB_DIMS(2), NB_F32), *zeros = nb_zeros(NB_DIMS(2), NB_F32);
    TU_EXPECT_ERROR("anomaly: nb_sqrt backward (input 0) produced Inf at element 1", nb_backward(y, ones, true));
    TU_EXPECT_ERROR("nb_sqrt backward (input 0) produced NaN", nb_backward(y, zeros, true)); /* 0 * inf */
    nb_set_detect_anomaly(false);
    g_held[0] = ones, g_held[1] = zeros;
    nb_tensor_release(y);
    nb_tensor_release(x);
}
END_TEST

/* NB_DETECT_ANOMALY is read once, at the first query (engine.c caches it): checked in fresh
 * processes (this binary re-executed with --anomaly-child MODE), not in forks that may have
 * inherited a cached value. */
static int anomaly_child(const char *mode)
{
    if (!strcmp(mode, "late")) { /* queried before the variable is set: stays off */
        bool before = nb_is_anomaly_enabled();
        setenv("NB_DETECT_ANOMALY", "1", 1);
        return !before && !nb_is_anomaly_enabled() ? 0 : 1;
    }
    bool want = !strcmp(mode, "on");
    if (nb_is_anomaly_enabled() != want)
        return 2;
    tu_error_capture_begin();
    if (setjmp(tu_error_jmp) == 0) {
        nb_tensor *y = nb_log(nb_full(NB_DIMS(1), -1.0, NB_F32));
        tu_error_capture_end();
        return !want && isnan(nb_tensor_item(y)) ? 0 : 3;
    }
    tu_error_capture_end();
    return want && strstr(tu_error_msg, "nb_log forward produced NaN") ? 0 : 4;
}

static int run_self(const char *mode, const char *env)
{
    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        if (env)
            setenv("NB_DETECT_ANOMALY", env, 1);
        else
            unsetenv("NB_DETECT_ANOMALY");
        execl("/proc/self/exe", g_argv0, "--anomaly-child", mode, (char *)NULL);
        execl(g_argv0, g_argv0, "--anomaly-child", mode, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

START_TEST(test_anomaly_env)
{
    ck_assert_int_eq(run_self("on", "1"), 0);
    ck_assert_int_eq(run_self("on", "yes"), 0);
    ck_assert_int_eq(run_self("off", "0"), 0);
    ck_assert_int_eq(run_self("off", ""), 0);
    ck_assert_int_eq(run_self("off", NULL), 0);
    ck_assert_int_eq(run_self("late", NULL), 0);
}
END_TEST

/* ---- determinism ----------------------------------------------------------------------------- */
enum { STEPS = 20 };

/* 20 AdamW steps (grad clipping on) of a GPT big enough that elementwise ops, reductions,
 * LayerNorm, cross-entropy and GEMMs split across threads (>= 32768 elements). */
static void train_losses(int threads, double *losses)
{
    nb_set_num_threads(threads);
    nb_gpt_config c = nb_gpt_config_default();
    c.n_layer = 2, c.n_head = 4, c.n_embd = 64, c.block_size = 64, c.vocab_size = 65, c.dropout = 0.1;
    nb_generator init, data;
    nb_generator_seed(&init, 1337);
    nb_generator_seed(&data, 42);
    nb_gpt *g = nb_gpt_new(&c, &init);
    nb_param_list pl;
    nb_module_parameters(&g->base, false, &pl);
    nb_adam_opts ao = nb_adamw_opts_default();
    nb_optimizer *opt = nb_adamw_new(pl.params, pl.n, &ao);
    for (int s = 0; s < STEPS; s++) {
        int scope = nb_scope_begin();
        nb_tensor *x = nb_randint(0, 65, NB_DIMS(8, 64), NB_I64, &data);
        nb_tensor *y = nb_randint(0, 65, NB_DIMS(8, 64), NB_I64, &data);
        nb_tensor *loss = nb_gpt_loss(nb_gpt_forward(g, x), y);
        losses[s] = nb_tensor_item(loss);
        nb_backward(loss, NULL, false);
        nb_optimizer_clip_grad_norm(opt, 1.0);
        nb_optimizer_step(opt);
        nb_optimizer_zero_grad(opt, true);
        nb_scope_end(scope);
    }
    nb_param_list_free(&pl);
    nb_optimizer_free(opt);
    nb_module_free(&g->base);
}

START_TEST(test_gpt_training_bit_identical)
{
    double a[STEPS], b[STEPS], c[STEPS];
    train_losses(1, a);
    train_losses(1, b);
    train_losses(2, c);
    for (int s = 0; s < STEPS; s++) {
        ck_assert_msg(memcmp(&a[s], &b[s], sizeof a[s]) == 0, "step %d: %.17g then %.17g", s, a[s], b[s]);
        ck_assert_msg(memcmp(&a[s], &c[s], sizeof a[s]) == 0, "step %d: %.17g (1 thread) vs %.17g (2)", s, a[s],
                      c[s]);
    }
    for (int s = 0; s < STEPS; s++)
        ck_assert(isfinite(a[s]) && a[s] > 3 && a[s] < 5); /* about ln 65 = 4.17: random tokens */
    ck_assert(a[STEPS - 1] != a[0]);
}
END_TEST

/* The ops of a training step, forward and backward, give the same bits on 1, 2 and 3 threads. */
typedef enum { O_SUM, O_SUM0, O_VAR, O_SOFTMAX, O_LOGSOFTMAX, O_LSE, O_LN, O_CE, O_MATMUL, O_GELU, O_COUNT } det_op;
static const char *const k_det_names[O_COUNT] = {"sum",         "sum(dim 0)", "var",        "softmax",
                                                 "log_softmax", "logsumexp",  "layer_norm", "cross_entropy",
                                                 "matmul",      "gelu"};

static nb_tensor *det_apply(det_op o, const nb_tensor *x, const nb_tensor *w, const nb_tensor *t)
{
    int d0 = 0, d1 = 1;
    switch (o) {
    case O_SUM: return nb_sum(x, NB_ALL_AXES, false);
    case O_SUM0: return nb_sum(x, &d0, 1, false);
    case O_VAR: return nb_var(x, &d1, 1, 1, false);
    case O_SOFTMAX: return nb_softmax(x, 1);
    case O_LOGSOFTMAX: return nb_log_softmax(x, 1);
    case O_LSE: return nb_logsumexp(x, &d1, 1, false);
    case O_LN: return nb_layer_norm(x, NULL, NULL, 1e-5);
    case O_CE: return nb_cross_entropy(x, t, NULL);
    case O_MATMUL: return nb_matmul(x, w);
    default: return nb_gelu(x, NB_GELU_TANH);
    }
}

START_TEST(test_ops_thread_count_independent)
{
    nb_dtype dt = k_float_types[_i];
    int scope = nb_scope_begin();
    nb_generator gen;
    nb_generator_seed(&gen, 3);
    nb_tensor *x = nb_randn(NB_DIMS(512, 257), dt, &gen), *w = nb_randn(NB_DIMS(257, 160), dt, &gen);
    nb_tensor *t = nb_randint(0, 257, NB_DIMS(512), NB_I64, &gen);
    for (int o = 0; o < O_COUNT; o++) {
        nb_tensor *r[3];
        for (int th = 1; th <= 3; th++) {
            nb_set_num_threads(th);
            nb_tensor *xx = nb_tensor_requires_grad_(nb_clone(x), true);
            nb_tensor *out = det_apply((det_op)o, xx, w, t);
            nb_backward(nb_sum(nb_mul(out, out), NB_ALL_AXES, false), NULL, false);
            r[th - 1] = nb_cat((nb_tensor *[]){nb_flatten(out, 0, -1), nb_flatten(nb_tensor_get_grad(xx), 0, -1)}, 2, 0);
        }
        size_t nbytes = (size_t)nb_tensor_numel(r[0]) * nb_dtype_size(dt);
        for (int k = 1; k < 3; k++)
            ck_assert_msg(memcmp(nb_tensor_data(r[0]), nb_tensor_data(r[k]), nbytes) == 0,
                          "%s %s: 1 and %d threads differ", nb_dtype_name(dt), k_det_names[o], k + 1);
    }
    nb_set_num_threads(0);
    nb_scope_end(scope);
}
END_TEST

/* ---- resource limits ------------------------------------------------------------------------- */
/* The byte count in the message is the block asked of the allocator: the 4 TB of data plus a
 * header, rounded to a size class. */
static void expect_oom_at_least(unsigned long long bytes)
{
    const char *p = strstr(tu_error_msg, "nb_alloc: out of memory allocating ");
    unsigned long long got = 0;
    ck_assert_msg(p && sscanf(p + strlen("nb_alloc: out of memory allocating "), "%llu", &got) == 1,
                  "message '%s'", tu_error_msg);
    ck_assert_msg(got >= bytes, "message '%s' names fewer than %llu bytes", tu_error_msg, bytes);
}

START_TEST(test_alloc_beyond_memory)
{ /* 4 TB: jemalloc would "succeed" (MAP_NORESERVE) and the process die on first touch */
    TU_EXPECT_ERROR("nb_alloc: out of memory allocating ", nb_empty(NB_DIMS(1 << 20, 1 << 20), NB_F32));
    expect_oom_at_least(4398046511104ULL);
    TU_EXPECT_ERROR("nb_alloc: out of memory allocating ", nb_zeros(NB_DIMS(1 << 16, 1 << 16, 64), NB_F64));
    expect_oom_at_least(2199023255552ULL);
}
END_TEST

static void report_to_pipe(const char *msg, void *user)
{
    int fd = *(int *)user;
    ssize_t n = write(fd, msg, strlen(msg));
    _exit(n > 0 ? 0 : 1);
}

/* A GPT-2-XL-sized model under a 256 MB address-space limit: the build stops with the
 * allocation message through the handler, not a crash (skipped under sanitizers, whose
 * shadow memory needs far more address space). */
START_TEST(test_gpt_too_large_for_rlimit)
{
#ifdef UNDER_SANITIZER
    return;
#endif
    int fds[2];
    ck_assert(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct rlimit rl = {.rlim_cur = (rlim_t)256 << 20, .rlim_max = (rlim_t)256 << 20};
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(2);
        nb_set_error_handler(report_to_pipe, &fds[1]);
        nb_gpt_config c = nb_gpt_config_default();
        c.n_layer = 48, c.n_head = 25, c.n_embd = 1600, c.block_size = 1024, c.vocab_size = 50257;
        nb_gpt_new(&c, NULL);
        _exit(3); /* built 1.5 G parameters in 256 MB: impossible */
    }
    close(fds[1]);
    char msg[1024] = {0};
    ssize_t got = 0;
    for (ssize_t r; got < (ssize_t)sizeof msg - 1 && (r = read(fds[0], msg + got, sizeof msg - 1 - (size_t)got)) > 0;)
        got += r;
    close(fds[0]);
    int status;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d, message '%s'", status, msg);
    ck_assert_msg(strstr(msg, "out of memory"), "message '%s'", msg);
}
END_TEST

int main(int argc, char **argv)
{
    g_argv0 = argv[0];
    if (argc == 3 && !strcmp(argv[1], "--anomaly-child")) /* _exit: no leak check of the abandoned op */
        _exit(anomaly_child(argv[2]));
    Suite *s = suite_create("reliability");
    TCase *tc = tcase_create("fuzz_corpus");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_corpus_safetensors);
    tcase_add_test(tc, test_crash_zero_dim_stride_overflow);
    tcase_add_test(tc, test_corpus_checkpoint);
    tcase_add_test(tc, test_crash_resume_perm_oob);
    tcase_add_test(tc, test_ckpt_config_larger_than_file);
    tcase_add_test(tc, test_corpus_tokenizer);
    tcase_add_test(tc, test_corpus_options);
    suite_add_tcase(s, tc);
    tc = tcase_create("numerics");
    tcase_add_loop_test(tc, test_softmax_ce_extreme_logits, 0, 2);
    tcase_add_loop_test(tc, test_layer_norm_large_mean_small_std, 0, 2);
    tcase_add_loop_test(tc, test_unary_extreme_inputs, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("anomaly");
    tcase_add_test(tc, test_anomaly_off_lets_nan_through);
    tcase_add_test(tc, test_anomaly_forward);
    tcase_add_test(tc, test_anomaly_backward);
    tcase_add_test(tc, test_anomaly_env);
    suite_add_tcase(s, tc);
    tc = tcase_create("determinism");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_gpt_training_bit_identical);
    tcase_add_loop_test(tc, test_ops_thread_count_independent, 0, 2);
    suite_add_tcase(s, tc);
    tc = tcase_create("resources");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_alloc_beyond_memory);
    tcase_add_test(tc, test_gpt_too_large_for_rlimit);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
