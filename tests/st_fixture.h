/* st_fixture.h — shared by the safetensors test suites (test_safetensors, test_safetensors_corrupt):
 * a fresh temporary directory per run, whole-file read/write helpers, load-error assertions, and
 * the "known" tensors (the same table and formula as tests/safetensors_torch.py). */
#ifndef ST_FIXTURE_H
#define ST_FIXTURE_H

#include "testutil.h"

#include "nb_safetensors.h"
#include "nb_state_dict.h"

#include <stddef.h>
#include <stdint.h>

/* The run's temporary directory (made by st_tmpdir_create, removed with its contents by
 * st_tmpdir_remove) and a path in it (one of 4 rotating static buffers). */
extern char g_dir[64];
int st_tmpdir_create(void); /* 0, or -1 after perror */
void st_tmpdir_remove(void);
const char *tpath(const char *name);

/* Whole file as a malloc'd buffer (the caller frees it); overwrite a file with b[0..n). */
unsigned char *read_all(const char *path, size_t *len);
void write_all(const char *path, const void *b, size_t n);
/* A file claiming header length `claim`, then `json` (unpadded) and `dlen` zero data bytes;
 * write_raw claims the true length. */
void write_raw_claim(const char *path, uint64_t claim, const char *json, size_t dlen);
void write_raw(const char *path, const char *json, size_t dlen);

/* Asserts that loading path fails with status `want`, leaves *out NULL, and gives a message that
 * starts with the path and contains substr. */
#define expect_load_error(path, want, substr) expect_load_error_at(path, want, substr, __LINE__)
void expect_load_error_at(const char *path, nb_status want, const char *substr, int line);
nb_state_dict *load_ok(const char *path);
int count_tmp_files(const char *dir);

/* ---- the known tensors ---------------------------------------------------------------------- */
typedef struct {
    const char *name;
    nb_dtype dt;
    int ndim;
    int64_t shape[3];
} known_t;
#define N_KNOWN 8
#define N_META 3
extern const known_t k_known[N_KNOWN];
extern const char *const k_meta[N_META][2];
double known_value(int k, int64_t i, nb_dtype dt);
nb_tensor *known_tensor(int k, tu_layout layout); /* a new reference in the given layout */
nb_state_dict *known_dict(tu_layout layout, bool meta);
void check_known(const nb_tensor *t, int k); /* dtype, shape, exact values, contiguous */
void check_known_meta(const nb_state_dict *sd);

#endif /* ST_FIXTURE_H */
