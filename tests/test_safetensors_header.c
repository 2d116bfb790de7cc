/* test_safetensors_header.c — the loader bounds the memory a JSON header may cost (issue #16): a
 * dense header (one that jansson would expand 10-50 times) is rejected with NB_ERR_FORMAT before
 * it is parsed, and a jansson out-of-memory is reported as such, in the header and in the checksum
 * list, also the failed string copies jansson reports as syntax errors (while malformed JSON stays
 * a format error). The bound is 8 times the header's
 * size plus a slack (64 MiB; smaller here through the test hook, so small headers show it).
 * tests/test_safetensors_header.sh runs a 99 MB dense header under a 2 GB address-space limit.
 * With a file argument, this program only loads it and prints "status N: message" (for the shell
 * test). */
#define _DEFAULT_SOURCE /* mkstemp */
#include "testutil.h"

#include "nb__safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A file image: 8-byte length, then text padded with spaces to a multiple of 8. */
static unsigned char *image(const char *text, size_t n, size_t *len)
{
    size_t padded = (n + 7) / 8 * 8;
    unsigned char *b = malloc(8 + padded);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, text, n);
    memset(b + 8 + n, ' ', padded - n);
    *len = 8 + padded;
    return b;
}

/* {"a":[0,0,...,0]}: ~24 bytes of jansson per header byte. */
static char *dense_ints(size_t count, size_t *n)
{
    char *t = malloc(16 + 2 * count);
    size_t k = (size_t)sprintf(t, "{\"a\":[");
    for (size_t i = 0; i < count; i++)
        t[k++] = '0', t[k++] = ',';
    t[k - 1] = ']';
    t[k++] = '}';
    *n = k;
    return t;
}

/* {"t0":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}, ...}: valid, ~15x in memory. */
static char *many_entries(size_t count, size_t *n)
{
    char *t = malloc(8 + 80 * count);
    size_t k = 0;
    t[k++] = '{';
    for (size_t i = 0; i < count; i++)
        k += (size_t)sprintf(t + k, "%s\"t%zu\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}",
                             i ? "," : "", i);
    t[k++] = '}';
    *n = k;
    return t;
}

static nb_status load(const char *text, size_t n, nb_state_dict **sd)
{
    size_t len;
    unsigned char *b = image(text, n, &len);
    nb_status st = nb__safetensors_load_mem(b, len, "hdr", sd);
    free(b);
    return st;
}

START_TEST(test_dense_header_rejected)
{
    size_t n;
    char *t = dense_ints(100000, &n); /* 200 KB of text */
    nb_state_dict *sd;
    uint64_t old = nb__safetensors_set_header_slack(0);
    ck_assert_int_eq(load(t, n, &sd), NB_ERR_FORMAT);
    ck_assert_msg(strstr(nb_last_error(), "hdr: the header of 200008 bytes is too dense") != NULL, "%s",
                  nb_last_error());
    ck_assert(sd == NULL);
    /* with the default slack it is parsed, and rejected for what it is */
    nb__safetensors_set_header_slack(old);
    ck_assert_int_eq(load(t, n, &sd), NB_ERR_FORMAT);
    ck_assert_msg(strstr(nb_last_error(), "entry 'a' is not an object") != NULL, "%s", nb_last_error());
    free(t);
}
END_TEST

START_TEST(test_entries_bound)
{
    size_t n;
    char *t = many_entries(2000, &n);
    nb_state_dict *sd;
    /* valid: loads within the default slack */
    ck_assert_msg(load(t, n, &sd) == NB_OK, "%s", nb_last_error());
    ck_assert_int_eq(nb_state_dict_count(sd), 2000);
    nb_state_dict_free(sd);
    /* without slack, 8 x its size is below its cost (the loader would use ~15x): rejected */
    uint64_t old = nb__safetensors_set_header_slack(0);
    ck_assert_int_eq(load(t, n, &sd), NB_ERR_FORMAT);
    ck_assert_msg(strstr(nb_last_error(), "too dense") != NULL, "%s", nb_last_error());
    /* a slack that covers it: loads again */
    nb__safetensors_set_header_slack(64 * (uint64_t)n);
    ck_assert_msg(load(t, n, &sd) == NB_OK, "%s", nb_last_error());
    nb_state_dict_free(sd);
    nb__safetensors_set_header_slack(old);
    free(t);
}
END_TEST

/* The checksum list inside __metadata__ is JSON in a string: bounded the same way. */
START_TEST(test_dense_checksum_list)
{
    size_t n = 0;
    size_t count = 50000;
    char *t = malloc(64 + 4 * count);
    n = (size_t)sprintf(t, "{\"__metadata__\":{\"nabla.xxh3_64\":\"[");
    for (size_t i = 0; i < count; i++)
        t[n++] = '[', t[n++] = ']', t[n++] = ',';
    n--;
    n += (size_t)sprintf(t + n, "]\"}}");
    nb_state_dict *sd;
    uint64_t old = nb__safetensors_set_header_slack(0);
    ck_assert_int_eq(load(t, n, &sd), NB_ERR_FORMAT);
    ck_assert_msg(strstr(nb_last_error(), "the checksum list of 150001 bytes is too dense") != NULL, "%s",
                  nb_last_error());
    nb__safetensors_set_header_slack(old);
    free(t);
}
END_TEST

/* jansson's allocations fail after the first `g_allow` (json_set_alloc_funcs: this process only). */
static long g_allow;
static void *failing_malloc(size_t n) { return g_allow-- > 0 ? malloc(n) : NULL; }

START_TEST(test_jansson_out_of_memory)
{
    size_t n;
    char *t = many_entries(50, &n);
    nb_state_dict *sd;
    json_set_alloc_funcs(failing_malloc, free);
    int nomem = 0;
    for (long allow = 0; allow < 60; allow++) {
        g_allow = allow;
        nb_status st = load(t, n, &sd);
        /* jansson reports most failed allocations with no message (line -1), and a failed copy of
         * a key or a string value as a syntax error ("string or '}' expected near '"t1"'",
         * "invalid token near '"F32"'": 11 of these 60): every one is out of memory */
        ck_assert_msg(st == NB_ERR_NOMEM, "allow %ld: %d %s", allow, st, nb_last_error());
        ck_assert_str_eq(nb_last_error(), "hdr: out of memory parsing the 2744-byte header");
        nomem++;
    }
    json_set_alloc_funcs(malloc, free);
    ck_assert_int_eq(nomem, 60);
    ck_assert_msg(load(t, n, &sd) == NB_OK, "%s", nb_last_error());
    nb_state_dict_free(sd);
    free(t);
}
END_TEST

/* Malformed JSON stays a format error, also where jansson's message is one an allocation failure
 * can give ("string or '}' expected", "invalid token") or the error follows a quote. */
START_TEST(test_syntax_errors_stay_format)
{
    static const char *const bad[] = {
        "{\"a\":1,}",          "{\"a\":1,2:3}",        "{\"a\":x}",     "{\"a\":-\"b\"}",
        "{\"a\" \"b\":1}",      "{\"a\":\"x\\q\"}",     "{\"a\\q\":1}",  "{\"a\":\"b\"\"c\"}",
        "{\"a\":[\"b\" \"c\"]}", "{\"a\":\"b\",\"a\":1}", "{\"\x01\":1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        nb_state_dict *sd;
        nb_status st = load(bad[i], strlen(bad[i]), &sd);
        ck_assert_msg(st == NB_ERR_FORMAT, "%s: %d %s", bad[i], st, nb_last_error());
        ck_assert_msg(!strstr(nb_last_error(), "memory"), "%s: %s", bad[i], nb_last_error());
    }
}
END_TEST

/* The same inside the checksum list (JSON in a __metadata__ string, parsed on its own): a file
 * nb_safetensors_save wrote, loaded with jansson's n-th allocation failing for every n until the
 * load succeeds: out of memory each time, in the header or in the checksum list. */
START_TEST(test_jansson_out_of_memory_checksums)
{
    int s = nb_scope_begin();
    nb_state_dict *sd = nb_state_dict_new(), *got;
    nb_state_dict_add(sd, "encoder.layer_with_a_long_name.weight", nb_ones(NB_DIMS(2, 3), NB_F32));
    nb_state_dict_add(sd, "b", nb_zeros(NB_DIMS(4), NB_F64));
    char path[] = "/tmp/test_st_oom_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_msg(nb_safetensors_save(sd, path) == NB_OK, "%s", nb_last_error());
    nb_state_dict_free(sd);
    FILE *f = fopen(path, "rb");
    unsigned char buf[4096];
    size_t len = fread(buf, 1, sizeof buf, f);
    fclose(f);
    unlink(path);
    ck_assert(len > 8 && len < sizeof buf);
    size_t hlen = (size_t)(buf[0] | buf[1] << 8 | buf[2] << 16);
    char *hdr = strndup((const char *)buf + 8, hlen);
    ck_assert_msg(strstr(hdr, "nabla.xxh3_64") != NULL, "no checksum list in %s", hdr);
    free(hdr);
    char want_hdr[64];
    snprintf(want_hdr, sizeof want_hdr, "mem: out of memory parsing the %zu-byte header", hlen);
    json_set_alloc_funcs(failing_malloc, free);
    int in_header = 0, in_list = 0;
    nb_status st = NB_ERR_NOMEM;
    long allow;
    for (allow = 0; allow < 10000 && st != NB_OK; allow++) {
        g_allow = allow;
        st = nb__safetensors_load_mem(buf, len, "mem", &got);
        if (st == NB_OK)
            break;
        ck_assert_msg(st == NB_ERR_NOMEM, "allow %ld: %d %s", allow, st, nb_last_error());
        if (!strcmp(nb_last_error(), "mem: out of memory parsing the checksum list")) {
            in_list++;
        } else {
            ck_assert_str_eq(nb_last_error(), want_hdr);
            in_header++;
        }
    }
    json_set_alloc_funcs(malloc, free);
    ck_assert_msg(st == NB_OK, "no success after %ld allocations: %s", allow, nb_last_error());
    ck_assert_msg(in_header > 10 && in_list > 3, "failures in the header %d, in the checksum list %d", in_header,
                  in_list);
    nb_state_dict_free(got);
    nb_scope_end(s);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc == 2) { /* the shell test's probe */
        nb_state_dict *sd;
        nb_status st = nb_safetensors_load(argv[1], &sd);
        printf("status %d: %s\n", (int)st, nb_last_error());
        if (st == NB_OK)
            nb_state_dict_free(sd);
        return 0;
    }
    Suite *s = suite_create("safetensors_header");
    TCase *tc = tcase_create("bound");
    tcase_add_test(tc, test_dense_header_rejected);
    tcase_add_test(tc, test_entries_bound);
    tcase_add_test(tc, test_dense_checksum_list);
    tcase_add_test(tc, test_jansson_out_of_memory);
    tcase_add_test(tc, test_jansson_out_of_memory_checksums);
    tcase_add_test(tc, test_syntax_errors_stay_format);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
