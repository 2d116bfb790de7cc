/* chargpt_train.c — `chargpt train`: nanoGPT's training loop (AdamW, grad clipping, warmup +
 * cosine / MultiStepLR / constant schedule, periodic evaluation, checkpoints, resume, log.csv). */
#define _DEFAULT_SOURCE /* POSIX: truncate, fork, mkstemp, sigaction */
#include "config.h"
#include "chargpt.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t g_interrupted;
static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* nanoGPT's get_lr as a factor of the base lr (LambdaLR). */
static double cosine_factor(int64_t it, void *ctx)
{
    const chargpt_opts *o = ctx;
    double lr;
    if (it < o->warmup_iters)
        lr = o->learning_rate * (double)(it + 1) / (double)(o->warmup_iters + 1);
    else if (it > o->lr_decay_iters)
        lr = o->min_lr;
    else {
        double ratio = (double)(it - o->warmup_iters) / (double)(o->lr_decay_iters - o->warmup_iters);
        double coeff = 0.5 * (1.0 + cos(3.14159265358979323846 * ratio));
        lr = o->min_lr + coeff * (o->learning_rate - o->min_lr);
    }
    return lr / o->learning_rate;
}

static double constant_factor(int64_t it, void *ctx)
{
    (void)it;
    (void)ctx;
    return 1.0;
}

/* Mean loss over eval_iters random batches of a split (nanoGPT's estimate_loss). With several
 * ranks, every rank draws every batch (the generator stays shared) and evaluates batch k when
 * k % world == rank; the losses are gathered and summed in batch order, as one process sums
 * them, so the estimate does not depend on the number of ranks. */
static double estimate_loss(nb_gpt *g, const nb_char_data *d, nb_data_split split, const chargpt_opts *o, nb_generator *gen)
{
    bool prev = nb_set_grad_enabled(false);
    nb_module_train(&g->base, false);
    int rank = nb_dist_rank(), world = nb_dist_world_size();
    double sum = 0, part[256];
    for (int64_t k0 = 0; k0 < o->eval_iters; k0 += 256) {
        int n = o->eval_iters - k0 < 256 ? (int)(o->eval_iters - k0) : 256;
        for (int j = 0; j < n; j++) {
            int scope = nb_scope_begin();
            nb_tensor *x, *y;
            nb_char_data_batch(d, split, o->batch_size, o->block_size, gen, &x, &y);
            part[j] = (k0 + j) % world == rank ? nb_tensor_item(nb_gpt_loss(nb_gpt_forward(g, x), y)) : 0.0;
            nb_scope_end(scope);
        }
        if (nb_dist_allreduce_doubles(part, n, NB_DIST_SUM) != NB_OK) {
            fprintf(stderr, "\nchargpt train [rank %d]: %s\n", rank, nb_last_error());
            sum = NAN;
        }
        for (int j = 0; j < n; j++)
            sum += part[j];
    }
    nb_module_train(&g->base, true);
    nb_set_grad_enabled(prev);
    return sum / (double)o->eval_iters;
}

/* Keeps the header and the first `rows` data rows of log.csv (resume: drop rows written after
 * the resume state was saved). Returns 0, or -1 with errno. */
static int log_truncate(const char *path, int64_t rows)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT && rows == 0 ? 0 : -1;
    char line[512];
    size_t keep = 0;
    int64_t n = -1; /* header first */
    while (n < rows && fgets(line, sizeof line, f)) {
        keep += strlen(line);
        n++;
    }
    fclose(f);
    return truncate(path, (off_t)keep);
}

static void format_eta(double s, char *buf, size_t n)
{
    if (!isfinite(s) || s < 0)
        s = 0;
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ldh%02ldm", t / 3600, (t / 60) % 60);
    else
        snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
}

/* Creates dir and any missing parent directories, like `mkdir -p` (nanoGPT: os.makedirs(out_dir,
 * exist_ok=True)). Returns 0, or -1 with errno set. */
static int make_dirs(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) {
        errno = n ? ENAMETOOLONG : ENOENT;
        return -1;
    }
    memcpy(buf, dir, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/')
            continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

int chargpt_train(const chargpt_opts *o)
{
    /* Under mpirun every rank runs this function in step; rank 0 alone writes files and prints
     * progress, and a failure on any rank is agreed on (chargpt_dist_agree) so all stop together. */
    const int rank = nb_dist_rank(), world = nb_dist_world_size();
    const bool lead = rank == 0;
    int rc = 0;
    nb_char_data data;
    if (nb_char_data_load(&data, o->data, NULL, o->block_size) != NB_OK) {
        fprintf(stderr, "chargpt train: %s\n", nb_last_error());
        rc = 1;
    }
    if (chargpt_dist_agree(rc)) {
        if (!rc)
            nb_char_data_free(&data);
        return 1;
    }
    if (lead && make_dirs(o->out_dir) != 0) {
        fprintf(stderr, "chargpt train: cannot create %s: %s\n", o->out_dir, strerror(errno));
        rc = 1;
    }
    if (chargpt_dist_agree(rc)) {
        nb_char_data_free(&data);
        return 1;
    }
    char ckpt_path[4096], resume_path[4096], log_path[4096];
    snprintf(ckpt_path, sizeof ckpt_path, "%s/ckpt.safetensors", o->out_dir);
    snprintf(resume_path, sizeof resume_path, "%s/resume.safetensors", o->out_dir);
    snprintf(log_path, sizeof log_path, "%s/log.csv", o->out_dir);

    nb_set_num_threads(o->threads);
    if (!o->threads && nb_dist_local_size() > 1) /* ranks sharing a host share its cores */
        nb_set_num_threads(nb_get_num_threads() > nb_dist_local_size() ? nb_get_num_threads() / nb_dist_local_size() : 1);
    nb_gpt_config c = chargpt_model_config(o, data.vocab.n);
    nb_generator init_gen;
    nb_generator_seed(&init_gen, o->seed);
    nb_gpt *g = nb_gpt_new(&c, &init_gen);

    nb_param_list pl;
    nb_module_parameters(&g->base, false, &pl);
    nb_optimizer *opt = nb_gpt_configure_optimizers(g, o->weight_decay, o->learning_rate, o->beta1, o->beta2);
    nb_lr_scheduler *sched;
    if (o->lr_schedule == CHARGPT_LR_COSINE)
        sched = nb_lambda_lr_new(opt, cosine_factor, (void *)o);
    else if (o->lr_schedule == CHARGPT_LR_MULTISTEP)
        sched = nb_multistep_lr_new(opt, o->n_milestones, o->milestones, o->gamma);
    else
        sched = nb_lambda_lr_new(opt, constant_factor, NULL);

    nb_train_state ts = {.iter = 0, .best_val_loss = 1e9, .log_rows = 0};
    nb_generator_seed(&ts.rng, o->seed ^ 0x5eed5eed5eedULL); /* one stream, the same on every rank */
    FILE *log = NULL;
    if (nb_dist_broadcast_params(pl.n, pl.params) != NB_OK) { /* rank 0's initial weights everywhere */
        fprintf(stderr, "chargpt train [rank %d]: %s\n", rank, nb_last_error());
        rc = 1;
    }
    if ((rc = chargpt_dist_agree(rc)) != 0)
        goto done;
    if (o->resume) { /* rank 0 reads the resume state and hands it to the others */
        if (lead && nb_resume_load(resume_path, g, &data.vocab, opt, sched, &data, &ts) != NB_OK) {
            fprintf(stderr, "chargpt train: cannot resume: %s\n", nb_last_error());
            rc = 1;
        }
        if (lead && !rc && log_truncate(log_path, ts.log_rows) != 0) {
            fprintf(stderr, "chargpt train: cannot trim %s: %s\n", log_path, strerror(errno));
            rc = 1;
        }
        if ((rc = chargpt_dist_agree(rc)) != 0 || (rc = chargpt_dist_share_state(g, opt, sched, &data, &ts)) != 0)
            goto done;
        if (lead)
            printf("resuming from iter %lld (best val loss %.4f)\n", (long long)ts.iter, ts.best_val_loss);
        if (lead && ts.world_size * ts.grad_accum != world * o->grad_accum)
            printf("warning: the resume state was written by %lld rank(s) x %lld micro-batch(es) per step, this run "
                   "takes %lld x %lld: training goes on, but not as the interrupted run would have\n",
                   (long long)ts.world_size, (long long)ts.grad_accum, (long long)world, (long long)o->grad_accum);
    }
    ts.world_size = world, ts.grad_accum = o->grad_accum;
    if (lead) {
        log = fopen(log_path, ts.iter > 0 ? "a" : "w");
        if (!log) {
            fprintf(stderr, "chargpt train: cannot write %s: %s\n", log_path, strerror(errno));
            rc = 1;
        }
    }
    if ((rc = chargpt_dist_agree(rc)) != 0) {
        if (log)
            fclose(log);
        goto done;
    }
    if (log && ts.iter == 0) { /* rank 0 */
        fprintf(log, "iter,train_loss,val_loss,lr,tokens_per_s\n");
        unlink(resume_path); /* an older run's state must not be resumed into this run's log */
    }
    if (lead && (world > 1 || o->grad_accum > 1))
        printf("data parallel: %d rank(s) x %lld micro-batch(es) of %lld per step = %lld tokens per step\n", world,
               (long long)o->grad_accum, (long long)o->batch_size,
               (long long)(world * o->grad_accum * o->batch_size * o->block_size));
    if (lead)
        printf("chargpt: %lld parameters, vocab %d, %lld train / %lld val tokens, %d threads\n",
               (long long)nb_module_num_parameters(&g->base), data.vocab.n, (long long)data.n_train,
               (long long)(data.n - data.n_train), nb_get_num_threads());

    struct sigaction sa = {0}, old_sa;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_sa);
    double t_start = now_s(), grad_norm_avg = 0;
    bool interrupted = false; /* agreed by every rank at each step */
    int64_t first_iter = ts.iter;
    for (; ts.iter <= o->max_iters; ts.iter++) {
        int64_t it = ts.iter;
        double lr = nb_optimizer_get_lr(opt, 0), val_loss = NAN;
        if (it % o->eval_interval == 0) {
            double tl = estimate_loss(g, &data, NB_SPLIT_TRAIN, o, &ts.rng);
            val_loss = estimate_loss(g, &data, NB_SPLIT_VAL, o, &ts.rng);
            if (lead)
                printf("\rstep %lld: train loss %.4f, val loss %.4f%20s\n", (long long)it, tl, val_loss, "");
            if (val_loss < ts.best_val_loss || o->always_save) { /* the same val_loss on every rank */
                if (val_loss < ts.best_val_loss)
                    ts.best_val_loss = val_loss;
                /* iter 0 too (nanoGPT skips it): a checkpoint of this run always exists, so the
                 * "last good checkpoint" after a divergence is never missing or an older run's */
                if (lead && nb_ckpt_save(ckpt_path, g, &data.vocab, it, val_loss) != NB_OK) {
                    fprintf(stderr, "chargpt train: cannot save checkpoint: %s\n", nb_last_error());
                    rc = 1;
                }
                if ((rc = chargpt_dist_agree(rc)) != 0)
                    break;
            }
            if (o->debug_dist && (rc = chargpt_dist_check(g, opt, it)) != 0)
                break;
        }
        double t0 = now_s();
        int scope = nb_scope_begin();
        double red[2] = {0, 0}; /* this rank's sum of micro-batch losses; interrupted */
        for (int64_t k = 0; k < o->grad_accum; k++) { /* micro-batches: gradients accumulate */
            int ms = nb_scope_begin();
            nb_tensor *x, *y;
            chargpt_dist_draw(&data, o, &ts.rng, &x, &y);
            if (o->dropout > 0 && world * o->grad_accum > 1) /* masks from the batch's place in the stream */
                nb_generator_seed(&g->dropout_gen, o->seed ^ (UINT64_C(0x9E3779B97F4A7C15) *
                                                   (uint64_t)((it * o->grad_accum + k) * world + rank + 1)));
            nb_tensor *loss = nb_gpt_loss(nb_gpt_forward(g, x), y);
            red[0] += nb_tensor_item(loss);
            nb_backward(o->grad_accum > 1 ? nb_mul_scalar(loss, 1.0 / (double)o->grad_accum) : loss, NULL, false);
            nb_scope_end(ms);
        }
        red[1] = g_interrupted;
        if (nb_dist_allreduce_doubles(red, 2, NB_DIST_SUM) != NB_OK) { /* no-op with one process */
            fprintf(stderr, "\nchargpt train [rank %d]: %s\n", rank, nb_last_error());
            nb_scope_end(scope);
            rc = 1;
            break;
        }
        interrupted = red[1] > 0;
        double lv = red[0] / (double)(world * o->grad_accum); /* mean loss of the step's micro-batches */
        if (!isfinite(lv)) {
            if (lead)
                fprintf(stderr, "\nchargpt train: loss is %s at iter %lld; stopping (last good checkpoint kept: %s)\n",
                        isnan(lv) ? "NaN" : "Inf", (long long)it, ckpt_path);
            nb_scope_end(scope);
            rc = 3;
            break;
        }
        if (nb_dist_allreduce_grads_mean(pl.n, pl.params) != NB_OK) { /* mean over ranks, before clipping */
            fprintf(stderr, "\nchargpt train [rank %d]: %s\n", rank, nb_last_error());
            nb_scope_end(scope);
            rc = 1;
            break;
        }
        double gn = o->grad_clip > 0 ? nb_optimizer_clip_grad_norm(opt, o->grad_clip) : 0;
        if (lead && it > first_iter + 10 && gn > 10 * grad_norm_avg)
            printf("\rwarning: gradient norm spike at iter %lld: %.3g (running mean %.3g)\n", (long long)it, gn,
                   grad_norm_avg);
        grad_norm_avg = it > first_iter ? 0.95 * grad_norm_avg + 0.05 * gn : gn;
        nb_optimizer_step(opt);
        nb_optimizer_zero_grad(opt, true);
        nb_lr_scheduler_step(sched);
        nb_scope_end(scope);
        double dt = now_s() - t0, tps = (double)(o->batch_size * o->block_size * o->grad_accum * world) / dt;
        if (log && isnan(val_loss)) /* log: rank 0 */
            fprintf(log, "%lld,%.6f,,%.8g,%.0f\n", (long long)it, lv, lr, tps);
        else if (log)
            fprintf(log, "%lld,%.6f,%.6f,%.8g,%.0f\n", (long long)it, lv, val_loss, lr, tps);
        ts.log_rows++;
        double elapsed = now_s() - t_start, per = elapsed / (double)(it - first_iter + 1);
        char eta[32];
        format_eta(per * (double)(o->max_iters - it), eta, sizeof eta);
        if (!o->quiet && lead)
            printf("\riter %lld/%lld | loss %.4f | lr %.2e | %.0f tok/s | ETA %s   ", (long long)it,
                   (long long)o->max_iters, lv, lr, tps, eta);
        fflush(stdout);
        if ((it + 1) % o->eval_interval == 0 || it == o->max_iters || interrupted) { /* resume point: next iter */
            nb_train_state save = ts;
            save.iter = it + 1;
            if (lead) {
                fflush(log);
                if (nb_resume_save(resume_path, g, &data.vocab, opt, sched, &data, &save) != NB_OK) {
                    fprintf(stderr, "\nchargpt train: cannot save resume state: %s\n", nb_last_error());
                    rc = 1;
                }
            }
            if ((rc = chargpt_dist_agree(rc)) != 0)
                break;
        }
        if (interrupted) {
            if (lead)
                printf("\ninterrupted at iter %lld: resume state saved to %s (continue with --resume)\n",
                       (long long)it, resume_path);
            break;
        }
    }
    sigaction(SIGINT, &old_sa, NULL);
    if (log && fclose(log) != 0 && rc == 0) {
        fprintf(stderr, "chargpt train: error writing %s\n", log_path);
        rc = 1;
    }
    if (rc == 0 && !interrupted && lead)
        printf("done: best val loss %.4f, checkpoint %s\n", ts.best_val_loss, ckpt_path);
done:
    nb_param_list_free(&pl);
    nb_lr_scheduler_free(sched);
    nb_optimizer_free(opt);
    nb_module_free(&g->base);
    nb_char_data_free(&data);
    return rc;
}
