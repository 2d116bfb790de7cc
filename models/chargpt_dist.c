/* chargpt_dist.c — what `chargpt train` needs beyond the library to train on several MPI ranks
 * (nb_dist.h): agreeing on failures, sharing rank 0's resume state, the micro-batch streams.
 *
 * The data-parallel scheme. Every rank holds the model, the optimizer and the same batch
 * generator (same seed). A step draws world × K micro-batches from that one stream, in the order
 * (micro-step k, rank r); rank r trains on micro-batches k·world + r (k = 0..K-1) and skips the
 * others, so ranks never see the same window in a step, the stream never depends on the rank
 * count's history, and N ranks × K micro-batches take exactly the batches one process takes with
 * --gradient-accumulation-steps N·K. Resume state therefore needs no per-rank RNG. */
#include "config.h"
#include "chargpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int chargpt_dist_agree(int rc)
{
    if (nb_dist_world_size() == 1)
        return rc;
    double v = rc;
    if (nb_dist_allreduce_doubles(&v, 1, NB_DIST_MAX) != NB_OK) {
        fprintf(stderr, "chargpt train [rank %d]: %s\n", nb_dist_rank(), nb_last_error());
        return rc ? rc : 1;
    }
    return (int)v;
}

bool chargpt_dist_draw(nb_char_data *d, const chargpt_opts *o, nb_generator *rng, nb_tensor **x, nb_tensor **y)
{
    int rank = nb_dist_rank(), world = nb_dist_world_size();
    bool fresh = false;
    for (int r = 0; r < world; r++) {
        int scope = nb_scope_begin();
        nb_tensor *bx, *by;
        if (o->sequential) /* one rank (chargpt_train refuses more) */
            fresh = nb_char_data_batch_sequential(d, o->batch_size, o->block_size, &bx, &by);
        else if (o->epoch_sampling)
            nb_char_data_batch_epoch(d, o->batch_size, o->block_size, rng, &bx, &by);
        else
            nb_char_data_batch(d, NB_SPLIT_TRAIN, o->batch_size, o->block_size, rng, &bx, &by);
        if (r == rank) {
            *x = nb_tensor_retain(bx);
            *y = nb_tensor_retain(by);
        }
        nb_scope_end(scope);
    }
    for (int i = 0; i < 2; i++) { /* new references belong to the caller's open scope, if any */
        nb_tensor **t = i ? y : x, *own = *t;
        *t = nb_scope_return(nb_scope_begin(), own);
        nb_tensor_release(own);
    }
    return fresh;
}

/* Rank 0's values of a plain buffer everywhere; false (message printed) on failure. */
static bool bcast(void *p, size_t n)
{
    if (nb_dist_broadcast_bytes(p, n) == NB_OK)
        return true;
    fprintf(stderr, "chargpt train [rank %d]: %s\n", nb_dist_rank(), nb_last_error());
    return false;
}

int chargpt_dist_share_state(nb_lm *g, nb_optimizer *opt, nb_lr_scheduler *sched, nb_char_data *d,
                             nb_train_state *ts)
{
    if (nb_dist_world_size() == 1)
        return 0;
    bool lead = nb_dist_rank() == 0, ok = true;
    nb_param_list pl;
    nb_module_parameters(g->module, false, &pl);
    int nst = nb_optimizer_state_count(opt);
    nb_tensor **st = malloc((size_t)(nst ? nst : 1) * sizeof *st);
    if (!st)
        nb_fail("chargpt train: out of memory");
    for (int k = 0; k < nst; k++)
        st[k] = nb_optimizer_state_at(opt, k).tensor;
    if (nb_dist_broadcast_params(pl.params, pl.n) != NB_OK || nb_dist_broadcast_params(st, nst) != NB_OK) {
        fprintf(stderr, "chargpt train [rank %d]: %s\n", nb_dist_rank(), nb_last_error());
        ok = false;
    }
    free(st);
    nb_param_list_free(&pl);
    /* scheduler state and group lrs (same sizes everywhere: the same construction) */
    int ns = nb_lr_scheduler_state_count(sched), ng = nb_optimizer_group_count(opt);
    double *sv = malloc((size_t)(ns + ng + 1) * sizeof *sv);
    if (!sv)
        nb_fail("chargpt train: out of memory");
    nb_lr_scheduler_state_get(sched, sv);
    for (int i = 0; i < ng; i++)
        sv[ns + i] = nb_optimizer_get_lr(opt, i);
    ok = ok && bcast(sv, (size_t)(ns + ng) * sizeof *sv);
    if (ok && !lead) {
        if (nb_lr_scheduler_state_set(sched, sv, ns) != NB_OK) {
            fprintf(stderr, "chargpt train [rank %d]: %s\n", nb_dist_rank(), nb_last_error());
            ok = false;
        }
        for (int i = 0; i < ng && ok; i++)
            nb_optimizer_set_lr(opt, i, sv[ns + i]);
    }
    free(sv);
    /* counters, generators, data position */
    ok = ok && bcast(ts, sizeof *ts) && bcast(nb_lm_dropout_gen(g), sizeof(nb_generator));
    int64_t pos[3] = {d->cursor, d->epoch, d->perm ? d->n_perm : -1};
    ok = ok && bcast(pos, sizeof pos);
    if (ok && !lead) {
        d->cursor = pos[0], d->epoch = pos[1];
        free(d->perm);
        d->perm = NULL;
        d->n_perm = 0;
        if (pos[2] >= 0) {
            d->n_perm = pos[2];
            d->perm = malloc((size_t)(pos[2] ? pos[2] : 1) * sizeof *d->perm);
            if (!d->perm)
                nb_fail("chargpt train: out of memory");
        }
    }
    if (ok && pos[2] > 0)
        ok = bcast(d->perm, (size_t)pos[2] * sizeof *d->perm);
    return chargpt_dist_agree(ok ? 0 : 1);
}

int chargpt_dist_check(nb_lm *g, nb_optimizer *opt, int64_t iter)
{
    nb_param_list pl;
    nb_module_parameters(g->module, false, &pl);
    int nst = nb_optimizer_state_count(opt);
    nb_tensor **st = malloc((size_t)(nst ? nst : 1) * sizeof *st);
    if (!st)
        nb_fail("chargpt train: out of memory");
    for (int k = 0; k < nst; k++)
        st[k] = nb_optimizer_state_at(opt, k).tensor;
    uint64_t sum = nb_dist_checksum(pl.params, pl.n);
    int rc = 0;
    if (nb_dist_check_identical(pl.params, pl.n) != NB_OK || nb_dist_check_identical(st, nst) != NB_OK) {
        if (nb_dist_rank() == 0)
            fprintf(stderr, "chargpt train: --debug-dist at iter %lld: %s\n", (long long)iter, nb_last_error());
        rc = 1;
    } else if (nb_dist_rank() == 0) {
        printf("debug-dist: iter %lld: weights and optimizer state identical on %d rank(s) (checksum %016llx)\n",
               (long long)iter, nb_dist_world_size(), (unsigned long long)sum);
    }
    free(st);
    nb_param_list_free(&pl);
    return rc;
}
