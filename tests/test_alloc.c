#define _DEFAULT_SOURCE /* setenv */
/* test_alloc.c — the caching allocator: storage blocks are reused by size class, a GPT training
 * loop allocates no storage, tensor header or autograd node from the system after its first step,
 * the cache can be emptied and capped, and it is off with NB_NO_CACHING_ALLOCATOR=1 (and under
 * AddressSanitizer, where a use after free must still be reported). */
#include "testutil.h"

#include "gpt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define TU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TU_ASAN 1
#endif
#endif

static const char *g_self; /* argv[0], to run this binary again with another environment */

/* ---- reuse by size class ---------------------------------------------------------------------- */
START_TEST(test_released_storage_is_reused)
{
    nb_alloc_stats s0 = nb_get_alloc_stats();
#ifndef TU_ASAN
    /* a normal build caches unless told not to: the checks below must not return early there */
    const char *off = getenv("NB_NO_CACHING_ALLOCATOR");
    if (!(off && *off && strcmp(off, "0") != 0))
        ck_assert_msg(s0.caching, "the caching allocator is off in a build without AddressSanitizer");
#endif
    if (!s0.caching)
        return; /* ASan build: covered by test_asan_sees_use_after_free */
    nb_tensor *a = nb_empty(NB_DIMS(1000), NB_F32);
    void *pa = nb_tensor_data(a);
    nb_tensor_release(a);
    nb_alloc_stats s1 = nb_get_alloc_stats();
    ck_assert_uint_ge(s1.cached_bytes, 4000);
    /* same size, then a slightly different size of the same class: both reuse the block */
    nb_tensor *b = nb_empty(NB_DIMS(1000), NB_F32);
    ck_assert_ptr_eq(nb_tensor_data(b), pa);
    nb_tensor_release(b);
    nb_tensor *c = nb_empty(NB_DIMS(990), NB_F32);
    ck_assert_ptr_eq(nb_tensor_data(c), pa);
    nb_alloc_stats s2 = nb_get_alloc_stats();
    ck_assert_uint_eq(s2.cache_hits - s1.cache_hits, 2);
    ck_assert_uint_eq(s2.fresh_allocs, s1.fresh_allocs);
    ck_assert_uint_eq(s2.storages - s1.storages, 2);
    /* a much larger size is another class: a fresh block, and the data is 64-byte aligned */
    nb_tensor *d = nb_zeros(NB_DIMS(5000), NB_F64);
    ck_assert_ptr_ne(nb_tensor_data(d), pa);
    ck_assert_uint_eq(nb_get_alloc_stats().fresh_allocs - s2.fresh_allocs, 1);
    ck_assert_uint_eq((uintptr_t)nb_tensor_data(d) % 64, 0);
    nb_tensor *sum = nb_sum(d, NB_ALL_AXES, false);
    ck_assert_double_eq(nb_tensor_item(sum), 0.0);
    nb_tensor_release(sum);
    nb_tensor_release(c);
    nb_tensor_release(d);
}
END_TEST

START_TEST(test_reused_block_holds_new_values)
{
    /* a block handed out again must not leak the previous tensor's contents into nb_zeros */
    nb_tensor *a = nb_full(NB_DIMS(257), 7.0, NB_F32);
    nb_tensor_release(a);
    nb_tensor *b = nb_zeros(NB_DIMS(257), NB_F32), *sum = nb_sum(b, NB_ALL_AXES, false);
    ck_assert_double_eq(nb_tensor_item(sum), 0.0);
    nb_tensor_release(sum);
    nb_tensor_release(b);
}
END_TEST

START_TEST(test_empty_cache_and_limit)
{
    if (!nb_get_alloc_stats().caching)
        return;
    nb_tensor *a = nb_empty(NB_DIMS(4096), NB_F32);
    nb_tensor_release(a);
    ck_assert_uint_gt(nb_get_alloc_stats().cached_bytes, 0);
    nb_empty_cache();
    ck_assert_uint_eq(nb_get_alloc_stats().cached_bytes, 0);
    /* a cap of 0: released blocks go back to the system */
    size_t prev = nb_set_cache_limit(0);
    ck_assert_uint_eq(prev, (size_t)2 << 30);
    nb_tensor *b = nb_empty(NB_DIMS(4096), NB_F32);
    nb_tensor_release(b);
    ck_assert_uint_eq(nb_get_alloc_stats().cached_bytes, 0);
    uint64_t fresh = nb_get_alloc_stats().fresh_allocs;
    nb_tensor_release(nb_empty(NB_DIMS(4096), NB_F32));
    ck_assert_uint_eq(nb_get_alloc_stats().fresh_allocs, fresh + 1);
    /* lowering the cap below what is cached empties the cache */
    nb_set_cache_limit(prev);
    nb_tensor_release(nb_empty(NB_DIMS(4096), NB_F32));
    ck_assert_uint_gt(nb_get_alloc_stats().cached_bytes, 0);
    nb_set_cache_limit(100);
    ck_assert_uint_eq(nb_get_alloc_stats().cached_bytes, 0);
    ck_assert_uint_eq(nb_set_cache_limit(prev), 100);
}
END_TEST

START_TEST(test_views_keep_storage_alive)
{
    /* the block returns to the cache only when the last view of the storage is gone */
    nb_tensor *a = nb_arange(0, 64, 1, NB_F32);
    nb_tensor *v = nb_narrow(a, 0, 10, 5);
    nb_tensor_release(a);
    nb_tensor *b = nb_full(NB_DIMS(64), -1.0, NB_F32); /* must not reuse a's block */
    ck_assert_double_eq(nb_tensor_get(v, (const int64_t[]){0}), 10.0);
    ck_assert_double_eq(nb_tensor_get(v, (const int64_t[]){4}), 14.0);
    nb_tensor_release(v);
    nb_tensor_release(b);
}
END_TEST

/* ---- a training loop allocates nothing after its first step --------------------------------- */
static double train_step(nb_gpt *g, nb_optimizer *opt, nb_generator *gen)
{
    int scope = nb_scope_begin();
    nb_tensor *x = nb_randint(0, g->config.vocab_size, NB_DIMS(3, 8), NB_I64, gen);
    nb_tensor *y = nb_randint(0, g->config.vocab_size, NB_DIMS(3, 8), NB_I64, gen);
    nb_tensor *loss = nb_gpt_loss(nb_gpt_forward(g, x), y);
    double lv = nb_tensor_item(loss);
    nb_backward(loss, NULL, false);
    nb_optimizer_clip_grad_norm(opt, 1.0);
    nb_optimizer_step(opt);
    nb_optimizer_zero_grad(opt, true);
    nb_scope_end(scope);
    return lv;
}

START_TEST(test_gpt_steps_after_the_first_allocate_no_storage)
{
    if (!nb_get_alloc_stats().caching)
        return;
    nb_gpt_config c = {.block_size = 16, .vocab_size = 13, .n_layer = 2, .n_head = 2, .n_embd = 16,
                       .dropout = 0, .bias = true, .gelu = NB_GELU_TANH};
    nb_generator gen;
    nb_generator_seed(&gen, 7);
    nb_gpt *g = nb_gpt_new(&c, &gen);
    nb_param_list pl;
    nb_module_parameters(&g->base, false, &pl);
    nb_optimizer *opt = nb_adamw_new(pl.params, pl.n, NULL);
    double first = train_step(g, opt, &gen);
    nb_alloc_stats s1 = nb_get_alloc_stats();
    double last = first;
    for (int i = 0; i < 4; i++)
        last = train_step(g, opt, &gen);
    nb_alloc_stats s2 = nb_get_alloc_stats();
    ck_assert_uint_gt(s2.storages - s1.storages, 4 * 50); /* the steps did make tensors */
    ck_assert_msg(s2.fresh_allocs == s1.fresh_allocs, "%llu fresh storage allocations after the first step",
                  (unsigned long long)(s2.fresh_allocs - s1.fresh_allocs));
    ck_assert_msg(s2.fresh_objects == s1.fresh_objects,
                  "%llu tensor headers/nodes allocated after the first step",
                  (unsigned long long)(s2.fresh_objects - s1.fresh_objects));
    ck_assert(isfinite(first) && isfinite(last));
    nb_optimizer_free(opt);
    nb_param_list_free(&pl);
    nb_module_free(&g->base);
}
END_TEST

/* ---- the cache can be switched off ----------------------------------------------------------- */
/* Run as a child with NB_NO_CACHING_ALLOCATOR=1: every storage is a fresh block. */
static int child_no_cache(void)
{
    nb_alloc_stats s0 = nb_get_alloc_stats();
    if (s0.caching)
        return 10;
    for (int i = 0; i < 5; i++)
        nb_tensor_release(nb_empty(NB_DIMS(1000), NB_F32));
    nb_alloc_stats s1 = nb_get_alloc_stats();
    if (s1.fresh_allocs - s0.fresh_allocs != 5 || s1.cache_hits != s0.cache_hits || s1.cached_bytes != 0 ||
        s1.fresh_objects != s0.fresh_objects) /* headers come straight from calloc: not counted */
        return 11;
    return 0;
}

START_TEST(test_env_turns_the_cache_off)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "NB_NO_CACHING_ALLOCATOR=1 '%s' --child-no-cache", g_self);
    int rc = system(cmd);
    ck_assert_msg(rc == 0, "child with NB_NO_CACHING_ALLOCATOR=1 returned %d", rc);
}
END_TEST

#ifdef TU_ASAN
/* Under AddressSanitizer the cache is off, so reading a released tensor's data is reported. Run
 * in a child with its own ASAN_OPTIONS (exit code 23, no abort), whatever the caller's are. */
static int child_use_after_free(void)
{
    if (nb_get_alloc_stats().caching)
        return 10;
    nb_tensor *a = nb_full(NB_DIMS(100), 3.0, NB_F32);
    volatile float *p = nb_tensor_data(a);
    nb_tensor_release(a);
    return p[5] == 3.0f ? 0 : 1; /* heap-use-after-free: ASan exits 23 before returning */
}

START_TEST(test_asan_sees_use_after_free)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd,
             "ASAN_OPTIONS=abort_on_error=0:halt_on_error=1:exitcode=23:detect_leaks=0 '%s' --child-uaf 2>/dev/null",
             g_self);
    int rc = system(cmd);
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 23, "use after free not reported by ASan (status %d)", rc);
}
END_TEST
#endif

int main(int argc, char **argv)
{
    g_self = argv[0];
    if (argc > 1 && !strcmp(argv[1], "--child-no-cache"))
        return child_no_cache();
#ifdef TU_ASAN
    if (argc > 1 && !strcmp(argv[1], "--child-uaf"))
        return child_use_after_free();
#endif
    Suite *s = suite_create("alloc");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, test_released_storage_is_reused);
    tcase_add_test(tc, test_reused_block_holds_new_values);
    tcase_add_test(tc, test_empty_cache_and_limit);
    tcase_add_test(tc, test_views_keep_storage_alive);
    tcase_add_test(tc, test_gpt_steps_after_the_first_allocate_no_storage);
    tcase_add_test(tc, test_env_turns_the_cache_off);
#ifdef TU_ASAN
    tcase_add_test(tc, test_asan_sees_use_after_free);
#endif
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}
