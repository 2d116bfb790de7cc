/* alloc.c — the allocation choke point and refcounted storage.
 * With jemalloc, storage is 64-byte aligned through mallocx/sdallocx; otherwise aligned_alloc. */
#include "config.h"
#include "nb__tensor.h"

#include <stdlib.h>
#ifdef NB_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#define NB__ALIGN 64

void *nb__alloc(size_t nbytes)
{
    size_t n = nbytes ? nbytes : 1;
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

void nb__free(void *p, size_t nbytes)
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

nb__storage *nb__storage_new(size_t nbytes)
{
    nb__storage *s = malloc(sizeof *s);
    if (!s)
        nb__fail("nb_alloc: out of memory allocating a storage header");
    s->refcount = 1;
    s->nbytes = nbytes;
    s->version = 0;
    s->data = nb__alloc(nbytes);
    return s;
}

void nb__storage_release(nb__storage *s)
{
    if (s && --s->refcount == 0) {
        nb__free(s->data, s->nbytes);
        free(s);
    }
}
