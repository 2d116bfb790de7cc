/* optim.c — SGD, Adam, AdamW (PyTorch 1.13 single-tensor formulas) and gradient clipping.
 * See nb_optim.h for the contracts. */
#include "config.h"
#include "nb__tensor.h"
#include "nb__paste.h"
#include "nb__kv.h"
#include "nb_autograd.h"
#include "nb_optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <tgmath.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW } opt_kind;
static const char *const kind_names[] = {"SGD", "Adam", "AdamW"};

enum { MAX_SLOTS = 3 };

/* One parameter and its state. SGD: slot[0] = momentum_buffer (NULL without momentum).
 * Adam/AdamW: exp_avg, exp_avg_sq, max_exp_avg_sq (NULL without amsgrad). */
typedef struct {
    nb_tensor *p;
    nb_tensor *step; /* int64, 0-dim */
    nb_tensor *slot[MAX_SLOTS];
} param_entry;

static const char *const sgd_slot_names[MAX_SLOTS] = {"momentum_buffer", NULL, NULL};
static const char *const adam_slot_names[MAX_SLOTS] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};

typedef struct {
    double lr, initial_lr, weight_decay, momentum, dampening, beta1, beta2, eps;
    bool nesterov, amsgrad, maximize;
    int first, n; /* parameters [first, first + n) of the optimizer's array */
} group;

struct nb_optimizer {
    opt_kind kind;
    group defaults;
    group *groups;
    int ngroups, gcap;
    param_entry *params;
    int nparams, pcap;
};

static const char *const *slot_names(const nb_optimizer *opt)
{
    return opt->kind == OPT_SGD ? sgd_slot_names : adam_slot_names;
}

/* ---- validation ----------------------------------------------------------------------------- */
static void validate(const char *fn, opt_kind kind, const group *g)
{
    if (!(g->lr >= 0) || isinf(g->lr))
        nb__fail("%s: invalid learning rate %g (must be finite and >= 0)", fn, g->lr);
    if (!(g->weight_decay >= 0) || isinf(g->weight_decay))
        nb__fail("%s: invalid weight_decay %g (must be finite and >= 0)", fn, g->weight_decay);
    if (kind == OPT_SGD) {
        if (!(g->momentum >= 0) || isinf(g->momentum))
            nb__fail("%s: invalid momentum %g (must be finite and >= 0)", fn, g->momentum);
        if (!isfinite(g->dampening))
            nb__fail("%s: invalid dampening %g (must be finite)", fn, g->dampening);
        if (g->nesterov && (g->momentum <= 0 || g->dampening != 0))
            nb__fail("%s: nesterov momentum requires momentum > 0 and dampening 0 (got momentum %g, "
                     "dampening %g)", fn, g->momentum, g->dampening);
    } else {
        if (!(g->beta1 >= 0 && g->beta1 < 1))
            nb__fail("%s: invalid beta1 %g (must be in [0, 1))", fn, g->beta1);
        if (!(g->beta2 >= 0 && g->beta2 < 1))
            nb__fail("%s: invalid beta2 %g (must be in [0, 1))", fn, g->beta2);
        if (!(g->eps >= 0) || isinf(g->eps))
            nb__fail("%s: invalid eps %g (must be finite and >= 0)", fn, g->eps);
    }
}

/* ---- options -------------------------------------------------------------------------------- */
nb_sgd_opts nb_sgd_opts_default(void)
{
    return (nb_sgd_opts){.lr = 1e-3, .momentum = 0, .dampening = 0, .weight_decay = 0,
                         .nesterov = false, .maximize = false};
}

nb_adam_opts nb_adam_opts_default(void)
{
    return (nb_adam_opts){.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0,
                          .amsgrad = false, .maximize = false};
}

nb_adam_opts nb_adamw_opts_default(void)
{
    nb_adam_opts o = nb_adam_opts_default();
    o.weight_decay = 1e-2;
    return o;
}

nb_param_group_opts nb_param_group_opts_inherit(void)
{
    return (nb_param_group_opts){.lr = NAN, .weight_decay = NAN, .momentum = NAN, .dampening = NAN,
                                 .beta1 = NAN, .beta2 = NAN, .eps = NAN,
                                 .nesterov = -1, .amsgrad = -1, .maximize = -1};
}

/* ---- construction --------------------------------------------------------------------------- */
static nb_optimizer *optimizer_new(const char *fn, opt_kind kind, const group *defaults, int n,
                                   nb_tensor *const *params)
{
    validate(fn, kind, defaults);
    if (n < 0 || (n > 0 && !params))
        nb__fail("%s: invalid parameter list (n = %d, params %s)", fn, n, params ? "set" : "NULL");
    nb_optimizer *opt = nb__alloc(sizeof *opt);
    memset(opt, 0, sizeof *opt);
    opt->kind = kind;
    opt->defaults = *defaults;
    opt->defaults.initial_lr = NAN;
    if (n > 0)
        nb_optimizer_add_param_group(opt, params, n, NULL);
    return opt;
}

nb_optimizer *nb_sgd_new(nb_tensor *const *params, int n, const nb_sgd_opts *opts)
{
    nb_sgd_opts o = opts ? *opts : nb_sgd_opts_default();
    group d = {.lr = o.lr, .weight_decay = o.weight_decay, .momentum = o.momentum,
               .dampening = o.dampening, .beta1 = NAN, .beta2 = NAN, .eps = NAN,
               .nesterov = o.nesterov, .maximize = o.maximize};
    return optimizer_new("nb_sgd_new", OPT_SGD, &d, n, params);
}

static group adam_defaults(const nb_adam_opts *o)
{
    return (group){.lr = o->lr, .weight_decay = o->weight_decay, .momentum = NAN, .dampening = NAN,
                   .beta1 = o->beta1, .beta2 = o->beta2, .eps = o->eps, .amsgrad = o->amsgrad,
                   .maximize = o->maximize};
}

nb_optimizer *nb_adam_new(nb_tensor *const *params, int n, const nb_adam_opts *opts)
{
    nb_adam_opts o = opts ? *opts : nb_adam_opts_default();
    group d = adam_defaults(&o);
    return optimizer_new("nb_adam_new", OPT_ADAM, &d, n, params);
}

nb_optimizer *nb_adamw_new(nb_tensor *const *params, int n, const nb_adam_opts *opts)
{
    nb_adam_opts o = opts ? *opts : nb_adamw_opts_default();
    group d = adam_defaults(&o);
    return optimizer_new("nb_adamw_new", OPT_ADAMW, &d, n, params);
}

/* A contiguous zero tensor that the optimizer owns (outside any scope the caller has open). */
static nb_tensor *owned_zeros(const int64_t *shape, int ndim, nb_dtype dt)
{
    int s = nb_scope_begin();
    nb_tensor *t = nb_tensor_retain(nb_zeros(shape, ndim, dt));
    nb_scope_end(s);
    return t;
}

static void merge_double(const char *fn, opt_kind kind, bool applies, const char *name, double v,
                         double *dst)
{
    if (isnan(v))
        return;
    if (!applies)
        nb__fail("%s: option %s does not apply to %s (leave it unset)", fn, name, kind_names[kind]);
    *dst = v;
}

static void merge_flag(const char *fn, opt_kind kind, bool applies, const char *name, int v, bool *dst)
{
    if (v < 0)
        return;
    if (!applies)
        nb__fail("%s: option %s does not apply to %s (leave it unset)", fn, name, kind_names[kind]);
    if (v > 1)
        nb__fail("%s: option %s must be -1 (inherit), 0 or 1, got %d", fn, name, v);
    *dst = v == 1;
}

int nb_optimizer_add_param_group(nb_optimizer *opt, nb_tensor *const *params, int n,
                                 const nb_param_group_opts *o)
{
    static const char fn[] = "nb_optimizer_add_param_group";
    if (n < 1 || !params)
        nb__fail("%s: a parameter group needs at least one parameter (n = %d, params %s)", fn, n,
                 params ? "set" : "NULL");
    group g = opt->defaults;
    if (o) {
        bool sgd = opt->kind == OPT_SGD;
        merge_double(fn, opt->kind, true, "lr", o->lr, &g.lr);
        merge_double(fn, opt->kind, true, "weight_decay", o->weight_decay, &g.weight_decay);
        merge_double(fn, opt->kind, sgd, "momentum", o->momentum, &g.momentum);
        merge_double(fn, opt->kind, sgd, "dampening", o->dampening, &g.dampening);
        merge_double(fn, opt->kind, !sgd, "beta1", o->beta1, &g.beta1);
        merge_double(fn, opt->kind, !sgd, "beta2", o->beta2, &g.beta2);
        merge_double(fn, opt->kind, !sgd, "eps", o->eps, &g.eps);
        merge_flag(fn, opt->kind, sgd, "nesterov", o->nesterov, &g.nesterov);
        merge_flag(fn, opt->kind, !sgd, "amsgrad", o->amsgrad, &g.amsgrad);
        merge_flag(fn, opt->kind, true, "maximize", o->maximize, &g.maximize);
    }
    validate(fn, opt->kind, &g);
    for (int i = 0; i < n; i++) {
        const nb_tensor *p = params[i];
        if (!p)
            nb__fail("%s: parameter %d is NULL", fn, i);
        if (!nb_dtype_is_float(p->dtype))
            nb__fail("%s: parameter %d has dtype %s; optimizers need float32 or float64", fn, i,
                     nb_dtype_name(p->dtype));
        if (!nb_tensor_is_leaf(p))
            nb__fail("%s: can't optimize a non-leaf tensor (parameter %d was produced by %s)", fn, i,
                     nb_tensor_grad_fn_name(p));
        for (int j = 0; j < opt->nparams; j++)
            if (opt->params[j].p == p)
                nb__fail("%s: parameter %d is already in the optimizer (parameter %d); a tensor may "
                         "appear in only one group", fn, i, j);
        for (int j = 0; j < i; j++)
            if (params[j] == p)
                nb__fail("%s: parameter %d appears twice in the group (also at %d)", fn, i, j);
    }
    if (opt->ngroups == opt->gcap) {
        int cap = opt->gcap ? 2 * opt->gcap : 4;
        group *ng = nb__alloc((size_t)cap * sizeof *ng);
        if (opt->ngroups)
            memcpy(ng, opt->groups, (size_t)opt->ngroups * sizeof *ng);
        nb__free(opt->groups, (size_t)opt->gcap * sizeof *ng);
        opt->groups = ng, opt->gcap = cap;
    }
    if (opt->nparams + n > opt->pcap) {
        int cap = opt->pcap ? opt->pcap : 8;
        while (cap < opt->nparams + n)
            cap *= 2;
        param_entry *np = nb__alloc((size_t)cap * sizeof *np);
        if (opt->nparams)
            memcpy(np, opt->params, (size_t)opt->nparams * sizeof *np);
        nb__free(opt->params, (size_t)opt->pcap * sizeof *np);
        opt->params = np, opt->pcap = cap;
    }
    g.first = opt->nparams;
    g.n = n;
    for (int i = 0; i < n; i++) {
        nb_tensor *p = params[i];
        param_entry *e = &opt->params[opt->nparams++];
        memset(e, 0, sizeof *e);
        e->p = nb_tensor_retain(p);
        e->step = owned_zeros(NB_SCALAR, NB_I64);
        int nslots = opt->kind == OPT_SGD ? (g.momentum != 0) : 2 + g.amsgrad;
        for (int k = 0; k < nslots; k++)
            e->slot[k] = owned_zeros(p->shape, p->ndim, p->dtype);
    }
    opt->groups[opt->ngroups] = g;
    return opt->ngroups++;
}

void nb_optimizer_free(nb_optimizer *opt)
{
    if (!opt)
        return;
    for (int i = 0; i < opt->nparams; i++) {
        param_entry *e = &opt->params[i];
        nb_tensor_release(e->p);
        nb_tensor_release(e->step);
        for (int k = 0; k < MAX_SLOTS; k++)
            nb_tensor_release(e->slot[k]);
    }
    nb__free(opt->params, (size_t)opt->pcap * sizeof *opt->params);
    nb__free(opt->groups, (size_t)opt->gcap * sizeof *opt->groups);
    nb__free(opt, sizeof *opt);
}

const char *nb_optimizer_name(const nb_optimizer *opt) { return kind_names[opt->kind]; }

/* ---- update kernels (contiguous; written once over T) ----------------------------------------- */
/* The hyper-parameters of one update, and the buffers (p, g, then up to three state slots). */
typedef struct {
    double lr, wd, momentum, dampening, beta1, beta2, eps, step_size, bc2_sqrt;
    bool nesterov, maximize, amsgrad, first, decoupled;
} upd_args;

typedef struct {
    void *p;
    const void *g;
    void *s[MAX_SLOTS];
} upd_bufs;

/* Each kernel updates elements [lo, hi). Flags that change the formula's shape are compile-time
 * constants of a specialized copy, so the loops have no branches and vectorize (omp simd);
 * every element is computed exactly as the scalar formula says (no reassociation).
 * maximize multiplies the gradient by -1 (exact negation). */
typedef void (*upd_fn)(int64_t lo, int64_t hi, const upd_bufs *b, const upd_args *a);

#if defined(__clang__) /* clang keeps sqrt scalar (errno) and would warn on the Adam loops */
#pragma clang diagnostic ignored "-Wpass-failed"
#endif

/* x[0..n) = sqrt(x) with the SSE2 instruction (IEEE, correctly rounded: the values of sqrt());
 * libm's sqrt keeps a loop scalar (errno), this one lets the Adam loops around it vectorize. */
static inline void sqrt_block_float(float *x, int64_t n)
{
    int64_t i = 0;
#if defined(__SSE2__)
    for (; i + 4 <= n; i += 4)
        _mm_storeu_ps(x + i, _mm_sqrt_ps(_mm_loadu_ps(x + i)));
#endif
    for (; i < n; i++)
        x[i] = sqrtf(x[i]);
}
static inline void sqrt_block_double(double *x, int64_t n)
{
    int64_t i = 0;
#if defined(__SSE2__)
    for (; i + 2 <= n; i += 2)
        _mm_storeu_pd(x + i, _mm_sqrt_pd(_mm_loadu_pd(x + i)));
#endif
    for (; i < n; i++)
        x[i] = sqrt(x[i]);
}

/* Adam works in blocks of ADAM_BLOCK elements (see optim_update_impl.h). */
#define ADAM_BLOCK 256

/* Index of a variant: SGD wd | momentum << 1 | first << 2 | nesterov << 3; Adam l2 | amsgrad << 1. */
#ifdef NB__KV_HAVE_AVX2
#define NB__KV_AVX2 1
#define NB_T float
#include "optim_update_impl.h"
#define NB_T double
#include "optim_update_impl.h"
#undef NB__KV_AVX2
#endif
#define NB__KV_AVX2 0
#define NB_T float
#include "optim_update_impl.h"
#define NB_T double
#include "optim_update_impl.h"
#undef NB__KV_AVX2

static upd_fn pick_kernel(const nb_optimizer *opt, nb_dtype dt, const upd_args *a)
{
    int variant;
    if (opt->kind == OPT_SGD) {
        bool mom = a->momentum != 0;
        variant = (a->wd != 0) | mom << 1 | (mom && a->first) << 2 | (mom && a->nesterov) << 3;
    } else {
        variant = (!a->decoupled && a->wd != 0) | a->amsgrad << 1;
    }
    switch (dt) {
#define NB_X(en, T)                                                                                \
    case en:                                                                                       \
        return opt->kind == OPT_SGD ? NB__KV_PICK(sgd_##T)[variant] : NB__KV_PICK(adam_##T)[variant];
        NB__FLOAT_TYPES(NB_X)
#undef NB_X
    default:
        nb__fail("nb_optimizer_step: unsupported dtype %s", nb_dtype_name(dt));
    }
}

/* ---- step ----------------------------------------------------------------------------------- */
/* One parameter's update over contiguous buffers, split into chunks for the parallel loop. */
typedef struct {
    upd_fn fn;
    upd_bufs b;
    upd_args a;
    int64_t n;
} upd_item;

typedef struct {
    int item;
    int64_t lo, hi;
} upd_chunk;

enum { UPD_CHUNK = 8192 };

static void check_grad(int index, const nb_tensor *p, const nb_tensor *g)
{
    if (g->dtype != p->dtype)
        nb__fail("nb_optimizer_step: the gradient of parameter %d has dtype %s but the parameter is "
                 "%s", index, nb_dtype_name(g->dtype), nb_dtype_name(p->dtype));
    if (!nb_tensor_same_shape(p, g))
        nb__fail("nb_optimizer_step: the gradient of parameter %d has shape %s but the parameter "
                 "has shape %s", index, NB__SHAPE(g), NB__SHAPE(p));
}

/* The update of parameter e (which has a gradient) over buffers p and g (contiguous); advances
 * its step count and bumps the version counters (the kernel runs later or right away). */
static upd_item prepare(const nb_optimizer *opt, const group *gr, param_entry *e, void *p,
                        const void *g)
{
    int64_t *step = nb_tensor_data(e->step);
    upd_item it = {.b = {.p = p, .g = g}, .n = nb_tensor_numel(e->p)};
    it.a = (upd_args){.lr = gr->lr, .wd = gr->weight_decay, .momentum = gr->momentum,
                      .dampening = gr->dampening, .beta1 = gr->beta1, .beta2 = gr->beta2,
                      .eps = gr->eps, .nesterov = gr->nesterov, .maximize = gr->maximize,
                      .amsgrad = gr->amsgrad, .first = *step == 0,
                      .decoupled = opt->kind == OPT_ADAMW};
    if (opt->kind != OPT_SGD) {
        double t = (double)(*step + 1); /* torch: step_t += 1; step = step_t.item() */
        double bc1 = 1 - pow(gr->beta1, t), bc2 = 1 - pow(gr->beta2, t);
        it.a.step_size = gr->lr / bc1;
        it.a.bc2_sqrt = sqrt(bc2);
    }
    for (int k = 0; k < MAX_SLOTS; k++)
        if (e->slot[k]) {
            it.b.s[k] = nb_tensor_data(e->slot[k]);
            nb__bump_version(e->slot[k]);
        }
    it.fn = pick_kernel(opt, e->p->dtype, &it.a);
    ++*step;
    nb__bump_version(e->step);
    nb__bump_version(e->p);
    return it;
}

void nb_optimizer_step(nb_optimizer *opt)
{
    for (int i = 0; i < opt->nparams; i++) /* validate everything before changing anything */
        if (opt->params[i].p->grad)
            check_grad(i, opt->params[i].p, opt->params[i].p->grad);
    if (opt->nparams == 0)
        return;
    int s = nb_scope_begin();
    upd_item *items = nb__alloc((size_t)opt->nparams * sizeof *items);
    int nitems = 0;
    int64_t nchunks = 0, total = 0;
    for (int gi = 0; gi < opt->ngroups; gi++) {
        const group *gr = &opt->groups[gi];
        for (int i = gr->first; i < gr->first + gr->n; i++) {
            param_entry *e = &opt->params[i];
            nb_tensor *p = e->p, *g = p->grad;
            if (!g)
                continue;
            if (nb_tensor_is_contiguous(p) && nb_tensor_is_contiguous(g)) {
                upd_item it = prepare(opt, gr, e, nb_tensor_data(p), nb_tensor_data(g));
                items[nitems++] = it;
                nchunks += (it.n + UPD_CHUNK - 1) / UPD_CHUNK;
                total += it.n;
            } else { /* any layout: update a contiguous copy, write it back */
                nb_tensor *pc = nb__contiguous_copy(p);
                const nb_tensor *gc = nb_tensor_is_contiguous(g) ? g : nb__contiguous_copy(g);
                upd_item it = prepare(opt, gr, e, nb_tensor_data(pc), nb_tensor_data(gc));
                it.fn(0, it.n, &it.b, &it.a);
                nb__copy_into(p, pc);
            }
        }
    }
    /* all contiguous updates in one parallel loop over fixed chunks (each element is written by
     * exactly one chunk: results do not depend on the thread count) */
    int nt = nb__threads_for(8 * total);
    if (nt <= 1) {
        for (int k = 0; k < nitems; k++)
            items[k].fn(0, items[k].n, &items[k].b, &items[k].a);
    } else {
        upd_chunk *chunks = nb__alloc((size_t)nchunks * sizeof *chunks);
        int64_t c = 0;
        for (int k = 0; k < nitems; k++)
            for (int64_t lo = 0; lo < items[k].n; lo += UPD_CHUNK)
                chunks[c++] = (upd_chunk){k, lo, lo + UPD_CHUNK < items[k].n ? lo + UPD_CHUNK : items[k].n};
        _Pragma("omp parallel for num_threads(nt) schedule(static)")
        for (int64_t j = 0; j < nchunks; j++) {
            const upd_item *it = &items[chunks[j].item];
            it->fn(chunks[j].lo, chunks[j].hi, &it->b, &it->a);
        }
        nb__free(chunks, (size_t)nchunks * sizeof *chunks);
    }
    nb__free(items, (size_t)opt->nparams * sizeof *items);
    nb_scope_end(s);
}

void nb_optimizer_zero_grad(nb_optimizer *opt, bool set_to_none)
{
    for (int i = 0; i < opt->nparams; i++)
        nb_tensor_zero_grad(opt->params[i].p, set_to_none);
}

/* ---- groups --------------------------------------------------------------------------------- */
static group *group_at(const nb_optimizer *opt, const char *fn, int g)
{
    if (g < 0 || g >= opt->ngroups)
        nb__fail("%s: group %d out of range (the optimizer has %d groups)", fn, g, opt->ngroups);
    return &opt->groups[g];
}

int nb_optimizer_group_count(const nb_optimizer *opt) { return opt->ngroups; }

int nb_optimizer_group_param_count(const nb_optimizer *opt, int g)
{
    return group_at(opt, "nb_optimizer_group_param_count", g)->n;
}

double nb_optimizer_get_lr(const nb_optimizer *opt, int g)
{
    return group_at(opt, "nb_optimizer_get_lr", g)->lr;
}

void nb_optimizer_set_lr(nb_optimizer *opt, int g, double lr)
{
    group *gr = group_at(opt, "nb_optimizer_set_lr", g);
    if (!(lr >= 0) || isinf(lr))
        nb__fail("nb_optimizer_set_lr: invalid learning rate %g for group %d (must be finite and "
                 ">= 0)", lr, g);
    gr->lr = lr;
}

double nb_optimizer_get_initial_lr(const nb_optimizer *opt, int g)
{
    return group_at(opt, "nb_optimizer_get_initial_lr", g)->initial_lr;
}

void nb_optimizer_set_initial_lr(nb_optimizer *opt, int g, double initial_lr)
{
    group_at(opt, "nb_optimizer_set_initial_lr", g)->initial_lr = initial_lr;
}

nb_param_group_opts nb_optimizer_group_opts(const nb_optimizer *opt, int g)
{
    const group *gr = group_at(opt, "nb_optimizer_group_opts", g);
    bool sgd = opt->kind == OPT_SGD;
    return (nb_param_group_opts){
        .lr = gr->lr, .weight_decay = gr->weight_decay, .momentum = gr->momentum,
        .dampening = gr->dampening, .beta1 = gr->beta1, .beta2 = gr->beta2, .eps = gr->eps,
        .nesterov = sgd ? gr->nesterov : -1, .amsgrad = sgd ? -1 : gr->amsgrad,
        .maximize = gr->maximize};
}

/* ---- parameters and state ------------------------------------------------------------------- */
static param_entry *param_at(const nb_optimizer *opt, const char *fn, int i)
{
    if (i < 0 || i >= opt->nparams)
        nb__fail("%s: parameter %d out of range (the optimizer has %d parameters)", fn, i,
                 opt->nparams);
    return &opt->params[i];
}

int nb_optimizer_param_count(const nb_optimizer *opt) { return opt->nparams; }

nb_tensor *nb_optimizer_param_at(const nb_optimizer *opt, int i)
{
    return param_at(opt, "nb_optimizer_param_at", i)->p;
}

static int entry_state_count(const param_entry *e)
{
    int c = 1;
    for (int k = 0; k < MAX_SLOTS; k++)
        c += e->slot[k] != NULL;
    return c;
}

int nb_optimizer_state_count(const nb_optimizer *opt)
{
    int c = 0;
    for (int i = 0; i < opt->nparams; i++)
        c += entry_state_count(&opt->params[i]);
    return c;
}

nb_optimizer_state nb_optimizer_state_at(const nb_optimizer *opt, int k)
{
    int total = nb_optimizer_state_count(opt);
    if (k < 0 || k >= total)
        nb__fail("nb_optimizer_state_at: index %d out of range (the optimizer has %d state tensors)",
                 k, total);
    const char *const *names = slot_names(opt);
    for (int i = 0;; i++) {
        const param_entry *e = &opt->params[i];
        int c = entry_state_count(e);
        if (k >= c) {
            k -= c;
            continue;
        }
        if (k == 0)
            return (nb_optimizer_state){.param = i, .name = "step", .tensor = e->step};
        for (int s = 0; s < MAX_SLOTS; s++)
            if (e->slot[s] && --k == 0)
                return (nb_optimizer_state){.param = i, .name = names[s], .tensor = e->slot[s]};
    }
}

nb_tensor *nb_optimizer_state_find(const nb_optimizer *opt, int param, const char *name)
{
    const param_entry *e = param_at(opt, "nb_optimizer_state_find", param);
    if (!name)
        nb__fail("nb_optimizer_state_find: name is NULL");
    if (strcmp(name, "step") == 0)
        return e->step;
    const char *const *names = slot_names(opt);
    for (int s = 0; s < MAX_SLOTS; s++)
        if (e->slot[s] && strcmp(names[s], name) == 0)
            return e->slot[s];
    return NULL;
}

int64_t nb_optimizer_get_param_step(const nb_optimizer *opt, int i)
{
    return *(const int64_t *)nb_tensor_data(param_at(opt, "nb_optimizer_get_param_step", i)->step);
}

void nb_optimizer_set_param_step(nb_optimizer *opt, int i, int64_t step)
{
    param_entry *e = param_at(opt, "nb_optimizer_set_param_step", i);
    if (step < 0)
        nb__fail("nb_optimizer_set_param_step: step %lld of parameter %d must be >= 0",
                 (long long)step, i);
    *(int64_t *)nb_tensor_data(e->step) = step;
    nb__bump_version(e->step);
}

/* ---- gradient clipping ---------------------------------------------------------------------- */
/* The gradients are cut into fixed chunks; each chunk's sum of squares is accumulated in double
 * (in a fixed vectorized order) and the chunk sums are added in order: the total is identical
 * for any thread count. One parallel loop covers all gradients. */
enum { CLIP_CHUNK = 16384 };

#define NB_T float
#include "optim_clip_impl.h"
#define NB_T double
#include "optim_clip_impl.h"

typedef struct {
    void *data;
    bool f64;
    int64_t lo, hi;
} clip_chunk;

static void clip_run(int64_t nchunks, const clip_chunk *ch, double *part, int nt, double coef)
{
    _Pragma("omp parallel for num_threads(nt) schedule(static)")
    for (int64_t j = 0; j < nchunks; j++) {
        if (part)
            part[j] = ch[j].f64 ? sumsq_double(ch[j].data, ch[j].lo, ch[j].hi)
                                : sumsq_float(ch[j].data, ch[j].lo, ch[j].hi);
        else if (ch[j].f64)
            scale_double(ch[j].data, ch[j].lo, ch[j].hi, coef);
        else
            scale_float(ch[j].data, ch[j].lo, ch[j].hi, coef);
    }
}

double nb_clip_grad_norm(nb_tensor *const *params, int n, double max_norm)
{
    if (!(max_norm >= 0))
        nb__fail("nb_clip_grad_norm: max_norm %g must be >= 0", max_norm);
    if (n < 0 || (n > 0 && !params))
        nb__fail("nb_clip_grad_norm: invalid parameter list (n = %d, params %s)", n,
                 params ? "set" : "NULL");
    int64_t nchunks = 0, total_n = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i])
            nb__fail("nb_clip_grad_norm: parameter %d is NULL", i);
        const nb_tensor *g = params[i]->grad;
        if (!g)
            continue;
        if (!nb_dtype_is_float(g->dtype))
            nb__fail("nb_clip_grad_norm: the gradient of parameter %d has dtype %s", i,
                     nb_dtype_name(g->dtype));
        int64_t m = nb_tensor_numel(g);
        nchunks += (m + CLIP_CHUNK - 1) / CLIP_CHUNK;
        total_n += m;
    }
    if (nchunks == 0)
        return 0;
    int s = nb_scope_begin();
    nb_tensor **work = nb__alloc((size_t)n * sizeof *work); /* contiguous gradient (or copy) */
    clip_chunk *ch = nb__alloc((size_t)nchunks * sizeof *ch);
    double *part = nb__alloc((size_t)nchunks * sizeof *part);
    int64_t c = 0;
    for (int i = 0; i < n; i++) {
        nb_tensor *g = params[i]->grad;
        work[i] = !g || nb_tensor_is_contiguous(g) ? g : nb__contiguous_copy(g);
        if (!g)
            continue;
        int64_t m = nb_tensor_numel(g);
        for (int64_t lo = 0; lo < m; lo += CLIP_CHUNK)
            ch[c++] = (clip_chunk){nb_tensor_data(work[i]), g->dtype == NB_F64, lo,
                                   lo + CLIP_CHUNK < m ? lo + CLIP_CHUNK : m};
    }
    int nt = nb__threads_for(total_n);
    clip_run(nchunks, ch, part, nt, 0);
    double sum = 0;
    for (int64_t j = 0; j < nchunks; j++)
        sum += part[j];
    double total = sqrt(sum);
    double coef = max_norm / (total + 1e-6);
    if (coef < 1) {
        clip_run(nchunks, ch, NULL, nt, coef);
        for (int i = 0; i < n; i++) {
            nb_tensor *g = params[i]->grad;
            if (!g)
                continue;
            if (work[i] != g)
                nb__copy_into(g, work[i]);
            nb__bump_version(g);
        }
    }
    nb__free(part, (size_t)nchunks * sizeof *part);
    nb__free(ch, (size_t)nchunks * sizeof *ch);
    nb__free(work, (size_t)n * sizeof *work);
    nb_scope_end(s);
    return total;
}

double nb_optimizer_clip_grad_norm(nb_optimizer *opt, double max_norm)
{
    if (opt->nparams == 0)
        return nb_clip_grad_norm(NULL, 0, max_norm);
    nb_tensor **ps = nb__alloc((size_t)opt->nparams * sizeof *ps);
    for (int i = 0; i < opt->nparams; i++)
        ps[i] = opt->params[i].p;
    double r = nb_clip_grad_norm(ps, opt->nparams, max_norm);
    nb__free(ps, (size_t)opt->nparams * sizeof *ps);
    return r;
}
