/* nb__safetensors.h — internal entry points of nn/safetensors.c, for tests and fuzz targets, and
 * what nn/safetensors.c and nn/safetensors_header.c (the JSON header's meaning) share. */
#ifndef NB__SAFETENSORS_H
#define NB__SAFETENSORS_H

#include "nb__tensor.h"
#include "nb_safetensors.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* nb_safetensors_load on the `len` bytes at `buf` (a whole file's contents, borrowed): the same
 * checks, results and errors; `name` stands for the path in messages. */
NB__INTERNAL nb_status nb__safetensors_load_mem(const void *buf, size_t len, const char *name,
                                                nb_state_dict **out);

/* The loader rejects a JSON header (or checksum list) whose estimated parsing cost exceeds 8 times
 * its size plus this slack (default 64 MiB); for tests. Returns the previous slack. */
NB__INTERNAL uint64_t nb__safetensors_set_header_slack(uint64_t bytes);

/* ---- shared by safetensors.c and safetensors_header.c ------------------------------------- */
typedef enum { NB__ST_NATIVE, NB__ST_UNSUPPORTED } nb__st_kind;

typedef struct {
    const char *name;
    nb__st_kind kind;
    nb_dtype dt;   /* the tensor's dtype in nabla */
    size_t size;   /* bytes per element in the file */
} nb__st_dtype;

typedef struct {
    const char *name; /* points into the parsed JSON */
    const nb__st_dtype *dt;
    int ndim;
    int64_t shape[NB_MAX_DIMS];
    uint64_t begin, end;
    size_t order; /* position in the header */
    nb_tensor *t; /* borrowed from the dict being built */
    const char *sum; /* expected XXH3-64 as 16 hex digits, or NULL (no checksum stored) */
} nb__st_entry;

#define NB__ST_CHECKSUM_KEY "nabla.xxh3_64"

/* The safetensors name of a dtype nabla stores ("F32", ...), or NULL. */
NB__INTERNAL const char *nb__st_dtype_name(nb_dtype dt);
/* qsort order of entries: by begin, then end, then header position. */
NB__INTERNAL int nb__st_entry_cmp(const void *pa, const void *pb);
/* Parses the header object root into *entries_out (malloc'd, *count_out of them; the caller frees
 * it, also on error, and initializes it to NULL: an allocation failure leaves it), copies __metadata__ into sd (the checksum list, if any, into *sums, a new
 * JSON object the caller frees) and checks that the entries tile [0, data_len) exactly. Each
 * entry's t is left NULL. NB_ERR_FORMAT / NB_ERR_NOMEM with a message naming path. */
NB__INTERNAL nb_status nb__st_parse_header(const char *path, json_t *root, uint64_t data_len,
                                           nb_state_dict *sd, nb__st_entry **entries_out,
                                           size_t *count_out, json_t **sums);
/* The expected checksum of every entry from sums (each entry listed, as 16 hex digits, and no
 * other name), or NB_ERR_FORMAT. */
NB__INTERNAL nb_status nb__st_attach_checksums(const char *path, json_t *sums, nb__st_entry *es,
                                               size_t n);
/* Whether json_loadb's failure with *e on the n bytes at text was an allocation failure inside
 * jansson (also one it reports as a syntax error: a string token it could not copy). */
NB__INTERNAL bool nb__st_json_oom(const json_error_t *e, const char *text, size_t n);
/* NB_ERR_FORMAT when parsing `what` (n bytes of JSON text s) would cost more than 8 times n
 * plus the header slack (see nb__safetensors_set_header_slack). */
NB__INTERNAL nb_status nb__st_check_json_cost(const char *path, const char *what, const char *s,
                                              size_t n);

#endif /* NB__SAFETENSORS_H */
