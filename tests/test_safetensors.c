/* test_safetensors.c — nb_state_dict and safetensors checkpoints: round trips of every dtype and
 * layout, the exact bytes of a known file, atomic saves, and PyTorch interop through
 * tests/safetensors_torch.py (an independent reader/writer). Corrupt files: test_safetensors_corrupt.c;
 * the temporary directory, file helpers and known tensors: st_fixture.c. */
#define _XOPEN_SOURCE 700 /* mkdtemp, nftw, fork, setrlimit */
#include "st_fixture.h"

#include "nb__tensor.h"
#include "nb_safetensors.h"
#include "nb_state_dict.h"

#include <dirent.h>
#include <xxhash.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NB_SRCDIR
#define NB_SRCDIR "."
#endif

/* ---- nb_state_dict -------------------------------------------------------------------------- */
START_TEST(test_state_dict_basic)
{
    nb_state_dict *sd = nb_state_dict_new();
    ck_assert_int_eq(nb_state_dict_count(sd), 0);
    nb_tensor *a = nb_zeros(NB_DIMS(2), NB_F32), *b = nb_ones(NB_DIMS(3), NB_I64);
    nb_state_dict_add(sd, "a", a);
    nb_state_dict_add(sd, "b.weight", b);
    ck_assert_int_eq((int)a->refcount, 2); /* retained by the dict */
    nb_tensor_release(b);                  /* the dict keeps b alive */
    ck_assert_int_eq(nb_state_dict_count(sd), 2);
    ck_assert_str_eq(nb_state_dict_name_at(sd, 0), "a");
    ck_assert_str_eq(nb_state_dict_name_at(sd, 1), "b.weight");
    ck_assert_ptr_eq(nb_state_dict_tensor_at(sd, 0), a);
    ck_assert_ptr_eq(nb_state_dict_get(sd, "b.weight"), nb_state_dict_tensor_at(sd, 1));
    ck_assert_double_eq(nb_tensor_get(nb_state_dict_get(sd, "b.weight"), (int64_t[]){2}), 1.0);
    ck_assert_ptr_null(nb_state_dict_get(sd, "b"));
    ck_assert(nb_state_dict_contains(sd, "a") && !nb_state_dict_contains(sd, "c"));

    ck_assert_ptr_null(nb_state_dict_get_meta(sd, "x"));
    nb_state_dict_set_meta(sd, "x", "1");
    nb_state_dict_set_meta(sd, "y", "2");
    nb_state_dict_set_meta(sd, "x", "3"); /* replaced in place */
    ck_assert_int_eq(nb_state_dict_meta_count(sd), 2);
    ck_assert_str_eq(nb_state_dict_meta_key_at(sd, 0), "x");
    ck_assert_str_eq(nb_state_dict_meta_value_at(sd, 0), "3");
    ck_assert_str_eq(nb_state_dict_get_meta(sd, "y"), "2");
    nb_state_dict_free(sd);
    ck_assert_int_eq((int)a->refcount, 1);
    nb_tensor_release(a);
    nb_state_dict_free(NULL);

    /* many names: order and hashed lookup */
    sd = nb_state_dict_new();
    nb_tensor *t = nb_scalar(0, NB_F32);
    char name[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof name, "p%d", i);
        nb_state_dict_add(sd, name, t);
    }
    for (int i = 0; i < 5000; i += 7) {
        snprintf(name, sizeof name, "p%d", i);
        ck_assert_ptr_eq(nb_state_dict_get(sd, name), t);
        ck_assert_str_eq(nb_state_dict_name_at(sd, i), name);
    }
    ck_assert_int_eq((int)t->refcount, 5001);
    nb_state_dict_free(sd);
    ck_assert_int_eq((int)t->refcount, 1);
    nb_tensor_release(t);
}
END_TEST

START_TEST(test_state_dict_misuse)
{
    nb_state_dict *sd = nb_state_dict_new();
    nb_tensor *t = nb_zeros(NB_DIMS(2), NB_F32);
    nb_state_dict_add(sd, "w", t);
    TU_EXPECT_ERROR("nb_state_dict_add: duplicate name 'w'", nb_state_dict_add(sd, "w", t));
    TU_EXPECT_ERROR("nb_state_dict_add: tensor for 'v' is NULL", nb_state_dict_add(sd, "v", NULL));
    TU_EXPECT_ERROR("nb_state_dict_name_at: index 1 out of range for 1 entries", nb_state_dict_name_at(sd, 1));
    TU_EXPECT_ERROR("nb_state_dict_tensor_at: index -1 out of range", nb_state_dict_tensor_at(sd, -1));
    TU_EXPECT_ERROR("nb_state_dict_meta_key_at: index 0 out of range", nb_state_dict_meta_key_at(sd, 0));
    TU_EXPECT_ERROR("nb_safetensors_save: state dict is NULL", nb_safetensors_save(NULL, "x"));
    TU_EXPECT_ERROR("nb_safetensors_load: out is NULL", nb_safetensors_load("x", NULL));
    nb_state_dict_free(sd);
    nb_tensor_release(t);
}
END_TEST

/* ---- round trips ---------------------------------------------------------------------------- */
START_TEST(test_roundtrip_layouts)
{
    for (int lay = 0; lay < TU_LAYOUT_COUNT; lay++) {
        nb_state_dict *sd = known_dict((tu_layout)lay, true);
        /* a stride-0 view too: rows of [1, 2, 3] */
        nb_tensor *row = nb_arange(1, 4, 1, NB_F64), *ex = nb_expand(row, NB_DIMS(4, 3));
        nb_state_dict_add(sd, "expanded", ex);
        nb_tensor_release(row);
        nb_tensor_release(ex);
        const char *p = tpath("layouts.safetensors");
        ck_assert_msg(nb_safetensors_save(sd, p) == NB_OK, "%s: %s", tu_layout_names[lay], nb_last_error());
        nb_state_dict_free(sd);

        int scope = nb_scope_begin(); /* loaded tensors must not belong to the caller's scope */
        sd = load_ok(p);
        nb_scope_end(scope);
        ck_assert_int_eq(nb_state_dict_count(sd), N_KNOWN + 1);
        for (int k = 0; k < N_KNOWN; k++) {
            ck_assert_str_eq(nb_state_dict_name_at(sd, k), k_known[k].name);
            check_known(nb_state_dict_tensor_at(sd, k), k);
        }
        const nb_tensor *e = nb_state_dict_get(sd, "expanded");
        double want[12];
        for (int i = 0; i < 12; i++)
            want[i] = 1 + i % 3;
        tu_assert_shape(e, NB_DIMS(4, 3));
        tu_assert_values(e, want, 0);
        check_known_meta(sd);
        ck_assert_int_eq((int)nb_state_dict_tensor_at(sd, 0)->refcount, 1); /* the dict's only */
        nb_state_dict_free(sd);
    }
    ck_assert_int_eq(count_tmp_files(g_dir), 0);
}
END_TEST

START_TEST(test_roundtrip_random_bits)
{
    /* bit-exact: random floats incl. NaN/inf/-0/subnormals, extreme ints, a sliced 4-d view */
    nb_tensor *f = tu_random(NB_F32, NB_DIMS(33, 65), -1e30, 1e30, 7);
    nb_tensor *d = tu_random(NB_F64, NB_DIMS(3, 5, 4, 7), -1, 1, 8);
    float *fp = nb_tensor_data(f);
    fp[0] = NAN, fp[1] = INFINITY, fp[2] = -0.0f, fp[3] = 1e-45f;
    nb_tensor *i64 = nb_from_data((int64_t[]){INT64_MIN, INT64_MAX, -1, 0}, NB_DIMS(4), NB_I64);
    nb_tensor *i32 = nb_from_data((int32_t[]){INT32_MIN, INT32_MAX, -1}, NB_DIMS(3), NB_I32);
    nb_tensor *dv = tu_relayout(d, TU_SLICED), *ft = tu_relayout(f, TU_TRANSPOSED);
    nb_state_dict *sd = nb_state_dict_new();
    nb_state_dict_add(sd, "f", ft);
    nb_state_dict_add(sd, "d", dv);
    nb_state_dict_add(sd, "i64", i64);
    nb_state_dict_add(sd, "i32", i32);
    const char *p = tpath("random.safetensors");
    ck_assert_msg(nb_safetensors_save(sd, p) == NB_OK, "%s", nb_last_error());
    nb_state_dict_free(sd);
    sd = load_ok(p);
    ck_assert(memcmp(nb_tensor_data(nb_state_dict_get(sd, "f")), fp, 33 * 65 * 4) == 0);
    ck_assert(memcmp(nb_tensor_data(nb_state_dict_get(sd, "d")), nb_tensor_data(d), 3 * 5 * 4 * 7 * 8) == 0);
    ck_assert(memcmp(nb_tensor_data(nb_state_dict_get(sd, "i64")), nb_tensor_data(i64), 32) == 0);
    ck_assert(memcmp(nb_tensor_data(nb_state_dict_get(sd, "i32")), nb_tensor_data(i32), 12) == 0);
    tu_assert_shape(nb_state_dict_get(sd, "d"), NB_DIMS(3, 5, 4, 7));
    nb_state_dict_free(sd);
    nb_tensor *all[] = {f, d, i64, i32, dv, ft};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        nb_tensor_release(all[i]);
}
END_TEST

/* The small dict of safetensors_torch.py's `small` command, and its exact bytes. */
static nb_state_dict *small_dict(void)
{
    nb_state_dict *sd = nb_state_dict_new();
    nb_state_dict_set_meta(sd, "k", "v");
    nb_tensor *a = nb_from_doubles((double[]){1.0, -2.0}, NB_DIMS(2), NB_F32), *b = nb_scalar(7, NB_I64);
    nb_state_dict_add(sd, "a", a);
    nb_state_dict_add(sd, "b", b);
    nb_tensor_release(a);
    nb_tensor_release(b);
    return sd;
}

/* The header nabla writes: the checksum list (XXH3-64 of each tensor's stored bytes, here computed
 * with libxxhash directly), the caller's metadata, then the tensors in dict order. */
static const char k_small_json_fmt[] =
    "{\"__metadata__\":{\"nabla.xxh3_64\":\"{\\\"a\\\":\\\"%016llx\\\",\\\"b\\\":\\\"%016llx\\\"}\",\"k\":\"v\"},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
    "\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";

START_TEST(test_header_bytes)
{
    const unsigned char data[16] = {0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0, 7, 0, 0, 0, 0, 0, 0, 0};
    char k_small_json[320];
    snprintf(k_small_json, sizeof k_small_json, k_small_json_fmt, (unsigned long long)XXH3_64bits(data, 8),
             (unsigned long long)XXH3_64bits(data + 8, 8));
    size_t jl = strlen(k_small_json), hl = (jl + 7) / 8 * 8, n = 8 + hl + 16;
    unsigned char want[512];
    memset(want, 0, sizeof want);
    want[0] = (unsigned char)hl; /* 208 = 0xd0: 206 bytes of JSON + 2 spaces */
    ck_assert_uint_eq(jl, 206);
    ck_assert_uint_eq(hl, 208);
    memcpy(want + 8, k_small_json, jl);
    memset(want + 8 + jl, ' ', hl - jl);
    memcpy(want + 8 + hl, data, 16);

    nb_state_dict *sd = small_dict();
    const char *p = tpath("small.safetensors");
    ck_assert_msg(nb_safetensors_save(sd, p) == NB_OK, "%s", nb_last_error());
    nb_state_dict_free(sd);
    size_t len;
    unsigned char *got = read_all(p, &len);
    ck_assert_uint_eq(len, n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "byte %zu: 0x%02x, expected 0x%02x", i, got[i], want[i]);
    free(got);

    /* the empty dict: "{}" padded to 8 */
    sd = nb_state_dict_new();
    p = tpath("empty.safetensors");
    ck_assert(nb_safetensors_save(sd, p) == NB_OK);
    nb_state_dict_free(sd);
    got = read_all(p, &len);
    ck_assert_uint_eq(len, 16);
    ck_assert(memcmp(got, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    free(got);
    sd = load_ok(p);
    ck_assert_int_eq(nb_state_dict_count(sd), 0);
    ck_assert_int_eq(nb_state_dict_meta_count(sd), 0);
    nb_state_dict_free(sd);
}
END_TEST

START_TEST(test_load_valid_variants)
{
    /* JSON order differs from data order; zero-size entries share offsets; escapes; null metadata */
    const char *p = tpath("variants.safetensors");
    const char *json = "{\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12]},"
                       "\"z0\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
                       "\"a\\u00e9\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"z1\":{\"dtype\":\"I64\",\"shape\":[3,0],\"data_offsets\":[0,0]},"
                       "\"__metadata__\":null}   ";
    size_t jl = strlen(json);
    unsigned char buf[512] = {0};
    buf[0] = (unsigned char)jl;
    memcpy(buf + 8, json, jl);
    const unsigned char data[12] = {0, 0, 0x80, 0x3f, 0, 0, 0x40, 0xc0, 0xfe, 0xff, 0xff, 0xff};
    memcpy(buf + 8 + jl, data, 12);
    write_all(p, buf, 8 + jl + 12);
    nb_state_dict *sd = load_ok(p);
    ck_assert_int_eq(nb_state_dict_count(sd), 4);
    ck_assert_str_eq(nb_state_dict_name_at(sd, 0), "b");
    ck_assert_str_eq(nb_state_dict_name_at(sd, 2), "a\xc3\xa9");
    tu_assert_shape_values(nb_state_dict_get(sd, "a\xc3\xa9"), NB_DIMS(2), VALS(1.0, -3.0), 0);
    tu_assert_shape_values(nb_state_dict_get(sd, "b"), NB_DIMS(1), VALS(-2), 0);
    tu_assert_shape(nb_state_dict_get(sd, "z1"), NB_DIMS(3, 0));
    ck_assert_int_eq(nb_state_dict_meta_count(sd), 0);
    nb_state_dict_free(sd);
}
END_TEST

START_TEST(test_load_f16_bf16)
{
    const char *p = tpath("half.safetensors");
    const char *json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[0,16]},"
                       "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[16,24]}}";
    const uint16_t h[8] = {0x3800, 0xC000, 0x7BFF, 0x0001, 0x7C00, 0x8000, 0x03FF, 0x3C01};
    const uint16_t b[4] = {0x3F80, 0xC060, 0x7180, 0xFF80};
    size_t jl = strlen(json);
    unsigned char buf[512] = {0};
    buf[0] = (unsigned char)jl;
    memcpy(buf + 8, json, jl);
    for (int i = 0; i < 8; i++)
        buf[8 + jl + 2 * i] = h[i] & 0xff, buf[8 + jl + 2 * i + 1] = (unsigned char)(h[i] >> 8);
    for (int i = 0; i < 4; i++)
        buf[8 + jl + 16 + 2 * i] = b[i] & 0xff, buf[8 + jl + 16 + 2 * i + 1] = (unsigned char)(b[i] >> 8);
    write_all(p, buf, 8 + jl + 24);
    nb_state_dict *sd = load_ok(p);
    const nb_tensor *th = nb_state_dict_get(sd, "h"), *tb = nb_state_dict_get(sd, "b");
    ck_assert(nb_tensor_dtype(th) == NB_F16 && nb_tensor_dtype(tb) == NB_BF16); /* loaded as stored */
    ck_assert(!memcmp(nb_tensor_data(th), h, sizeof h) && !memcmp(nb_tensor_data(tb), b, sizeof b));
    nb_tensor *th32 = nb_to_dtype(th, NB_F32), *tb32 = nb_to_dtype(tb, NB_F32);
    const float *fh = nb_tensor_data(th32), *fb = nb_tensor_data(tb32);
    const float wh[8] = {0.5f, -2.0f, 65504.0f, 0x1p-24f, INFINITY, -0.0f, 0x3FFp-24f, 1.0f + 0x1p-10f};
    for (int i = 0; i < 8; i++)
        ck_assert_msg(fh[i] == wh[i] && signbit(fh[i]) == signbit(wh[i]), "F16 %d: %a != %a", i, fh[i], wh[i]);
    const float wb[4] = {1.0f, -3.5f, 0x1p100f, -INFINITY};
    for (int i = 0; i < 4; i++)
        ck_assert_msg(fb[i] == wb[i], "BF16 %d: %a != %a", i, fb[i], wb[i]);
    nb_tensor_release(th32);
    nb_tensor_release(tb32);
    nb_state_dict_free(sd);
}
END_TEST

/* ---- save errors ---------------------------------------------------------------------------- */
START_TEST(test_save_invalid)
{
    const char *p = tpath("invalid.safetensors");
    nb_tensor *t = nb_zeros(NB_DIMS(2), NB_F32);
    nb_state_dict *sd = nb_state_dict_new();
    nb_state_dict_add(sd, "__metadata__", t);
    ck_assert_int_eq(nb_safetensors_save(sd, p), NB_ERR_INVALID);
    ck_assert(strstr(nb_last_error(), "'__metadata__' is reserved"));
    nb_state_dict_free(sd);

    sd = nb_state_dict_new();
    nb_state_dict_add(sd, "bad\xff", t);
    ck_assert_int_eq(nb_safetensors_save(sd, p), NB_ERR_INVALID);
    ck_assert_msg(strstr(nb_last_error(), "tensor name 'bad\xff' is not valid UTF-8"), "%s", nb_last_error());
    nb_state_dict_free(sd);

    sd = nb_state_dict_new();
    nb_state_dict_set_meta(sd, "k", "\xc3(");
    ck_assert_int_eq(nb_safetensors_save(sd, p), NB_ERR_INVALID);
    ck_assert(strstr(nb_last_error(), "metadata value of 'k' is not valid UTF-8"));
    nb_state_dict_free(sd);
    ck_assert_int_eq(access(p, F_OK), -1); /* nothing written */
    ck_assert_int_eq(count_tmp_files(g_dir), 0);
    nb_tensor_release(t);
}
END_TEST

/* ---- atomic saves --------------------------------------------------------------------------- */
START_TEST(test_save_replaces_atomically)
{
    const char *p = tpath("replace.safetensors");
    umask(027);
    nb_state_dict *a = small_dict(), *b = known_dict(TU_TRANSPOSED, true);
    ck_assert(nb_safetensors_save(a, p) == NB_OK);
    ck_assert(nb_safetensors_save(b, p) == NB_OK);
    struct stat sb;
    ck_assert(stat(p, &sb) == 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0640); /* 0666 & ~umask, like fopen */
    nb_state_dict *r = load_ok(p);
    ck_assert_int_eq(nb_state_dict_count(r), N_KNOWN);
    check_known(nb_state_dict_get(r, "big"), 3);
    ck_assert_int_eq(count_tmp_files(g_dir), 0);
    nb_state_dict_free(a);
    nb_state_dict_free(b);
    nb_state_dict_free(r);
}
END_TEST

START_TEST(test_save_into_missing_dir)
{
    nb_state_dict *sd = small_dict();
    const char *p = tpath("no/such/dir/x.safetensors");
    ck_assert_int_eq(nb_safetensors_save(sd, p), NB_ERR_IO);
    const char *msg = nb_last_error();
    ck_assert_msg(strncmp(msg, p, strlen(p)) == 0 && strstr(msg, "No such file or directory"), "%s", msg);
    nb_state_dict_free(sd);
}
END_TEST

START_TEST(test_save_over_directory)
{
    const char *p = tpath("adir");
    ck_assert(mkdir(p, 0755) == 0);
    nb_state_dict *sd = small_dict();
    ck_assert_int_eq(nb_safetensors_save(sd, p), NB_ERR_IO);
    ck_assert_msg(strstr(nb_last_error(), "rename") && strstr(nb_last_error(), strerror(EISDIR)), "%s",
                  nb_last_error());
    struct stat sb;
    ck_assert(stat(p, &sb) == 0 && S_ISDIR(sb.st_mode));
    ck_assert_int_eq(count_tmp_files(g_dir), 0);
    rmdir(p);
    nb_state_dict_free(sd);
}
END_TEST

/* A save that runs out of file size (RLIMIT_FSIZE, SIGXFSZ ignored → EFBIG on write) in a child
 * must fail with NB_ERR_IO and leave the previous file byte-identical, with no temp file. */
START_TEST(test_save_short_write_keeps_old_file)
{
    const char *p = tpath("fsize.safetensors");
    nb_state_dict *old = known_dict(TU_CONTIGUOUS, true);
    ck_assert(nb_safetensors_save(old, p) == NB_OK);
    nb_state_dict_free(old);
    size_t len0;
    unsigned char *before = read_all(p, &len0);

    fflush(NULL);
    pid_t pid = fork();
    ck_assert(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {.rlim_cur = 4096, .rlim_max = 4096};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(10);
        nb_state_dict *big = nb_state_dict_new();
        nb_tensor *t = nb_ones(NB_DIMS(100, 100), NB_F64); /* 80 KB */
        nb_state_dict_add(big, "big", t);
        nb_status st = nb_safetensors_save(big, p);
        nb_state_dict_free(big);
        nb_tensor_release(t);
        free(before);
        const char *msg = nb_last_error();
        if (st != NB_ERR_IO)
            _exit(11);
        if (strncmp(msg, p, strlen(p)) != 0 || !strstr(msg, strerror(EFBIG)))
            _exit(12);
        _exit(0);
    }
    int status = 0;
    ck_assert(waitpid(pid, &status, 0) == pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    size_t len1;
    unsigned char *after = read_all(p, &len1);
    ck_assert(len0 == len1 && memcmp(before, after, len0) == 0);
    ck_assert_int_eq(count_tmp_files(g_dir), 0);
    free(before);
    free(after);
}
END_TEST

START_TEST(test_save_readonly_dir_keeps_old_file)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/ro", g_dir);
    ck_assert(mkdir(dir, 0755) == 0);
    char p[600];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    nb_state_dict *sd = small_dict();
    ck_assert(nb_safetensors_save(sd, p) == NB_OK);
    size_t len0;
    unsigned char *before = read_all(p, &len0);
    ck_assert(chmod(dir, 0555) == 0);
    char probe[620];
    snprintf(probe, sizeof probe, "%s/probe", dir);
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd >= 0) { /* root ignores directory permissions */
        close(fd);
        unlink(probe);
        printf("NOTE: test_save_readonly_dir_keeps_old_file: permissions not enforced (root?), checked "
               "only that a save still succeeds\n");
        ck_assert(nb_safetensors_save(sd, p) == NB_OK);
    } else {
        nb_state_dict *b = known_dict(TU_CONTIGUOUS, false);
        ck_assert_int_eq(nb_safetensors_save(b, p), NB_ERR_IO);
        ck_assert_msg(strstr(nb_last_error(), strerror(EACCES)), "%s", nb_last_error());
        nb_state_dict_free(b);
        size_t len1;
        unsigned char *after = read_all(p, &len1);
        ck_assert(len0 == len1 && memcmp(before, after, len0) == 0);
        free(after);
        ck_assert_int_eq(count_tmp_files(dir), 0);
    }
    chmod(dir, 0755);
    free(before);
    nb_state_dict_free(sd);
}
END_TEST

/* ---- PyTorch interop ------------------------------------------------------------------------ */
#define PYTHON "/usr/bin/python3"

static bool torch_available(void)
{
    if (access(PYTHON, X_OK) != 0)
        return false;
    return system(PYTHON " -c 'import importlib.util, sys; "
                  "sys.exit(importlib.util.find_spec(\"torch\") is None)' >/dev/null 2>&1") == 0;
}

START_TEST(test_torch_interop)
{
    char cmd[4096];
    const char *c_file = tpath("from_c.safetensors"), *py_file = tpath("from_torch.safetensors");
    const char *py_small = tpath("small_torch.safetensors"), *log = tpath("python.log");
    nb_state_dict *sd = known_dict(TU_TRANSPOSED, true); /* non-contiguous views */
    ck_assert(nb_safetensors_save(sd, c_file) == NB_OK);
    nb_state_dict_free(sd);
    snprintf(cmd, sizeof cmd, PYTHON " '%s/tests/safetensors_torch.py' check '%s' write '%s' small '%s' >'%s' 2>&1",
             NB_SRCDIR, c_file, py_file, py_small, log);
    int rc = system(cmd);
    if (rc != 0) {
        size_t n;
        unsigned char *out = read_all(log, &n);
        out[n] = '\0';
        ck_abort_msg("python reader/writer failed (status %d): %s", rc, (char *)out);
    }

    /* what torch wrote: keys in reverse name order, data sorted by element size, metadata last */
    sd = load_ok(py_file);
    ck_assert_int_eq(nb_state_dict_count(sd), N_KNOWN + 2);
    const char *order[] = {"tokens", "scalar", "mask", "layer.0.weight", "layer.0.bias",
                           "half", "empty", "count", "big", "bhalf"};
    for (int i = 0; i < N_KNOWN + 2; i++)
        ck_assert_str_eq(nb_state_dict_name_at(sd, i), order[i]);
    for (int k = 0; k < N_KNOWN; k++)
        check_known(nb_state_dict_get(sd, k_known[k].name), k);
    check_known_meta(sd);
    const nb_tensor *h = nb_state_dict_get(sd, "half"), *bh = nb_state_dict_get(sd, "bhalf");
    ck_assert(nb_tensor_dtype(h) == NB_F16 && nb_tensor_dtype(bh) == NB_BF16);
    tu_assert_shape_values(h, NB_DIMS(4), VALS(0.5, -2.0, 65504.0, ldexp(1, -24)), 0);
    tu_assert_shape_values(bh, NB_DIMS(3), VALS(1.0, -3.5, ldexp(1, 100)), 0);
    nb_state_dict_free(sd);

    /* byte-identical files for the same small dict */
    sd = small_dict();
    const char *c_small = tpath("small_c.safetensors");
    ck_assert(nb_safetensors_save(sd, c_small) == NB_OK);
    nb_state_dict_free(sd);
    size_t la, lb;
    unsigned char *a = read_all(c_small, &la), *b = read_all(py_small, &lb);
    ck_assert_uint_eq(la, lb);
    ck_assert_msg(memcmp(a, b, la) == 0, "nabla's and the Python writer's bytes differ");
    free(a);
    free(b);
}
END_TEST

int main(void)
{
    if (st_tmpdir_create() != 0)
        return 99;
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("state_dict");
    tcase_add_test(tc, test_state_dict_basic);
    tcase_add_test(tc, test_state_dict_misuse);
    suite_add_tcase(s, tc);

    tc = tcase_create("format");
    tcase_add_test(tc, test_roundtrip_layouts);
    tcase_add_test(tc, test_roundtrip_random_bits);
    tcase_add_test(tc, test_header_bytes);
    tcase_add_test(tc, test_load_valid_variants);
    tcase_add_test(tc, test_load_f16_bf16);
    suite_add_tcase(s, tc);

    tc = tcase_create("save_errors");
    tcase_add_test(tc, test_save_invalid);
    suite_add_tcase(s, tc);

    tc = tcase_create("atomic");
    tcase_add_test(tc, test_save_replaces_atomically);
    tcase_add_test(tc, test_save_into_missing_dir);
    tcase_add_test(tc, test_save_over_directory);
    tcase_add_test(tc, test_save_short_write_keeps_old_file);
    tcase_add_test(tc, test_save_readonly_dir_keeps_old_file);
    suite_add_tcase(s, tc);

    bool torch = torch_available();
    if (torch) {
        tc = tcase_create("torch");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, test_torch_interop);
        suite_add_tcase(s, tc);
    }

    int rc = tu_run_suite(s);
    st_tmpdir_remove();
    if (rc == 0 && !torch) /* the rest passed; the whole test reports SKIP, visibly */
        rc = tu_skipped("the PyTorch interop test (no torch in " PYTHON "); the other checks passed");
    return rc;
}
