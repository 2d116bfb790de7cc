/* test_safetensors_corrupt.c — rejection of corrupt safetensors files: every truncation of a
 * known file, every single-bit flip of its header (each rejected with a clear message, or accepted
 * only when the flip changed a name or a metadata string, never a tensor), hand-made bad headers
 * and bad header lengths. Split from test_safetensors.c; both use tests/st_fixture.c. */
#include "st_fixture.h"

#include <stdlib.h>
#include <string.h>

/* ---- truncations and bit flips -------------------------------------------------------------------------- */
START_TEST(test_every_truncation)
{
    nb_state_dict *sd = known_dict(TU_CONTIGUOUS, true);
    const char *good = tpath("trunc_src.safetensors"), *p = tpath("trunc.safetensors");
    ck_assert(nb_safetensors_save(sd, good) == NB_OK);
    nb_state_dict_free(sd);
    size_t len;
    unsigned char *b = read_all(good, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | b[i];
    for (size_t n = 0; n < len; n++) {
        write_all(p, b, n);
        if (n < 8)
            expect_load_error(p, NB_ERR_FORMAT, "shorter than the 8-byte header length");
        else if (n < 8 + hl)
            expect_load_error(p, NB_ERR_FORMAT, "runs past the end of the file");
        else
            expect_load_error(p, NB_ERR_FORMAT, "file truncated");
    }
    /* one byte too many */
    unsigned char *longer = calloc(len + 1, 1);
    memcpy(longer, b, len);
    write_all(p, longer, len + 1);
    expect_load_error(p, NB_ERR_FORMAT, "1 trailing bytes");
    free(longer);
    free(b);
}
END_TEST

START_TEST(test_every_header_bit_flip)
{
    nb_state_dict *src = known_dict(TU_CONTIGUOUS, true);
    const char *good = tpath("flip_src.safetensors"), *p = tpath("flip.safetensors");
    ck_assert(nb_safetensors_save(src, good) == NB_OK);
    size_t len;
    unsigned char *b = read_all(good, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | b[i];
    int rejected = 0, accepted = 0;
    for (size_t i = 0; i < 8 + hl; i++)
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            write_all(p, b, len);
            b[i] ^= (unsigned char)(1u << bit);
            nb_state_dict *sd = NULL;
            nb_status st = nb_safetensors_load(p, &sd);
            if (st != NB_OK) {
                const char *msg = nb_last_error();
                ck_assert_msg(st == NB_ERR_FORMAT, "byte %zu bit %d: status %s (%s)", i, bit,
                              nb_status_str(st), msg);
                ck_assert_ptr_null(sd);
                ck_assert_msg(strncmp(msg, p, strlen(p)) == 0 && strlen(msg) > strlen(p) + 10,
                              "byte %zu bit %d: unclear message \"%s\"", i, bit, msg);
                rejected++;
                continue;
            }
            /* accepted: only a name or a metadata string may have changed, never the tensors */
            accepted++;
            ck_assert_int_eq(nb_state_dict_count(sd), N_KNOWN);
            int renamed = 0, reshaped = 0;
            for (int k = 0; k < N_KNOWN; k++) {
                const nb_tensor *t = nb_state_dict_tensor_at(sd, k);
                if (k_known[k].ndim > 0 && k_known[k].shape[0] == 0 && /* [0, 4] may become [0, 5] */
                    nb_tensor_numel(t) == 0 && nb_tensor_dtype(t) == k_known[k].dt &&
                    nb_tensor_ndim(t) == k_known[k].ndim && nb_tensor_size(t, 1) != k_known[k].shape[1])
                    reshaped++;
                else
                    check_known(t, k);
                renamed += strcmp(nb_state_dict_name_at(sd, k), k_known[k].name) != 0;
            }
            int meta_changed = nb_state_dict_meta_count(sd) != N_META;
            for (int m = 0; !meta_changed && m < N_META; m++)
                meta_changed = strcmp(nb_state_dict_meta_key_at(sd, m), k_meta[m][0]) ||
                               strcmp(nb_state_dict_meta_value_at(sd, m), k_meta[m][1]);
            ck_assert_msg(renamed + reshaped + meta_changed == 1, "byte %zu bit %d accepted with %d renames",
                          i, bit, renamed);
            nb_state_dict_free(sd);
        }
    ck_assert_int_eq(rejected + accepted, (int)(8 * (8 + hl)));
    ck_assert_msg(rejected > accepted, "%d rejected, %d accepted", rejected, accepted);
    nb_state_dict_free(src);
    free(b);
}
END_TEST

typedef struct {
    const char *json;
    size_t dlen;
    const char *substr;
} bad_case;

#define E_A "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}"
static const bad_case k_bad[] = {
    {"{" E_A ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
     "tensor 'b': data_offsets [4, 12] overlap the previous tensor, which ends at byte 8"},
    {"{" E_A ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "overlap"},
    {"{" E_A ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20,
     "tensor 'b': data_offsets [12, 20] leave a gap after byte 8"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "leave a gap after byte 0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
     "tensor 'a': data_offsets [0, 8] span 8 bytes, expected 12 (shape [3] of F32)"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "expected 8"},
    {"{" E_A "}", 9, "1 trailing bytes after the data"},
    {"{" E_A "}", 4, "file truncated: the header describes 8 data bytes, the file holds 4"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before begin"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":5}}", 8, "data_offsets is not a list of two"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets is not a list of two"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,9]}}", 8, "data_offsets is not"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-1,7]}}", 8, "non-negative integers"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8.0]}}", 8, "data_offsets is not"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,\"8\"]}}", 8, "data_offsets is not"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,18446744073709551616]}}", 8, "invalid JSON"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
     "shape entry 0 is not a non-negative integer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", 8, "shape entry 0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,true],\"data_offsets\":[0,8]}}", 8, "shape entry 1"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":\"2\",\"data_offsets\":[0,8]}}", 8, "shape is not a list"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
     "shape has 9 dims, nabla supports at most 8"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
     "shape [4294967296, 4294967296] has too many elements"},
    {"{\"a\":{\"dtype\":\"I64\",\"shape\":[9223372036854775807,2,0],\"data_offsets\":[0,0]}}", 0,
     "too many elements"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[1152921504606846976],\"data_offsets\":[0,0]}}", 0,
     "too many elements"},
    {"{\"a\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a': unknown dtype 'F33'"},
    {"{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 8, "dtype U8 is not supported"},
    {"{\"a\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "dtype is not a string"},
    {"{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "tensor 'a': missing \"dtype\""},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8, "missing \"shape\""},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "missing \"data_offsets\""},
    {"{\"a\":5}", 0, "entry 'a' is not an object"},
    {"{\"a\":[1,2]}", 0, "entry 'a' is not an object"},
    {"{" E_A "," E_A "}", 8, "duplicate name"},
    {"{\"__metadata__\":{\"x\":1}}", 0, "__metadata__ value of 'x' is not a string"},
    {"{\"__metadata__\":[\"x\"]}", 0, "__metadata__ is not an object"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate name"},
    {"{\"\xff\":1}", 0, "header is not valid UTF-8"},
    {"{\"a\xc3\":1}", 0, "not valid UTF-8"},
    {"{\"a\\u0000b\":1}", 0, "invalid JSON"},
    {"{\"a\":", 0, "invalid JSON header at line 1"},
    {"{} x", 0, "invalid JSON"},
    {"[]", 0, "header does not start with '{'"},
    {" {}", 0, "header does not start with '{'"},
    {"", 0, "header does not start with '{'"},
};

/* Every byte of the data region, one bit flipped: the stored XXH3-64 checksums reject each file
 * (without them, all of these loaded silently), naming the tensor. */
START_TEST(test_every_data_bit_flip)
{
    nb_state_dict *src = known_dict(TU_CONTIGUOUS, true);
    const char *good = tpath("dflip_src.safetensors"), *p = tpath("dflip.safetensors");
    ck_assert(nb_safetensors_save(src, good) == NB_OK);
    nb_state_dict_free(src);
    size_t len;
    unsigned char *b = read_all(good, &len);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--)
        hl = hl << 8 | b[i];
    ck_assert_uint_gt(len, 8 + hl);
    for (size_t i = 8 + hl; i < len; i++) {
        b[i] ^= (unsigned char)(1u << (i % 8));
        write_all(p, b, len);
        b[i] ^= (unsigned char)(1u << (i % 8));
        expect_load_error(p, NB_ERR_FORMAT, "does not match the stored");
    }
    /* the untouched file loads, and the checksum list is not handed on as metadata */
    nb_state_dict *sd = NULL;
    ck_assert_msg(nb_safetensors_load(good, &sd) == NB_OK, "%s", nb_last_error());
    ck_assert_ptr_null(nb_state_dict_get_meta(sd, "nabla.xxh3_64"));
    nb_state_dict_free(sd);
    free(b);
}
END_TEST

START_TEST(test_bad_headers)
{
    const char *p = tpath("bad.safetensors");
    for (size_t i = 0; i < sizeof k_bad / sizeof *k_bad; i++) {
        write_raw(p, k_bad[i].json, k_bad[i].dlen);
        nb_state_dict *sd = NULL;
        nb_status st = nb_safetensors_load(p, &sd);
        ck_assert_msg(st == NB_ERR_FORMAT, "case %zu (%s): status %s (%s)", i, k_bad[i].json,
                      nb_status_str(st), nb_last_error());
        ck_assert_msg(strstr(nb_last_error(), k_bad[i].substr) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
                      nb_last_error(), k_bad[i].substr);
        expect_load_error(p, NB_ERR_FORMAT, k_bad[i].substr);
    }
    /* sanity: the table's good entry alone loads */
    write_raw(p, "{" E_A "}", 8);
    nb_state_dict *sd = load_ok(p);
    nb_state_dict_free(sd);
}
END_TEST

START_TEST(test_bad_lengths_and_files)
{
    const char *p = tpath("len.safetensors");
    write_raw_claim(p, (uint64_t)1 << 63, "{}", 0);
    expect_load_error(p, NB_ERR_FORMAT, "header length 9223372036854775808 exceeds 100000000");
    write_raw_claim(p, UINT64_MAX, "{}", 0);
    expect_load_error(p, NB_ERR_FORMAT, "header length 18446744073709551615 exceeds 100000000");
    write_raw_claim(p, 100000001, "{}", 0);
    expect_load_error(p, NB_ERR_FORMAT, "exceeds 100000000");
    write_raw_claim(p, 100000000, "{}", 0);
    expect_load_error(p, NB_ERR_FORMAT, "header length 100000000 runs past the end of the file (10 bytes)");
    write_raw_claim(p, 3, "{}", 0);
    expect_load_error(p, NB_ERR_FORMAT, "runs past the end");
    write_raw_claim(p, 0, "", 0);
    expect_load_error(p, NB_ERR_FORMAT, "header does not start with '{'");
    write_all(p, "", 0);
    expect_load_error(p, NB_ERR_FORMAT, "file is 0 bytes, shorter than the 8-byte header length");
    write_all(p, "\x02\0\0\0\0\0\0", 7);
    expect_load_error(p, NB_ERR_FORMAT, "file is 7 bytes");
    /* BOOL bytes must be 0 or 1 */
    const char *json = "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}";
    size_t jl = strlen(json);
    unsigned char buf[128] = {(unsigned char)jl};
    memcpy(buf + 8, json, jl);
    memcpy(buf + 8 + jl, "\x01\x00\x02", 3);
    write_all(p, buf, 8 + jl + 3);
    expect_load_error(p, NB_ERR_FORMAT, "tensor 'm': BOOL element 2 is 2 (expected 0 or 1)");
    /* not a file */
    expect_load_error(tpath("missing.safetensors"), NB_ERR_IO, "cannot open: No such file or directory");
    expect_load_error(g_dir, NB_ERR_IO, "not a regular file");
}
END_TEST

int main(void)
{
    if (st_tmpdir_create() != 0)
        return 99;
    Suite *s = suite_create("safetensors_corrupt");
    TCase *tc = tcase_create("corrupt");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_every_truncation);
    tcase_add_test(tc, test_every_header_bit_flip);
    tcase_add_test(tc, test_every_data_bit_flip);
    tcase_add_test(tc, test_bad_headers);
    tcase_add_test(tc, test_bad_lengths_and_files);
    suite_add_tcase(s, tc);
    int rc = tu_run_suite(s);
    st_tmpdir_remove();
    return rc;
}
