/* test_dist.c — the distributed layer (nb_dist.h). Not a Check suite: Check forks each test, and
 * MPI processes must not fork; tests/test_dist.sh runs this program as
 *     mpirun -np 2 tests/test_dist      (and as one plain process: the world-size-1 paths)
 * Every check is collective: all ranks run it, rank 0 prints "ok"/"FAIL" for the job (a failure on
 * any rank fails it). Exit 0 when every check passed on every rank, 1 otherwise.
 *
 * The key check: N ranks, rank r training on micro-batch r of each step (gradients averaged by
 * nb_dist_allreduce_grads_mean, then clipping and AdamW), end with the same parameters as one
 * process accumulating the N micro-batches with loss scale 1/N (computed on every rank as the
 * independent reference), and hold identical weights after every step.
 *
 *   tests/test_dist --compare A.safetensors B.safetensors TOL [PREFIX]
 * compares the tensors (named PREFIX*, default all) of two safetensors files: exit 0 when every
 * element agrees within TOL (absolute, scaled by max(1, |b|)), printing the largest difference. */
#include "nabla.h"

#include "gpt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_rank, g_world, g_failed;

/* One collective check: passes when cond holds on every rank. */
static void check(bool cond, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!cond)
        fprintf(stderr, "rank %d: FAILED: %s\n", g_rank, msg);
    double bad = cond ? 0 : 1;
    if (nb_dist_allreduce_doubles(&bad, 1, NB_DIST_MAX) != NB_OK) {
        fprintf(stderr, "rank %d: allreduce failed: %s\n", g_rank, nb_last_error());
        bad = 1;
    }
    if (bad)
        g_failed++;
    if (g_rank == 0)
        printf("%s - %s\n", bad ? "FAIL" : "ok  ", msg);
    fflush(stdout);
}

/* ---- small collectives ---------------------------------------------------------------------- */
static void test_world(void)
{
    const char *env = getenv("OMPI_COMM_WORLD_SIZE");
    int expect = env ? atoi(env) : 1;
    check(nb_dist_world_size() == expect && nb_dist_rank() >= 0 && nb_dist_rank() < expect,
          "world size %d (launcher says %d), rank in range", nb_dist_world_size(), expect);
    check(nb_dist_is_enabled() == (env != NULL) && nb_dist_local_size() >= 1 &&
              nb_dist_local_size() <= nb_dist_world_size(),
          "MPI in use exactly when launched by mpirun; %d rank(s) on this host", nb_dist_local_size());
    check(nb_dist_init(NULL, NULL) == NB_OK && nb_dist_world_size() == g_world, "a second nb_dist_init is a no-op");
}

static void test_doubles_and_bytes(void)
{
    double v[3] = {g_rank + 1.0, g_rank + 1.0, g_rank + 1.0};
    nb_status a = nb_dist_allreduce_doubles(v, 1, NB_DIST_SUM), b = nb_dist_allreduce_doubles(v + 1, 1, NB_DIST_MIN),
              c = nb_dist_allreduce_doubles(v + 2, 1, NB_DIST_MAX);
    check(!a && !b && !c && v[0] == g_world * (g_world + 1) / 2.0 && v[1] == 1 && v[2] == g_world,
          "allreduce of doubles: sum %g, min %g, max %g of rank+1", v[0], v[1], v[2]);
    char text[32];
    snprintf(text, sizeof text, g_rank == 0 ? "from rank 0" : "rank %d junk", g_rank);
    check(nb_dist_broadcast_bytes(text, sizeof text) == NB_OK && !strcmp(text, "from rank 0"),
          "broadcast_bytes: every rank gets rank 0's bytes");
    check(nb_dist_barrier() == NB_OK, "barrier");
}

/* ---- broadcast of tensors ------------------------------------------------------------------- */
static void test_broadcast_params(void)
{
    int scope = nb_scope_begin();
    nb_tensor *a = nb_full(NB_DIMS(3, 4), 10.0 + g_rank, NB_F32);
    nb_tensor *base = nb_full(NB_DIMS(4, 3), 20.0 + g_rank, NB_F64), *bt = nb_transpose(base, 0, 1); /* strided */
    nb_tensor *steps = nb_full(NB_DIMS(2), 5 + g_rank, NB_I64), *empty = nb_zeros(NB_DIMS(0, 3), NB_F32);
    nb_tensor_set(a, (int64_t[]){2, 3}, 99.0 + g_rank);
    nb_tensor *ts[] = {a, bt, steps, empty};
    nb_status st = nb_dist_broadcast_params(ts, 4);
    bool ok = st == NB_OK && nb_tensor_get(a, (int64_t[]){0, 0}) == 10.0 && nb_tensor_get(a, (int64_t[]){2, 3}) == 99.0;
    for (int i = 0; i < 3 && ok; i++)
        for (int j = 0; j < 4; j++)
            ok &= nb_tensor_get(bt, (int64_t[]){i, j}) == 20.0 && nb_tensor_get(base, (int64_t[]){j, i}) == 20.0;
    ok &= nb_tensor_get(steps, (int64_t[]){1}) == 5.0;
    check(ok, "broadcast_params: float32, strided float64 view (base written), int64, empty: rank 0's values");
    nb_scope_end(scope);
}

/* ---- gradient all-reduce -------------------------------------------------------------------- */
static nb_tensor *leaf(nb_tensor *t) { return nb_tensor_requires_grad_(t, true); }

static void test_allreduce_grads(void)
{
    int scope = nb_scope_begin();
    double r1 = g_rank + 1.0, mean = (g_world + 1) / 2.0; /* mean of rank+1 */
    nb_tensor *p0 = leaf(nb_zeros(NB_DIMS(5, 7), NB_F32)), *p1 = leaf(nb_zeros(NB_DIMS(3), NB_F32));
    nb_tensor *p2 = leaf(nb_zeros(NB_DIMS(2, 3), NB_F32)), *p3 = leaf(nb_zeros(NB_DIMS(4), NB_F32));
    nb_tensor *p4 = leaf(nb_zeros(NB_DIMS(4), NB_F32)), *p5 = leaf(nb_zeros(NB_SCALAR, NB_F32));
    /* p0: plain gradient k*(rank+1) */
    nb_tensor *g0 = nb_mul_scalar(nb_arange(0, 35, 1, NB_F32), r1);
    nb_tensor_set_grad(p0, nb_reshape(g0, NB_DIMS(5, 7)));
    /* p1: no gradient on rank 0, rank+1 elsewhere: mean over all ranks counts rank 0 as zeros */
    if (g_rank != 0)
        nb_tensor_set_grad(p1, nb_full(NB_DIMS(3), r1, NB_F32));
    /* p2: non-contiguous gradient (a transposed view) */
    nb_tensor_set_grad(p2, nb_transpose(nb_mul_scalar(nb_reshape(nb_arange(0, 6, 1, NB_F32), NB_DIMS(3, 2)), r1), 0, 1));
    /* p3, p4: one gradient tensor shared by two parameters: neither may change under the other */
    nb_tensor *shared = nb_full(NB_DIMS(4), r1, NB_F32);
    nb_tensor_set_grad(p3, shared);
    nb_tensor_set_grad(p4, shared);
    /* p5: no gradient anywhere */
    nb_tensor *ps[] = {p0, p1, p2, p3, p4, p5};
    nb_status st = nb_dist_allreduce_grads_mean(ps, 6);
    bool ok0 = st == NB_OK, ok1 = ok0, ok2 = ok0, ok3 = ok0;
    for (int k = 0; k < 35 && ok0; k++)
        ok0 &= nb_tensor_get(nb_tensor_get_grad(p0), (int64_t[]){k / 7, k % 7}) == (float)(k * mean);
    double m1 = (g_world * (g_world + 1) / 2.0 - 1.0) / g_world;
    ok1 &= g_world == 1 ? nb_tensor_get_grad(p1) == NULL : nb_tensor_get_grad(p1) != NULL; /* 1 rank: a no-op */
    for (int k = 0; k < 3 && ok1 && g_world > 1; k++)
        ok1 &= nb_tensor_get(nb_tensor_get_grad(p1), (int64_t[]){k}) == (float)m1;
    for (int i = 0; i < 2 && ok2; i++)
        for (int j = 0; j < 3; j++)
            ok2 &= nb_tensor_get(nb_tensor_get_grad(p2), (int64_t[]){i, j}) == (float)((j * 2 + i) * mean);
    for (int k = 0; k < 4 && ok3; k++)
        ok3 &= nb_tensor_get(nb_tensor_get_grad(p3), (int64_t[]){k}) == (float)mean &&
               nb_tensor_get(nb_tensor_get_grad(p4), (int64_t[]){k}) == (float)mean;
    check(ok0, "allreduce_grads_mean: contiguous float32 gradient is the mean over ranks");
    check(ok1, "allreduce_grads_mean: a gradient missing on rank 0 counts as zeros; every rank gets one (%g)", m1);
    check(ok2, "allreduce_grads_mean: a transposed (strided) gradient");
    check(ok3, "allreduce_grads_mean: one gradient tensor shared by two parameters: both means right");
    check(nb_tensor_get_grad(p5) == NULL, "allreduce_grads_mean: no gradient on any rank stays NULL");

    /* float64 with float32 in one call: a float64 buffer, values exact */
    nb_tensor *q0 = leaf(nb_zeros(NB_DIMS(3), NB_F64)), *q1 = leaf(nb_zeros(NB_DIMS(2), NB_F32));
    nb_tensor_set_grad(q0, nb_full(NB_DIMS(3), 0.1 * r1, NB_F64));
    nb_tensor_set_grad(q1, nb_full(NB_DIMS(2), 0.25 * r1, NB_F32));
    nb_tensor *qs[] = {q0, q1};
    st = nb_dist_allreduce_grads_mean(qs, 2);
    double want0 = 0;
    for (int r = 0; r < g_world; r++)
        want0 += 0.1 * (r + 1);
    want0 /= g_world;
    check(st == NB_OK && nb_tensor_get(nb_tensor_get_grad(q0), (int64_t[]){2}) == want0 &&
              nb_tensor_get(nb_tensor_get_grad(q1), (int64_t[]){1}) == (float)(0.25 * mean) &&
              nb_tensor_dtype(nb_tensor_get_grad(q1)) == NB_F32,
          "allreduce_grads_mean: float64 and float32 parameters together (float64 buffer)");
    nb_scope_end(scope);
}

/* ---- checksums ------------------------------------------------------------------------------ */
static void test_checksum(void)
{
    int scope = nb_scope_begin();
    nb_tensor *a = nb_arange(0, 12, 1, NB_F32), *b = nb_reshape(nb_arange(0, 12, 1, NB_F32), NB_DIMS(3, 4));
    nb_tensor *c = nb_contiguous(nb_transpose(nb_transpose(b, 0, 1), 0, 1));
    nb_tensor *bt = nb_transpose(b, 0, 1), *btc = nb_contiguous(bt);
    check(nb_dist_checksum(&a, 1) != nb_dist_checksum(&b, 1) && nb_dist_checksum(&b, 1) == nb_dist_checksum(&c, 1) &&
              nb_dist_checksum(&bt, 1) == nb_dist_checksum(&btc, 1) && nb_dist_checksum(&b, 1) != nb_dist_checksum(&bt, 1),
          "checksum: shape counts, layout does not (strided view == its contiguous copy)");
    nb_tensor *z = nb_zeros(NB_DIMS(2), NB_F32), *nz = nb_full(NB_DIMS(2), -0.0, NB_F32);
    check(nb_dist_checksum(&z, 1) != nb_dist_checksum(&nz, 1), "checksum: bitwise (0.0 != -0.0)");
    nb_tensor *ts[] = {a, b};
    check(nb_dist_check_identical(ts, 2) == NB_OK, "check_identical: equal tensors on every rank");
    if (g_world > 1) {
        if (g_rank == g_world - 1)
            nb_tensor_set(b, (int64_t[]){1, 1}, nextafterf(5.0f, 6.0f)); /* one ulp on the last rank */
        nb_status st = nb_dist_check_identical(ts, 2);
        char want[32];
        snprintf(want, sizeof want, "rank %d has checksum", g_world - 1);
        check(st == NB_ERR_MISMATCH && strstr(nb_last_error(), want),
              "check_identical: one ulp on rank %d is NB_ERR_MISMATCH on every rank naming it", g_world - 1);
    }
    nb_scope_end(scope);
}

/* ---- N ranks x micro-batch == one process accumulating N micro-batches ----------------------- */
enum { STEPS = 5, B = 3, T = 8, V = 11 };

/* No biases (nanoGPT's default): the key part of c_attn's bias has an analytically zero gradient
 * (softmax ignores a per-query constant), pure rounding noise that Adam would blow up to lr-sized
 * steps in both runs alike but not bit alike. */
static nb_gpt_config tiny(void)
{
    return (nb_gpt_config){.block_size = T, .vocab_size = V, .n_layer = 1, .n_head = 2, .n_embd = 16,
                           .dropout = 0, .bias = false, .gelu = NB_GELU_TANH};
}

/* Micro-batch m of step s: the same on every rank (drawn from its own seed). */
static void micro_batch(int s, int m, nb_tensor **x, nb_tensor **y)
{
    nb_generator gen;
    nb_generator_seed(&gen, 1000u + 97u * (uint64_t)s + (uint64_t)m);
    *x = nb_randint(0, V, NB_DIMS(B, T), NB_I64, &gen);
    *y = nb_randint(0, V, NB_DIMS(B, T), NB_I64, &gen);
}

typedef struct {
    nb_gpt *g;
    nb_param_list pl;
    nb_optimizer *opt;
} trainer;

static void trainer_new(trainer *t, uint64_t seed)
{
    nb_gpt_config c = tiny();
    nb_generator gen;
    nb_generator_seed(&gen, seed);
    t->g = nb_gpt_new(&c, &gen);
    nb_module_parameters(&t->g->base, false, &t->pl);
    nb_adam_opts ao = nb_adamw_opts_default();
    ao.lr = 1e-2, ao.beta2 = 0.99, ao.weight_decay = 0.1;
    t->opt = nb_adamw_new(t->pl.params, t->pl.n, &ao);
}

static void trainer_free(trainer *t)
{
    nb_optimizer_free(t->opt);
    nb_param_list_free(&t->pl);
    nb_module_free(&t->g->base);
}

/* Largest |a - b| / max(1, |b|) over the parameters; *bitwise: every element identical. */
static double max_diff(const trainer *a, const trainer *b, bool *bitwise)
{
    double worst = 0;
    *bitwise = true;
    for (int i = 0; i < a->pl.n; i++) {
        int64_t n = nb_tensor_numel(a->pl.params[i]);
        const float *x = nb_tensor_data(a->pl.params[i]), *y = nb_tensor_data(b->pl.params[i]);
        for (int64_t k = 0; k < n; k++) {
            double d = fabs((double)x[k] - y[k]) / fmax(1.0, fabs((double)y[k]));
            worst = fmax(worst, d);
            *bitwise &= !memcmp(&x[k], &y[k], sizeof x[k]);
        }
    }
    return worst;
}

/* |a - b| <= 1e-6 * max(|b|, 1e-3) element-wise */
static bool grad_close(const nb_tensor *a, const nb_tensor *b)
{
    int64_t n = nb_tensor_numel(a);
    double *x = malloc((size_t)(n ? n : 1) * sizeof *x), *y = malloc((size_t)(n ? n : 1) * sizeof *y), scale = 1e-3;
    nb_tensor_to_doubles(a, x);
    nb_tensor_to_doubles(b, y);
    for (int64_t k = 0; k < n; k++)
        scale = fmax(scale, fabs(y[k]));
    bool ok = true;
    for (int64_t k = 0; k < n; k++)
        ok &= fabs(x[k] - y[k]) <= 1e-6 * scale;
    free(x);
    free(y);
    return ok;
}

static void test_data_parallel_equals_accumulation(void)
{
    trainer dist, ref;
    trainer_new(&dist, 42u + 1000u * (uint64_t)g_rank); /* ranks start different ... */
    trainer_new(&ref, 42u);
    nb_status st = nb_dist_broadcast_params(dist.pl.params, dist.pl.n); /* ... until rank 0's weights arrive */
    bool same0;
    check(st == NB_OK && max_diff(&dist, &ref, &same0) == 0 && same0,
          "broadcast_params: a GPT initialized differently per rank gets rank 0's weights");
    bool identical_every_step = true, grads_close = true;
    for (int s = 0; s < STEPS; s++) {
        int scope = nb_scope_begin();
        /* distributed: my micro-batch, mean over ranks */
        nb_tensor *x, *y;
        micro_batch(s, g_rank, &x, &y);
        nb_backward(nb_gpt_loss(nb_gpt_forward(dist.g, x), y), NULL, false);
        st = nb_dist_allreduce_grads_mean(dist.pl.params, dist.pl.n);
        /* reference: every micro-batch here, loss scaled by 1/N, gradients accumulated */
        for (int m = 0; m < g_world; m++) {
            micro_batch(s, m, &x, &y);
            nb_tensor *loss = nb_gpt_loss(nb_gpt_forward(ref.g, x), y);
            nb_backward(g_world > 1 ? nb_mul_scalar(loss, 1.0 / g_world) : loss, NULL, false);
        }
        for (int i = 0; i < dist.pl.n && st == NB_OK; i++) {
            nb_tensor *gd = nb_tensor_get_grad(dist.pl.params[i]), *gr = nb_tensor_get_grad(ref.pl.params[i]);
            grads_close &= gd && gr && grad_close(gd, gr);
        }
        nb_clip_grad_norm(dist.pl.params, dist.pl.n, 0.5);
        nb_clip_grad_norm(ref.pl.params, ref.pl.n, 0.5);
        nb_optimizer_step(dist.opt);
        nb_optimizer_step(ref.opt);
        nb_optimizer_zero_grad(dist.opt, true);
        nb_optimizer_zero_grad(ref.opt, true);
        identical_every_step &= nb_dist_check_identical(dist.pl.params, dist.pl.n) == NB_OK;
        nb_scope_end(scope);
    }
    check(st == NB_OK && grads_close,
          "%d rank(s) x micro-batch: averaged gradients == one process accumulating %d micro-batches (loss/%d)",
          g_world, g_world, g_world);
    check(identical_every_step, "weights identical on every rank after each of %d AdamW steps (checksum)", STEPS);
    bool bitwise;
    double d = max_diff(&dist, &ref, &bitwise);
    check(d <= 1e-5, "after %d clipped AdamW steps: max relative parameter difference %.3g <= 1e-5 (bit-identical: %s)",
          STEPS, d, bitwise ? "yes" : "no");
    trainer_free(&dist);
    trainer_free(&ref);
}

/* ---- --compare A B TOL [PREFIX] ------------------------------------------------------------- */
static int compare_files(const char *pa, const char *pb, double tol, const char *prefix)
{
    nb_state_dict *a, *b;
    if (nb_safetensors_load(pa, &a) != NB_OK || nb_safetensors_load(pb, &b) != NB_OK) {
        fprintf(stderr, "test_dist --compare: %s\n", nb_last_error());
        return 2;
    }
    double worst = 0;
    int compared = 0, rc = 0;
    for (int i = 0; i < nb_state_dict_count(a); i++) {
        const char *name = nb_state_dict_name_at(a, i);
        if (strncmp(name, prefix, strlen(prefix)))
            continue;
        nb_tensor *ta = nb_state_dict_tensor_at(a, i), *tb = nb_state_dict_get(b, name);
        if (!tb || !nb_tensor_same_shape(ta, tb)) {
            printf("%s: missing or shaped differently in %s\n", name, pb);
            rc = 1;
            continue;
        }
        int64_t n = nb_tensor_numel(ta);
        double *x = malloc((size_t)(n ? n : 1) * sizeof *x), *y = malloc((size_t)(n ? n : 1) * sizeof *y);
        nb_tensor_to_doubles(ta, x);
        nb_tensor_to_doubles(tb, y);
        for (int64_t k = 0; k < n; k++)
            worst = fmax(worst, fabs(x[k] - y[k]) / fmax(1.0, fabs(y[k])));
        free(x);
        free(y);
        compared++;
    }
    printf("compared %d tensors: max relative difference %.3g (tolerance %.3g)\n", compared, worst, tol);
    nb_state_dict_free(a);
    nb_state_dict_free(b);
    return rc || compared == 0 || !(worst <= tol);
}

int main(int argc, char **argv)
{
    if (argc >= 5 && !strcmp(argv[1], "--compare"))
        return compare_files(argv[2], argv[3], atof(argv[4]), argc >= 6 ? argv[5] : "");
    if (argc >= 2 && !strcmp(argv[1], "--mpi-built")) {
        puts(nb_dist_is_available() ? "yes" : "no");
        return 0;
    }
    if (nb_dist_init(&argc, &argv) != NB_OK) {
        fprintf(stderr, "test_dist: %s\n", nb_last_error());
        return 1;
    }
    nb_set_num_threads(1);
    g_rank = nb_dist_rank(), g_world = nb_dist_world_size();
    if (g_rank == 0)
        printf("test_dist: %d rank(s), MPI %s\n", g_world,
               nb_dist_is_enabled() ? "in use" : nb_dist_is_available() ? "built, not launched" : "not built");
    test_world();
    test_doubles_and_bytes();
    test_broadcast_params();
    test_allreduce_grads();
    test_checksum();
    test_data_parallel_equals_accumulation();
    int failed = g_failed;
    if (g_rank == 0)
        printf("test_dist: %s\n", failed ? "FAILED" : "all checks passed");
    nb_dist_finalize();
    return failed ? 1 : 0;
}
