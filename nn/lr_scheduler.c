/* lr_scheduler.c — torch.optim.lr_scheduler (1.13): the chainable get_lr() forms used by step(),
 * the closed forms used by step(epoch), and SequentialLR. Expressions keep PyTorch's operation
 * order so the doubles come out identical. See nb_lr_scheduler.h for the contracts. */
#include "config.h"
#include "nb__tensor.h"
#include "nb_lr_scheduler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_KINDS(X) \
    X(S_STEP, "StepLR") \
    X(S_MULTISTEP, "MultiStepLR") \
    X(S_EXPONENTIAL, "ExponentialLR") \
    X(S_COSINE, "CosineAnnealingLR") \
    X(S_LINEAR, "LinearLR") \
    X(S_CONSTANT, "ConstantLR") \
    X(S_LAMBDA, "LambdaLR") \
    X(S_SEQUENTIAL, "SequentialLR")

typedef enum {
#define NB_X(e, name) e,
    SCHED_KINDS(NB_X)
#undef NB_X
    S_COUNT
} sched_kind;

static const char *const kind_names[S_COUNT] = {
#define NB_X(e, name) name,
    SCHED_KINDS(NB_X)
#undef NB_X
};

struct nb_lr_scheduler {
    sched_kind kind;
    nb_optimizer *opt;
    int ngroups;
    int64_t last_epoch, step_count;
    double *base_lrs, *last_lrs;
    /* hyper-parameters (those of the kind) */
    int64_t step_size, t_max, total_iters;
    double gamma, eta_min, start_factor, end_factor, factor;
    int64_t *milestones; /* MultiStepLR: sorted; SequentialLR: as given (non-decreasing) */
    int nmilestones;
    nb_lr_lambda fn;
    void *ctx;
    nb_lr_scheduler **subs; /* SequentialLR */
    int nsubs;
    nb_lr_scheduler *owner; /* the SequentialLR holding this one, if any */
};

/* Fixed part of the state: kind, num_groups, num_schedulers, last_epoch, step_count. */
enum { STATE_HEAD = 5 };

#define NB_PI 3.141592653589793 /* Python's math.pi */

/* ---- helpers -------------------------------------------------------------------------------- */
static int64_t py_mod(int64_t a, int64_t b) /* Python's a % b for b > 0 */
{
    int64_t r = a % b;
    return r < 0 ? r + b : r;
}

static int64_t py_floordiv(int64_t a, int64_t b) /* Python's a // b for b > 0 */
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

static int bisect_right(const int64_t *v, int n, int64_t x) /* count of v[i] <= x (v sorted) */
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (x < v[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void check_gamma(const char *fn, double gamma)
{
    if (!(gamma >= 0) || isinf(gamma))
        nb__fail("%s: invalid gamma %g (must be finite and >= 0)", fn, gamma);
}

/* _LRScheduler.__init__ up to (not including) the initial step. */
static nb_lr_scheduler *sched_alloc(const char *fn, sched_kind kind, nb_optimizer *opt)
{
    if (!opt)
        nb__fail("%s: the optimizer is NULL", fn);
    int ng = nb_optimizer_group_count(opt);
    nb_lr_scheduler *s = nb__alloc(sizeof *s);
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->opt = opt;
    s->ngroups = ng;
    s->base_lrs = nb__alloc((size_t)(ng ? ng : 1) * sizeof(double));
    s->last_lrs = nb__alloc((size_t)(ng ? ng : 1) * sizeof(double));
    for (int g = 0; g < ng; g++) {
        if (isnan(nb_optimizer_get_initial_lr(opt, g))) /* group.setdefault('initial_lr', lr) */
            nb_optimizer_set_initial_lr(opt, g, nb_optimizer_get_lr(opt, g));
        s->base_lrs[g] = nb_optimizer_get_initial_lr(opt, g);
        s->last_lrs[g] = nb_optimizer_get_lr(opt, g);
    }
    s->last_epoch = -1;
    return s;
}

static void sched_release(nb_lr_scheduler *s)
{
    size_t ng = (size_t)(s->ngroups ? s->ngroups : 1);
    for (int i = 0; i < s->nsubs; i++)
        sched_release(s->subs[i]);
    nb__free(s->subs, (size_t)(s->nsubs ? s->nsubs : 1) * sizeof *s->subs);
    nb__free(s->milestones, (size_t)(s->nmilestones ? s->nmilestones : 1) * sizeof *s->milestones);
    nb__free(s->base_lrs, ng * sizeof(double));
    nb__free(s->last_lrs, ng * sizeof(double));
    nb__free(s, sizeof *s);
}

/* ---- the formulas --------------------------------------------------------------------------- */
/* get_lr(): the chainable form, from the group's current lr. */
static double chain_lr(const nb_lr_scheduler *s, int g)
{
    const double lr = nb_optimizer_get_lr(s->opt, g), base = s->base_lrs[g];
    const int64_t e = s->last_epoch;
    switch (s->kind) {
    case S_STEP:
        return (e == 0 || e % s->step_size != 0) ? lr : lr * s->gamma;
    case S_MULTISTEP: {
        int count = 0;
        for (int i = 0; i < s->nmilestones; i++)
            count += s->milestones[i] == e;
        return count == 0 ? lr : lr * pow(s->gamma, (double)count);
    }
    case S_EXPONENTIAL:
        return e == 0 ? lr : lr * s->gamma;
    case S_COSINE: {
        const double T = (double)s->t_max, eta = s->eta_min;
        if (e == 0)
            return lr;
        if (s->step_count == 1 && e > 0)
            return eta + (base - eta) * (1 + cos((double)e * NB_PI / T)) / 2;
        if (py_mod(e - 1 - s->t_max, 2 * s->t_max) == 0)
            return lr + (base - eta) * (1 - cos(NB_PI / T)) / 2;
        return (1 + cos(NB_PI * (double)e / T)) / (1 + cos(NB_PI * (double)(e - 1) / T)) * (lr - eta) +
               eta;
    }
    case S_LINEAR: {
        const double sf = s->start_factor, ef = s->end_factor;
        if (e == 0)
            return lr * sf;
        if (e > s->total_iters)
            return lr;
        return lr * (1. + (ef - sf) / ((double)s->total_iters * sf + (double)(e - 1) * (ef - sf)));
    }
    case S_CONSTANT:
        if (e == 0)
            return lr * s->factor;
        if (e != s->total_iters)
            return lr;
        return lr * (1.0 / s->factor);
    case S_LAMBDA:
        return base * s->fn(e, s->ctx);
    default:
        nb__fail("nb_lr_scheduler_step: internal error (kind %d)", (int)s->kind);
    }
}

/* _get_closed_form_lr(): from the base lr (LambdaLR has none and uses get_lr, as in PyTorch). */
static double closed_lr(const nb_lr_scheduler *s, int g)
{
    const double base = s->base_lrs[g];
    const int64_t e = s->last_epoch;
    switch (s->kind) {
    case S_STEP:
        return base * pow(s->gamma, (double)py_floordiv(e, s->step_size));
    case S_MULTISTEP:
        return base * pow(s->gamma, (double)bisect_right(s->milestones, s->nmilestones, e));
    case S_EXPONENTIAL:
        return base * pow(s->gamma, (double)e);
    case S_COSINE:
        return s->eta_min + (base - s->eta_min) * (1 + cos(NB_PI * (double)e / (double)s->t_max)) / 2;
    case S_LINEAR: {
        int64_t m = s->total_iters < e ? s->total_iters : e;
        return base * (s->start_factor +
                       (s->end_factor - s->start_factor) * (double)m / (double)s->total_iters);
    }
    case S_CONSTANT:
        return base * (s->factor + (e >= s->total_iters ? 1 - s->factor : 0.0));
    default:
        return chain_lr(s, g);
    }
}

static void check_groups(const char *fn, const nb_lr_scheduler *s)
{
    int ng = nb_optimizer_group_count(s->opt);
    if (ng != s->ngroups)
        nb__fail("%s: the optimizer has %d param groups but the %s was created with %d", fn, ng,
                 kind_names[s->kind], s->ngroups);
}

/* _LRScheduler.step(epoch) for the non-sequential kinds. */
static void chain_step(nb_lr_scheduler *s, bool has_epoch, int64_t epoch)
{
    check_groups("nb_lr_scheduler_step", s);
    s->step_count++;
    if (has_epoch)
        s->last_epoch = epoch;
    else
        s->last_epoch++;
    for (int g = 0; g < s->ngroups; g++) {
        double lr = has_epoch ? closed_lr(s, g) : chain_lr(s, g);
        nb_optimizer_set_lr(s->opt, g, lr);
        s->last_lrs[g] = nb_optimizer_get_lr(s->opt, g);
    }
}

static nb_lr_scheduler *initial_step(nb_lr_scheduler *s)
{
    s->step_count = 0;
    chain_step(s, false, 0);
    return s;
}

/* ---- constructors --------------------------------------------------------------------------- */
nb_lr_scheduler *nb_step_lr_new(nb_optimizer *opt, int64_t step_size, double gamma)
{
    if (step_size < 1)
        nb__fail("nb_step_lr_new: step_size %lld must be >= 1", (long long)step_size);
    check_gamma("nb_step_lr_new", gamma);
    nb_lr_scheduler *s = sched_alloc("nb_step_lr_new", S_STEP, opt);
    s->step_size = step_size;
    s->gamma = gamma;
    return initial_step(s);
}

nb_lr_scheduler *nb_multi_step_lr_new(nb_optimizer *opt, const int64_t *milestones, int n, double gamma)
{
    if (n < 0 || (n > 0 && !milestones))
        nb__fail("nb_multi_step_lr_new: invalid milestone list (n = %d, milestones %s)", n,
                 milestones ? "set" : "NULL");
    check_gamma("nb_multi_step_lr_new", gamma);
    nb_lr_scheduler *s = sched_alloc("nb_multi_step_lr_new", S_MULTISTEP, opt);
    s->gamma = gamma;
    s->nmilestones = n;
    s->milestones = nb__alloc((size_t)(n ? n : 1) * sizeof *s->milestones);
    if (n)
        memcpy(s->milestones, milestones, (size_t)n * sizeof *milestones);
    qsort(s->milestones, (size_t)n, sizeof *s->milestones, cmp_i64);
    return initial_step(s);
}

nb_lr_scheduler *nb_exponential_lr_new(nb_optimizer *opt, double gamma)
{
    check_gamma("nb_exponential_lr_new", gamma);
    nb_lr_scheduler *s = sched_alloc("nb_exponential_lr_new", S_EXPONENTIAL, opt);
    s->gamma = gamma;
    return initial_step(s);
}

nb_lr_scheduler *nb_cosine_annealing_lr_new(nb_optimizer *opt, int64_t t_max, double eta_min)
{
    if (t_max < 1)
        nb__fail("nb_cosine_annealing_lr_new: t_max %lld must be >= 1", (long long)t_max);
    if (!isfinite(eta_min))
        nb__fail("nb_cosine_annealing_lr_new: eta_min %g must be finite", eta_min);
    nb_lr_scheduler *s = sched_alloc("nb_cosine_annealing_lr_new", S_COSINE, opt);
    s->t_max = t_max;
    s->eta_min = eta_min;
    return initial_step(s);
}

nb_lr_scheduler *nb_linear_lr_new(nb_optimizer *opt, double start_factor, double end_factor,
                                  int64_t total_iters)
{
    if (!(start_factor > 0 && start_factor <= 1))
        nb__fail("nb_linear_lr_new: start_factor %g must be in (0, 1]", start_factor);
    if (!(end_factor >= 0 && end_factor <= 1))
        nb__fail("nb_linear_lr_new: end_factor %g must be in [0, 1]", end_factor);
    if (total_iters < 1)
        nb__fail("nb_linear_lr_new: total_iters %lld must be >= 1", (long long)total_iters);
    nb_lr_scheduler *s = sched_alloc("nb_linear_lr_new", S_LINEAR, opt);
    s->start_factor = start_factor;
    s->end_factor = end_factor;
    s->total_iters = total_iters;
    return initial_step(s);
}

nb_lr_scheduler *nb_constant_lr_new(nb_optimizer *opt, double factor, int64_t total_iters)
{
    if (!(factor > 0 && factor <= 1))
        nb__fail("nb_constant_lr_new: factor %g must be in (0, 1]", factor);
    if (total_iters < 0)
        nb__fail("nb_constant_lr_new: total_iters %lld must be >= 0", (long long)total_iters);
    nb_lr_scheduler *s = sched_alloc("nb_constant_lr_new", S_CONSTANT, opt);
    s->factor = factor;
    s->total_iters = total_iters;
    return initial_step(s);
}

nb_lr_scheduler *nb_lambda_lr_new(nb_optimizer *opt, nb_lr_lambda fn, void *ctx)
{
    if (!fn)
        nb__fail("nb_lambda_lr_new: the lr lambda is NULL");
    nb_lr_scheduler *s = sched_alloc("nb_lambda_lr_new", S_LAMBDA, opt);
    s->fn = fn;
    s->ctx = ctx;
    return initial_step(s);
}

nb_lr_scheduler *nb_sequential_lr_new(nb_optimizer *opt, nb_lr_scheduler *const *schedulers, int n,
                                      const int64_t *milestones)
{
    static const char fn[] = "nb_sequential_lr_new";
    if (!opt)
        nb__fail("%s: the optimizer is NULL", fn);
    if (n < 1 || !schedulers)
        nb__fail("%s: needs at least one scheduler (n = %d, schedulers %s)", fn, n,
                 schedulers ? "set" : "NULL");
    if (n > 1 && !milestones)
        nb__fail("%s: %d schedulers need %d milestones, milestones is NULL", fn, n, n - 1);
    for (int i = 0; i < n; i++) {
        const nb_lr_scheduler *c = schedulers[i];
        if (!c)
            nb__fail("%s: scheduler %d is NULL", fn, i);
        if (c->opt != opt)
            nb__fail("%s: scheduler %d (%s) belongs to a different optimizer", fn, i,
                     kind_names[c->kind]);
        if (c->kind == S_SEQUENTIAL)
            nb__fail("%s: scheduler %d is a SequentialLR; they cannot be nested", fn, i);
        if (c->owner)
            nb__fail("%s: scheduler %d (%s) already belongs to a SequentialLR", fn, i,
                     kind_names[c->kind]);
        for (int j = 0; j < i; j++)
            if (schedulers[j] == c)
                nb__fail("%s: scheduler %d is also scheduler %d", fn, i, j);
        check_groups(fn, c);
    }
    for (int i = 1; i + 1 < n; i++)
        if (milestones[i] < milestones[i - 1])
            nb__fail("%s: milestones must be non-decreasing (milestone %d is %lld after %lld)", fn, i,
                     (long long)milestones[i], (long long)milestones[i - 1]);
    nb_lr_scheduler *s = sched_alloc(fn, S_SEQUENTIAL, opt);
    s->nsubs = n;
    s->subs = nb__alloc((size_t)n * sizeof *s->subs);
    s->nmilestones = n - 1;
    s->milestones = nb__alloc((size_t)(n > 1 ? n - 1 : 1) * sizeof *s->milestones);
    for (int i = 0; i < n; i++) {
        s->subs[i] = schedulers[i];
        s->subs[i]->owner = s;
    }
    if (n > 1)
        memcpy(s->milestones, milestones, (size_t)(n - 1) * sizeof *milestones);
    s->last_epoch = 0; /* last_epoch + 1 */
    for (int g = 0; g < s->ngroups; g++) /* reset lrs to the initial ones */
        nb_optimizer_set_lr(opt, g, nb_optimizer_get_initial_lr(opt, g));
    for (int i = 0; i < n; i++) /* "undo" the step performed by the other schedulers */
        s->subs[i]->last_epoch -= 1;
    initial_step(s->subs[0]);
    memcpy(s->last_lrs, s->subs[0]->last_lrs, (size_t)s->ngroups * sizeof(double));
    return s;
}

void nb_lr_scheduler_free(nb_lr_scheduler *s)
{
    if (!s)
        return;
    if (s->owner)
        nb__fail("nb_lr_scheduler_free: this %s belongs to a SequentialLR, which frees it",
                 kind_names[s->kind]);
    sched_release(s);
}

/* ---- stepping ------------------------------------------------------------------------------- */
static void check_not_owned(const char *fn, const nb_lr_scheduler *s)
{
    if (s->owner)
        nb__fail("%s: this %s belongs to a SequentialLR; step the SequentialLR instead", fn,
                 kind_names[s->kind]);
}

void nb_lr_scheduler_step(nb_lr_scheduler *s)
{
    check_not_owned("nb_lr_scheduler_step", s);
    if (s->kind != S_SEQUENTIAL) {
        chain_step(s, false, 0);
        return;
    }
    check_groups("nb_lr_scheduler_step", s);
    s->last_epoch++;
    int idx = bisect_right(s->milestones, s->nmilestones, s->last_epoch);
    nb_lr_scheduler *c = s->subs[idx];
    if (idx > 0 && s->milestones[idx - 1] == s->last_epoch)
        chain_step(c, true, 0);
    else
        chain_step(c, false, 0);
    memcpy(s->last_lrs, c->last_lrs, (size_t)s->ngroups * sizeof(double));
}

void nb_lr_scheduler_step_to(nb_lr_scheduler *s, int64_t epoch)
{
    check_not_owned("nb_lr_scheduler_step_to", s);
    if (s->kind == S_SEQUENTIAL)
        nb__fail("nb_lr_scheduler_step_to: SequentialLR has no step(epoch) (as in PyTorch)");
    chain_step(s, true, epoch);
}

double nb_lr_scheduler_last_lr(const nb_lr_scheduler *s, int g)
{
    if (g < 0 || g >= s->ngroups)
        nb__fail("nb_lr_scheduler_last_lr: group %d out of range (the scheduler drives %d groups)", g,
                 s->ngroups);
    return s->last_lrs[g];
}

int nb_lr_scheduler_group_count(const nb_lr_scheduler *s) { return s->ngroups; }
int64_t nb_lr_scheduler_last_epoch(const nb_lr_scheduler *s) { return s->last_epoch; }
const char *nb_lr_scheduler_name(const nb_lr_scheduler *s) { return kind_names[s->kind]; }

/* ---- state ---------------------------------------------------------------------------------- */
int nb_lr_scheduler_state_count(const nb_lr_scheduler *s)
{
    int n = STATE_HEAD + 2 * s->ngroups;
    for (int i = 0; i < s->nsubs; i++)
        n += nb_lr_scheduler_state_count(s->subs[i]);
    return n;
}

static double *state_write(const nb_lr_scheduler *s, double *out)
{
    *out++ = (double)s->kind;
    *out++ = (double)s->ngroups;
    *out++ = (double)s->nsubs;
    *out++ = (double)s->last_epoch;
    *out++ = (double)s->step_count;
    for (int g = 0; g < s->ngroups; g++)
        *out++ = s->base_lrs[g];
    for (int g = 0; g < s->ngroups; g++)
        *out++ = s->last_lrs[g];
    for (int i = 0; i < s->nsubs; i++)
        out = state_write(s->subs[i], out);
    return out;
}

void nb_lr_scheduler_state_get(const nb_lr_scheduler *s, double *out) { state_write(s, out); }

char *nb_lr_scheduler_state_key(const nb_lr_scheduler *s, int i, char *buf, size_t n)
{
    static const char *const head[STATE_HEAD] = {"kind", "num_groups", "num_schedulers",
                                                 "last_epoch", "step_count"};
    int size = nb_lr_scheduler_state_count(s);
    if (i < 0 || i >= size)
        nb__fail("nb_lr_scheduler_state_key: index %d out of range (the state has %d entries)", i,
                 size);
    char prefix[256] = "";
    for (;;) {
        int own = STATE_HEAD + 2 * s->ngroups;
        if (i < STATE_HEAD) {
            snprintf(buf, n, "%s%s", prefix, head[i]);
            return buf;
        }
        if (i < own) {
            int g = (i - STATE_HEAD) % s->ngroups;
            snprintf(buf, n, "%s%s.%d", prefix, i - STATE_HEAD < s->ngroups ? "base_lr" : "last_lr", g);
            return buf;
        }
        i -= own;
        int k = 0;
        while (i >= nb_lr_scheduler_state_count(s->subs[k]))
            i -= nb_lr_scheduler_state_count(s->subs[k++]);
        size_t len = strlen(prefix);
        snprintf(prefix + len, sizeof prefix - len, "schedulers.%d.", k);
        s = s->subs[k];
    }
}

static bool is_int(double v) { return isfinite(v) && v == floor(v) && fabs(v) < 9007199254740992.0; }

/* Checks in[] against s (recursively); returns the number of entries consumed or -1. */
static int state_check(const nb_lr_scheduler *s, const double *in)
{
    if (in[0] != (double)s->kind)
        return nb__status(NB_ERR_MISMATCH, "nb_lr_scheduler_state_set: the state is of kind %g, the "
                          "scheduler is a %s (kind %d)", in[0], kind_names[s->kind], (int)s->kind), -1;
    if (in[1] != (double)s->ngroups || in[2] != (double)s->nsubs)
        return nb__status(NB_ERR_MISMATCH, "nb_lr_scheduler_state_set: the state has %g groups and %g "
                          "sub-schedulers, the %s has %d and %d", in[1], in[2], kind_names[s->kind],
                          s->ngroups, s->nsubs), -1;
    if (!is_int(in[3]) || !is_int(in[4]) || in[4] < 0)
        return nb__status(NB_ERR_MISMATCH, "nb_lr_scheduler_state_set: last_epoch %g / step_count %g "
                          "are not valid counts", in[3], in[4]), -1;
    for (int g = 0; g < 2 * s->ngroups; g++)
        if (!isfinite(in[STATE_HEAD + g]))
            return nb__status(NB_ERR_MISMATCH, "nb_lr_scheduler_state_set: lr entry %d is %g", g,
                              in[STATE_HEAD + g]), -1;
    int used = STATE_HEAD + 2 * s->ngroups;
    for (int i = 0; i < s->nsubs; i++) {
        int u = state_check(s->subs[i], in + used);
        if (u < 0)
            return -1;
        used += u;
    }
    return used;
}

static const double *state_read(nb_lr_scheduler *s, const double *in)
{
    s->last_epoch = (int64_t)in[3];
    s->step_count = (int64_t)in[4];
    in += STATE_HEAD;
    for (int g = 0; g < s->ngroups; g++)
        s->base_lrs[g] = *in++;
    for (int g = 0; g < s->ngroups; g++)
        s->last_lrs[g] = *in++;
    for (int i = 0; i < s->nsubs; i++)
        in = state_read(s->subs[i], in);
    return in;
}

nb_status nb_lr_scheduler_state_set(nb_lr_scheduler *s, const double *in, int n)
{
    int size = nb_lr_scheduler_state_count(s);
    if (n != size || !in)
        return nb__status(NB_ERR_MISMATCH, "nb_lr_scheduler_state_set: got %d values, the %s's state "
                          "has %d", n, kind_names[s->kind], size);
    if (state_check(s, in) < 0)
        return NB_ERR_MISMATCH;
    state_read(s, in);
    return NB_OK;
}
