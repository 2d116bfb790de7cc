/* fuzz_safetensors.c — libFuzzer target: nb_safetensors_load on arbitrary bytes.
 * Every input must be rejected with a status or loaded (never abort, crash, leak or run out of
 * memory); a loaded dict must save and load back unchanged (names, dtypes, shapes, bits,
 * metadata). Loads from memory (nb__safetensors_load_mem), the round trip goes through a file
 * under $TMPDIR (or /dev/shm). Built and run by `make fuzz` (tests/fuzz/fuzz.sh). */
#define _DEFAULT_SOURCE
#include "config.h"
#include "nb__safetensors.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_path[512];

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_path, sizeof g_path, "%s/nb_fuzz_st_%ld.safetensors", dir, (long)getpid());
    return 0;
}

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_safetensors: round trip broke: %s\n", what);
        abort();
    }
}

static void round_trip(const nb_state_dict *sd)
{
    nb_status st = nb_safetensors_save(sd, g_path);
    if (st != NB_OK) { /* only names/metadata the writer cannot represent may fail */
        check(st == NB_ERR_INVALID, nb_last_error());
        return;
    }
    nb_state_dict *back;
    st = nb_safetensors_load(g_path, &back);
    unlink(g_path);
    check(st == NB_OK, nb_last_error());
    check(nb_state_dict_count(back) == nb_state_dict_count(sd), "tensor count");
    check(nb_state_dict_meta_count(back) == nb_state_dict_meta_count(sd), "metadata count");
    for (int i = 0; i < nb_state_dict_count(sd); i++) {
        const nb_tensor *a = nb_state_dict_tensor_at(sd, i);
        const nb_tensor *b = nb_state_dict_get(back, nb_state_dict_name_at(sd, i));
        check(b != NULL, "name");
        check(nb_tensor_dtype(a) == nb_tensor_dtype(b) && nb_tensor_same_shape(a, b), "dtype/shape");
        size_t n = (size_t)nb_tensor_numel(a) * nb_dtype_size(nb_tensor_dtype(a));
        check(n == 0 || memcmp(nb_tensor_data(a), nb_tensor_data(b), n) == 0, "data bits");
    }
    for (int i = 0; i < nb_state_dict_meta_count(sd); i++) {
        const char *v = nb_state_dict_get_meta(back, nb_state_dict_meta_key_at(sd, i));
        check(v && strcmp(v, nb_state_dict_meta_value_at(sd, i)) == 0, "metadata");
    }
    nb_state_dict_free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_state_dict *sd = (nb_state_dict *)1;
    nb_status st = nb__safetensors_load_mem(data, size, "fuzz", &sd);
    if (st != NB_OK) {
        check(sd == NULL && (st == NB_ERR_FORMAT || st == NB_ERR_IO || st == NB_ERR_NOMEM), "error contract");
        check(strncmp(nb_last_error(), "fuzz: ", 6) == 0, "message names the file");
        return 0;
    }
    round_trip(sd);
    nb_state_dict_free(sd);
    return 0;
}
