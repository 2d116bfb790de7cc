/* safetensors.c — safetensors checkpoints (nb_safetensors.h): a validating loader and an atomic
 * writer. The JSON header is parsed and produced by jansson; its meaning is checked in
 * nn/safetensors_header.c (the dtype table, entries, metadata, tiling, the header memory bound).
 * Integrity beyond the format: the writer stores an XXH3-64 checksum of every tensor's stored bytes
 * in __metadata__ (NB__ST_CHECKSUM_KEY, a JSON object name -> 16 hex digits, as a string); the
 * loader verifies them when present (files from other writers have none and load as before) and
 * does not pass that key on to the caller's metadata. */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, O_DIRECTORY, fsync, fdopen, clock_gettime */
#include "config.h"
#include "nb_safetensors.h"

#include "nb__safetensors.h"
#include "nb__tensor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define HOST_IS_LE 0
#else
#define HOST_IS_LE 1
#endif

#define IO_CHUNK ((size_t)1 << 16)

static uint64_t le64_load(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | b[i];
    return v;
}

static void le64_store(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
}

/* Reverses the bytes of each of n elements of `size` bytes (host <-> little-endian). */
static void swap_elems(void *p, size_t n, size_t size)
{
    unsigned char *b = p;
    if (size == 1)
        return;
    for (size_t i = 0; i < n; i++, b += size)
        for (size_t j = 0; j < size / 2; j++) {
            unsigned char c = b[j];
            b[j] = b[size - 1 - j];
            b[size - 1 - j] = c;
        }
}

/* ---- loading -------------------------------------------------------------------------------- */
/* Reads exactly n bytes; on a short read sets *err to an errno value (0 = end of file). */
static bool read_exact(FILE *f, void *buf, size_t n, int *err)
{
    if (n == 0)
        return true;
    errno = 0;
    if (fread(buf, 1, n, f) == n)
        return true;
    *err = ferror(f) ? (errno ? errno : EIO) : 0;
    return false;
}

static nb_status read_failed(const char *path, int err)
{
    if (err)
        return nb__status(NB_ERR_IO, "%s: read failed: %s", path, strerror(err));
    return nb__status(NB_ERR_IO, "%s: unexpected end of file (the file changed while reading?)", path);
}

static void hex64(uint64_t v, char out[17]) { snprintf(out, 17, "%016" PRIx64, v); }

/* Compares entry e's checksum (when stored) with the hash of the bytes read. */
static nb_status check_sum(const char *path, const nb__st_entry *e, XXH3_state_t *h)
{
    if (!e->sum)
        return NB_OK;
    char got[17];
    hex64((uint64_t)XXH3_64bits_digest(h), got);
    if (strcmp(got, e->sum) != 0)
        return nb__status(NB_ERR_FORMAT, "%s: tensor '%s': checksum %s does not match the stored %s (the data "
                          "is corrupted)", path, e->name, got, e->sum);
    return NB_OK;
}

/* Reads entry e's bytes (the file is positioned at them) into its tensor. */
static nb_status read_entry(const char *path, FILE *f, const nb__st_entry *e, XXH3_state_t *h)
{
    size_t n = (size_t)nb_tensor_numel(e->t), size = e->dt->size;
    int err = 0;
    XXH3_64bits_reset(h);
    if (n == 0)
        return check_sum(path, e, h);
    unsigned char *p = nb_tensor_data(e->t);
    if (!read_exact(f, p, n * size, &err))
        return read_failed(path, err);
    XXH3_64bits_update(h, p, n * size); /* the stored (little-endian) bytes */
    nb_status cs = check_sum(path, e, h);
    if (cs != NB_OK)
        return cs;
    if (!HOST_IS_LE)
        swap_elems(p, n, size);
    if (e->dt->dt == NB_BOOL)
        for (size_t i = 0; i < n; i++)
            if (p[i] > 1)
                return nb__status(NB_ERR_FORMAT, "%s: tensor '%s': BOOL element %zu is %u (expected 0 or 1)",
                                  path, e->name, i, p[i]);
    return NB_OK;
}

static nb_status load_file(const char *path, FILE *f, uint64_t fsize, nb_state_dict *sd)
{
    unsigned char lenb[8];
    int err = 0;
    if (fsize < 8)
        return nb__status(NB_ERR_FORMAT, "%s: file is %" PRIu64 " bytes, shorter than the 8-byte "
                          "header length", path, fsize);
    if (!read_exact(f, lenb, 8, &err))
        return read_failed(path, err);
    uint64_t hlen = le64_load(lenb);
    if (hlen > NB_SAFETENSORS_MAX_HEADER)
        return nb__status(NB_ERR_FORMAT, "%s: header length %" PRIu64 " exceeds %d", path, hlen,
                          NB_SAFETENSORS_MAX_HEADER);
    if (hlen > fsize - 8)
        return nb__status(NB_ERR_FORMAT, "%s: header length %" PRIu64 " runs past the end of the "
                          "file (%" PRIu64 " bytes)", path, hlen, fsize);
    char *text = malloc(hlen + 1);
    if (!text)
        return nb__status(NB_ERR_NOMEM, "%s: out of memory for a %" PRIu64 "-byte header", path, hlen);
    nb_status st = NB_OK;
    json_t *root = NULL, *sums = NULL;
    nb__st_entry *es = NULL;
    size_t n = 0;
    XXH3_state_t *h = NULL;
    if (!read_exact(f, text, hlen, &err)) {
        st = read_failed(path, err);
        goto done;
    }
    if (hlen == 0 || text[0] != '{') {
        st = nb__status(NB_ERR_FORMAT, "%s: header does not start with '{'", path);
        goto done;
    }
    if ((st = nb__st_check_json_cost(path, "the header", text, hlen)) != NB_OK)
        goto done;
    json_error_t jerr;
    root = json_loadb(text, hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        enum json_error_code code = json_error_code(&jerr);
        if (nb__st_json_oom(&jerr, text, hlen)) /* an allocation failed inside jansson: say so */
            st = nb__status(NB_ERR_NOMEM, "%s: out of memory parsing the %" PRIu64 "-byte header", path, hlen);
        else if (code == json_error_invalid_utf8)
            st = nb__status(NB_ERR_FORMAT, "%s: header is not valid UTF-8 (%s at byte %d)", path,
                            jerr.text, jerr.position);
        else if (code == json_error_duplicate_key)
            st = nb__status(NB_ERR_FORMAT, "%s: duplicate name in header (%s)", path, jerr.text);
        else
            st = nb__status(NB_ERR_FORMAT, "%s: invalid JSON header at line %d, column %d: %s", path,
                            jerr.line, jerr.column, jerr.text);
        goto done;
    }
    if (!json_is_object(root)) { /* cannot happen after '{', kept for safety */
        st = nb__status(NB_ERR_FORMAT, "%s: header is not a JSON object", path);
        goto done;
    }
    if ((st = nb__st_parse_header(path, root, fsize - 8 - hlen, sd, &es, &n, &sums)) != NB_OK)
        goto done;
    if (sums && (st = nb__st_attach_checksums(path, sums, es, n)) != NB_OK)
        goto done;
    if (!(h = XXH3_createState())) {
        st = nb__status(NB_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }

    /* tensors in header order, filled in file order */
    int scope = nb_scope_begin();
    for (size_t i = 0; i < n; i++) {
        if (nb_state_dict_contains(sd, es[i].name)) { /* jansson already rejects this */
            st = nb__status(NB_ERR_FORMAT, "%s: duplicate name '%s'", path, es[i].name);
            break;
        }
        es[i].t = nb_empty(es[i].shape, es[i].ndim, es[i].dt->dt);
        nb_state_dict_add(sd, es[i].name, es[i].t);
    }
    nb_scope_end(scope); /* the dict now holds the only references */
    if (st != NB_OK)
        goto done;
    qsort(es, n, sizeof *es, nb__st_entry_cmp);
    for (size_t i = 0; i < n && st == NB_OK; i++)
        st = read_entry(path, f, &es[i], h);
done:
    XXH3_freeState(h);
    free(es);
    json_decref(sums);
    json_decref(root);
    free(text);
    return st;
}

/* Loads from f (size bytes; closed here) into a new dict in *out. */
static nb_status load_stream(const char *path, FILE *f, uint64_t size, nb_state_dict **out)
{
    nb_state_dict *sd = nb_state_dict_new();
    nb_status st = load_file(path, f, size, sd);
    fclose(f);
    if (st != NB_OK) {
        nb_state_dict_free(sd);
        return st;
    }
    *out = sd;
    return NB_OK;
}

nb_status nb_safetensors_load(const char *path, nb_state_dict **out)
{
    if (!out)
        nb__fail("nb_safetensors_load: out is NULL");
    *out = NULL;
    if (!path)
        nb__fail("nb_safetensors_load: path is NULL");
    /* O_NONBLOCK: opening a FIFO with no writer must not hang (it is rejected below) */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return nb__status(NB_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return nb__status(NB_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return nb__status(NB_ERR_IO, "%s: not a regular file", path);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return nb__status(NB_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    return load_stream(path, f, (uint64_t)sb.st_size, out);
}

nb_status nb__safetensors_load_mem(const void *buf, size_t len, const char *name, nb_state_dict **out)
{
    static const char empty[1];
    *out = NULL;
    FILE *f = fmemopen(len ? (void *)buf : (void *)empty, len ? len : 1, "rb");
    if (!f)
        return nb__status(NB_ERR_IO, "%s: cannot open: %s", name, strerror(errno));
    return load_stream(name, f, len, out);
}

/* ---- saving --------------------------------------------------------------------------------- */
/* XXH3-64 of t's values as stored: row-major, little-endian. */
static uint64_t hash_tensor(const nb_tensor *t, XXH3_state_t *h)
{
    size_t n = (size_t)nb_tensor_numel(t), size = nb_dtype_size(t->dtype);
    XXH3_64bits_reset(h);
    int scope = nb_scope_begin();
    const nb_tensor *c = nb_tensor_is_contiguous(t) ? t : nb__contiguous_copy(t);
    const unsigned char *p = n ? nb_tensor_data(c) : NULL;
    if (HOST_IS_LE) {
        if (n)
            XXH3_64bits_update(h, p, n * size);
    } else {
        unsigned char buf[IO_CHUNK];
        for (size_t done = 0; done < n;) {
            size_t k = n - done < IO_CHUNK / size ? n - done : IO_CHUNK / size;
            memcpy(buf, p + done * size, k * size);
            swap_elems(buf, k, size);
            XXH3_64bits_update(h, buf, k * size);
            done += k;
        }
    }
    nb_scope_end(scope);
    return (uint64_t)XXH3_64bits_digest(h);
}

/* Sets m[NB__ST_CHECKSUM_KEY] to the JSON text {name: xxh3 hex, ...} of every tensor of sd. */
static nb_status add_checksums(const nb_state_dict *sd, const char *path, json_t *m)
{
    json_t *sums = json_object();
    XXH3_state_t *h = XXH3_createState();
    char *text = NULL;
    nb_status st = NB_OK;
    for (int i = 0, n = nb_state_dict_count(sd); sums && h && i < n; i++) {
        char hex[17];
        hex64(hash_tensor(nb_state_dict_tensor_at(sd, i), h), hex);
        if (json_object_set_new(sums, nb_state_dict_name_at(sd, i), json_string(hex)) != 0) {
            st = nb__status(NB_ERR_INVALID, "%s: tensor name '%s' is not valid UTF-8", path, nb_state_dict_name_at(sd, i));
            break;
        }
    }
    if (st == NB_OK && (!sums || !h || !(text = json_dumps(sums, JSON_COMPACT | JSON_SORT_KEYS)) ||
                        json_object_set_new(m, NB__ST_CHECKSUM_KEY, json_string(text)) != 0))
        st = nb__status(NB_ERR_NOMEM, "%s: out of memory building the checksums", path);
    free(text);
    XXH3_freeState(h);
    json_decref(sums);
    return st;
}

/* Builds the padded header text (*out, malloc'd; *len a multiple of 8). */
static nb_status build_header(const nb_state_dict *sd, const char *path, char **out, size_t *len)
{
    nb_status st = NB_OK;
    json_t *root = json_object();
    if (!root)
        return nb__status(NB_ERR_NOMEM, "%s: out of memory building the header", path);
    int nm = nb_state_dict_meta_count(sd);
    if (nm > 0 || nb_state_dict_count(sd) > 0) { /* an empty dict stays "{}" */
        json_t *m = json_object();
        if (json_object_set_new(root, "__metadata__", m) != 0 || (st = add_checksums(sd, path, m)) != NB_OK) {
            if (st == NB_OK)
                st = nb__status(NB_ERR_NOMEM, "%s: out of memory building the header", path);
            goto done;
        }
        for (int i = 0; i < nm; i++) {
            const char *k = nb_state_dict_meta_key_at(sd, i), *val = nb_state_dict_meta_value_at(sd, i);
            if (strcmp(k, NB__ST_CHECKSUM_KEY) == 0)
                continue; /* ours, computed above */
            json_t *js = json_string(val);
            if (!js) {
                st = nb__status(NB_ERR_INVALID, "%s: metadata value of '%s' is not valid UTF-8", path, k);
                goto done;
            }
            if (json_object_set_new(m, k, js) != 0) {
                st = nb__status(NB_ERR_INVALID, "%s: metadata key '%s' is not valid UTF-8", path, k);
                goto done;
            }
        }
    }
    uint64_t off = 0;
    for (int i = 0, n = nb_state_dict_count(sd); i < n; i++) {
        const char *name = nb_state_dict_name_at(sd, i);
        const nb_tensor *t = nb_state_dict_tensor_at(sd, i);
        if (strcmp(name, "__metadata__") == 0) {
            st = nb__status(NB_ERR_INVALID, "%s: '__metadata__' is reserved and cannot name a tensor", path);
            goto done;
        }
        const char *dtn = nb__st_dtype_name(t->dtype);
        if (!dtn) {
            st = nb__status(NB_ERR_INVALID, "%s: tensor '%s' has dtype %s, which safetensors cannot store",
                            path, name, nb_dtype_name(t->dtype));
            goto done;
        }
        uint64_t nbytes = (uint64_t)nb_tensor_numel(t) * nb_dtype_size(t->dtype);
        json_t *shape = json_array(), *e = json_object();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        json_object_set_new(e, "dtype", json_string(dtn));
        json_object_set_new(e, "shape", shape);
        json_object_set_new(e, "data_offsets",
                            json_pack("[II]", (json_int_t)off, (json_int_t)(off + nbytes)));
        off += nbytes;
        if (json_object_size(e) != 3 || json_array_size(shape) != (size_t)t->ndim) {
            json_decref(e);
            st = nb__status(NB_ERR_NOMEM, "%s: out of memory building the header", path);
            goto done;
        }
        if (json_object_set_new(root, name, e) != 0) {
            st = json_string(name) ? nb__status(NB_ERR_NOMEM, "%s: out of memory building the header", path)
                                   : nb__status(NB_ERR_INVALID, "%s: tensor name '%s' is not valid UTF-8",
                                                path, name);
            goto done;
        }
    }
    char *text = json_dumps(root, JSON_COMPACT);
    if (!text) {
        st = nb__status(NB_ERR_NOMEM, "%s: out of memory writing the header", path);
        goto done;
    }
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    if (padded > NB_SAFETENSORS_MAX_HEADER) {
        free(text);
        st = nb__status(NB_ERR_INVALID, "%s: header of %zu bytes exceeds %d", path, padded,
                        NB_SAFETENSORS_MAX_HEADER);
        goto done;
    }
    char *buf = realloc(text, padded + 1);
    if (!buf) {
        free(text);
        st = nb__status(NB_ERR_NOMEM, "%s: out of memory writing the header", path);
        goto done;
    }
    memset(buf + n, ' ', padded - n);
    buf[padded] = '\0';
    *out = buf;
    *len = padded;
done:
    json_decref(root);
    return st;
}

/* Writes t's values in row-major order, little-endian. Returns false with errno on failure. */
static bool write_tensor(FILE *f, const nb_tensor *t)
{
    size_t n = (size_t)nb_tensor_numel(t), size = nb_dtype_size(t->dtype);
    if (n == 0)
        return true;
    int scope = nb_scope_begin();
    const nb_tensor *c = nb_tensor_is_contiguous(t) ? t : nb__contiguous_copy(t);
    const unsigned char *p = nb_tensor_data(c);
    bool ok = true;
    errno = 0;
    if (HOST_IS_LE) {
        ok = fwrite(p, size, n, f) == n;
    } else {
        unsigned char buf[IO_CHUNK];
        for (size_t done = 0; ok && done < n;) {
            size_t k = n - done < IO_CHUNK / size ? n - done : IO_CHUNK / size;
            memcpy(buf, p + done * size, k * size);
            swap_elems(buf, k, size);
            ok = fwrite(buf, size, k, f) == k;
            done += k;
        }
    }
    int e = errno;
    nb_scope_end(scope);
    errno = e;
    return ok;
}

static void random_suffix(char *out6)
{
    static const char k_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 40) ^
                 ((uint64_t)__atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ULL) ^
                 (uint64_t)(uintptr_t)out6;
    x ^= x >> 30; /* splitmix64 finalizer */
    x *= 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBULL;
    x ^= x >> 31;
    for (int i = 0; i < 6; i++, x /= 62)
        out6[i] = k_chars[x % 62];
    out6[6] = '\0';
}

/* fsyncs the directory holding path (makes the rename durable). Returns 0 or an errno value;
 * failures to open the directory or unsupported fsync (EINVAL) are not errors. */
static int sync_dir(const char *path);

/* Removes the temporary files "BASE.tmpPID.XXXXXX" next to path that savers killed mid-save
 * left behind: only those whose process PID no longer exists, so saves in progress in other
 * processes are never touched. Best effort: errors are ignored. */
static void remove_dead_temps(const char *path)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t blen = strlen(base), dlen = slash ? (size_t)(slash - path) : 0;
    char *dir = malloc(dlen + 2);
    if (!dir)
        return;
    if (!slash)
        strcpy(dir, ".");
    else if (dlen == 0)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, dlen);
        dir[dlen] = '\0';
    }
    DIR *d = opendir(dir);
    free(dir);
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        const char *n = e->d_name, *q = n + blen + 4;
        if (strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp", 4) != 0)
            continue;
        long pid = 0;
        for (; *q >= '0' && *q <= '9' && pid < 1L << 40; q++)
            pid = pid * 10 + (*q - '0');
        if (q == n + blen + 4 || *q != '.' || strlen(q + 1) != 6 || pid <= 0 || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
            unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

static int sync_dir(const char *path)
{
    size_t n = strlen(path);
    char *dir = malloc(n + 2);
    if (!dir)
        return 0;
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return 0;
    int rc = fsync(fd) == 0 || errno == EINVAL || errno == EROFS ? 0 : errno;
    close(fd);
    return rc;
}

nb_status nb_safetensors_save(const nb_state_dict *sd, const char *path)
{
    if (!sd)
        nb__fail("nb_safetensors_save: state dict is NULL");
    if (!path)
        nb__fail("nb_safetensors_save: path is NULL");
    char *header = NULL;
    size_t hlen = 0;
    nb_status st = build_header(sd, path, &header, &hlen);
    if (st != NB_OK)
        return st;

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 40);
    if (!tmp) {
        free(header);
        return nb__status(NB_ERR_NOMEM, "%s: out of memory", path);
    }
    remove_dead_temps(path);
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        char sfx[7];
        random_suffix(sfx);
        snprintf(tmp, plen + 40, "%s.tmp%ld.%s", path, (long)getpid(), sfx);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        st = nb__status(NB_ERR_IO, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        free(header);
        return st;
    }
    FILE *f = fdopen(fd, "wb");
    const char *step = "write";
    int err = 0;
    if (!f) {
        err = errno;
        close(fd);
        step = "open";
        goto fail;
    }
    unsigned char lenb[8];
    le64_store(lenb, hlen);
    errno = 0;
    if (fwrite(lenb, 1, 8, f) != 8 || fwrite(header, 1, hlen, f) != hlen) {
        err = errno;
        goto fail_close;
    }
    for (int i = 0, n = nb_state_dict_count(sd); i < n; i++)
        if (!write_tensor(f, nb_state_dict_tensor_at(sd, i))) {
            err = errno;
            goto fail_close;
        }
    errno = 0;
    if (fflush(f) != 0) {
        err = errno;
        goto fail_close;
    }
    if (fsync(fileno(f)) != 0) {
        err = errno;
        step = "fsync";
        goto fail_close;
    }
    errno = 0;
    if (fclose(f) != 0) {
        err = errno;
        step = "close";
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        err = errno;
        step = "rename";
        goto fail;
    }
    free(tmp);
    free(header);
    if ((err = sync_dir(path)) != 0)
        return nb__status(NB_ERR_IO, "%s: saved, but syncing its directory failed: %s", path, strerror(err));
    return NB_OK;

fail_close:
    fclose(f);
fail:
    unlink(tmp);
    free(header);
    st = nb__status(NB_ERR_IO, "%s: %s of temporary file %s failed: %s", path, step, tmp,
                    strerror(err ? err : EIO));
    free(tmp);
    return st;
}
