/* gradcheck_entries.h — internal to tests/test_gradcheck: the input classes, the run state, the
 * input makers and check() (defined in tests/test_gradcheck.c) and the gradcheck entries e_* (one
 * per registered op, defined by op family in tests/gradcheck_pointwise.c, gradcheck_shape.c and
 * gradcheck_nn.c; listed in the registry k_entries of tests/test_gradcheck.c). */
#ifndef GRADCHECK_ENTRIES_H
#define GRADCHECK_ENTRIES_H

#define _POSIX_C_SOURCE 200809L
#include "testutil.h"
#include "nb_nn.h"
#include "nb__tensor.h" /* refcounts: nb_gradcheck must leave none behind */

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ==== input classes and the run state ========================================================= */
enum { C_CONTIG, C_TRANSP, C_SLICED, C_BCAST, C_ZERO, C_0DIM, C_COUNT };
#define CB(c) (1u << (c))
#define LAYOUTS (CB(C_CONTIG) | CB(C_TRANSP) | CB(C_SLICED))
#define ALL (LAYOUTS | CB(C_BCAST) | CB(C_ZERO) | CB(C_0DIM))
#define NO_BCAST (ALL & ~CB(C_BCAST))
extern const char *const k_class_names[C_COUNT];

typedef struct {
    int cls;
    nb_dtype dt;
    uint64_t seed;
    int checks;
    double max_abs, max_rel;
    bool failed;
    char msg[700];
} gc_run;

typedef struct {
    const char *name;
    unsigned classes;
    void (*run)(gc_run *r);
} gc_entry;

/* ==== inputs ==================================================================================== */
enum { K_UNIF, K_GRID5, K_GRID0, K_DISTINCT };

/* Values of kind k in [lo, hi) (see tests/test_gradcheck.c); integer tensors; a random bool mask. */
nb_tensor *vals(gc_run *r, const int64_t *sh, int nd, int k, double lo, double hi);
#define U(r, lo, hi, ...) vals(r, NB_DIMS(__VA_ARGS__), K_UNIF, lo, hi)
#define U0(r, lo, hi) vals(r, NB_SCALAR, K_UNIF, lo, hi)

nb_tensor *ints(nb_dtype dt, const int64_t *sh, int nd, const double *v);
nb_tensor *mask(gc_run *r, const int64_t *sh, int nd);

/* Lays the inputs out for the run's class, marks the float inputs in `diff` as requiring grad,
 * gradchecks f and records the errors. Inputs are borrowed (scope-owned plain tensors). */
void check(gc_run *r, nb_gradcheck_fn f, void *ctx, int n, nb_tensor **in, unsigned diff);
#define CHECK(r, f, ctx, diff, ...) \
    check(r, f, ctx, (int)(sizeof((nb_tensor *[]){__VA_ARGS__}) / sizeof(nb_tensor *)), \
          (nb_tensor *[]){__VA_ARGS__}, diff)

/* Op parameters passed to the gradcheck functions. */
typedef struct {
    int nd;
    int64_t shape[NB_MAX_DIMS];
    int a, b, c;
    int ndims;
    int dims[4];
    bool keep;
    double s, s2;
    nb_tensor *(*u)(const nb_tensor *);
    nb_tensor *(*bin)(const nb_tensor *, const nb_tensor *);
    nb_tensor *(*red)(const nb_tensor *, const int *, int, bool);
} P;

static inline bool layout_class(const gc_run *r) { return r->cls == C_CONTIG || r->cls == C_TRANSP || r->cls == C_SLICED; }

/* A gradcheck function of the inputs x[0..n) and the op parameters p. */
#define FN(name, expr)                                                       \
    static nb_tensor *name(nb_tensor *const *x, int n, void *c)             \
    {                                                                        \
        P *p = c;                                                            \
        (void)x, (void)n, (void)p;                                           \
        return expr;                                                         \
    }

#define SH(p, ...)                                                          \
    ((p).nd = (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),    \
     memcpy((p).shape, (int64_t[]){__VA_ARGS__}, sizeof((int64_t[]){__VA_ARGS__})))

#define DIMS(p, ...)                                                      \
    ((p).ndims = (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)),       \
     memcpy((p).dims, (int[]){__VA_ARGS__}, sizeof((int[]){__VA_ARGS__})))

#define IDX(dt, sh, ...) ints(dt, sh, (const double[]){__VA_ARGS__})

/* ==== the entries, by op family ================================================================ */
/* gradcheck_pointwise.c; plus an e_<name> per row of tensor/nb_pointwise.def. unary_shapes: the
 * unary elementwise input classes ([3, 4] and [2, 3, 2] for the layouts, [0, 3], []; also nb_dropout). */
void unary_shapes(gc_run *r, nb_gradcheck_fn f, P *p, int k, double lo, double hi);
void e_gelu(gc_run *r);
void e_pow_scalar(gc_run *r);
void e_clamp(gc_run *r);
void e_where(gc_run *r);
void e_masked_fill(gc_run *r);
void e_matmul(gc_run *r);
#define NB_PW_UNARY(name, ...) void e_##name(gc_run *r);
#define NB_PW_BINARY(name, ...) void e_##name(gc_run *r);
#include "nb_pointwise.def"
/* gradcheck_shape.c */
void e_view(gc_run *r);
void e_reshape(gc_run *r);
void e_transpose(gc_run *r);
void e_permute(gc_run *r);
void e_narrow(gc_run *r);
void e_slice(gc_run *r);
void e_select(gc_run *r);
void e_expand(gc_run *r);
void e_squeeze(gc_run *r);
void e_unsqueeze(gc_run *r);
void e_flatten(gc_run *r);
void e_contiguous(gc_run *r);
void e_clone(gc_run *r);
void e_to_dtype(gc_run *r);
void e_sum(gc_run *r);
void e_mean(gc_run *r);
void e_logsumexp(gc_run *r);
void e_var(gc_run *r);
void e_std(gc_run *r);
void e_max(gc_run *r);
void e_min(gc_run *r);
void e_softmax(gc_run *r);
void e_log_softmax(gc_run *r);
void e_index_select(gc_run *r);
void e_gather(gc_run *r);
void e_scatter_add(gc_run *r);
void e_embedding(gc_run *r);
void e_cat(gc_run *r);
void e_stack(gc_run *r);
void e_tril(gc_run *r);
void e_triu(gc_run *r);
void e_cumsum(gc_run *r);
void e_cumprod(gc_run *r);
void e_prod(gc_run *r);
void e_amax(gc_run *r);
void e_amin(gc_run *r);
void e_norm(gc_run *r);
void e_sort(gc_run *r);
void e_topk(gc_run *r);
void e_outer(gc_run *r);
void e_pad(gc_run *r);
void e_repeat(gc_run *r);
void e_flip(gc_run *r);
void e_roll(gc_run *r);
/* gradcheck_nn.c */
void e_layer_norm(gc_run *r);
void e_cross_entropy(gc_run *r);
void e_dropout(gc_run *r);
void e_fused_linear(gc_run *r);
void e_sdpa(gc_run *r);
void e_rms_norm(gc_run *r);
void e_rope(gc_run *r);
void e_group_norm(gc_run *r);
void e_batch_norm(gc_run *r);
void e_mse_loss(gc_run *r);
void e_l1_loss(gc_run *r);
void e_smooth_l1_loss(gc_run *r);
void e_huber_loss(gc_run *r);
void e_kl_div(gc_run *r);
void e_bce_logits(gc_run *r);
void e_nll_loss(gc_run *r);
void e_ce_prob(gc_run *r);
void e_conv2d(gc_run *r);
void e_conv1d(gc_run *r);
void e_max_pool2d(gc_run *r);
void e_max_pool1d(gc_run *r);
void e_avg_pool2d(gc_run *r);
void e_avg_pool1d(gc_run *r);
/* max unpooling (issue #15) */
void e_max_unpool2d(gc_run *r);
void e_max_unpool1d(gc_run *r);
/* transposed convolution */
void e_conv_transpose2d(gc_run *r);
void e_conv_transpose1d(gc_run *r);
void e_lstm_recurrence(gc_run *r);
/* interpolation (nn/interp.c) */
void e_interpolate(gc_run *r);

#endif
