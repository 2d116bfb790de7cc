/* error.c — misuse handler, status codes and their messages, shape text. */
#include "config.h"
#include "nb__tensor.h"

#include <stdio.h>
#include <stdlib.h>

static nb_error_handler g_handler;
static void *g_handler_user;
static _Thread_local char t_last_error[512];

nb_error_handler nb_set_error_handler(nb_error_handler h, void *user)
{
    nb_error_handler prev = g_handler;
    g_handler = h;
    g_handler_user = user;
    return prev;
}

static NB_NORETURN void vfail(const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (g_handler)
        g_handler(msg, g_handler_user);
    fprintf(stderr, "%s\n", msg);
    fflush(stderr);
    abort();
}

void nb__fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(fmt, ap);
}

void nb_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(fmt, ap);
}

static const char *const k_status_text[] = {
#define NB_X(e, msg) msg,
    NB_STATUS_LIST(NB_X)
#undef NB_X
};
_Static_assert(sizeof k_status_text / sizeof *k_status_text == NB_STATUS_COUNT, "status table");

const char *nb_status_str(nb_status st)
{
    if ((unsigned)st >= NB_STATUS_COUNT)
        return "unknown status";
    return k_status_text[st];
}

const char *nb_last_error(void) { return t_last_error; }

/* Formats into a temporary first: callers may pass nb_last_error() itself as an argument
 * ("%s: %s", path, nb_last_error()) to prefix the previous message. */
static nb_status set_last_error(nb_status st, const char *fmt, va_list ap)
{
    char tmp[sizeof t_last_error];
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    memcpy(t_last_error, tmp, sizeof tmp);
    return st;
}

nb_status nb__status(nb_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_last_error(st, fmt, ap);
    va_end(ap);
    return st;
}

nb_status nb_error(nb_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    set_last_error(st, fmt, ap);
    va_end(ap);
    return st;
}

char *nb_shape_str(const int64_t *shape, int ndim, char *buf, size_t n)
{
    size_t used = 0;
    if (n == 0)
        return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf + used, n - used, "[");
    for (int i = 0; i < ndim && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}

nb__shape_buf nb__shape_text(int ndim, const int64_t *shape)
{
    nb__shape_buf b;
    nb_shape_str(shape, ndim, b.s, sizeof b.s);
    return b;
}

int nb__wrap_dim(const char *op, int dim, int ndim)
{
    int n = ndim > 0 ? ndim : 1; /* a 0-dim tensor accepts dim 0 and -1, as in PyTorch */
    if (dim < -n || dim >= n)
        nb__fail("%s: dim %d out of range for a tensor of %d dims (expected %d..%d)", op, dim, ndim,
                 -n, n - 1);
    return dim < 0 ? dim + n : dim;
}

void nb__overflow(const char *op, int64_t a, char how, int64_t b)
{
    nb__fail("%s: size arithmetic overflows int64 (%lld %c %lld)", op, (long long)a, how, (long long)b);
}

void nb__dead_tensor(const char *op, const nb_tensor *t)
{
    /* the header is quarantined (debug mode): its fields are still readable */
    nb__fail("%s: tensor used after it was released (created as tensor #%llu, shape %s, %s)", op,
             (unsigned long long)t->serial, NB__SHAPE(t), nb_dtype_name(t->dtype));
}

void nb__check_float(const char *op, const nb_tensor *t)
{
    nb__check_live(op, t);
    if (nb_dtype_is_storage_only(t->dtype))
        nb__storage_only(op, t->dtype);
    if (!nb_dtype_is_float(t->dtype))
        nb__fail("%s: expected a float32 or float64 tensor, got %s", op, nb_dtype_name(t->dtype));
}

void nb__check_same_dtype(const char *op, const nb_tensor *a, const nb_tensor *b)
{
    nb__check_live(op, a);
    nb__check_live(op, b);
    if (nb_dtype_is_storage_only(a->dtype) || nb_dtype_is_storage_only(b->dtype))
        nb__storage_only(op, nb_dtype_is_storage_only(a->dtype) ? a->dtype : b->dtype);
    if (a->dtype != b->dtype)
        nb__fail("%s: dtype mismatch (%s and %s)", op, nb_dtype_name(a->dtype), nb_dtype_name(b->dtype));
}
