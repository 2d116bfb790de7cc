/* engine.c — autograd nodes, grad mode, and the backward engine.
 *
 * Graph ownership: a tensor holds a strong reference to its grad_fn node; a node holds strong
 * references to its inputs' nodes (or to leaf inputs) and to its saved tensors, never to its
 * output (an output saved for backward is stored as a detached alias). So the graph is a DAG of
 * references, freed exactly once. Freeing and backward are both iterative (explicit worklists),
 * so graphs of any depth work. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime (NB_PROFILE) */
#include "config.h"
#include "nb__autograd.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* ---- op profile (NB_PROFILE=1) ------------------------------------------------------------- */
/* A developer's view of where a training step spends its time, per op: with NB_PROFILE set (not
 * "0"), every recorded op (one that takes part in autograd) adds the time since the previous
 * record to its forward column (so the work between two ops counts for the later one), and every
 * backward node adds the time of its backward formula plus the accumulation of the gradients it
 * returns. The table goes to stderr at exit, largest total first. Off, it costs one branch. */
typedef struct {
    int64_t fwd_calls, bwd_calls;
    double fwd_s, bwd_s;
} op_prof;
static int g_profile = -1; /* -1: not yet read from NB_PROFILE */
static op_prof g_prof[NB__OP_COUNT];
static double g_prof_last; /* time of the last record, 0: none yet */

static double prof_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int prof_cmp(const void *a, const void *b)
{
    const op_prof *x = &g_prof[*(const int *)a], *y = &g_prof[*(const int *)b];
    double tx = x->fwd_s + x->bwd_s, ty = y->fwd_s + y->bwd_s;
    return tx < ty ? 1 : tx > ty ? -1 : 0;
}

static void prof_print(void)
{
    int idx[NB__OP_COUNT], n = 0;
    double total = 0;
    for (int i = 0; i < NB__OP_COUNT; i++)
        if (g_prof[i].fwd_calls || g_prof[i].bwd_calls) {
            idx[n++] = i;
            total += g_prof[i].fwd_s + g_prof[i].bwd_s;
        }
    qsort(idx, (size_t)n, sizeof idx[0], prof_cmp);
    fprintf(stderr, "\nNB_PROFILE: time per op (forward = since the previous recorded op; backward = formula + "
                    "gradient accumulation)\n%-28s %10s %12s %10s %12s %7s\n",
            "op", "fwd calls", "fwd ms", "bwd calls", "bwd ms", "share");
    for (int k = 0; k < n; k++) {
        const op_prof *p = &g_prof[idx[k]];
        fprintf(stderr, "%-28s %10lld %12.1f %10lld %12.1f %6.1f%%\n", nb__op_by_id((nb__op_id)idx[k])->name,
                (long long)p->fwd_calls, 1e3 * p->fwd_s, (long long)p->bwd_calls, 1e3 * p->bwd_s,
                total > 0 ? 100 * (p->fwd_s + p->bwd_s) / total : 0.0);
    }
    fprintf(stderr, "%-28s %10s %12.1f\n", "total", "", 1e3 * total);
}

static bool prof_on(void)
{
    if (g_profile < 0) {
        const char *e = getenv("NB_PROFILE");
        g_profile = e && *e && strcmp(e, "0") != 0;
        if (g_profile)
            atexit(prof_print);
    }
    return g_profile;
}

static void prof_forward(const nb__op *op)
{
    double t = prof_now();
    if (g_prof_last > 0) {
        g_prof[op->id].fwd_s += t - g_prof_last;
        g_prof[op->id].fwd_calls++;
    }
    g_prof_last = t;
}

/* ---- grad mode and anomaly mode ------------------------------------------------------------- */
static _Thread_local bool t_grad_disabled;
static int g_anomaly = -1; /* -1: not yet read from the environment */

bool nb_is_grad_enabled(void) { return !t_grad_disabled; }

bool nb_set_grad_enabled(bool enabled)
{
    bool prev = !t_grad_disabled;
    t_grad_disabled = !enabled;
    return prev;
}

/* ---- bfloat16 autocast (nb_autograd.h) ------------------------------------------------------ */
static _Thread_local int t_autocast_depth;

void nb_autocast_begin(void)
{
    if (t_autocast_depth == INT_MAX)
        nb__fail("nb_autocast_begin: too many nested autocast regions (%d)", t_autocast_depth);
    t_autocast_depth++;
}

void nb_autocast_end(void)
{
    if (t_autocast_depth <= 0)
        nb__fail("nb_autocast_end: no autocast region is open on this thread");
    t_autocast_depth--;
}

bool nb_is_autocast_enabled(void) { return t_autocast_depth > 0; }

int nb__autocast_swap(int depth)
{
    int prev = t_autocast_depth;
    t_autocast_depth = depth;
    return prev;
}

bool nb__autocast_for(nb_dtype dt) { return t_autocast_depth > 0 && dt == NB_F32; }

void nb_set_detect_anomaly(bool on) { g_anomaly = on; }

bool nb_is_anomaly_enabled(void)
{
    if (g_anomaly < 0) {
        const char *e = getenv("NB_DETECT_ANOMALY");
        g_anomaly = e && *e && strcmp(e, "0") != 0;
    }
    return g_anomaly;
}

void nb__anomaly_check(const char *what, const nb_tensor *t)
{
    if (!nb_is_anomaly_enabled() || !t || !nb_dtype_is_float(t->dtype))
        return;
    int64_t n = nb_tensor_numel(t);
    for (int64_t i = 0; i < n; i++) {
        double v = nb__load(t->dtype, nb__elem_ptr(t, i));
        if (!isfinite(v))
            nb__fail("anomaly: %s produced %s at element %lld of a tensor of shape %s", what,
                     isnan(v) ? "NaN" : "Inf", (long long)i, NB__SHAPE(t));
    }
}

/* ---- node lifetime (iterative free) --------------------------------------------------------- */
static _Thread_local struct {
    nb__node **items;
    size_t n, cap;
    bool active;
} t_free;

static void node_release_saved(nb__node *n)
{
    for (int i = 0; i < n->n_saved; i++) {
        nb_tensor_release(n->saved[i]);
        n->saved[i] = NULL;
    }
    if (n->n_saved) /* as in PyTorch, only nodes with saved tensors refuse a second pass */
        n->released = true;
}

static void node_destroy(nb__node *n)
{
    node_release_saved(n);
    nb_tensor_release(n->grad_acc);
    for (int i = 0; i < n->n_inputs; i++) {
        nb__edge *e = &n->inputs[i];
        nb_tensor_release(e->leaf);
        if (e->fn && --e->fn->obj.refcount == 0)
            e->fn->obj.free_fn(&e->fn->obj); /* queued: t_free.active is set */
    }
    nb__obj_free(n, sizeof *n + (size_t)n->n_inputs * sizeof(nb__edge));
}

static void node_free(nb__object *obj)
{
    nb__node *n = (nb__node *)obj;
    if (t_free.n == t_free.cap) {
        size_t cap = t_free.cap ? 2 * t_free.cap : 64;
        nb__node **items = realloc(t_free.items, cap * sizeof *items);
        if (!items)
            nb__fail("nb_autograd: out of memory freeing a graph");
        t_free.items = items;
        t_free.cap = cap;
    }
    t_free.items[t_free.n++] = n;
    if (t_free.active)
        return;
    t_free.active = true;
    while (t_free.n > 0)
        node_destroy(t_free.items[--t_free.n]);
    t_free.active = false;
}

/* ---- recording ------------------------------------------------------------------------------ */
bool nb__any_requires_grad(int n, const nb_tensor *const *ins)
{
    if (t_grad_disabled)
        return false;
    for (int i = 0; i < n; i++)
        if (ins[i] && ins[i]->requires_grad)
            return true;
    return false;
}

nb__node *nb__record(const nb__op *op, nb_tensor *out, int n, const nb_tensor *const *ins)
{
    for (int i = 0; i < n; i++) /* debug mode: every differentiable op passes its inputs here */
        nb__check_live(op->name, ins[i]);
    if (nb_is_anomaly_enabled()) {
        char what[96];
        snprintf(what, sizeof what, "%s forward", op->name);
        nb__anomaly_check(what, out);
    }
    if (!nb__any_requires_grad(n, ins))
        return NULL;
    if (prof_on())
        prof_forward(op);
    nb__node *node = nb__obj_alloc(sizeof *node + (size_t)n * sizeof(nb__edge)); /* zeroed */
    node->obj.refcount = 1; /* held by out */
    node->obj.free_fn = node_free;
    node->op = op;
    node->autocast = t_autocast_depth > 0;
    node->n_inputs = n;
    node->inputs = (nb__edge *)(node + 1);
    for (int i = 0; i < n; i++) {
        nb__edge *e = &node->inputs[i];
        const nb_tensor *t = ins[i];
        if (!t)
            continue;
        e->dtype = t->dtype;
        e->ndim = t->ndim;
        memcpy(e->shape, t->shape, sizeof e->shape);
        if (!t->requires_grad)
            continue;
        if (t->grad_fn) {
            e->fn = (nb__node *)t->grad_fn;
            e->fn->obj.refcount++;
        } else {
            e->leaf = nb_tensor_retain((nb_tensor *)t);
        }
    }
    node->out_dtype = out->dtype;
    node->out_ndim = out->ndim;
    memcpy(node->out_shape, out->shape, sizeof node->out_shape);
    if (out->grad_fn && --out->grad_fn->refcount == 0)
        out->grad_fn->free_fn(out->grad_fn);
    out->grad_fn = &node->obj;
    out->requires_grad = true;
    return node;
}

static void save_tensor(nb__node *n, nb_tensor *t)
{
    if (n->n_saved == NB__MAX_SAVED)
        nb__fail("%s: more than %d saved tensors", n->op->name, NB__MAX_SAVED);
    n->saved_version[n->n_saved] = t->storage->version;
    n->saved[n->n_saved++] = t;
}

void nb__save(nb__node *n, const nb_tensor *t) { save_tensor(n, nb_tensor_retain((nb_tensor *)t)); }

void nb__save_output(nb__node *n, const nb_tensor *out)
{
    nb_tensor *alias = nb__obj_alloc(sizeof *alias); /* freed by nb_tensor_release */
    *alias = *out;
    alias->refcount = 1;
    alias->requires_grad = false;
    alias->retains_grad = false;
    alias->grad = NULL;
    alias->grad_fn = NULL;
    alias->storage->refcount++; /* not registered in any scope: the node owns it */
    save_tensor(n, alias);
}

nb_tensor *nb__saved(nb__node *n, int i)
{
    if (n->released)
        nb__fail("nb_backward: trying to backward through the graph a second time (%s): its saved "
                 "tensors were freed; pass retain_graph=true to the first nb_backward",
                 n->op->name);
    nb_tensor *t = n->saved[i];
    if (t->storage->version != n->saved_version[i])
        nb__fail("nb_backward: a tensor of shape %s saved by %s was modified by an in-place "
                 "operation (version %llu, now %llu)",
                 NB__SHAPE(t), n->op->name, (unsigned long long)n->saved_version[i],
                 (unsigned long long)t->storage->version);
    return t;
}

void nb__check_inplace(const char *op, const nb_tensor *t)
{
    nb__check_live(op, t);
    if (!t_grad_disabled && t->requires_grad)
        nb__fail("%s: in-place operation on a tensor of shape %s that requires grad (%s); use the "
                 "out-of-place op or NB_NO_GRAD",
                 op, NB__SHAPE(t), t->grad_fn ? "non-leaf" : "leaf");
}

nb_tensor *nb__sum_to_shape(nb_tensor *g, int ndim, const int64_t *shape)
{
    if (g->ndim == ndim && (ndim == 0 || !memcmp(g->shape, shape, (size_t)ndim * sizeof *shape)))
        return nb__new_ref(g);
    if (!nb__broadcastable_to(ndim, shape, g->ndim, g->shape))
        nb__fail("nb__sum_to: gradient of shape %s cannot be reduced to shape %s", NB__SHAPE(g),
                 nb__shape_text(ndim, shape).s);
    int dims[NB_MAX_DIMS], nd = 0, lead = g->ndim - ndim;
    for (int d = 0; d < g->ndim; d++)
        if (d < lead || (shape[d - lead] == 1 && g->shape[d] != 1))
            dims[nd++] = d;
    int scope = nb_scope_begin();
    nb_tensor *r = nb_reshape(nd ? nb_sum(g, dims, nd, true) : g, shape, ndim);
    return nb__scope_return(scope, r);
}

nb_tensor *nb__sum_to(nb_tensor *g, const nb__node *n, int i)
{
    return nb__sum_to_shape(g, n->inputs[i].ndim, n->inputs[i].shape);
}

/* ---- public tensor autograd state ----------------------------------------------------------- */
nb_tensor *nb_tensor_requires_grad_(nb_tensor *t, bool requires_grad)
{
    nb__check_live("nb_tensor_requires_grad_", t);
    if (t->grad_fn)
        nb__fail("nb_tensor_requires_grad_: only leaf tensors can change requires_grad (this one "
                 "was produced by %s)", ((nb__node *)t->grad_fn)->op->name);
    if (requires_grad && !nb_dtype_is_float(t->dtype))
        nb__fail("nb_tensor_requires_grad_: only float tensors can require grad, got %s",
                 nb_dtype_name(t->dtype));
    t->requires_grad = requires_grad;
    return t;
}

bool nb_tensor_requires_grad(const nb_tensor *t) { return t->requires_grad; }
bool nb_tensor_is_leaf(const nb_tensor *t) { return t->grad_fn == NULL; }
nb_tensor *nb_tensor_get_grad(const nb_tensor *t) { return t->grad; }

void nb_tensor_set_grad(nb_tensor *t, nb_tensor *g)
{
    nb__check_live("nb_tensor_set_grad", t);
    nb__check_live("nb_tensor_set_grad", g);
    if (g && !nb_tensor_same_shape(t, g))
        nb__fail("nb_tensor_set_grad: gradient shape %s does not match tensor shape %s", NB__SHAPE(g),
                 NB__SHAPE(t));
    if (g && g->dtype != t->dtype) /* else the optimizer step is the first to notice */
        nb__fail("nb_tensor_set_grad: gradient dtype %s does not match tensor dtype %s",
                 nb_dtype_name(g->dtype), nb_dtype_name(t->dtype));
    nb_tensor_retain(g);
    nb_tensor_release(t->grad);
    t->grad = g;
}

void nb_tensor_zero_grad(nb_tensor *t, bool set_to_none)
{
    nb__check_live("nb_tensor_zero_grad", t);
    if (!t->grad)
        return;
    if (set_to_none) {
        nb_tensor_release(t->grad);
        t->grad = NULL;
    } else {
        nb__fill(t->grad, 0.0);
    }
}

void nb_tensor_retain_grad(nb_tensor *t)
{
    nb__check_live("nb_tensor_retain_grad", t);
    if (!t->requires_grad)
        nb__fail("nb_tensor_retain_grad: the tensor does not require grad");
    if (t->grad_fn) {
        t->grad_fn->retained_out = t; /* weak: cleared when t is released */
        t->retains_grad = true;
    }
}

const char *nb_tensor_grad_fn_name(const nb_tensor *t)
{
    return t->grad_fn ? ((const nb__node *)t->grad_fn)->op->name : NULL;
}

nb_tensor *nb_detach(const nb_tensor *t)
{
    return nb__tensor_view_op("nb_detach", t, t->ndim, t->shape, t->strides, t->offset);
}

/* ---- backward ------------------------------------------------------------------------------- */
/* True when t is nobody else's: one reference (the engine's, or the inner scope's for a fresh
 * backward result), no other tensor on its storage (no saved alias, no view), contiguous. Such
 * a gradient can be taken over without a copy, or added into in place. */
static bool exclusive(const nb_tensor *t)
{
    return t->refcount == 1 && t->storage->refcount == 1 && nb_tensor_is_contiguous(t);
}

/* Accumulates g into *slot (a gradient the engine owns). First arrival: takes g itself, or a
 * private contiguous copy when g may alias user data (copy_first) and is not exclusive. Later
 * arrivals add in place when the slot is exclusive, else out of place (it may alias a saved
 * tensor or another input's gradient). */
static void accumulate(nb_tensor **slot, nb_tensor *g, bool copy_first)
{
    if (!*slot) {
        if (copy_first && !exclusive(g))
            *slot = nb_tensor_retain(nb__contiguous_copy(g)); /* lives past the engine's scope */
        else
            *slot = nb_tensor_retain(g);
        return;
    }
    if (!copy_first && !exclusive(*slot)) {
        nb_tensor *sum = nb_add(*slot, g);
        nb_tensor_release(*slot);
        *slot = nb_tensor_retain(sum);
        return;
    }
    nb_add_(*slot, g);
}

/* A leaf's .grad is the user's: replace it only if it is shared, else add in place. */
static void accumulate_leaf(nb_tensor *leaf, nb_tensor *g)
{
    if (leaf->grad && (leaf->grad->refcount > 1 || leaf->grad->storage->refcount > 1)) {
        nb_tensor *sum = nb_add(leaf->grad, g);
        nb_tensor_release(leaf->grad);
        leaf->grad = nb_tensor_retain(sum);
        return;
    }
    accumulate(&leaf->grad, g, true);
}

typedef struct {
    nb__node **items;
    size_t n, cap;
} node_stack;

static void stack_push(node_stack *s, nb__node *n)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        nb__node **items = realloc(s->items, cap * sizeof *items);
        if (!items)
            nb__fail("nb_backward: out of memory");
        s->items = items;
        s->cap = cap;
    }
    s->items[s->n++] = n;
}

static void check_grad(const nb__node *n, int i, const nb_tensor *g)
{
    const nb__edge *e = &n->inputs[i];
    if (g->ndim != e->ndim || (e->ndim && memcmp(g->shape, e->shape, (size_t)e->ndim * sizeof(int64_t))))
        nb__fail("nb_backward: backward of %s returned a gradient of shape %s for input %d of shape %s",
                 n->op->name, NB__SHAPE(g), i, nb__shape_text(e->ndim, e->shape).s);
    if (g->dtype != e->dtype)
        nb__fail("nb_backward: backward of %s returned a %s gradient for %s input %d", n->op->name,
                 nb_dtype_name(g->dtype), nb_dtype_name(e->dtype), i);
    if (nb_is_anomaly_enabled()) {
        char what[96];
        snprintf(what, sizeof what, "%s backward (input %d)", n->op->name, i);
        nb__anomaly_check(what, g);
    }
}

static _Thread_local uint64_t g_visit_epoch;

/* Misuse unless root can start a backward with grad_output (NULL: ones, for one element). */
static void check_backward_args(nb_tensor *root, const nb_tensor *grad_output)
{
    nb__check_live("nb_backward", root);
    nb__check_live("nb_backward", grad_output);
    if (!root->requires_grad)
        nb__fail("nb_backward: the tensor (shape %s) does not require grad and has no grad_fn",
                 NB__SHAPE(root));
    if (!grad_output && nb_tensor_numel(root) != 1)
        nb__fail("nb_backward: grad can be implicitly created only for one-element outputs, got "
                 "shape %s",
                 NB__SHAPE(root));
    if (grad_output && (!nb_tensor_same_shape(root, grad_output) || grad_output->dtype != root->dtype))
        nb__fail("nb_backward: grad_output of shape %s (%s) does not match the output's shape %s (%s)",
                 NB__SHAPE(grad_output), nb_dtype_name(grad_output->dtype), NB__SHAPE(root),
                 nb_dtype_name(root->dtype));
}

/* The work lists of one backward. They keep their capacity across calls (per thread): no
 * allocation per backward. A nested call (or one after a misuse longjmp'd out of a call) uses
 * lists of its own, freed by lists_done. */
typedef struct {
    node_stack *todo, *ready;
    node_stack own_todo, own_ready;
    bool shared;
} work_lists;
static _Thread_local node_stack t_todo, t_ready;
static _Thread_local bool t_lists_busy;

static void lists_take(work_lists *w)
{
    *w = (work_lists){.shared = !t_lists_busy};
    w->todo = w->shared ? &t_todo : &w->own_todo;
    w->ready = w->shared ? &t_ready : &w->own_ready;
    t_lists_busy = true;
    w->todo->n = w->ready->n = 0;
}

static void lists_done(work_lists *w)
{
    if (w->shared)
        t_lists_busy = false;
    free(w->own_todo.items);
    free(w->own_ready.items);
}

/* Step 1: marks every node reachable from rootn with this epoch and counts, per node, the edges
 * reaching it (its consumers in this graph): a node runs once they all have. */
static void count_consumers(nb__node *rootn, uint64_t epoch, node_stack *todo)
{
    rootn->visit = epoch;
    rootn->deps = 0;
    stack_push(todo, rootn);
    while (todo->n) {
        nb__node *n = todo->items[--todo->n];
        for (int i = 0; i < n->n_inputs; i++) {
            nb__node *c = n->inputs[i].fn;
            if (!c)
                continue;
            if (c->visit != epoch) {
                c->visit = epoch;
                c->deps = 0;
                stack_push(todo, c);
            }
            c->deps++;
        }
    }
}

/* retain_grad(): the output's .grad receives g as well. */
static void feed_retained(nb__node *n, nb_tensor *g)
{
    nb_tensor *kept = n->obj.retained_out;
    if (!g || !kept)
        return;
    if (kept->grad)
        nb_add_(kept->grad, g);
    else
        kept->grad = nb_tensor_retain(nb__contiguous_copy(g));
}

/* Runs n's backward formula on g (owned; may be replaced by a contiguous copy, returned), filling
 * gi[i] for the inputs that need a gradient. A scatter-like op whose single input already holds an
 * exclusive gradient adds into it instead (accumulate_into), leaving gi empty. */
static nb_tensor *run_formula(nb__node *n, nb_tensor *g, nb_tensor **gi)
{
    if (!g)
        return NULL;
    nb_tensor *acc = NULL;
    if (n->op->accumulate_into && n->n_inputs == 1) {
        const nb__edge *e0 = &n->inputs[0];
        acc = e0->fn ? e0->fn->grad_acc : e0->leaf ? e0->leaf->grad : NULL;
    }
    if (acc && exclusive(acc) && acc->dtype == g->dtype) {
        n->op->accumulate_into(n, g, acc);
        return g;
    }
    if (!n->op->strided_grad && !nb_tensor_is_contiguous(g)) { /* most formulas want contiguous grads */
        nb_tensor *c = nb_tensor_retain(nb__contiguous_copy(g));
        nb_tensor_release(g);
        g = c;
    }
    if (!n->op->backward)
        nb__fail("nb_backward: op %s has no backward formula", n->op->name);
    n->op->backward(n, g, gi);
    return g;
}

/* Hands each input its gradient (a leaf's .grad or the producing node's accumulator) and queues
 * the producers whose last consumer this was. */
static void distribute(nb__node *n, nb_tensor **gi, node_stack *ready)
{
    for (int i = 0; i < n->n_inputs; i++) {
        nb__edge *e = &n->inputs[i];
        if (gi[i] && (e->fn || e->leaf)) {
            check_grad(n, i, gi[i]);
            if (e->leaf)
                accumulate_leaf(e->leaf, gi[i]);
            else
                accumulate(&e->fn->grad_acc, gi[i], false);
        }
        if (e->fn && --e->fn->deps == 0)
            stack_push(ready, e->fn);
    }
}

/* Step 2 for one node: its accumulated gradient through its formula to its inputs. */
static void backward_node(nb__node *n, bool retain_graph, node_stack *ready)
{
    nb_tensor *gin[64];
    nb_tensor *g = n->grad_acc;
    n->grad_acc = NULL;
    double t_prof = prof_on() ? prof_now() : 0;
    int inner = nb_scope_begin(); /* the formula's temporaries */
    feed_retained(n, g);
    nb_tensor **gi = n->n_inputs <= 64 ? gin : calloc((size_t)n->n_inputs, sizeof *gi);
    if (!gi)
        nb__fail("nb_backward: out of memory");
    memset(gi, 0, (size_t)n->n_inputs * sizeof *gi);
    g = run_formula(n, g, gi);
    distribute(n, gi, ready);
    if (gi != gin)
        free(gi);
    nb_tensor_release(g);
    if (!retain_graph)
        node_release_saved(n);
    nb_scope_end(inner);
    if (t_prof > 0) {
        g_prof[n->op->id].bwd_s += prof_now() - t_prof;
        g_prof[n->op->id].bwd_calls++;
    }
}

void nb_backward(nb_tensor *root, const nb_tensor *grad_output, bool retain_graph)
{
    check_backward_args(root, grad_output);
    bool prev_mode = nb_set_grad_enabled(false);
    int prev_autocast = nb__autocast_swap(0); /* each node's backward uses its own node->autocast */
    int scope = nb_scope_begin();
    nb_tensor *g0 = grad_output ? (nb_tensor *)grad_output : nb_ones_like(root);
    if (!root->grad_fn) { /* a leaf: its gradient is grad_output itself */
        accumulate_leaf(root, g0);
    } else {
        work_lists w;
        lists_take(&w);
        nb__node *rootn = (nb__node *)root->grad_fn;
        count_consumers(rootn, ++g_visit_epoch, w.todo);
        /* Kahn's order from the root: every node runs once all its consumers have run */
        rootn->grad_acc = nb_tensor_retain(g0);
        stack_push(w.ready, rootn);
        while (w.ready->n)
            backward_node(w.ready->items[--w.ready->n], retain_graph, w.ready);
        if (prof_on())
            g_prof_last = 0; /* the optimizer step and the next batch are not the first op's forward */
        lists_done(&w);
    }
    nb_scope_end(scope);
    nb__autocast_swap(prev_autocast);
    nb_set_grad_enabled(prev_mode);
}

/* ---- recovery after a misuse (nb_autograd.h) ------------------------------------------------ */
void nb_recover(int scope_depth)
{
    nb__scope_unwind("nb_recover", scope_depth);
    t_grad_disabled = false;
    t_autocast_depth = 0;
}
