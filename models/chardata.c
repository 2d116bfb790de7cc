/* chardata.c — UTF-8 char tokenizer and the batch loader. */
#define _DEFAULT_SOURCE /* POSIX: truncate, fork, mkstemp, sigaction */
#include "config.h"
#include "chardata.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Decodes one code point at s[*i] (len bytes); returns false on invalid UTF-8. */
static bool utf8_next(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
    unsigned char c = s[*i];
    int extra;
    uint32_t v;
    if (c < 0x80) { v = c; extra = 0; }
    else if ((c & 0xE0) == 0xC0) { v = c & 0x1F; extra = 1; }
    else if ((c & 0xF0) == 0xE0) { v = c & 0x0F; extra = 2; }
    else if ((c & 0xF8) == 0xF0) { v = c & 0x07; extra = 3; }
    else return false;
    if (*i + (size_t)extra >= len)
        return false; /* truncated sequence */
    for (int k = 1; k <= extra; k++) {
        unsigned char cc = s[*i + (size_t)k];
        if ((cc & 0xC0) != 0x80)
            return false;
        v = (v << 6) | (cc & 0x3F);
    }
    static const uint32_t min[4] = {0, 0x80, 0x800, 0x10000};
    if (v < min[extra] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return false; /* overlong, out of range, surrogate */
    *i += (size_t)extra + 1;
    *cp = v;
    return true;
}

static size_t utf8_put(uint32_t cp, char *out)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | (cp >> 6)); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12)); out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18)); out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

nb_status nb_vocab_build(nb_vocab *v, const char *text, size_t len)
{
    v->n = 0;
    if (len == 0)
        return nb_error(NB_ERR_INVALID, "the text is empty");
    static _Thread_local unsigned char seen_ascii[128];
    memset(seen_ascii, 0, sizeof seen_ascii);
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t at = i;
        if (s[i] == 0)
            return nb_error(NB_ERR_FORMAT, "not a text file: NUL byte at offset %zu", at);
        if (!utf8_next(s, len, &i, &cp))
            return nb_error(NB_ERR_FORMAT, "not a text file: invalid UTF-8 at offset %zu", at);
        if (cp < 128) {
            if (seen_ascii[cp])
                continue;
            seen_ascii[cp] = 1;
        } else {
            bool dup = false;
            for (int k = 0; k < v->n && !dup; k++)
                dup = v->cp[k] == cp;
            if (dup)
                continue;
        }
        if (v->n == NB_VOCAB_MAX)
            return nb_error(NB_ERR_FORMAT, "more than %d distinct characters: not a char-level text", NB_VOCAB_MAX);
        v->cp[v->n++] = cp;
    }
    qsort(v->cp, (size_t)v->n, sizeof v->cp[0], cmp_u32);
    return NB_OK;
}

char *nb_vocab_to_utf8(const nb_vocab *v)
{
    char *s = malloc((size_t)v->n * 4 + 1);
    if (!s)
        nb_fail("nb_vocab_to_utf8: out of memory");
    size_t n = 0;
    for (int i = 0; i < v->n; i++)
        n += utf8_put(v->cp[i], s + n);
    s[n] = '\0';
    return s;
}

nb_status nb_vocab_from_utf8(nb_vocab *v, const char *s)
{
    size_t len = strlen(s);
    v->n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        if (!utf8_next((const unsigned char *)s, len, &i, &cp))
            return nb_error(NB_ERR_FORMAT, "vocabulary is not valid UTF-8");
        if (v->n == NB_VOCAB_MAX)
            return nb_error(NB_ERR_FORMAT, "vocabulary has more than %d characters", NB_VOCAB_MAX);
        if (v->n && cp <= v->cp[v->n - 1])
            return nb_error(NB_ERR_FORMAT, "vocabulary is not sorted and distinct");
        v->cp[v->n++] = cp;
    }
    if (v->n == 0)
        return nb_error(NB_ERR_FORMAT, "vocabulary is empty");
    return NB_OK;
}

static int vocab_find(const nb_vocab *v, uint32_t cp)
{
    int lo = 0, hi = v->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (v->cp[mid] == cp)
            return mid;
        if (v->cp[mid] < cp)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

nb_status nb_vocab_encode(const nb_vocab *v, const char *text, size_t len, int64_t **ids, int64_t *n_out)
{
    *ids = NULL;
    *n_out = 0;
    int64_t *out = malloc((len ? len : 1) * sizeof *out);
    if (!out)
        return nb_error(NB_ERR_NOMEM, "out of memory encoding %zu bytes", len);
    int64_t n = 0;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t at = i;
        if (!utf8_next(s, len, &i, &cp)) {
            free(out);
            return nb_error(NB_ERR_FORMAT, "invalid UTF-8 at offset %zu", at);
        }
        int id = vocab_find(v, cp);
        if (id < 0) {
            char ch[8] = {0};
            utf8_put(cp, ch);
            free(out);
            if (cp < 32 || cp == 127)
                return nb_error(NB_ERR_INVALID, "character U+%04X at offset %zu is not in the vocabulary", cp, at);
            return nb_error(NB_ERR_INVALID, "character '%s' (U+%04X) at offset %zu is not in the vocabulary", ch, cp,
                            at);
        }
        out[n++] = id;
    }
    *ids = out;
    *n_out = n;
    return NB_OK;
}

char *nb_vocab_decode(const nb_vocab *v, const int64_t *ids, int64_t n)
{
    char *s = malloc((size_t)n * 4 + 1);
    if (!s)
        nb_fail("nb_vocab_decode: out of memory");
    size_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= v->n)
            nb_fail("nb_vocab_decode: id %lld out of range for a vocabulary of %d", (long long)ids[i], v->n);
        k += utf8_put(v->cp[ids[i]], s + k);
    }
    s[k] = '\0';
    return s;
}

/* nb_error(st, "PATH: WHAT<last error>"). The last error is copied first: nb_error formats into
 * the very buffer nb_last_error() points to, so passing it as an argument garbles the message. */
static nb_status prefix_error(nb_status st, const char *path, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "%s", nb_last_error());
    return nb_error(st, "%s: %s%s", path, what, msg);
}

/* ---- dataset -------------------------------------------------------------------------------- */
/* Opens a regular file for reading without blocking on a FIFO or a device (rejected: "not a
 * regular file"; a directory is "read error: Is a directory"); *size gets its size. */
static nb_status open_text(const char *path, FILE **out, off_t *size)
{
    *out = NULL;
    if (!*path)
        return nb_error(NB_ERR_IO, "the file name is empty");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return nb_error(NB_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    nb_status st = NB_OK;
    if (fstat(fd, &sb) != 0)
        st = nb_error(NB_ERR_IO, "%s: %s", path, strerror(errno));
    else if (S_ISDIR(sb.st_mode))
        st = nb_error(NB_ERR_IO, "%s: read error: %s", path, strerror(EISDIR));
    else if (!S_ISREG(sb.st_mode))
        st = nb_error(NB_ERR_IO, "%s: not a regular file (a FIFO, device or socket cannot be a text)", path);
    else if (sb.st_size > NB_CHAR_DATA_MAX_BYTES)
        st = nb_error(NB_ERR_INVALID, "%s: %lld bytes, larger than the %d MiB a text may hold", path,
                      (long long)sb.st_size, NB_CHAR_DATA_MAX_BYTES >> 20);
    if (st == NB_OK) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        if (!(*out = fdopen(fd, "rb")))
            st = nb_error(NB_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (st != NB_OK)
        close(fd);
    else
        *size = sb.st_size;
    return st;
}

nb_status nb_char_data_load(nb_char_data *d, const char *path, const nb_vocab *vocab, int64_t block_size)
{
    memset(d, 0, sizeof *d);
    FILE *f;
    off_t size = 0;
    nb_status ost = open_text(path, &f, &size);
    if (ost != NB_OK)
        return ost;
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len > NB_CHAR_DATA_MAX_BYTES) { /* the file grew while being read */
            free(text);
            fclose(f);
            return nb_error(NB_ERR_INVALID, "%s: larger than the %d MiB a text may hold", path,
                            NB_CHAR_DATA_MAX_BYTES >> 20);
        }
        if (len + 65536 > cap) {
            cap = cap ? 2 * cap : (size_t)size + 65536;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(f);
                return nb_error(NB_ERR_NOMEM, "%s: out of memory", path);
            }
            text = t;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f);
    int err = errno; /* e.g. EISDIR for a directory */
    fclose(f);
    if (bad) {
        free(text);
        return nb_error(NB_ERR_IO, "%s: read error: %s", path, strerror(err));
    }
    nb_status st = NB_OK;
    if (len == 0)
        st = nb_error(NB_ERR_INVALID, "%s: the file is empty", path);
    else if (vocab)
        d->vocab = *vocab;
    else if ((st = nb_vocab_build(&d->vocab, text, len)) != NB_OK)
        st = prefix_error(st, path, "");
    if (st == NB_OK && (st = nb_vocab_encode(&d->vocab, text, len, &d->ids, &d->n)) != NB_OK)
        st = prefix_error(st, path, "");
    free(text);
    if (st != NB_OK)
        return st;
    d->n_train = (int64_t)((double)d->n * 0.9);
    if (d->n_train <= block_size + 1 || d->n - d->n_train <= block_size + 1) {
        int64_t n = d->n;
        nb_char_data_free(d);
        return nb_error(NB_ERR_INVALID, "%s: %lld characters are too few for block_size %lld (each 90/10 split needs "
                        "more than %lld)", path, (long long)n, (long long)block_size, (long long)block_size + 1);
    }
    return NB_OK;
}

void nb_char_data_free(nb_char_data *d)
{
    free(d->ids);
    free(d->perm);
    memset(d, 0, sizeof *d);
}

static void fill_batch(const int64_t *data, const int64_t *starts, int64_t B, int64_t T, nb_tensor **x, nb_tensor **y)
{
    *x = nb_empty(NB_DIMS(B, T), NB_I64);
    *y = nb_empty(NB_DIMS(B, T), NB_I64);
    int64_t *xv = nb_tensor_data(*x), *yv = nb_tensor_data(*y);
    for (int64_t b = 0; b < B; b++) {
        memcpy(xv + b * T, data + starts[b], (size_t)T * sizeof *xv);
        memcpy(yv + b * T, data + starts[b] + 1, (size_t)T * sizeof *yv);
    }
}

void nb_char_data_batch(const nb_char_data *d, nb_data_split split, int64_t B, int64_t T, nb_generator *gen, nb_tensor **x,
                        nb_tensor **y)
{
    const int64_t *data = split == NB_SPLIT_TRAIN ? d->ids : d->ids + d->n_train;
    int64_t len = split == NB_SPLIT_TRAIN ? d->n_train : d->n - d->n_train;
    if (len - T <= 0)
        nb_fail("nb_char_data_batch: split of %lld tokens is too short for T=%lld", (long long)len, (long long)T);
    int64_t *starts = malloc((size_t)B * sizeof *starts);
    if (!starts)
        nb_fail("nb_char_data_batch: out of memory");
    for (int64_t b = 0; b < B; b++)
        starts[b] = (int64_t)nb_generator_below(gen, (uint64_t)(len - T));
    fill_batch(data, starts, B, T, x, y);
    free(starts);
}

void nb_char_data_batch_epoch(nb_char_data *d, int64_t B, int64_t T, nb_generator *gen, nb_tensor **x, nb_tensor **y)
{
    int64_t windows = (d->n_train - 1) / T;
    if (!d->perm || d->n_perm != windows) {
        free(d->perm);
        d->perm = malloc((size_t)windows * sizeof *d->perm);
        if (!d->perm)
            nb_fail("nb_char_data_batch_epoch: out of memory");
        d->n_perm = windows;
        d->cursor = windows; /* forces a shuffle */
    }
    int64_t *starts = malloc((size_t)B * sizeof *starts);
    if (!starts)
        nb_fail("nb_char_data_batch_epoch: out of memory");
    for (int64_t b = 0; b < B; b++) {
        if (d->cursor == d->n_perm) { /* new epoch: Fisher-Yates shuffle of window starts */
            for (int64_t i = 0; i < d->n_perm; i++)
                d->perm[i] = i * T;
            for (int64_t i = d->n_perm - 1; i > 0; i--) {
                int64_t j = (int64_t)nb_generator_below(gen, (uint64_t)i + 1), t = d->perm[i];
                d->perm[i] = d->perm[j];
                d->perm[j] = t;
            }
            d->cursor = 0;
            d->epoch++;
        }
        starts[b] = d->perm[d->cursor++];
    }
    fill_batch(d->ids, starts, B, T, x, y);
    free(starts);
}

/* ---- chargpt --sampling sequential (truncated BPTT streams) ---------------------------------- */
int64_t nb_char_data_sequential_windows(const nb_char_data *d, int64_t B, int64_t T)
{
    return B > 0 && T > 0 ? (d->n_train - 1) / B / T : 0;
}

bool nb_char_data_batch_sequential(nb_char_data *d, int64_t B, int64_t T, nb_tensor **x, nb_tensor **y)
{
    int64_t windows = nb_char_data_sequential_windows(d, B, T), stride = (d->n_train - 1) / (B > 0 ? B : 1);
    if (windows < 1)
        nb_fail("nb_char_data_batch_sequential: %lld train tokens are too few for B=%lld streams of T=%lld",
                (long long)d->n_train, (long long)B, (long long)T);
    bool fresh = d->cursor <= 0 || d->cursor >= windows;
    if (d->cursor < 0 || d->cursor >= windows) { /* the pass is over: every stream starts again */
        d->cursor = 0;
        d->epoch++;
    }
    int64_t *starts = malloc((size_t)B * sizeof *starts);
    if (!starts)
        nb_fail("nb_char_data_batch_sequential: out of memory");
    for (int64_t b = 0; b < B; b++) /* row b reads its own stream ids[b * stride .. (b + 1) * stride] */
        starts[b] = b * stride + d->cursor * T;
    d->cursor++;
    fill_batch(d->ids, starts, B, T, x, y);
    free(starts);
    return fresh;
}
