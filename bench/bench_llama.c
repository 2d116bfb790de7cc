/* bench_llama.c — training throughput of nabla's LLaMA (models/llama.c) at the default char size
 * (nb_llama_config_default: dim 128, 4 layers, 4 heads, 4 kv heads, hidden 352, vocab 65, T 64) on
 * random tokens, batch 12 (chargpt's).
 *
 * Build and run (not part of make check):
 *     make bench/bench_llama && bench/bench_llama [steps] [threads] [n_kv_heads]   (default 20, 1, 4)
 * bench/torch_llama.py runs it interleaved with the same model in PyTorch (tests/ref_llama.py) and
 * prints both, the ratio and the CPU model. One step: forward, mean cross-entropy, backward,
 * grad-norm clip 1.0, AdamW (llama configure_optimizers), zero_grad. 3 warm-up steps; prints
 *     RESULT impl=nabla case=llama_char tokens_per_s=... */
#include "config.h"
#include "llama.h"
#include "nabla.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? atol(argv[1]) : 20;
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    long kvh = argc > 3 ? atol(argv[3]) : 4;
    if (steps <= 0 || threads <= 0 || kvh <= 0 || 4 % kvh) {
        fprintf(stderr, "usage: bench_llama [steps > 0] [threads > 0] [n_kv_heads dividing 4]\n");
        return 2;
    }
    nb_set_num_threads(threads);
    nb_llama_config c = nb_llama_config_default();
    c.n_kv_heads = kvh;
    const int64_t B = 12, T = c.max_seq_len;
    nb_generator gen;
    nb_generator_seed(&gen, 1337);
    nb_llama *m = nb_llama_new(&c, &gen);
    nb_optimizer *opt = nb_llama_configure_optimizers(m, 0.1, 1e-3, 0.9, 0.95);
    double t0 = 0, loss = 0;
    for (long s = 0; s < steps + 3; s++) {
        if (s == 3)
            t0 = now_s();
        int scope = nb_scope_begin();
        nb_tensor *x = nb_randint(0, c.vocab_size, NB_DIMS(B, T), NB_I64, &gen);
        nb_tensor *y = nb_randint(0, c.vocab_size, NB_DIMS(B, T), NB_I64, &gen);
        nb_tensor *l = nb_llama_loss(nb_llama_forward(m, x), y);
        loss = nb_tensor_item(l);
        nb_backward(l, NULL, false);
        nb_optimizer_clip_grad_norm(opt, 1.0);
        nb_optimizer_step(opt);
        nb_optimizer_zero_grad(opt, true);
        nb_scope_end(scope);
    }
    double sec = now_s() - t0, tps = (double)(steps * B * T) / sec;
    printf("nabla: llama char (%lld params, kvh %ld), B=%lld T=%lld, %d thread(s): %ld steps %.3f s, %.0f tokens/s, "
           "last loss %.4f\n",
           (long long)nb_module_parameter_numel(&m->base), kvh, (long long)B, (long long)T, threads, steps, sec, tps,
           loss);
    printf("RESULT impl=nabla case=llama_char tokens_per_s=%.1f\n", tps);
    nb_optimizer_free(opt);
    nb_module_free(&m->base);
    return 0;
}
