/* module.c — the module tree: registration of children, parameters and buffers, hierarchical
 * names, training mode, parameter and buffer listing, dtype conversion, zero_grad, freeing. */
#include "config.h"
#include "nb__autograd.h"
#include "nb__module.h"
#include "nb_nn.h"

#include <stdlib.h>

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d)
        nb__fail("nb_module: out of memory");
    memcpy(d, s, n);
    return d;
}

static void grow(void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return;
    int c = *cap ? 2 * *cap : 8;
    while (c < need)
        c *= 2;
    void *p = realloc(*arr, (size_t)c * elem);
    if (!p)
        nb__fail("nb_module: out of memory");
    *arr = p;
    *cap = c;
}

void nb_module_init(nb_module *m, const nb_module_type *type)
{
    memset(m, 0, sizeof *m);
    m->type = type;
    m->training = true;
}

static void check_name(const char *op, const nb_module *m, const char *name)
{
    if (!name || !*name || strchr(name, '.'))
        nb__fail("%s: invalid name \"%s\" (non-empty, no '.')", op, name ? name : "(null)");
    for (int i = 0; i < m->n_children; i++)
        if (!strcmp(m->child_names[i], name))
            nb__fail("%s: %s already has a child named \"%s\"", op, m->type->name, name);
    for (int i = 0; i < m->n_params; i++)
        if (!strcmp(m->param_names[i], name))
            nb__fail("%s: %s already has a parameter named \"%s\"", op, m->type->name, name);
    for (int i = 0; i < m->n_buffers; i++)
        if (!strcmp(m->buffer_names[i], name))
            nb__fail("%s: %s already has a buffer named \"%s\"", op, m->type->name, name);
}

nb_module *nb_module_register_module(nb_module *parent, const char *name, nb_module *child)
{
    if (!parent)
        return child;
    check_name("nb_module_register_module", parent, name);
    int n = parent->n_children;
    int cap = parent->cap_children;
    grow((void **)&parent->children, &cap, n + 1, sizeof *parent->children);
    cap = parent->cap_children;
    grow((void **)&parent->child_names, &cap, n + 1, sizeof *parent->child_names);
    parent->cap_children = cap;
    parent->children[n] = child;
    parent->child_names[n] = dup_str(name);
    parent->n_children = n + 1;
    nb_module_train(child, parent->training); /* the whole subtree, not just its root */
    return child;
}

nb_tensor *nb_module_register_parameter(nb_module *m, const char *name, nb_tensor *p)
{
    check_name("nb_module_register_parameter", m, name);
    int n = m->n_params;
    int cap = m->cap_params;
    grow((void **)&m->params, &cap, n + 1, sizeof *m->params);
    cap = m->cap_params;
    grow((void **)&m->param_names, &cap, n + 1, sizeof *m->param_names);
    m->cap_params = cap;
    m->params[n] = nb_tensor_retain(p);
    m->param_names[n] = dup_str(name);
    m->n_params = n + 1;
    return p;
}

nb_tensor *nb_module_set_parameter(nb_module *m, const char *name, nb_tensor *p)
{
    for (int i = 0; i < m->n_params; i++) {
        if (strcmp(m->param_names[i], name))
            continue;
        if (!nb_tensor_same_shape(m->params[i], p))
            nb__fail("nb_module_set_parameter: %s.%s has shape %s, the new tensor %s", m->type->name, name,
                     NB__SHAPE(m->params[i]), NB__SHAPE(p));
        nb_tensor_retain(p);
        nb_tensor_release(m->params[i]);
        m->params[i] = p;
        return p;
    }
    nb__fail("nb_module_set_parameter: %s has no parameter named \"%s\"", m->type->name, name);
}

void nb_module_free(nb_module *m)
{
    if (!m)
        return;
    if (m->type && m->type->free)
        m->type->free(m);
    for (int i = 0; i < m->n_children; i++) {
        nb_module_free(m->children[i]);
        free(m->child_names[i]);
    }
    for (int i = 0; i < m->n_params; i++) {
        nb_tensor_release(m->params[i]);
        free(m->param_names[i]);
    }
    for (int i = 0; i < m->n_buffers; i++) {
        nb_tensor_release(m->buffers[i]);
        free(m->buffer_names[i]);
    }
    free(m->buffers);
    free(m->buffer_names);
    free(m->buffer_persistent);
    free(m->children);
    free(m->child_names);
    free(m->params);
    free(m->param_names);
    free(m);
}

/* ---- buffers -------------------------------------------------------------------------------- */
static void check_buffer(const char *op, const nb_module *m, const char *name, const nb_tensor *t)
{
    if (t && t->requires_grad)
        nb__fail("%s: buffer \"%s\" of %s requires grad (buffers are not trained: register a parameter)", op,
                 name, m->type->name);
}

nb_tensor *nb_module_register_buffer(nb_module *m, const char *name, nb_tensor *t, bool persistent)
{
    check_name("nb_module_register_buffer", m, name);
    check_buffer("nb_module_register_buffer", m, name, t);
    int n = m->n_buffers, cap = m->cap_buffers;
    grow((void **)&m->buffers, &cap, n + 1, sizeof *m->buffers);
    cap = m->cap_buffers;
    grow((void **)&m->buffer_names, &cap, n + 1, sizeof *m->buffer_names);
    cap = m->cap_buffers;
    grow((void **)&m->buffer_persistent, &cap, n + 1, sizeof *m->buffer_persistent);
    m->cap_buffers = cap;
    m->buffers[n] = nb_tensor_retain(t);
    m->buffer_names[n] = dup_str(name);
    m->buffer_persistent[n] = persistent;
    m->n_buffers = n + 1;
    return t;
}

nb_tensor *nb_module_set_buffer(nb_module *m, const char *name, nb_tensor *t)
{
    for (int i = 0; i < m->n_buffers; i++) {
        if (strcmp(m->buffer_names[i], name))
            continue;
        check_buffer("nb_module_set_buffer", m, name, t);
        nb_tensor_retain(t);
        nb_tensor_release(m->buffers[i]);
        m->buffers[i] = t;
        return t;
    }
    nb__fail("nb_module_set_buffer: %s has no buffer named \"%s\"", m->type->name, name);
}

nb_tensor *nb_module_get_buffer(nb_module *m, const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot) {
        for (int i = 0; i < m->n_buffers; i++)
            if (!strcmp(m->buffer_names[i], name))
                return m->buffers[i];
        return NULL;
    }
    size_t len = (size_t)(dot - name);
    for (int i = 0; i < m->n_children; i++)
        if (strlen(m->child_names[i]) == len && !strncmp(m->child_names[i], name, len))
            return nb_module_get_buffer(m->children[i], dot + 1);
    return NULL;
}

/* Converts t to dt in place: its storage is replaced by a converted contiguous copy's. */
static void retype(nb_tensor *t, nb_dtype dt, const char *what)
{
    if (!nb__dtype_is_fp(t->dtype) || t->dtype == dt)
        return;
    if (t->storage->refcount != 1 || !nb_tensor_is_contiguous(t) || t->offset != 0)
        nb__fail("nb_module_to_dtype: %s is a view sharing storage with another tensor; convert its owner", what);
    int scope = nb_scope_begin();
    nb_tensor *c;
    NB_NO_GRAD { c = nb_to_dtype(t, dt); }
    nb__storage *old = t->storage;
    t->storage = c->storage;
    c->storage = old; /* released with c, by the scope */
    t->dtype = dt;
    nb_scope_end(scope);
    if (t->grad) {
        nb_tensor_release(t->grad);
        t->grad = NULL;
    }
}

static void to_dtype_tree(nb_module *m, nb_dtype dt)
{
    for (int i = 0; i < m->n_params; i++)
        retype(m->params[i], dt, m->param_names[i]);
    for (int i = 0; i < m->n_buffers; i++)
        if (m->buffers[i])
            retype(m->buffers[i], dt, m->buffer_names[i]);
    for (int i = 0; i < m->n_children; i++)
        to_dtype_tree(m->children[i], dt);
}

void nb_module_to_dtype(nb_module *m, nb_dtype dt)
{
    if (!nb__dtype_is_fp(dt))
        nb__fail("nb_module_to_dtype: %s is not a floating-point dtype", nb_dtype_name(dt));
    to_dtype_tree(m, dt);
}

nb_tensor *nb_module_forward(nb_module *m, const nb_tensor *x)
{
    if (!m->type->forward)
        nb__fail("nb_module_forward: module type %s has no single-input forward", m->type->name);
    return m->type->forward(m, x);
}

void nb_module_train(nb_module *m, bool training)
{
    m->training = training;
    for (int i = 0; i < m->n_children; i++)
        nb_module_train(m->children[i], training);
}

/* ---- parameter listing ---------------------------------------------------------------------- */
typedef struct {
    nb_param_list *l;
    int cap;
    bool aliases;
    int buffers; /* 0: parameters; 1: every buffer; 2: persistent buffers; 3: parameters, then
                  * persistent buffers, module by module (a state dict's order, as torch's) */
} collect_ctx;

static bool listed(const nb_param_list *l, const nb_tensor *t)
{
    for (int i = 0; i < l->n; i++)
        if (l->params[i] == t)
            return true;
    return false;
}

/* Appends m's own parameters (bufs false) or buffers (bufs true; only persistent ones when
 * persistent_only) under prefix. */
static void collect_own(collect_ctx *c, nb_module *m, const char *prefix, bool bufs, bool persistent_only)
{
    int n = bufs ? m->n_buffers : m->n_params;
    for (int i = 0; i < n; i++) {
        nb_tensor *t = bufs ? m->buffers[i] : m->params[i];
        if (!t || (persistent_only && !m->buffer_persistent[i]) || (!c->aliases && listed(c->l, t)))
            continue;
        const char *own = bufs ? m->buffer_names[i] : m->param_names[i];
        size_t len = strlen(prefix) + strlen(own) + 2;
        char *name = malloc(len);
        if (!name)
            nb__fail("nb_module_parameters: out of memory");
        snprintf(name, len, "%s%s%s", prefix, *prefix ? "." : "", own);
        int cap = c->cap;
        grow((void **)&c->l->names, &cap, c->l->n + 1, sizeof *c->l->names);
        cap = c->cap;
        grow((void **)&c->l->params, &cap, c->l->n + 1, sizeof *c->l->params);
        c->cap = cap;
        c->l->names[c->l->n] = name;
        c->l->params[c->l->n++] = t;
    }
}

static void collect(collect_ctx *c, nb_module *m, const char *prefix)
{
    if (c->buffers != 1 && c->buffers != 2)
        collect_own(c, m, prefix, false, false);
    if (c->buffers)
        collect_own(c, m, prefix, true, c->buffers != 1);
    for (int i = 0; i < m->n_children; i++) {
        size_t len = strlen(prefix) + strlen(m->child_names[i]) + 2;
        char *p = malloc(len);
        if (!p)
            nb__fail("nb_module_parameters: out of memory");
        snprintf(p, len, "%s%s%s", prefix, *prefix ? "." : "", m->child_names[i]);
        collect(c, m->children[i], p);
        free(p);
    }
}

void nb_module_parameters(nb_module *m, bool with_aliases, nb_param_list *out)
{
    memset(out, 0, sizeof *out);
    collect_ctx c = {out, 0, with_aliases, 0};
    collect(&c, m, "");
}

void nb__module_state_tensors(nb_module *m, bool with_aliases, nb_param_list *out)
{
    memset(out, 0, sizeof *out);
    collect_ctx c = {out, 0, with_aliases, 3};
    collect(&c, m, "");
}

void nb_module_buffers(nb_module *m, bool persistent_only, nb_param_list *out)
{
    memset(out, 0, sizeof *out);
    collect_ctx c = {out, 0, false, persistent_only ? 2 : 1};
    collect(&c, m, "");
}

void nb_param_list_free(nb_param_list *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
    free(l->params);
    memset(l, 0, sizeof *l);
}

int64_t nb_module_parameter_numel(nb_module *m)
{
    nb_param_list l;
    nb_module_parameters(m, false, &l);
    int64_t n = 0;
    for (int i = 0; i < l.n; i++)
        n += nb_tensor_numel(l.params[i]);
    nb_param_list_free(&l);
    return n;
}

void nb_module_zero_grad(nb_module *m, bool set_to_none)
{
    for (int i = 0; i < m->n_params; i++)
        nb_tensor_zero_grad(m->params[i], set_to_none);
    for (int i = 0; i < m->n_children; i++)
        nb_module_zero_grad(m->children[i], set_to_none);
}

nb_tensor *nb_module_get_parameter(nb_module *m, const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot) {
        for (int i = 0; i < m->n_params; i++)
            if (!strcmp(m->param_names[i], name))
                return m->params[i];
        return NULL;
    }
    size_t len = (size_t)(dot - name);
    for (int i = 0; i < m->n_children; i++)
        if (strlen(m->child_names[i]) == len && !strncmp(m->child_names[i], name, len))
            return nb_module_get_parameter(m->children[i], dot + 1);
    return NULL;
}

/* ---- helpers of the module files (nb__module.h) ---------------------------------------------- */
void *nb__module_alloc(size_t size, const nb_module_type *type)
{
    nb_module *m = calloc(1, size);
    if (!m)
        nb__fail("nb_module: out of memory allocating a %s", type->name);
    nb_module_init(m, type);
    return m;
}

nb_tensor *nb__module_new_param(nb_module *m, const char *name, const int64_t *shape, int ndim)
{
    int scope = nb_scope_begin();
    nb_tensor *p = nb_tensor_requires_grad_(nb_zeros(shape, ndim, nb_get_default_dtype()), true);
    nb_module_register_parameter(m, name, p);
    nb_scope_end(scope); /* the module now holds the only reference */
    return p;
}
