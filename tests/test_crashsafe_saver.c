/* test_crashsafe_saver.c — helper of tests/test_crashsafe.sh: saves or checks one of two fixed
 * state dicts ("A": 64K float32 + metadata, "B": 48K float64 + an int64 tensor, other metadata).
 *   test_crashsafe_saver loop PATH    save A, B, A, B, ... to PATH until killed
 *   test_crashsafe_saver save-a PATH  one save of A (save-big: a 64 MB dict); the status and
 *                                     nb_last_error() are printed; exit 0 on NB_OK, else 1
 *   test_crashsafe_saver check PATH   load PATH: print "A" or "B" (exit 0) when it equals one of
 *                                     them bit for bit, else print why and exit 1 */
#include "config.h"
#include "nabla.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static nb_state_dict *make_dict(char which)
{
    nb_state_dict *sd = nb_state_dict_new();
    int scope = nb_scope_begin();
    if (which == 'A') {
        nb_tensor *w = nb_arange(0, 65536, 1, NB_F32);
        nb_state_dict_add(sd, "w", nb_view(w, NB_DIMS(256, 256)));
        nb_state_dict_set_meta(sd, "version", "A");
    } else if (which == 'B') {
        nb_tensor *w = nb_mul_scalar(nb_arange(0, 49152, 1, NB_F64), -0.5);
        nb_state_dict_add(sd, "w", nb_view(w, NB_DIMS(192, 256)));
        nb_state_dict_add(sd, "steps", nb_arange(0, 100, 1, NB_I64));
        nb_state_dict_set_meta(sd, "version", "B");
        nb_state_dict_set_meta(sd, "note", "the other one");
    } else { /* big: 64 MB */
        nb_state_dict_add(sd, "big", nb_ones(NB_DIMS(4096, 4096), NB_F32));
    }
    nb_scope_end(scope);
    return sd;
}

static bool same_dict(const nb_state_dict *a, const nb_state_dict *b)
{
    if (nb_state_dict_count(a) != nb_state_dict_count(b) || nb_state_dict_meta_count(a) != nb_state_dict_meta_count(b))
        return false;
    for (int i = 0; i < nb_state_dict_count(a); i++) {
        const nb_tensor *x = nb_state_dict_tensor_at(a, i), *y = nb_state_dict_get(b, nb_state_dict_name_at(a, i));
        if (!y || nb_tensor_dtype(x) != nb_tensor_dtype(y) || !nb_tensor_same_shape(x, y) ||
            memcmp(nb_tensor_data(x), nb_tensor_data(y), (size_t)nb_tensor_numel(x) * nb_dtype_size(nb_tensor_dtype(x))))
            return false;
    }
    for (int i = 0; i < nb_state_dict_meta_count(a); i++) {
        const char *v = nb_state_dict_get_meta(b, nb_state_dict_meta_key_at(a, i));
        if (!v || strcmp(v, nb_state_dict_meta_value_at(a, i)))
            return false;
    }
    return true;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_crashsafe_saver loop|save-a|save-big|check PATH\n");
        return 2;
    }
    const char *mode = argv[1], *path = argv[2];
    if (!strcmp(mode, "loop")) {
        nb_state_dict *d[2] = {make_dict('A'), make_dict('B')};
        for (unsigned long i = 0;; i++)
            if (nb_safetensors_save(d[i % 2], path) != NB_OK) {
                fprintf(stderr, "save %lu failed: %s\n", i, nb_last_error());
                return 1;
            }
    }
    if (!strcmp(mode, "save-a") || !strcmp(mode, "save-big")) {
        signal(SIGXFSZ, SIG_IGN); /* a file size limit then fails write() with EFBIG */
        nb_state_dict *sd = make_dict(mode[5] == 'a' ? 'A' : 'G');
        nb_status st = nb_safetensors_save(sd, path);
        printf("%s: %s\n", nb_status_str(st), st == NB_OK ? "saved" : nb_last_error());
        nb_state_dict_free(sd);
        return st == NB_OK ? 0 : 1;
    }
    if (!strcmp(mode, "check")) {
        nb_state_dict *sd;
        if (nb_safetensors_load(path, &sd) != NB_OK) {
            printf("not loadable: %s\n", nb_last_error());
            return 1;
        }
        nb_state_dict *a = make_dict('A'), *b = make_dict('B');
        const char *which = same_dict(sd, a) && same_dict(a, sd) ? "A" : same_dict(sd, b) && same_dict(b, sd) ? "B" : NULL;
        printf("%s\n", which ? which : "loadable but neither A nor B");
        nb_state_dict_free(a);
        nb_state_dict_free(b);
        nb_state_dict_free(sd);
        return which ? 0 : 1;
    }
    fprintf(stderr, "test_crashsafe_saver: unknown mode '%s'\n", mode);
    return 2;
}
