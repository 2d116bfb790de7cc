/* fuzz_tokenizer.c — libFuzzer target: the char tokenizer (models/chardata.c) on arbitrary bytes.
 * nb_vocab_build either rejects the bytes with a status or builds a sorted vocabulary with which
 * nb_vocab_encode accepts the same bytes and nb_vocab_decode gives them back exactly;
 * nb_vocab_to_utf8/nb_vocab_from_utf8 round-trip the vocabulary; nb_vocab_from_utf8 on the bytes
 * (as a C string) and nb_vocab_encode with that vocabulary never crash. Built by `make fuzz`. */
#include "config.h"
#include "chardata.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static nb_vocab g_v, g_w; /* 16 KB each: kept off the stack */

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_tokenizer: %s (%s)\n", what, nb_last_error());
        abort();
    }
}

static void encode_decode(const nb_vocab *v, const char *text, size_t len, bool must_encode)
{
    int64_t *ids = NULL, n = -1;
    nb_status st = nb_vocab_encode(v, text, len, &ids, &n);
    if (st != NB_OK) {
        check(!must_encode, "encode rejected the text its vocabulary was built from");
        check(ids == NULL && n == 0, "encode error contract");
        return;
    }
    check(n >= 0 && (size_t)n <= len, "encode length");
    for (int64_t i = 0; i < n; i++)
        check(ids[i] >= 0 && ids[i] < v->n, "id range");
    char *back = nb_vocab_decode(v, ids, n);
    check(strlen(back) == len && memcmp(back, text, len) == 0, "decode(encode(text)) != text");
    free(back);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    if (nb_vocab_build(&g_v, text, size) == NB_OK) {
        check(g_v.n > 0 && g_v.n <= NB_VOCAB_MAX, "vocab size");
        for (int i = 1; i < g_v.n; i++)
            check(g_v.cp[i - 1] < g_v.cp[i], "vocab not sorted and distinct");
        encode_decode(&g_v, text, size, true);
        char *s = nb_vocab_to_utf8(&g_v);
        check(nb_vocab_from_utf8(&g_w, s) == NB_OK, "from_utf8(to_utf8(v)) failed");
        check(g_w.n == g_v.n && memcmp(g_w.cp, g_v.cp, (size_t)g_v.n * sizeof g_v.cp[0]) == 0,
              "from_utf8(to_utf8(v)) != v");
        free(s);
    }
    char *z = malloc(size + 1); /* the bytes as a C string (cut at the first NUL) */
    memcpy(z, data, size);
    z[size] = '\0';
    if (nb_vocab_from_utf8(&g_w, z) == NB_OK) {
        char *s = nb_vocab_to_utf8(&g_w);
        check(strcmp(s, z) == 0, "to_utf8(from_utf8(s)) != s");
        free(s);
        encode_decode(&g_w, text, size, false);
    }
    free(z);
    return 0;
}
