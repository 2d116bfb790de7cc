/* rnn.c — recurrent layers as torch.nn has them: LSTMCell, GRUCell, LSTM, GRU, and
 * nb_detach_carry for truncated backpropagation through time.
 *
 * The multi-layer modules project the input of ALL timesteps with one GEMM per layer
 * (x W_ih^T + b_ih over [T*B, I]). An LSTM layer's recurrence (and an LSTMCell step) is then one
 * fused op, nb_lstm_recurrence (nn/lstm_op.c: per step one GEMM and one pointwise pass, backward
 * through time in one node); a GRU step is composed from differentiable ops (nb_linear,
 * nb_sigmoid, nb_tanh, nb_mul, nb_add, nb_narrow, nb_stack) and autograd does its backward. */
#include "config.h"
#include "nb__autograd.h"
#include "nb_nn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void *rnn_alloc(size_t size, const nb_module_type *type)
{
    nb_module *m = calloc(1, size);
    if (!m)
        nb__fail("nb_rnn_mod: out of memory allocating a %s", type->name);
    nb_module_init(m, type);
    return m;
}

/* A new [rows, cols] (cols 0: [rows]) leaf parameter ~ U(-bound, bound), held by the module. */
static nb_tensor *rnn_param(nb_module *m, const char *name, int64_t rows, int64_t cols, double bound,
                            nb_generator *gen)
{
    int scope = nb_scope_begin();
    nb_tensor *p = cols ? nb_zeros(NB_DIMS(rows, cols), nb_get_default_dtype())
                        : nb_zeros(NB_DIMS(rows), nb_get_default_dtype());
    nb_tensor_requires_grad_(p, true);
    nb_module_register_parameter(m, name, p);
    nb_scope_end(scope);
    return nb_uniform_(p, -bound, bound, gen);
}

/* Ends scope `token` keeping the n tensors ts[] (NULL entries skipped): each becomes a reference of
 * the enclosing scope (or of the caller when none is open), as nb_scope_return does for one. */
static void scope_return_n(int token, int n, nb_tensor **ts)
{
    for (int i = 0; i < n; i++)
        if (ts[i])
            nb_tensor_retain(ts[i]);
    nb_scope_end(token);
    for (int i = 0; i < n; i++)
        if (ts[i]) {
            nb__new_ref(ts[i]);
            nb_tensor_release(ts[i]);
        }
}

/* ---- carried state ------------------------------------------------------------------------ */
nb_tensor *nb_detach_carry(nb_tensor **slot, const nb_tensor *t)
{
    if (!slot)
        nb__fail("nb_detach_carry: slot is NULL");
    nb_tensor *d = NULL;
    if (t) {
        d = nb_detach(t);
        if (nb_scope_depth() > 0)
            nb_tensor_retain(d); /* the scope's reference goes at its end; this one is the slot's */
    }
    nb_tensor *old = *slot;
    *slot = d;
    if (old)
        nb_tensor_release(old);
    return d;
}

/* ---- one step of each cell kind (shared by the cells and the multi-layer modules) ---------- */
/* The LSTM recurrence over gx [T, B, 4H] (already projected) from h, c [B, H] (NULL: zeros):
 * nb_lstm_recurrence (nn/lstm_op.c). Sets *hseq to the hidden states [T, B, H] (a view) and *h_last,
 * *c_last to the last step's h and c [B, H] (views). All scope-owned. */
static void lstm_run(const nb_tensor *gx, const nb_tensor *h, const nb_tensor *c, const nb_tensor *w_hh,
                     const nb_tensor *b_hh, int64_t H, nb_tensor **hseq, nb_tensor **h_last, nb_tensor **c_last)
{
    nb_tensor *hc = nb_lstm_recurrence(gx, w_hh, b_hh, h, c); /* [T, B, 2H]: h_t, c_t */
    int64_t T = hc->shape[0];
    *hseq = nb_narrow(hc, 2, 0, H);
    *h_last = nb_select(*hseq, 0, T - 1);
    *c_last = nb_select(nb_narrow(hc, 2, H, H), 0, T - 1);
}

/* gx = x W_ih^T + b_ih [B, 3H]: r, z, n. h [B, H] or NULL (zeros). New h (scope-owned). */
static nb_tensor *gru_step(const nb_tensor *gx, const nb_tensor *h, const nb_tensor *w_hh, const nb_tensor *b_hh,
                           int64_t H, int64_t B, nb_dtype dt)
{
    nb_tensor *hz = h ? (nb_tensor *)h : nb_zeros(NB_DIMS(B, H), dt);
    nb_tensor *gh = nb_linear(hz, w_hh, b_hh);                                      /* [B, 3H] */
    nb_tensor *rz = nb_sigmoid(nb_add(nb_narrow(gx, 1, 0, 2 * H), nb_narrow(gh, 1, 0, 2 * H))); /* [B, 2H] */
    nb_tensor *r = nb_narrow(rz, 1, 0, H), *z = nb_narrow(rz, 1, H, H);
    nb_tensor *n = nb_tanh(nb_add(nb_narrow(gx, 1, 2 * H, H), nb_mul(r, nb_narrow(gh, 1, 2 * H, H))));
    /* h' = (1 - z) * n + z * h = n + z * (h - n) */
    return nb_add(n, nb_mul(z, nb_sub(hz, n)));
}

/* ---- cells ---------------------------------------------------------------------------------- */
static void cell_init(nb_rnn_cell_mod *c, int gates, int64_t in, int64_t hidden, bool bias, nb_generator *gen)
{
    c->input_size = in, c->hidden_size = hidden;
    double bound = 1.0 / sqrt((double)hidden);
    c->weight_ih = rnn_param(&c->base, "weight_ih", gates * hidden, in, bound, gen);
    c->weight_hh = rnn_param(&c->base, "weight_hh", gates * hidden, hidden, bound, gen);
    if (bias) {
        c->bias_ih = rnn_param(&c->base, "bias_ih", gates * hidden, 0, bound, gen);
        c->bias_hh = rnn_param(&c->base, "bias_hh", gates * hidden, 0, bound, gen);
    }
}

static void check_sizes(const char *who, int64_t in, int64_t hidden)
{
    if (in <= 0 || hidden <= 0)
        nb__fail("%s: input_size %lld and hidden_size %lld must be positive", who, (long long)in, (long long)hidden);
}

/* x [B, I]; a state argument, when given, [B, H]. */
static void check_cell_args(const char *who, const nb_rnn_cell_mod *c, const nb_tensor *x, const nb_tensor *h,
                            const nb_tensor *cx)
{
    if (x->ndim != 2 || x->shape[1] != c->input_size)
        nb__fail("%s: input of shape %s does not fit input_size %lld (want [B, %lld])", who, NB__SHAPE(x),
                 (long long)c->input_size, (long long)c->input_size);
    const nb_tensor *st[2] = {h, cx};
    for (int k = 0; k < 2; k++)
        if (st[k] && (st[k]->ndim != 2 || st[k]->shape[0] != x->shape[0] || st[k]->shape[1] != c->hidden_size))
            nb__fail("%s: state of shape %s does not fit [%lld, %lld]", who, NB__SHAPE(st[k]),
                     (long long)x->shape[0], (long long)c->hidden_size);
}

static const nb_module_type lstm_cell_type = {"LSTMCell", NULL, NULL};
static const nb_module_type gru_cell_type = {"GRUCell", NULL, NULL};

nb_lstm_cell_mod *nb_lstm_cell_new(nb_module *parent, const char *name, int64_t in, int64_t hidden, bool bias,
                               nb_generator *gen)
{
    check_sizes("nb_lstm_cell_new", in, hidden);
    nb_lstm_cell_mod *c = rnn_alloc(sizeof *c, &lstm_cell_type);
    cell_init(c, 4, in, hidden, bias, gen);
    nb_module_register_module(parent, name, &c->base);
    return c;
}

void nb_lstm_cell_forward(nb_lstm_cell_mod *c, const nb_tensor *x, const nb_tensor *h, const nb_tensor *cx,
                          nb_tensor **h_out, nb_tensor **c_out)
{
    check_cell_args("nb_lstm_cell_forward", c, x, h, cx);
    if (!h_out || !c_out)
        nb__fail("nb_lstm_cell_forward: h_out and c_out must not be NULL");
    int scope = nb_scope_begin();
    nb_tensor *gx = nb_unsqueeze(nb_linear(x, c->weight_ih, c->bias_ih), 0); /* [1, B, 4H] */
    nb_tensor *hseq, *hn, *cn;
    lstm_run(gx, h, cx, c->weight_hh, c->bias_hh, c->hidden_size, &hseq, &hn, &cn);
    nb_tensor *res[2] = {hn, cn};
    scope_return_n(scope, 2, res);
    *h_out = res[0], *c_out = res[1];
}

nb_gru_cell_mod *nb_gru_cell_new(nb_module *parent, const char *name, int64_t in, int64_t hidden, bool bias,
                             nb_generator *gen)
{
    check_sizes("nb_gru_cell_new", in, hidden);
    nb_gru_cell_mod *c = rnn_alloc(sizeof *c, &gru_cell_type);
    cell_init(c, 3, in, hidden, bias, gen);
    nb_module_register_module(parent, name, &c->base);
    return c;
}

nb_tensor *nb_gru_cell_forward(nb_gru_cell_mod *c, const nb_tensor *x, const nb_tensor *h)
{
    check_cell_args("nb_gru_cell_forward", c, x, h, NULL);
    int scope = nb_scope_begin();
    nb_tensor *gx = nb_linear(x, c->weight_ih, c->bias_ih);
    nb_tensor *hn = gru_step(gx, h, c->weight_hh, c->bias_hh, c->hidden_size, x->shape[0], x->dtype);
    return nb__scope_return(scope, hn);
}

/* ---- multi-layer LSTM / GRU ------------------------------------------------------------------ */
static void rnn_free(nb_module *self)
{
    nb_rnn_mod *m = (nb_rnn_mod *)self;
    free(m->weight_ih), free(m->weight_hh), free(m->bias_ih), free(m->bias_hh);
}
static const nb_module_type lstm_type = {"LSTM", NULL, rnn_free};
static const nb_module_type gru_type = {"GRU", NULL, rnn_free};

static nb_rnn_mod *rnn_new(const nb_module_type *type, bool lstm, nb_module *parent, const char *name, int64_t in,
                       int64_t hidden, int num_layers, bool bias, bool batch_first, nb_generator *gen)
{
    const char *who = lstm ? "nb_lstm_new" : "nb_gru_new";
    check_sizes(who, in, hidden);
    if (num_layers <= 0)
        nb__fail("%s: num_layers %d must be positive", who, num_layers);
    nb_rnn_mod *m = rnn_alloc(sizeof *m, type);
    m->is_lstm = lstm, m->input_size = in, m->hidden_size = hidden, m->num_layers = num_layers;
    m->bias = bias, m->batch_first = batch_first;
    m->weight_ih = calloc((size_t)num_layers, sizeof(nb_tensor *));
    m->weight_hh = calloc((size_t)num_layers, sizeof(nb_tensor *));
    m->bias_ih = calloc((size_t)num_layers, sizeof(nb_tensor *));
    m->bias_hh = calloc((size_t)num_layers, sizeof(nb_tensor *));
    if (!m->weight_ih || !m->weight_hh || !m->bias_ih || !m->bias_hh)
        nb__fail("%s: out of memory", who);
    int64_t G = (lstm ? 4 : 3) * hidden;
    double bound = 1.0 / sqrt((double)hidden);
    char nm[48];
    /* torch's parameter order (and so its init order): per layer w_ih, w_hh, b_ih, b_hh */
    for (int k = 0; k < num_layers; k++) {
        snprintf(nm, sizeof nm, "weight_ih_l%d", k);
        m->weight_ih[k] = rnn_param(&m->base, nm, G, k == 0 ? in : hidden, bound, gen);
        snprintf(nm, sizeof nm, "weight_hh_l%d", k);
        m->weight_hh[k] = rnn_param(&m->base, nm, G, hidden, bound, gen);
        if (bias) {
            snprintf(nm, sizeof nm, "bias_ih_l%d", k);
            m->bias_ih[k] = rnn_param(&m->base, nm, G, 0, bound, gen);
            snprintf(nm, sizeof nm, "bias_hh_l%d", k);
            m->bias_hh[k] = rnn_param(&m->base, nm, G, 0, bound, gen);
        }
    }
    nb_module_register_module(parent, name, &m->base);
    return m;
}

nb_lstm_mod *nb_lstm_new(nb_module *parent, const char *name, int64_t in, int64_t hidden, int num_layers, bool bias,
                     bool batch_first, nb_generator *gen)
{
    return rnn_new(&lstm_type, true, parent, name, in, hidden, num_layers, bias, batch_first, gen);
}

nb_gru_mod *nb_gru_new(nb_module *parent, const char *name, int64_t in, int64_t hidden, int num_layers, bool bias,
                   bool batch_first, nb_generator *gen)
{
    return rnn_new(&gru_type, false, parent, name, in, hidden, num_layers, bias, batch_first, gen);
}

static void check_rnn_args(const char *who, const nb_rnn_mod *m, const nb_tensor *x, const nb_tensor *h0,
                           const nb_tensor *c0)
{
    if (x->ndim != 3 || x->shape[2] != m->input_size || x->shape[0] == 0 || x->shape[1] == 0)
        nb__fail("%s: input of shape %s does not fit input_size %lld (want non-empty %s)", who, NB__SHAPE(x),
                 (long long)m->input_size, m->batch_first ? "[B, T, I]" : "[T, B, I]");
    if (!nb_dtype_is_float(x->dtype) || x->dtype != m->weight_ih[0]->dtype)
        nb__fail("%s: input dtype %s differs from the weights' %s", who, nb_dtype_name(x->dtype),
                 nb_dtype_name(m->weight_ih[0]->dtype));
    int64_t B = x->shape[m->batch_first ? 0 : 1];
    const nb_tensor *st[2] = {h0, c0};
    for (int k = 0; k < 2; k++)
        if (st[k] && (st[k]->ndim != 3 || st[k]->shape[0] != m->num_layers || st[k]->shape[1] != B ||
                      st[k]->shape[2] != m->hidden_size))
            nb__fail("%s: initial state of shape %s does not fit [num_layers %d, B %lld, H %lld]", who,
                     NB__SHAPE(st[k]), m->num_layers, (long long)B, (long long)m->hidden_size);
    if (m->is_lstm && (!h0) != (!c0))
        nb__fail("%s: give both h0 and c0 or neither", who);
}

/* Runs all layers. x time-major [T, B, I]. Fills hs_last[L], cs_last[L] and returns the last
 * layer's outputs stacked on `out_dim` (0: [T, B, H], 1: [B, T, H]). All scope-owned. */
static nb_tensor *rnn_layers(nb_rnn_mod *m, const nb_tensor *x, const nb_tensor *h0, const nb_tensor *c0, int out_dim,
                             nb_tensor **hs_last, nb_tensor **cs_last)
{
    int64_t T = x->shape[0], B = x->shape[1], H = m->hidden_size;
    nb_tensor **hs = malloc((size_t)T * sizeof *hs);
    if (!hs)
        nb__fail("nb_rnn_mod: out of memory for %lld steps", (long long)T);
    nb_tensor *layer_in = (nb_tensor *)x, *out = NULL;
    for (int k = 0; k < m->num_layers; k++) {
        nb_tensor *gx = nb_linear(layer_in, m->weight_ih[k], m->bias_ih[k]); /* [T, B, G]: one GEMM */
        nb_tensor *h = h0 ? nb_select(h0, 0, k) : NULL;
        nb_tensor *c = c0 ? nb_select(c0, 0, k) : NULL;
        bool last = k == m->num_layers - 1;
        if (m->is_lstm) { /* the whole recurrence is one op */
            nb_tensor *hseq;
            lstm_run(gx, h, c, m->weight_hh[k], m->bias_hh[k], H, &hseq, &hs_last[k], &cs_last[k]);
            layer_in = out = last ? nb_contiguous(out_dim ? nb_transpose(hseq, 0, 1) : hseq) : hseq;
            continue;
        }
        for (int64_t t = 0; t < T; t++) {
            h = gru_step(nb_select(gx, 0, t), h, m->weight_hh[k], m->bias_hh[k], H, B, x->dtype);
            hs[t] = h;
        }
        hs_last[k] = h, cs_last[k] = c;
        layer_in = out = nb_stack(hs, (int)T, last ? out_dim : 0);
    }
    free(hs);
    return out;
}

/* Shared body of nb_lstm_forward / nb_gru_forward. */
static nb_tensor *rnn_forward(nb_rnn_mod *m, const nb_tensor *x, const nb_tensor *h0, const nb_tensor *c0,
                              nb_tensor **h_n, nb_tensor **c_n)
{
    int scope = nb_scope_begin();
    nb_tensor *xt = m->batch_first ? nb_transpose(x, 0, 1) : (nb_tensor *)x; /* [T, B, I] */
    int L = m->num_layers;
    nb_tensor **hl = calloc(2 * (size_t)L, sizeof *hl);
    if (!hl)
        nb__fail("nb_rnn_mod: out of memory");
    nb_tensor *res[3] = {rnn_layers(m, xt, h0, c0, m->batch_first ? 1 : 0, hl, hl + L), NULL, NULL};
    if (h_n)
        res[1] = nb_stack(hl, L, 0); /* [L, B, H] */
    if (c_n && m->is_lstm)
        res[2] = nb_stack(hl + L, L, 0);
    free(hl);
    scope_return_n(scope, 3, res);
    if (h_n)
        *h_n = res[1];
    if (c_n)
        *c_n = res[2];
    return res[0];
}

nb_tensor *nb_lstm_forward(nb_lstm_mod *m, const nb_tensor *x, const nb_tensor *h0, const nb_tensor *c0,
                           nb_tensor **h_n, nb_tensor **c_n)
{
    if (!m->is_lstm)
        nb__fail("nb_lstm_forward: module is a GRU (use nb_gru_forward)");
    check_rnn_args("nb_lstm_forward", m, x, h0, c0);
    return rnn_forward(m, x, h0, c0, h_n, c_n);
}

nb_tensor *nb_gru_forward(nb_gru_mod *m, const nb_tensor *x, const nb_tensor *h0, nb_tensor **h_n)
{
    if (m->is_lstm)
        nb__fail("nb_gru_forward: module is an LSTM (use nb_lstm_forward)");
    check_rnn_args("nb_gru_forward", m, x, h0, NULL);
    return rnn_forward(m, x, h0, NULL, h_n, NULL);
}
