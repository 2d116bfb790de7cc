/* print.c — nb_tensor_repr / nb_tensor_print, formatted as PyTorch 1.13's repr
 * (torch/_tensor_str.py with the default print options: precision 4, threshold 1000, edgeitems 3,
 * linewidth 80).
 *
 * Floats: when every nonzero finite value is an integer they print as "1." ("int mode");
 * scientific notation ("1.0000e+05") is used when max/min of the nonzero finite magnitudes
 * exceeds 1000 or the max exceeds 1e8 (or, outside int mode, the min is below 1e-4); otherwise
 * "%.4f". Every element is right-aligned to the widest nonzero finite one (ints and bools: the
 * widest one). More than 1000 elements: each dim longer than 6 shows its first and last 3 items
 * around "...", and the widths are taken over the shown items only. Rows wrap at 80 columns.
 * Suffixes: "size=(0, 3)" for a zero-size tensor that is not 1-D, "dtype=float64" for dtypes
 * other than float32/int64/bool (a zero-size tensor shows any dtype but float32), and
 * "requires_grad=True" (the tensor layer does not name grad_fn). */
#include "config.h"
#include "nb__tensor.h"

#include <math.h>
#include <stdlib.h>

enum { PRINT_PRECISION = 4, PRINT_THRESHOLD = 1000, PRINT_EDGE = 3, PRINT_LINEWIDTH = 80 };

/* ---- growable string ------------------------------------------------------------------------ */
typedef struct {
    char *s;
    size_t n, cap;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            free(b->s);
            nb__fail("nb_tensor_repr: out of memory");
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_repeat(sbuf *b, char c, int n)
{
    for (int i = 0; i < n; i++)
        sb_put(b, &c, 1);
}

/* ---- element formatting --------------------------------------------------------------------- */
typedef struct {
    nb_dtype dt;
    bool int_mode, sci;
    int width;
} formatter;

static const char *elem_addr(const nb_tensor *t, int64_t off)
{
    return (const char *)t->storage->data + off * (int64_t)nb_dtype_size(t->dtype);
}

static double load_float(nb_dtype dt, const char *p) { return nb__load(dt, p); }

/* Unpadded text of the element at p; returns its length (buf holds at least 64 bytes). */
static int format_raw(const formatter *f, const char *p, char *buf, size_t n)
{
    switch (f->dt) {
    case NB_BOOL: return snprintf(buf, n, "%s", *(const uint8_t *)p ? "True" : "False");
    case NB_I32: return snprintf(buf, n, "%ld", (long)*(const int32_t *)p);
    case NB_I64: return snprintf(buf, n, "%lld", (long long)*(const int64_t *)p);
    default: break;
    }
    double v = load_float(f->dt, p);
    if (isnan(v)) /* printf writes "-nan" for a negative NaN; Python always "nan" */
        return snprintf(buf, n, "nan");
    if (isinf(v))
        return snprintf(buf, n, "%s", v > 0 ? "inf" : "-inf");
    if (f->sci)
        return snprintf(buf, n, "%.*e", PRINT_PRECISION, v);
    if (f->int_mode)
        return snprintf(buf, n, "%.0f.", v);
    return snprintf(buf, n, "%.*f", PRINT_PRECISION, v);
}

/* ---- the shown elements (all, or 3 at each edge of every dim when summarizing) ---------------- */
typedef void (*visit_fn)(const char *p, void *ctx);

static void visit_shown(const nb_tensor *t, int d, int64_t off, bool summarize, visit_fn fn, void *ctx)
{
    if (d == t->ndim) {
        fn(elem_addr(t, off), ctx);
        return;
    }
    int64_t size = t->shape[d];
    bool cut = summarize && size > 2 * PRINT_EDGE;
    for (int64_t i = 0; i < size; i++) {
        if (cut && i == PRINT_EDGE)
            i = size - PRINT_EDGE;
        visit_shown(t, d + 1, off + i * t->strides[d], summarize, fn, ctx);
    }
}

typedef struct {
    formatter *f;
    bool any;            /* a nonzero finite value was seen */
    double min_abs, max_abs;
} stats_ctx;

static void float_stats(const char *p, void *ctx)
{
    stats_ctx *c = ctx;
    double v = load_float(c->f->dt, p);
    if (!isfinite(v) || v == 0)
        return;
    double a = fabs(v);
    if (!c->any || a < c->min_abs)
        c->min_abs = a;
    if (!c->any || a > c->max_abs)
        c->max_abs = a;
    c->any = true;
    if (v != ceil(v))
        c->f->int_mode = false;
}

static void widen(const char *p, void *ctx)
{
    formatter *f = ctx;
    if (nb__dtype_is_fp(f->dt)) {
        double v = load_float(f->dt, p);
        if (!isfinite(v) || v == 0) /* only nonzero finite values set the width, as PyTorch */
            return;
    }
    char buf[64];
    int len = format_raw(f, p, buf, sizeof buf);
    if (len > f->width)
        f->width = len;
}

static formatter make_formatter(const nb_tensor *t, bool summarize)
{
    formatter f = {t->dtype, true, false, 1};
    if (nb__dtype_is_fp(t->dtype)) {
        stats_ctx c = {&f, false, 0, 0};
        visit_shown(t, 0, t->offset, summarize, float_stats, &c);
        if (!c.any)
            return f; /* only zeros / nan / inf: int mode, width 1 */
        f.sci = c.max_abs / c.min_abs > 1000.0 || c.max_abs > 1e8 || (!f.int_mode && c.min_abs < 1e-4);
    }
    visit_shown(t, 0, t->offset, summarize, widen, &f);
    return f;
}

static void put_elem(sbuf *b, const formatter *f, const char *p)
{
    char buf[64];
    int len = format_raw(f, p, buf, sizeof buf);
    sb_repeat(b, ' ', f->width - len);
    sb_put(b, buf, (size_t)len);
}

/* ---- layout ----------------------------------------------------------------------------------- */
static void vector_str(sbuf *b, const nb_tensor *t, int64_t off, int indent, bool summarize, const formatter *f)
{
    int d = t->ndim - 1;
    int64_t size = t->shape[d];
    int per_line = (PRINT_LINEWIDTH - indent) / (f->width + 2);
    if (per_line < 1)
        per_line = 1;
    bool cut = summarize && size > 2 * PRINT_EDGE;
    int64_t items = cut ? 2 * PRINT_EDGE + 1 : size; /* " ..." counts as an item */
    sb_puts(b, "[");
    for (int64_t k = 0; k < items; k++) {
        if (k > 0) {
            if (k % per_line == 0) {
                sb_puts(b, ",\n");
                sb_repeat(b, ' ', indent + 1);
            } else {
                sb_puts(b, ", ");
            }
        }
        if (cut && k == PRINT_EDGE) {
            sb_puts(b, " ...");
            continue;
        }
        int64_t i = cut && k > PRINT_EDGE ? size - (items - k) : k;
        put_elem(b, f, elem_addr(t, off + i * t->strides[d]));
    }
    sb_puts(b, "]");
}

static void tensor_str(sbuf *b, const nb_tensor *t, int d, int64_t off, int indent, bool summarize,
                       const formatter *f)
{
    int rem = t->ndim - d;
    if (rem == 1) {
        vector_str(b, t, off, indent, summarize, f);
        return;
    }
    int64_t size = t->shape[d];
    bool cut = summarize && size > 2 * PRINT_EDGE;
    sb_puts(b, "[");
    for (int64_t i = 0; i < size; i++) {
        if (i > 0) { /* separator: ',' + (rem-1) newlines + indent+1 spaces */
            sb_puts(b, ",");
            sb_repeat(b, '\n', rem - 1);
            sb_repeat(b, ' ', indent + 1);
        }
        if (cut && i == PRINT_EDGE) {
            sb_puts(b, "...,");
            sb_repeat(b, '\n', rem - 1);
            sb_repeat(b, ' ', indent + 1);
            i = size - PRINT_EDGE;
        }
        tensor_str(b, t, d + 1, off + i * t->strides[d], indent + 1, summarize, f);
    }
    sb_puts(b, "]");
}

/* Appends ", suffix", or ",\n" + indent + suffix when the line would pass the line width
 * (PyTorch's _add_suffixes; *last_len follows its bookkeeping). */
static void add_suffix(sbuf *b, const char *suffix, int indent, size_t *last_len)
{
    size_t len = strlen(suffix);
    if (*last_len + len + 2 > PRINT_LINEWIDTH) {
        sb_puts(b, ",\n");
        sb_repeat(b, ' ', indent);
        *last_len = (size_t)indent + len;
    } else {
        sb_puts(b, ", ");
        *last_len += len + 2;
    }
    sb_puts(b, suffix);
}

char *nb_tensor_repr(const nb_tensor *t)
{
    static const char prefix[] = "tensor(";
    const int indent = (int)sizeof prefix - 1;
    sbuf b = {0};
    sb_puts(&b, prefix);
    char suffixes[3][200];
    int ns = 0;
    int64_t numel = nb_tensor_numel(t);
    if (numel == 0) {
        sb_puts(&b, "[]");
        if (t->ndim != 1) {
            char *s = suffixes[ns++];
            size_t used = (size_t)snprintf(s, 200, "size=(");
            for (int i = 0; i < t->ndim && used < 200; i++)
                used += (size_t)snprintf(s + used, 200 - used, i ? ", %lld" : "%lld", (long long)t->shape[i]);
            if (used < 200)
                snprintf(s + used, 200 - used, ")");
        }
        if (t->dtype != NB_F32)
            snprintf(suffixes[ns++], 200, "dtype=%s", nb_dtype_name(t->dtype));
    } else {
        bool summarize = numel > PRINT_THRESHOLD;
        formatter f = make_formatter(t, summarize);
        if (t->ndim == 0)
            put_elem(&b, &f, elem_addr(t, t->offset));
        else
            tensor_str(&b, t, 0, t->offset, indent, summarize, &f);
        if (t->dtype != NB_F32 && t->dtype != NB_I64 && t->dtype != NB_BOOL)
            snprintf(suffixes[ns++], 200, "dtype=%s", nb_dtype_name(t->dtype));
    }
    if (t->requires_grad)
        snprintf(suffixes[ns++], 200, "requires_grad=True");
    const char *nl = strrchr(b.s, '\n');
    /* PyTorch: len(s) - s.rfind('\n') + 1, with rfind = -1 when there is no newline */
    size_t last_len = nl ? b.n - (size_t)(nl - b.s) + 1 : b.n + 2;
    for (int i = 0; i < ns; i++)
        add_suffix(&b, suffixes[i], indent, &last_len);
    sb_puts(&b, ")");
    return b.s;
}

void nb_tensor_print(const nb_tensor *t, FILE *f)
{
    char *s = nb_tensor_repr(t);
    fputs(s, f);
    fputc('\n', f);
    free(s);
}
