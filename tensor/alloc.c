/* alloc.c — the allocation choke point, refcounted storage, and the caching allocator.
 * With jemalloc, blocks are 64-byte aligned through mallocx/sdallocx; otherwise aligned_alloc.
 *
 * Caching allocator: a storage is ONE block, its header in the first 64 bytes and its data
 * after, rounded up to a size class (4 classes per power of two, so at most 25% more; untouched
 * pages of the slack are never resident); nb__alloc's scratch blocks (GEMM packing buffers,
 * ...) have the same layout. A released block goes to its class's free list and the next
 * block of that class reuses it; tensor headers and autograd nodes have their own lists. So a
 * training loop allocates nothing from the system after its first step. Cached bytes are capped
 * (nb_set_cache_limit); nb_empty_cache() returns them. The lists are guarded by a mutex: any
 * thread may create or release tensors, and kernels take scratch blocks inside parallel regions.
 * The cache is off under AddressSanitizer and with NB_NO_CACHING_ALLOCATOR=1 in the
 * environment, so a use after free is reported as with plain malloc. */
#define _DEFAULT_SOURCE /* sysconf */
#include "config.h"
#include "nb__tensor.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef NB_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif
#ifdef __linux__
#include <sys/sysinfo.h>
#endif

#define NB__ALIGN 64

/* Bytes of RAM + swap. jemalloc maps with MAP_NORESERVE when the kernel overcommits, so even a
 * 64 TB request "succeeds" and the process is killed later, touching it; requests above this
 * are refused here, as the kernel's heuristic overcommit check refuses them for plain malloc. */
static size_t memory_size(void)
{
#ifdef __linux__
    struct sysinfo si;
    if (sysinfo(&si) == 0 && si.mem_unit > 0)
        return (size_t)((double)si.totalram * si.mem_unit + (double)si.totalswap * si.mem_unit);
#endif
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (size_t)pages * (size_t)psize : SIZE_MAX;
}

/* The system allocation underneath everything (64-byte aligned; sizes must match on free). */
static void *raw_alloc(size_t nbytes)
{
    size_t n = nbytes ? nbytes : 1, mem;
    if (n > ((size_t)1 << 30) && n > (mem = memory_size()))
        nb__fail("nb_alloc: out of memory allocating %zu bytes (RAM + swap is %zu bytes)", nbytes, mem);
    void *p;
#ifdef NB_HAVE_JEMALLOC
    p = mallocx(n, MALLOCX_ALIGN(NB__ALIGN));
#else
    size_t rounded = (n + NB__ALIGN - 1) / NB__ALIGN * NB__ALIGN;
    p = rounded >= n ? aligned_alloc(NB__ALIGN, rounded) : NULL;
#endif
    if (!p)
        nb__fail("nb_alloc: out of memory allocating %zu bytes", nbytes);
    return p;
}

static void raw_free(void *p, size_t nbytes)
{
    if (!p)
        return;
#ifdef NB_HAVE_JEMALLOC
    sdallocx(p, nbytes ? nbytes : 1, MALLOCX_ALIGN(NB__ALIGN));
#else
    (void)nbytes;
    free(p);
#endif
}

/* ---- caching allocator ---------------------------------------------------------------------- */
#if defined(__SANITIZE_ADDRESS__)
#define NB__CACHE_DEFAULT_ON 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NB__CACHE_DEFAULT_ON 0
#endif
#endif
#ifndef NB__CACHE_DEFAULT_ON
#define NB__CACHE_DEFAULT_ON 1
#endif

#define NB__HDR 64                     /* header bytes before the data (keeps data 64-aligned) */
#define NB__NCLASSES 148               /* 4 up to 256 bytes, then 4 per power of two up to 2^44 */
#define NB__CLASS_MAX ((size_t)1 << 44) /* larger blocks are never cached nor rounded */
_Static_assert(sizeof(nb__storage) <= NB__HDR, "storage header must fit before the data");

typedef struct cache_block {
    struct cache_block *next;
} cache_block;

#define NB__OBJ_GRAIN 64      /* small objects: classes of 64 bytes up to NB__OBJ_MAX */
#define NB__OBJ_MAX 4096
#define NB__OBJ_CACHE_MAX ((size_t)16 << 20)

static struct {
    pthread_mutex_t lock;
    cache_block *head[NB__NCLASSES];
    size_t cached, limit;
    cache_block *obj_head[NB__OBJ_MAX / NB__OBJ_GRAIN];
    size_t obj_cached;
    nb_alloc_stats st;
} g_cache = {.lock = PTHREAD_MUTEX_INITIALIZER, .limit = (size_t)2 << 30};

static pthread_once_t g_cache_once = PTHREAD_ONCE_INIT;
static bool g_cache_on;
bool nb__debug_on;

static bool env_flag(const char *name)
{
    const char *e = getenv(name);
    return e && *e && strcmp(e, "0") != 0;
}

static void cache_init(void)
{
    g_cache_on = NB__CACHE_DEFAULT_ON && !env_flag("NB_NO_CACHING_ALLOCATOR");
#ifdef NB_DEBUG_CHECKS_DEFAULT
    nb__debug_on = !getenv("NB_DEBUG") || env_flag("NB_DEBUG");
#else
    nb__debug_on = env_flag("NB_DEBUG");
#endif
}

bool nb_debug_checks(void)
{
    pthread_once(&g_cache_once, cache_init);
    return nb__debug_on;
}

/* Size class of a block of n bytes (n <= NB__CLASS_MAX): its index and rounded size. */
static size_t class_of(size_t n, int *idx)
{
    if (n <= 256) {
        size_t c = n ? (n + 63) / 64 : 1;
        *idx = (int)c - 1;
        return c * 64;
    }
    int e = 63 - __builtin_clzll((unsigned long long)(n - 1)); /* 2^e < n <= 2^(e+1) */
    size_t q = (size_t)1 << (e - 2), k = (n - 1 - ((size_t)1 << e)) / q + 1; /* k in 1..4 */
    *idx = 4 + (e - 8) * 4 + (int)(k - 1);
    return ((size_t)1 << e) + k * q;
}

/* Rounded size of class idx (the inverse of class_of). */
static size_t class_bytes(int idx)
{
    if (idx < 4)
        return (size_t)(idx + 1) * 64;
    int e = (idx - 4) / 4 + 8, k = (idx - 4) % 4 + 1;
    return ((size_t)1 << e) + (size_t)k * ((size_t)1 << (e - 2));
}

/* Block size for a storage of nbytes; *idx = -1 when it is not cacheable. */
static size_t block_size(size_t nbytes, int *idx)
{
    *idx = -1;
    if (nbytes > NB__CLASS_MAX - NB__HDR)
        return nbytes > SIZE_MAX - NB__HDR ? SIZE_MAX : nbytes + NB__HDR; /* raw_alloc fails it */
    if (!g_cache_on)
        return nbytes + NB__HDR;
    return class_of(nbytes + NB__HDR, idx);
}

/* A block for nbytes of payload after the 64-byte header: from the free list of its class, else
 * from the system. *bs and *idx: the block's size and class (-1: not cacheable). */
static void *block_get(size_t nbytes, size_t *bs, int *idx)
{
    *bs = block_size(nbytes, idx);
    void *blk = NULL;
    pthread_mutex_lock(&g_cache.lock);
    if (*idx >= 0 && g_cache.head[*idx]) {
        cache_block *b = g_cache.head[*idx];
        g_cache.head[*idx] = b->next;
        g_cache.cached -= *bs;
        g_cache.st.cache_hits++;
        blk = b;
    } else {
        g_cache.st.fresh_allocs++;
    }
    pthread_mutex_unlock(&g_cache.lock);
    return blk ? blk : raw_alloc(*bs);
}

/* Returns a block to its class's list (within the cap), else to the system. */
static void block_put(void *blk, size_t bs, int idx)
{
    if (idx >= 0) {
        pthread_mutex_lock(&g_cache.lock);
        bool keep = g_cache.cached + bs <= g_cache.limit;
        if (keep) {
            cache_block *b = blk;
            b->next = g_cache.head[idx];
            g_cache.head[idx] = b;
            g_cache.cached += bs;
        }
        pthread_mutex_unlock(&g_cache.lock);
        if (keep)
            return;
    }
    raw_free(blk, bs);
}

nb__storage *nb__storage_new(size_t nbytes)
{
    pthread_once(&g_cache_once, cache_init);
    size_t bs;
    int idx;
    nb__storage *s = block_get(nbytes, &bs, &idx);
    pthread_mutex_lock(&g_cache.lock);
    g_cache.st.storages++;
    pthread_mutex_unlock(&g_cache.lock);
    s->refcount = 1;
    s->nbytes = nbytes;
    s->version = 0;
    s->data = (char *)s + NB__HDR;
    return s;
}

/* Debug mode: a dead storage is poisoned (0xFF bytes: NaN floats, -1 integers) and waits in a
 * FIFO (at most NB__SQ_COUNT storages and NB__SQ_BYTES bytes) before its block is reused. */
#define NB__SQ_COUNT 4096
#define NB__SQ_BYTES ((size_t)256 << 20)
static struct {
    nb__storage *ring[NB__SQ_COUNT];
    size_t head, n, bytes;
} g_sq; /* guarded by g_cache.lock */

static void storage_free(nb__storage *s)
{
    int idx;
    size_t bs = block_size(s->nbytes, &idx);
    block_put(s, bs, idx);
}

static void storage_quarantine(nb__storage *s)
{
    memset(s->data, 0xFF, s->nbytes);
    nb__storage *out[NB__SQ_COUNT];
    int nout = 0;
    pthread_mutex_lock(&g_cache.lock);
    while (g_sq.n && (g_sq.n == NB__SQ_COUNT || g_sq.bytes + s->nbytes > NB__SQ_BYTES)) {
        nb__storage *old = g_sq.ring[g_sq.head];
        g_sq.head = (g_sq.head + 1) % NB__SQ_COUNT;
        g_sq.n--;
        g_sq.bytes -= old->nbytes;
        out[nout++] = old;
    }
    g_sq.ring[(g_sq.head + g_sq.n++) % NB__SQ_COUNT] = s;
    g_sq.bytes += s->nbytes;
    pthread_mutex_unlock(&g_cache.lock);
    for (int i = 0; i < nout; i++)
        storage_free(out[i]);
}

void nb__storage_release(nb__storage *s)
{
    if (!s || --s->refcount > 0)
        return;
    if (nb__debug_on)
        storage_quarantine(s);
    else
        storage_free(s);
}

/* ---- scratch memory of kernels and library structures (the allocation choke point) ------------
 * With the cache on, a block holds its size and class in a header before the returned address,
 * so blocks of every user share the class lists with storage; off, it is the system's block. */
typedef struct {
    uint64_t magic;
    size_t bs;
    int idx;
} scratch_hdr;
_Static_assert(sizeof(scratch_hdr) <= NB__HDR, "scratch header must fit before the data");
#define NB__SCRATCH_MAGIC 0x6e62616c6c6f6321ull

void *nb__alloc(size_t nbytes)
{
    pthread_once(&g_cache_once, cache_init);
    if (!g_cache_on)
        return raw_alloc(nbytes);
    size_t bs;
    int idx;
    scratch_hdr *h = block_get(nbytes, &bs, &idx);
    h->magic = NB__SCRATCH_MAGIC;
    h->bs = bs;
    h->idx = idx;
    return (char *)h + NB__HDR;
}

void nb__free(void *p, size_t nbytes)
{
    if (!p)
        return;
    if (!g_cache_on) {
        raw_free(p, nbytes);
        return;
    }
    scratch_hdr *h = (scratch_hdr *)((char *)p - NB__HDR);
    if (h->magic != NB__SCRATCH_MAGIC)
        nb__fail("nb_free: %p was not allocated by nb__alloc (or is freed twice)", p);
    h->magic = 0;
    block_put(h, h->bs, h->idx);
}

/* ---- small objects (tensor headers, autograd nodes) ----------------------------------------- */
void *nb__obj_alloc(size_t size)
{
    pthread_once(&g_cache_once, cache_init);
    void *p = NULL;
    if (g_cache_on && size && size <= NB__OBJ_MAX) {
        int c = (int)((size - 1) / NB__OBJ_GRAIN);
        pthread_mutex_lock(&g_cache.lock);
        cache_block *b = g_cache.obj_head[c];
        if (b) {
            g_cache.obj_head[c] = b->next;
            g_cache.obj_cached -= (size_t)(c + 1) * NB__OBJ_GRAIN;
        } else {
            g_cache.st.fresh_objects++;
        }
        pthread_mutex_unlock(&g_cache.lock);
        if (b) {
            memset(b, 0, size);
            return b;
        }
        p = calloc(1, (size_t)(c + 1) * NB__OBJ_GRAIN);
    } else {
        p = calloc(1, size ? size : 1);
    }
    if (!p)
        nb__fail("nb_alloc: out of memory allocating a %zu-byte object", size);
    return p;
}

void nb__obj_free(void *p, size_t size)
{
    if (!p)
        return;
    if (g_cache_on && size && size <= NB__OBJ_MAX) {
        int c = (int)((size - 1) / NB__OBJ_GRAIN);
        size_t bs = (size_t)(c + 1) * NB__OBJ_GRAIN;
        pthread_mutex_lock(&g_cache.lock);
        bool keep = g_cache.obj_cached + bs <= NB__OBJ_CACHE_MAX;
        if (keep) {
            cache_block *b = p;
            b->next = g_cache.obj_head[c];
            g_cache.obj_head[c] = b;
            g_cache.obj_cached += bs;
        }
        pthread_mutex_unlock(&g_cache.lock);
        if (keep)
            return;
    }
    free(p);
}

/* Frees every cached block of the lists (lock held). */
static void cache_drain(void)
{
    for (int i = 0; i < NB__NCLASSES; i++) {
        size_t bs = class_bytes(i);
        while (g_cache.head[i]) {
            cache_block *b = g_cache.head[i];
            g_cache.head[i] = b->next;
            raw_free(b, bs);
        }
    }
    g_cache.cached = 0;
    for (int c = 0; c < NB__OBJ_MAX / NB__OBJ_GRAIN; c++)
        while (g_cache.obj_head[c]) {
            cache_block *b = g_cache.obj_head[c];
            g_cache.obj_head[c] = b->next;
            free(b);
        }
    g_cache.obj_cached = 0;
}

void nb_empty_cache(void)
{
    pthread_mutex_lock(&g_cache.lock);
    cache_drain();
    pthread_mutex_unlock(&g_cache.lock);
}

size_t nb_set_cache_limit(size_t bytes)
{
    pthread_mutex_lock(&g_cache.lock);
    size_t prev = g_cache.limit;
    g_cache.limit = bytes;
    if (g_cache.cached > bytes)
        cache_drain();
    pthread_mutex_unlock(&g_cache.lock);
    return prev;
}

nb_alloc_stats nb_get_alloc_stats(void)
{
    pthread_once(&g_cache_once, cache_init);
    pthread_mutex_lock(&g_cache.lock);
    nb_alloc_stats st = g_cache.st;
    st.cached_bytes = g_cache.cached;
    st.cache_limit = g_cache.limit;
    st.caching = g_cache_on;
    pthread_mutex_unlock(&g_cache.lock);
    return st;
}
