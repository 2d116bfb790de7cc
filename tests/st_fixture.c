/* st_fixture.c — see st_fixture.h. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw */
#include "st_fixture.h"

#include "nb__tensor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char g_dir[64];

const char *tpath(const char *name)
{
    static char bufs[4][512];
    static int k;
    char *b = bufs[k++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", g_dir, name);
    return b;
}

unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    ck_assert(fread(b, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

/* Overwrites path with b[0..n) (rewritten in place, then cut: truncating to 0 first would make
 * ext4 flush on close, which made thousands of rewrites slow). */
void write_all(const char *path, const void *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_msg(fd >= 0, "cannot create %s: %s", path, strerror(errno));
    ck_assert(n == 0 || write(fd, b, n) == (ssize_t)n);
    ck_assert(ftruncate(fd, (off_t)n) == 0);
    ck_assert(close(fd) == 0);
}

/* A file claiming header length `claim`, then `json` (unpadded) and `dlen` data bytes (0x00). */
void write_raw_claim(const char *path, uint64_t claim, const char *json, size_t dlen)
{
    size_t jl = strlen(json);
    unsigned char *b = calloc(8 + jl + dlen + 1, 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(claim >> (8 * i));
    memcpy(b + 8, json, jl);
    write_all(path, b, 8 + jl + dlen);
    free(b);
}

void write_raw(const char *path, const char *json, size_t dlen)
{
    write_raw_claim(path, strlen(json), json, dlen);
}

void expect_load_error_at(const char *path, nb_status want, const char *substr, int line)
{
    nb_state_dict *sd = (nb_state_dict *)&g_dir; /* must be reset to NULL */
    nb_status st = nb_safetensors_load(path, &sd);
    const char *msg = nb_last_error();
    ck_assert_msg(st == want, "line %d: status \"%s\" (%s), expected \"%s\"", line, nb_status_str(st),
                  msg, nb_status_str(want));
    ck_assert_msg(sd == NULL, "line %d: *out not NULL after a failed load", line);
    ck_assert_msg(strncmp(msg, path, strlen(path)) == 0, "line %d: message \"%s\" does not start with the path",
                  line, msg);
    ck_assert_msg(strstr(msg, substr) != NULL, "line %d: message \"%s\" lacks \"%s\"", line, msg, substr);
}

nb_state_dict *load_ok(const char *path)
{
    nb_state_dict *sd = NULL;
    nb_status st = nb_safetensors_load(path, &sd);
    ck_assert_msg(st == NB_OK, "load %s: %s", path, nb_last_error());
    ck_assert(sd != NULL);
    return sd;
}

int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert(d != NULL);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp") != NULL;
    closedir(d);
    return n;
}

/* ---- the known tensors (the same table and formula as tests/safetensors_torch.py) ------------- */
const known_t k_known[N_KNOWN] = {
    {"layer.0.weight", NB_F32, 2, {3, 4}}, {"layer.0.bias", NB_F64, 3, {2, 3, 2}},
    {"tokens", NB_I32, 1, {5}},           {"big", NB_I64, 2, {2, 3}},
    {"mask", NB_BOOL, 2, {2, 2}},         {"scalar", NB_F64, 0, {0}},
    {"empty", NB_F32, 2, {0, 4}},         {"count", NB_I64, 0, {0}},
};
const char *const k_meta[N_META][2] = {
    {"format", "pt"}, {"step", "1234"}, {"note", "\xc3\xbcn\xc3\xaf" "code \xe2\x9c\x93 \"quoted\""}};

double known_value(int k, int64_t i, nb_dtype dt)
{
    int64_t base = (i * 7 + k * 3) % 11 - 5;
    switch (dt) {
    case NB_F32:
    case NB_F64: return (double)base * 0.25;
    case NB_I32: return (double)(base * 100000);
    case NB_I64: return (double)(base * ((int64_t)1 << 40) + i);
    default: return (i + k) % 3 == 0;
    }
}

nb_tensor *known_tensor(int k, tu_layout layout)
{
    const known_t *e = &k_known[k];
    int64_t n = nb__numel(e->ndim, e->shape);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++)
        v[i] = known_value(k, i, e->dt);
    nb_tensor *c = nb_from_doubles(v, e->shape, e->ndim, e->dt);
    free(v);
    nb_tensor *t = tu_relayout(c, layout);
    nb_tensor_release(c);
    return t;
}

nb_state_dict *known_dict(tu_layout layout, bool meta)
{
    nb_state_dict *sd = nb_state_dict_new();
    if (meta)
        for (int i = 0; i < N_META; i++)
            nb_state_dict_set_meta(sd, k_meta[i][0], k_meta[i][1]);
    for (int k = 0; k < N_KNOWN; k++) {
        nb_tensor *t = known_tensor(k, layout);
        nb_state_dict_add(sd, k_known[k].name, t);
        nb_tensor_release(t);
    }
    return sd;
}

/* Asserts t holds known entry k (dtype, shape, exact values), contiguous. */
void check_known(const nb_tensor *t, int k)
{
    const known_t *e = &k_known[k];
    ck_assert_msg(t != NULL, "%s missing", e->name);
    ck_assert_msg(nb_tensor_dtype(t) == e->dt, "%s: dtype %s", e->name, nb_dtype_name(nb_tensor_dtype(t)));
    tu_assert_shape(t, e->shape, e->ndim);
    ck_assert(nb_tensor_is_contiguous(t));
    int64_t n = nb_tensor_numel(t);
    double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    nb_tensor_to_doubles(t, v);
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(v[i] == known_value(k, i, e->dt), "%s[%lld] = %.17g, expected %.17g", e->name,
                      (long long)i, v[i], known_value(k, i, e->dt));
    free(v);
}

void check_known_meta(const nb_state_dict *sd)
{
    ck_assert_int_eq(nb_state_dict_meta_count(sd), N_META);
    for (int i = 0; i < N_META; i++)
        ck_assert_str_eq(nb_state_dict_get_meta(sd, k_meta[i][0]), k_meta[i][1]);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    chmod(path, 0755);
    return remove(path);
}

int st_tmpdir_create(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/nb_safetensors_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return -1;
    }
    return 0;
}

void st_tmpdir_remove(void) { nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }
