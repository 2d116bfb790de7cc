/* dist.c — data parallelism over MPI (nb_dist.h), or the single-process stub when libnabla is
 * built without MPI (every collective is then a no-op: world size 1). */
#include "config.h"
#include "nb__tensor.h"
#include "nb_autograd.h"
#include "nb_dist.h"

#include <stdlib.h>
#include <string.h>

#ifdef NB_HAVE_MPI
#include <mpi.h>
#endif

static struct {
    bool initialized; /* nb_dist_init succeeded (with or without MPI) */
    bool enabled;     /* MPI in use */
    bool owns_mpi;    /* nb_dist_init called MPI_Init_thread: finalize calls MPI_Finalize */
    int rank, world, local;
    void *buf; /* the flat gradient buffer, reused across steps */
    size_t cap;
#ifdef NB_HAVE_MPI
    MPI_Comm comm; /* nabla's duplicate of MPI_COMM_WORLD, MPI_ERRORS_RETURN */
#endif
} g_dist = {.world = 1, .local = 1};

/* ---- launcher detection (both builds) ------------------------------------------------------- */
static bool launched_by_mpi(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

#ifndef NB_HAVE_MPI
/* The number of processes the launcher started, or -1 when it does not say. */
static long launcher_world_size(void)
{
    const char *names[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *s = getenv(names[i]);
        char *end;
        if (s && *s) {
            long v = strtol(s, &end, 10);
            if (!*end)
                return v;
        }
    }
    return -1;
}
#endif

/* ---- argument checks (misuse) --------------------------------------------------------------- */
static void check_list(const char *fn, int n, nb_tensor *const *ts, bool need_float)
{
    if (n < 0 || (n > 0 && !ts))
        nb__fail("%s: invalid tensor list (n = %d, tensors %s)", fn, n, ts ? "set" : "NULL");
    for (int i = 0; i < n; i++) {
        if (!ts[i])
            nb__fail("%s: tensor %d is NULL", fn, i);
        if (need_float && !nb_dtype_is_float(ts[i]->dtype))
            nb__fail("%s: parameter %d has dtype %s (float32 or float64 expected)", fn, i, nb_dtype_name(ts[i]->dtype));
        if (need_float && ts[i]->grad && (ts[i]->grad->dtype != ts[i]->dtype || !nb_tensor_same_shape(ts[i]->grad, ts[i])))
            nb__fail("%s: the gradient of parameter %d is %s %s, the parameter %s %s", fn, i,
                     nb_dtype_name(ts[i]->grad->dtype), NB__SHAPE(ts[i]->grad), nb_dtype_name(ts[i]->dtype),
                     NB__SHAPE(ts[i]));
        for (int j = 0; j < i; j++)
            if (ts[j] == ts[i])
                nb__fail("%s: tensor %d is listed twice (also at %d)", fn, i, j);
    }
}

/* ---- checksum (both builds) ----------------------------------------------------------------- */
static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= UINT64_C(1099511628211);
    }
    return h;
}

uint64_t nb_dist_checksum(nb_tensor *const *tensors, int n)
{
    check_list("nb_dist_checksum", n, tensors, false);
    uint64_t h = UINT64_C(14695981039346656037);
    for (int i = 0; i < n; i++) {
        const nb_tensor *t = tensors[i];
        int32_t head[2] = {(int32_t)t->dtype, t->ndim};
        h = fnv1a(h, head, sizeof head);
        h = fnv1a(h, t->shape, (size_t)t->ndim * sizeof t->shape[0]);
        int64_t m = nb_tensor_numel(t);
        size_t es = nb_dtype_size(t->dtype);
        if (nb_tensor_is_contiguous(t))
            h = fnv1a(h, nb_tensor_data(t), (size_t)m * es);
        else
            for (int64_t k = 0; k < m; k++)
                h = fnv1a(h, nb__elem_ptr(t, k), es);
    }
    return h;
}

/* ---- state queries -------------------------------------------------------------------------- */
bool nb_dist_is_available(void)
{
#ifdef NB_HAVE_MPI
    return true;
#else
    return false;
#endif
}

bool nb_dist_is_enabled(void) { return g_dist.enabled; }
int nb_dist_rank(void) { return g_dist.rank; }
int nb_dist_world_size(void) { return g_dist.world; }
int nb_dist_local_size(void) { return g_dist.local; }

static void reset_state(void)
{
    free(g_dist.buf);
    memset(&g_dist, 0, sizeof g_dist);
    g_dist.world = g_dist.local = 1;
}

#ifdef NB_HAVE_MPI
/* ---- MPI build ------------------------------------------------------------------------------ */
static nb_status mpi_error(const char *fn, const char *call, int err)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(err, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "MPI error %d", err);
    return nb__status(NB_ERR_IO, "%s: %s failed on rank %d of %d: %s", fn, call, g_dist.rank, g_dist.world, s);
}

nb_status nb_dist_init(int *argc, char ***argv)
{
    static const char *fn = "nb_dist_init";
    if (g_dist.initialized)
        return NB_OK;
    const char *force = getenv("NB_DIST");
    if (force && strcmp(force, "0") && strcmp(force, "1"))
        return nb__status(NB_ERR_INVALID, "%s: NB_DIST=%s in the environment: expected 0 or 1", fn, force);
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    bool want = force ? force[0] == '1' : (launched_by_mpi() || inited);
    if (!want) {
        g_dist.initialized = true;
        return NB_OK;
    }
    if (finalized)
        return nb__status(NB_ERR_INVALID, "%s: MPI was already finalized in this process", fn);
    int err;
    if (!inited) {
        int provided;
        if ((err = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
            return mpi_error(fn, "MPI_Init_thread", err);
        g_dist.owns_mpi = true;
    }
    MPI_Comm local;
    int rank = 0, world = 1, nlocal = 1;
    if ((err = MPI_Comm_dup(MPI_COMM_WORLD, &g_dist.comm)) != MPI_SUCCESS)
        return mpi_error(fn, "MPI_Comm_dup", err);
    MPI_Comm_set_errhandler(g_dist.comm, MPI_ERRORS_RETURN);
    if ((err = MPI_Comm_rank(g_dist.comm, &rank)) != MPI_SUCCESS || (err = MPI_Comm_size(g_dist.comm, &world)) != MPI_SUCCESS)
        return mpi_error(fn, "MPI_Comm_rank/size", err);
    if ((err = MPI_Comm_split_type(g_dist.comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local)) != MPI_SUCCESS)
        return mpi_error(fn, "MPI_Comm_split_type", err);
    MPI_Comm_size(local, &nlocal);
    MPI_Comm_free(&local);
    g_dist.rank = rank, g_dist.world = world, g_dist.local = nlocal;
    g_dist.enabled = g_dist.initialized = true;
    return NB_OK;
}

void nb_dist_finalize(void)
{
    if (g_dist.enabled) {
        MPI_Comm_free(&g_dist.comm);
        if (g_dist.owns_mpi)
            MPI_Finalize();
    }
    reset_state();
}

/* MPI counts are int: large buffers go in chunks. */
enum { MAX_CHUNK = 1 << 30 };

static nb_status bcast_raw(const char *fn, void *buf, size_t nbytes)
{
    for (size_t off = 0; off < nbytes; off += MAX_CHUNK) {
        int count = (int)(nbytes - off < MAX_CHUNK ? nbytes - off : MAX_CHUNK);
        int err = MPI_Bcast((char *)buf + off, count, MPI_BYTE, 0, g_dist.comm);
        if (err != MPI_SUCCESS)
            return mpi_error(fn, "MPI_Bcast", err);
    }
    return NB_OK;
}

static nb_status allreduce_raw(const char *fn, void *buf, int64_t count, bool f64, MPI_Op op)
{
    size_t es = f64 ? sizeof(double) : sizeof(float);
    for (int64_t off = 0; off < count; off += MAX_CHUNK) {
        int c = (int)(count - off < MAX_CHUNK ? count - off : MAX_CHUNK);
        int err = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)off * es, c, f64 ? MPI_DOUBLE : MPI_FLOAT, op,
                                g_dist.comm);
        if (err != MPI_SUCCESS)
            return mpi_error(fn, "MPI_Allreduce", err);
    }
    return NB_OK;
}

/* Writes the reduced values (contiguous, buffer dtype) into p's gradient: in place when the
 * gradient is private, contiguous and of the buffer's dtype, else as a new gradient tensor (a
 * gradient shared with another tensor must not change under it). */
static void unpack_grad(nb_tensor *p, const void *src, bool f64)
{
    nb_tensor *g = p->grad;
    nb_dtype bdt = f64 ? NB_F64 : NB_F32;
    if (g && g->dtype == bdt && nb_tensor_is_contiguous(g) && g->refcount == 1 && g->storage->refcount == 1) {
        memcpy(nb_tensor_data(g), src, (size_t)nb_tensor_numel(g) * nb_dtype_size(bdt));
        nb__bump_version(g);
        return;
    }
    nb_tensor *t = f64 ? nb_from_doubles(src, p->shape, p->ndim, p->dtype) : nb_from_data(src, p->shape, p->ndim, NB_F32);
    nb_tensor_set_grad(p, t); /* retains t; the caller's scope releases our reference */
}

nb_status nb_dist_allreduce_grads_mean(nb_tensor *const *params, int n)
{
    static const char *fn = "nb_dist_allreduce_grads_mean";
    check_list(fn, n, params, true);
    if (g_dist.world <= 1 || n == 0)
        return NB_OK;
    bool f64 = false;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        f64 |= params[i]->dtype == NB_F64;
        total += nb_tensor_numel(params[i]);
    }
    /* layout: every gradient in order, then one has-gradient count per parameter */
    size_t es = f64 ? sizeof(double) : sizeof(float), need = (size_t)(total + n) * es;
    if (need > g_dist.cap) {
        void *nb = realloc(g_dist.buf, need);
        if (!nb)
            return nb__status(NB_ERR_NOMEM, "%s: cannot allocate the %zu-byte gradient buffer", fn, need);
        g_dist.buf = nb, g_dist.cap = need;
    }
    char *buf = g_dist.buf;
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        const nb_tensor *g = params[i]->grad;
        int64_t m = nb_tensor_numel(params[i]);
        char *dst = buf + (size_t)off * es;
        if (!g)
            memset(dst, 0, (size_t)m * es);
        else if (nb_tensor_is_contiguous(g) && g->dtype == (f64 ? NB_F64 : NB_F32))
            memcpy(dst, nb_tensor_data(g), (size_t)m * es);
        else if (f64)
            nb_tensor_to_doubles(g, (double *)dst);
        else
            nb_tensor_to_floats(g, (float *)dst);
        if (f64)
            ((double *)buf)[total + i] = g ? 1.0 : 0.0;
        else
            ((float *)buf)[total + i] = g ? 1.0f : 0.0f;
        off += m;
    }
    nb_status st = allreduce_raw(fn, buf, total + n, f64, MPI_SUM);
    if (st != NB_OK)
        return st;
    if (f64) {
        double *v = (double *)buf, w = (double)g_dist.world;
        for (int64_t k = 0; k < total; k++)
            v[k] /= w;
    } else {
        float *v = (float *)buf, w = (float)g_dist.world;
        for (int64_t k = 0; k < total; k++)
            v[k] /= w;
    }
    int s = nb_scope_begin();
    off = 0;
    for (int i = 0; i < n; i++) {
        double have = f64 ? ((double *)buf)[total + i] : ((float *)buf)[total + i];
        if (have > 0) /* some rank has a gradient: every rank gets the mean */
            unpack_grad(params[i], buf + (size_t)off * es, f64);
        off += nb_tensor_numel(params[i]);
    }
    nb_scope_end(s);
    return NB_OK;
}

nb_status nb_dist_broadcast_params(nb_tensor *const *tensors, int n)
{
    static const char *fn = "nb_dist_broadcast_params";
    check_list(fn, n, tensors, false);
    if (g_dist.world <= 1)
        return NB_OK;
    nb_status st = NB_OK;
    int s = nb_scope_begin();
    for (int i = 0; i < n && st == NB_OK; i++) {
        nb_tensor *t = tensors[i];
        size_t nbytes = (size_t)nb_tensor_numel(t) * nb_dtype_size(t->dtype);
        nb_tensor *c = nb_tensor_is_contiguous(t) ? t : nb__contiguous_copy(t);
        st = bcast_raw(fn, nb_tensor_data(c), nbytes);
        if (st == NB_OK && g_dist.rank != 0) {
            if (c != t)
                nb__copy_into(t, c);
            nb__bump_version(t);
        }
    }
    nb_scope_end(s);
    return st;
}

nb_status nb_dist_broadcast_bytes(void *buf, size_t nbytes)
{
    if (nbytes && !buf)
        nb__fail("nb_dist_broadcast_bytes: buf is NULL for %zu bytes", nbytes);
    return g_dist.world <= 1 ? NB_OK : bcast_raw("nb_dist_broadcast_bytes", buf, nbytes);
}

nb_status nb_dist_allreduce_doubles(double *buf, int n, nb_dist_op op)
{
    if (n < 0 || (n > 0 && !buf))
        nb__fail("nb_dist_allreduce_doubles: invalid buffer (n = %d, buf %s)", n, buf ? "set" : "NULL");
    if (op != NB_DIST_SUM && op != NB_DIST_MIN && op != NB_DIST_MAX)
        nb__fail("nb_dist_allreduce_doubles: unknown op %d", (int)op);
    if (g_dist.world <= 1 || n == 0)
        return NB_OK;
    MPI_Op mop = op == NB_DIST_SUM ? MPI_SUM : op == NB_DIST_MIN ? MPI_MIN : MPI_MAX;
    return allreduce_raw("nb_dist_allreduce_doubles", buf, n, true, mop);
}

nb_status nb_dist_barrier(void)
{
    if (g_dist.world <= 1)
        return NB_OK;
    int err = MPI_Barrier(g_dist.comm);
    return err == MPI_SUCCESS ? NB_OK : mpi_error("nb_dist_barrier", "MPI_Barrier", err);
}

nb_status nb_dist_check_identical(nb_tensor *const *tensors, int n)
{
    static const char *fn = "nb_dist_check_identical";
    uint64_t mine = nb_dist_checksum(tensors, n);
    if (g_dist.world <= 1)
        return NB_OK;
    uint64_t *all = malloc((size_t)g_dist.world * sizeof *all);
    if (!all)
        return nb__status(NB_ERR_NOMEM, "%s: out of memory", fn);
    int err = MPI_Allgather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, g_dist.comm);
    nb_status st = err == MPI_SUCCESS ? NB_OK : mpi_error(fn, "MPI_Allgather", err);
    for (int r = 1; r < g_dist.world && st == NB_OK; r++)
        if (all[r] != all[0])
            st = nb__status(NB_ERR_MISMATCH,
                            "%s: the %d tensors differ across ranks: rank %d has checksum %016llx, rank 0 %016llx", fn, n,
                            r, (unsigned long long)all[r], (unsigned long long)all[0]);
    free(all);
    return st;
}

#else
/* ---- single-process stub (libnabla built without MPI) --------------------------------------- */
nb_status nb_dist_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (g_dist.initialized)
        return NB_OK;
    const char *force = getenv("NB_DIST");
    if (force && strcmp(force, "0") && strcmp(force, "1"))
        return nb__status(NB_ERR_INVALID, "nb_dist_init: NB_DIST=%s in the environment: expected 0 or 1", force);
    if (force && force[0] == '1')
        return nb__status(NB_ERR_INVALID, "nb_dist_init: NB_DIST=1 but libnabla was built without MPI "
                                          "(install libopenmpi-dev and reconfigure --with-mpi)");
    long n = launcher_world_size();
    if (!force && launched_by_mpi() && n > 1)
        return nb__status(NB_ERR_INVALID,
                          "nb_dist_init: started by an MPI launcher as one of %ld processes, but libnabla was built "
                          "without MPI, so each would train alone and overwrite the others' files (install "
                          "libopenmpi-dev and reconfigure --with-mpi)", n);
    g_dist.initialized = true;
    return NB_OK;
}

void nb_dist_finalize(void) { reset_state(); }

nb_status nb_dist_allreduce_grads_mean(nb_tensor *const *params, int n)
{
    check_list("nb_dist_allreduce_grads_mean", n, params, true);
    return NB_OK;
}

nb_status nb_dist_broadcast_params(nb_tensor *const *tensors, int n)
{
    check_list("nb_dist_broadcast_params", n, tensors, false);
    return NB_OK;
}

nb_status nb_dist_broadcast_bytes(void *buf, size_t nbytes)
{
    if (nbytes && !buf)
        nb__fail("nb_dist_broadcast_bytes: buf is NULL for %zu bytes", nbytes);
    return NB_OK;
}

nb_status nb_dist_allreduce_doubles(double *buf, int n, nb_dist_op op)
{
    if (n < 0 || (n > 0 && !buf))
        nb__fail("nb_dist_allreduce_doubles: invalid buffer (n = %d, buf %s)", n, buf ? "set" : "NULL");
    if (op != NB_DIST_SUM && op != NB_DIST_MIN && op != NB_DIST_MAX)
        nb__fail("nb_dist_allreduce_doubles: unknown op %d", (int)op);
    return NB_OK;
}

nb_status nb_dist_barrier(void) { return NB_OK; }

nb_status nb_dist_check_identical(nb_tensor *const *tensors, int n)
{
    (void)nb_dist_checksum(tensors, n); /* the same argument checks */
    return NB_OK;
}
#endif
