/* safetensors_header.c — the meaning of a safetensors JSON header, for nn/safetensors.c's loader
 * (declarations in nb__safetensors.h): the dtype table, one entry's dtype/shape/data_offsets, the
 * __metadata__ and its checksum list, the tiling of the data by the entries, and the bound on the
 * memory parsing a header may cost. jansson parses the text; this file only checks it. */
#include "config.h"

#include "nb__safetensors.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ---- dtypes --------------------------------------------------------------------------------- */

static const nb__st_dtype k_st_dtypes[] = {
    {"F32", NB__ST_NATIVE, NB_F32, 4},   {"F64", NB__ST_NATIVE, NB_F64, 8},
    {"I32", NB__ST_NATIVE, NB_I32, 4},   {"I64", NB__ST_NATIVE, NB_I64, 8},
    {"BOOL", NB__ST_NATIVE, NB_BOOL, 1}, {"F16", NB__ST_NATIVE, NB_F16, 2},
    {"BF16", NB__ST_NATIVE, NB_BF16, 2},    {"U8", NB__ST_UNSUPPORTED, NB_F32, 1},
    {"I8", NB__ST_UNSUPPORTED, NB_F32, 1}, {"U16", NB__ST_UNSUPPORTED, NB_F32, 2},
    {"I16", NB__ST_UNSUPPORTED, NB_F32, 2}, {"U32", NB__ST_UNSUPPORTED, NB_F32, 4},
    {"U64", NB__ST_UNSUPPORTED, NB_F32, 8}, {"F8_E4M3", NB__ST_UNSUPPORTED, NB_F32, 1},
    {"F8_E5M2", NB__ST_UNSUPPORTED, NB_F32, 1}, {"F8_E8M0", NB__ST_UNSUPPORTED, NB_F32, 1},
    {"C64", NB__ST_UNSUPPORTED, NB_F32, 8},
};
#define N_ST_DTYPES (sizeof k_st_dtypes / sizeof *k_st_dtypes)

static const nb__st_dtype *st_dtype_find(const char *name)
{
    for (size_t i = 0; i < N_ST_DTYPES; i++)
        if (strcmp(k_st_dtypes[i].name, name) == 0)
            return &k_st_dtypes[i];
    return NULL;
}

const char *nb__st_dtype_name(nb_dtype dt)
{
    for (size_t i = 0; i < N_ST_DTYPES; i++)
        if (k_st_dtypes[i].kind == NB__ST_NATIVE && k_st_dtypes[i].dt == dt)
            return k_st_dtypes[i].name;
    return NULL;
}

/* ---- header entries ------------------------------------------------------------------------- */
int nb__st_entry_cmp(const void *pa, const void *pb)
{
    const nb__st_entry *a = pa, *b = pb;
    if (a->begin != b->begin)
        return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end)
        return a->end < b->end ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Checks one header entry and fills e. */
static nb_status parse_entry(const char *path, const char *name, json_t *v, nb__st_entry *e)
{
    e->name = name;
    if (!json_is_object(v))
        return nb__status(NB_ERR_FORMAT, "%s: entry '%s' is not an object", path, name);
    json_t *jdt = json_object_get(v, "dtype"), *jshape = json_object_get(v, "shape"),
           *joff = json_object_get(v, "data_offsets");
    if (!jdt || !jshape || !joff)
        return nb__status(NB_ERR_FORMAT, "%s: tensor '%s': missing \"%s\"", path, name,
                          !jdt ? "dtype" : !jshape ? "shape" : "data_offsets");
    if (!json_is_string(jdt))
        return nb__status(NB_ERR_FORMAT, "%s: tensor '%s': dtype is not a string", path, name);
    const char *dtn = json_string_value(jdt);
    e->dt = st_dtype_find(dtn);
    if (!e->dt)
        return nb__status(NB_ERR_FORMAT, "%s: tensor '%s': unknown dtype '%s'", path, name, dtn);
    if (e->dt->kind == NB__ST_UNSUPPORTED)
        return nb__status(NB_ERR_FORMAT,
                          "%s: tensor '%s': dtype %s is not supported (nabla reads F32, F64, I32, "
                          "I64, BOOL, F16, BF16)", path, name, dtn);

    if (!json_is_array(jshape))
        return nb__status(NB_ERR_FORMAT, "%s: tensor '%s': shape is not a list", path, name);
    size_t nd = json_array_size(jshape);
    if (nd > NB_MAX_DIMS)
        return nb__status(NB_ERR_FORMAT, "%s: tensor '%s': shape has %zu dims, nabla supports at most %d",
                          path, name, nd, NB_MAX_DIMS);
    e->ndim = (int)nd;
    int64_t numel = 1, span = 1; /* span: the product of the sizes > 0, which strides reach */
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(jshape, i);
        if (!json_is_integer(d) || json_integer_value(d) < 0)
            return nb__status(NB_ERR_FORMAT,
                              "%s: tensor '%s': shape entry %zu is not a non-negative integer", path,
                              name, i);
        e->shape[i] = (int64_t)json_integer_value(d);
    }
    for (size_t i = 0; i < nd; i++) { /* the same bound nb_empty enforces, so it never aborts */
        int64_t d = e->shape[i];
        if (d > 0 && span > INT64_MAX / 16 / d)
            return nb__status(NB_ERR_FORMAT, "%s: tensor '%s': shape %s has too many elements (overflow)",
                              path, name, nb__shape_text(e->ndim, e->shape).s);
        numel *= d;
        span *= d > 0 ? d : 1;
    }

    if (!json_is_array(joff) || json_array_size(joff) != 2 ||
        !json_is_integer(json_array_get(joff, 0)) || !json_is_integer(json_array_get(joff, 1)) ||
        json_integer_value(json_array_get(joff, 0)) < 0 || json_integer_value(json_array_get(joff, 1)) < 0)
        return nb__status(NB_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets is not a list of two non-negative integers",
                          path, name);
    e->begin = (uint64_t)json_integer_value(json_array_get(joff, 0));
    e->end = (uint64_t)json_integer_value(json_array_get(joff, 1));
    if (e->end < e->begin)
        return nb__status(NB_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                          "] end before begin", path, name, e->begin, e->end);
    uint64_t want = (uint64_t)numel * e->dt->size; /* numel <= INT64_MAX/16, size <= 8 */
    if (e->end - e->begin != want)
        return nb__status(NB_ERR_FORMAT,
                          "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] span %" PRIu64
                          " bytes, expected %" PRIu64 " (shape %s of %s)", path, name, e->begin,
                          e->end, e->end - e->begin, want, nb__shape_text(e->ndim, e->shape).s,
                          e->dt->name);
    return NB_OK;
}

/* Copies the metadata into sd, except the checksum list, parsed into *sums (a new JSON object the
 * caller frees, or NULL when the file has none). */
static nb_status parse_metadata(const char *path, json_t *m, nb_state_dict *sd, json_t **sums)
{
    if (json_is_null(m))
        return NB_OK;
    if (!json_is_object(m))
        return nb__status(NB_ERR_FORMAT, "%s: __metadata__ is not an object", path);
    const char *k;
    json_t *v;
    json_object_foreach(m, k, v) {
        if (!json_is_string(v))
            return nb__status(NB_ERR_FORMAT, "%s: __metadata__ value of '%s' is not a string", path, k);
        if (strcmp(k, NB__ST_CHECKSUM_KEY) != 0) {
            nb_state_dict_set_meta(sd, k, json_string_value(v));
            continue;
        }
        nb_status st = nb__st_check_json_cost(path, "the checksum list", json_string_value(v), json_string_length(v));
        if (st != NB_OK)
            return st;
        json_error_t jerr;
        *sums = json_loadb(json_string_value(v), json_string_length(v), JSON_REJECT_DUPLICATES, &jerr);
        if (!*sums && nb__st_json_oom(&jerr, json_string_value(v), json_string_length(v)))
            return nb__status(NB_ERR_NOMEM, "%s: out of memory parsing the checksum list", path);
        if (!*sums || !json_is_object(*sums))
            return nb__status(NB_ERR_FORMAT, "%s: __metadata__ '%s' is not a JSON object of checksums", path, k);
    }
    return NB_OK;
}

/* The expected checksum of every entry from sums (each entry listed, as 16 hex digits, and no
 * other name), or NB_ERR_FORMAT. */
nb_status nb__st_attach_checksums(const char *path, json_t *sums, nb__st_entry *es, size_t n)
{
    if (json_object_size(sums) != n)
        return nb__status(NB_ERR_FORMAT, "%s: the checksum list names %zu tensors, the file holds %zu", path,
                          json_object_size(sums), n);
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(sums, es[i].name);
        const char *h = json_is_string(v) ? json_string_value(v) : NULL;
        if (!h || strlen(h) != 16 || strspn(h, "0123456789abcdef") != 16)
            return nb__status(NB_ERR_FORMAT, "%s: tensor '%s' has no valid checksum in the checksum list", path,
                              es[i].name);
        es[i].sum = h;
    }
    return NB_OK;
}

/* Parses the header text into entries (and metadata into sd, checksums into *sums) and checks the
 * data layout. */
nb_status nb__st_parse_header(const char *path, json_t *root, uint64_t data_len, nb_state_dict *sd,
                              nb__st_entry **entries_out, size_t *count_out, json_t **sums)
{
    size_t cap = json_object_size(root), n = 0;
    nb__st_entry *es = calloc(cap ? cap : 1, sizeof *es);
    if (!es)
        return nb__status(NB_ERR_NOMEM, "%s: out of memory for %zu header entries", path, cap);
    *entries_out = es;
    const char *key;
    json_t *v;
    nb_status st;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "__metadata__") == 0) {
            if ((st = parse_metadata(path, v, sd, sums)) != NB_OK)
                return st;
            continue;
        }
        if ((st = parse_entry(path, key, v, &es[n])) != NB_OK)
            return st;
        es[n].order = n;
        n++;
    }
    *count_out = n;

    /* sorted by begin, the entries must tile [0, data_len) exactly */
    nb__st_entry *sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        return nb__status(NB_ERR_NOMEM, "%s: out of memory sorting %zu entries", path, n);
    memcpy(sorted, es, n * sizeof *es);
    qsort(sorted, n, sizeof *sorted, nb__st_entry_cmp);
    uint64_t pos = 0;
    st = NB_OK;
    for (size_t i = 0; i < n && st == NB_OK; i++) {
        const nb__st_entry *e = &sorted[i];
        if (e->begin > pos)
            st = nb__status(NB_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] leave a gap after byte %" PRIu64 " (offsets must be contiguous from 0)",
                            path, e->name, e->begin, e->end, pos);
        else if (e->begin < pos)
            st = nb__status(NB_ERR_FORMAT, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                            "] overlap the previous tensor, which ends at byte %" PRIu64, path,
                            e->name, e->begin, e->end, pos);
        pos = e->end;
    }
    free(sorted);
    if (st != NB_OK)
        return st;
    if (pos < data_len)
        return nb__status(NB_ERR_FORMAT, "%s: %" PRIu64 " trailing bytes after the data (the header "
                          "describes %" PRIu64 " data bytes, the file holds %" PRIu64 ")", path,
                          data_len - pos, pos, data_len);
    if (pos > data_len)
        return nb__status(NB_ERR_FORMAT, "%s: file truncated: the header describes %" PRIu64
                          " data bytes, the file holds %" PRIu64, path, pos, data_len);
    return NB_OK;
}

/* ---- jansson's out-of-memory --------------------------------------------------------------- */
/* A failed allocation inside jansson's parser comes back as json_error_out_of_memory, or with no
 * message at all (line -1), or, when the copy of a string token cannot be allocated, as a syntax
 * error: its lexer then hands the parser an invalid token, reported as "string or '}' expected"
 * (an object key) or "invalid token" (a value), just past the string's closing quote. A string
 * that is malformed is reported first by the lexer with its own message ("invalid escape",
 * "control character", "premature end of input", invalid UTF-8), which jansson keeps (the first
 * error wins), and no other invalid token ends with a quote: so those two messages after a '"'
 * mean memory, not syntax. */
bool nb__st_json_oom(const json_error_t *e, const char *text, size_t n)
{
    enum json_error_code code = json_error_code(e);
    if (code == json_error_out_of_memory || (!e->text[0] && code != json_error_duplicate_key))
        return true;
    if (code != json_error_invalid_syntax || e->position < 2 || (size_t)e->position > n || text[e->position - 1] != '"')
        return false;
    return !strncmp(e->text, "string or '}' expected", 22) || !strncmp(e->text, "invalid token", 13);
}

/* ---- the memory a header may cost ------------------------------------------------------------
 * jansson's tree and the entries, tensors and names built from it take ~10-50 bytes per header
 * byte when the header is dense ("[0,0,...", "{},{},...", thousands of empty metadata strings): a
 * 99 MB header cost 1.8-4.5 GB. Before parsing, a linear scan (no allocation) adds up a generous
 * estimate per JSON token; a header whose estimate exceeds ST_COST_FACTOR times its size plus a
 * slack is rejected with a status, so a header never costs more than about that. Real headers
 * (a few hundred bytes per tensor, ~15 bytes of cost per byte) stay far below the slack up to
 * ~100,000 tensors. */
#define ST_COST_FACTOR 8
#define ST_COST_SCALAR 48   /* json_integer/real/true/false/null, its array slot */
#define ST_COST_STRING 128  /* json_string or an object member (hashtable pair), + 2 x its length */
#define ST_COST_ARRAY 160   /* json_array and its first table */
#define ST_COST_OBJECT 320  /* json_object and its first bucket table */
#define ST_COST_ENTRY 640   /* a top-level member: nb__st_entry, tensor, storage, dict entry */
static uint64_t g_header_slack = (uint64_t)64 << 20;

uint64_t nb__safetensors_set_header_slack(uint64_t bytes)
{
    uint64_t old = g_header_slack;
    g_header_slack = bytes;
    return old;
}

/* The estimated cost of parsing the JSON text s[0..n) (tokens only: validity is jansson's
 * concern); stops counting once over limit. */
static uint64_t json_cost(const char *s, size_t n, uint64_t limit)
{
    uint64_t cost = 0;
    int depth = 0;
    for (size_t i = 0; i < n && cost <= limit; i++) {
        char c = s[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < n && s[j] != '"')
                j += s[j] == '\\' ? 2 : 1;
            cost += ST_COST_STRING + 2 * (uint64_t)(j - i);
            i = j;
        } else if (c == '{' || c == '[') {
            cost += c == '{' ? ST_COST_OBJECT : ST_COST_ARRAY;
            if (++depth == 2)
                cost += ST_COST_ENTRY;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == '-' || (c >= '0' && c <= '9') || c == 't' || c == 'f' || c == 'n') {
            cost += ST_COST_SCALAR;
            while (i + 1 < n && strchr("0123456789+-.eEtrufalsn", s[i + 1]) && s[i + 1])
                i++;
        }
    }
    return cost;
}

/* NB_ERR_FORMAT when parsing `what` (n bytes of JSON) would cost more than its share. */
nb_status nb__st_check_json_cost(const char *path, const char *what, const char *s, size_t n)
{
    uint64_t limit = ST_COST_FACTOR * (uint64_t)n + g_header_slack;
    uint64_t cost = json_cost(s, n, limit);
    if (cost > limit)
        return nb__status(NB_ERR_FORMAT, "%s: %s of %zu bytes is too dense: parsing it would take more than %"
                          PRIu64 " MB (at most %d times its size + %" PRIu64 " MB)", path, what, n,
                          limit >> 20, ST_COST_FACTOR, g_header_slack >> 20);
    return NB_OK;
}
