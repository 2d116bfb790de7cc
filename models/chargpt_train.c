/* chargpt_train.c — `chargpt train`: nanoGPT's training loop (AdamW, grad clipping, warmup +
 * cosine / MultiStepLR / constant schedule, periodic evaluation, checkpoints, resume, log.csv). */
#define _DEFAULT_SOURCE /* POSIX: truncate, fork, mkstemp, sigaction */
#include "config.h"
#include "chargpt.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sysinfo.h>
#endif

/* SIGINT and SIGTERM: the signal, for the loop to save the resume state and stop at the end of
 * the step. A second signal while that is pending ends the process the default way. */
static volatile sig_atomic_t g_signal;
static void on_signal(int sig)
{
    if (g_signal) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_signal = sig;
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
static double estimate_loss(nb_lm *g, const nb_char_data *d, nb_data_split split, const chargpt_opts *o, nb_generator *gen)
{
    bool prev = nb_set_grad_enabled(false);
    nb_module_train(g->module, false); /* an RNN starts every batch from zeros (as chargpt eval) */
    int rank = nb_dist_rank(), world = nb_dist_world_size();
    double sum = 0, part[256];
    for (int64_t k0 = 0; k0 < o->eval_iters; k0 += 256) {
        int n = o->eval_iters - k0 < 256 ? (int)(o->eval_iters - k0) : 256;
        for (int j = 0; j < n; j++) {
            int scope = nb_scope_begin();
            nb_tensor *x, *y;
            nb_char_data_batch(d, split, o->batch_size, o->block_size, gen, &x, &y);
            if (o->bf16) /* nanoGPT evaluates in its training dtype too */
                nb_autocast_begin();
            part[j] = (k0 + j) % world == rank ? nb_tensor_item(nb_lm_loss(g, nb_lm_forward(g, x, false), y)) : 0.0;
            if (o->bf16)
                nb_autocast_end();
            nb_scope_end(scope);
        }
        if (nb_dist_allreduce_doubles(part, n, NB_DIST_SUM) != NB_OK) {
            fprintf(stderr, "chargpt train [rank %d]: %s\n", rank, nb_last_error());
            sum = NAN;
        }
        for (int j = 0; j < n; j++)
            sum += part[j];
    }
    nb_module_train(g->module, true);
    nb_set_grad_enabled(prev);
    return sum / (double)o->eval_iters;
}

/* fopen for a regular file only: opened with O_NONBLOCK and checked with fstat, so a FIFO (or a
 * device) at the path is refused at once instead of blocking; errno ENOTSUP then ("not a regular
 * file" in messages, see file_error). mode: "r", "a" or "w". */
static FILE *fopen_regular(const char *path, const char *mode)
{
    int flags = mode[0] == 'r' ? O_RDONLY : O_WRONLY | O_CREAT | (mode[0] == 'a' ? O_APPEND : 0);
    int fd = open(path, flags | O_NONBLOCK | O_CLOEXEC, 0666);
    if (fd < 0) {
        if (errno == ENXIO) /* a FIFO without a reader, opened for writing */
            errno = ENOTSUP;
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        errno = ENOTSUP;
        return NULL;
    }
    if (mode[0] == 'w' && ftruncate(fd, 0) != 0) { /* truncated only once known to be a regular file */
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    FILE *f = fdopen(fd, mode);
    if (!f)
        close(fd);
    return f;
}

static const char *file_error(int e) { return e == ENOTSUP ? "not a regular file" : strerror(e); }

/* Keeps the header and the first `rows` data rows of log.csv (resume: drop rows written after
 * the resume state was saved). Returns 0, or -1 with errno. */
static int log_truncate(const char *path, int64_t rows)
{
    FILE *f = fopen_regular(path, "r");
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

int64_t chargpt_nonfinite_weights(nb_module *m)
{
    nb_param_list pl;
    nb_module_parameters(m, false, &pl);
    int64_t bad = 0;
    bool prev = nb_set_grad_enabled(false);
    int scope = nb_scope_begin();
    for (int i = 0; i < pl.n; i++) {
        nb_tensor *p = nb_contiguous(pl.params[i]); /* the parameter itself when contiguous */
        int64_t n = nb_tensor_numel(p);
        if (nb_tensor_dtype(p) == NB_F32) {
            const float *v = nb_tensor_data(p);
            for (int64_t k = 0; k < n; k++)
                bad += !isfinite(v[k]);
        } else if (nb_tensor_dtype(p) == NB_F64) {
            const double *v = nb_tensor_data(p);
            for (int64_t k = 0; k < n; k++)
                bad += !isfinite(v[k]);
        }
    }
    nb_scope_end(scope);
    nb_set_grad_enabled(prev);
    nb_param_list_free(&pl);
    return bad;
}

/* ---- the trainer: everything one run holds --------------------------------------------------- */
typedef struct trainer {
    const chargpt_opts *o;
    int rank, world;
    bool lead;                 /* rank 0: writes the files and prints */
    nb_char_data data;
    nb_lm m;                   /* the --model (m.module: its module tree) */
    nb_param_list pl;
    nb_optimizer *opt;
    nb_lr_scheduler *sched;
    nb_train_state ts;         /* ts.iter: the iteration being run */
    FILE *log;                 /* log.csv (rank 0) */
    int lock_fd;               /* rank 0: DIR/train.lock, flock'ed for the whole run (-1: none) */
    char ckpt_path[4096], resume_path[4096], log_path[4096];
    int64_t first_iter;        /* the first iteration of this process (after a resume: not 0) */
    double t_start, grad_norm_avg;
    bool interrupted;          /* agreed by every rank at each step */
    int signal;                /* with interrupted: SIGTERM if any rank got it, else SIGINT */
    bool tty;                  /* stdout is a terminal: one progress line redrawn with \r */
    int progress_len;          /* characters of the progress line now on screen (0: none) */
} trainer;

/* Clears the progress line (a terminal only) before a line that stays. */
static void end_progress(trainer *t)
{
    if (t->progress_len > 0) {
        printf("\r%*s\r", t->progress_len, "");
        fflush(stdout);
        t->progress_len = 0;
    }
}

/* The step's agreement, the one place where ranks exchange what each saw during an iteration.
 * One reduction carries this rank's sum of micro-batch losses and the signals it got;
 * then, when the loss is finite, the gradients are averaged over the ranks (before clipping).
 * With one process both are no-ops. Returns 0, 1 (a reduction failed), 3 (loss NaN/Inf). */
static int sync_step(trainer *t, double loss_sum, double *mean_loss)
{
    int sig = g_signal;
    double red[3] = {loss_sum, sig == SIGINT, sig == SIGTERM};
    if (nb_dist_allreduce_doubles(red, 3, NB_DIST_SUM) != NB_OK) {
        end_progress(t);
        fprintf(stderr, "chargpt train [rank %d]: %s\n", t->rank, nb_last_error());
        return 1;
    }
    t->interrupted = red[1] + red[2] > 0;
    t->signal = red[2] > 0 ? SIGTERM : SIGINT;
    *mean_loss = red[0] / (double)(t->world * t->o->grad_accum); /* mean loss of the step's micro-batches */
    if (!isfinite(*mean_loss)) {
        end_progress(t);
        if (t->lead)
            fprintf(stderr, "chargpt train: loss is %s at iter %lld; stopping (last good checkpoint kept: %s)\n",
                    isnan(*mean_loss) ? "NaN" : "Inf", (long long)t->ts.iter, t->ckpt_path);
        return 3;
    }
    if (nb_dist_allreduce_grads_mean(t->pl.params, t->pl.n) != NB_OK) {
        end_progress(t);
        fprintf(stderr, "chargpt train [rank %d]: %s\n", t->rank, nb_last_error());
        return 1;
    }
    return 0;
}

/* ---- setup -------------------------------------------------------------------------------- */
static int load_data(trainer *t)
{
    const chargpt_opts *o = t->o;
    if (nb_char_data_load(&t->data, o->data, NULL, o->block_size) != NB_OK) {
        fprintf(stderr, "chargpt train: %s\n", nb_last_error());
        return 1;
    }
    if (o->sequential && (t->world > 1 || o->grad_accum > 1)) {
        fprintf(stderr, "chargpt train: --sampling sequential needs one process and --gradient-accumulation-steps 1 "
                "(its streams and carried state are one batch's rows)\n");
        return 2;
    }
    if (o->sequential && nb_char_data_sequential_windows(&t->data, o->batch_size, o->block_size) < 1) {
        fprintf(stderr, "chargpt train: --sampling sequential: %lld train tokens cannot hold --batch-size %lld streams "
                "of --block-size %lld\n", (long long)t->data.n_train, (long long)o->batch_size, (long long)o->block_size);
        return 2;
    }
    return 0;
}

static int make_out_dir(trainer *t)
{
    const chargpt_opts *o = t->o;
    snprintf(t->ckpt_path, sizeof t->ckpt_path, "%s/ckpt.safetensors", o->out_dir);
    snprintf(t->resume_path, sizeof t->resume_path, "%s/resume.safetensors", o->out_dir);
    snprintf(t->log_path, sizeof t->log_path, "%s/log.csv", o->out_dir);
    if (!t->lead || make_dirs(o->out_dir) == 0)
        return 0;
    fprintf(stderr, "chargpt train: cannot create %s: %s\n", o->out_dir, strerror(errno));
    return 1;
}

/* Bytes of RAM + swap (what nb_alloc refuses to exceed), or 0 when unknown. */
static double memory_bytes(void)
{
#ifdef __linux__
    struct sysinfo si;
    if (sysinfo(&si) == 0 && si.mem_unit > 0)
        return ((double)si.totalram + (double)si.totalswap) * si.mem_unit;
#endif
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    return pages > 0 && psize > 0 ? (double)pages * (double)psize : 0;
}

/* Before anything is built or created: a model whose training state cannot fit in this machine's
 * memory is refused with a message (it aborted in the allocator, leaving a new out dir behind).
 * The estimate is a lower bound: float32 weights, gradients and AdamW's two moments, and the
 * activations backward keeps (about 16 floats per token and layer, the logits three times). */
static int check_memory(trainer *t)
{
    const chargpt_opts *o = t->o;
    double C = (double)o->n_embd, L = (double)o->n_layer, V = t->data.vocab.n, T = (double)o->block_size;
    double tokens = (double)o->batch_size * T, params = 12.0 * L * C * C + (V + T) * C;
    double need = 16.0 * params + 4.0 * tokens * (16.0 * L * C + 3.0 * V), have = memory_bytes();
    if (have <= 0 || need <= have)
        return 0;
    fprintf(stderr, "chargpt train: the model needs about %.3g GB (%.3g parameters with their gradients and AdamW "
            "moments, activations of --batch-size %lld x --block-size %lld), more than the %.3g GB of memory and swap "
            "here\n", need / 1e9, params, (long long)o->batch_size, (long long)o->block_size, have / 1e9);
    return 2;
}

/* Rank 0: an exclusive flock on DIR/train.lock for the run, so two trainers never write one log.
 * A second trainer is refused at once (LOCK_NB). */
static int lock_run_dir(trainer *t)
{
    if (!t->lead)
        return 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/train.lock", t->o->out_dir);
    t->lock_fd = open(path, O_RDWR | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0666);
    struct stat sb;
    if (t->lock_fd < 0 || fstat(t->lock_fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "chargpt train: cannot create the lock file %s: %s\n", path,
                t->lock_fd < 0 ? strerror(errno) : "not a regular file");
        return 1;
    }
    if (flock(t->lock_fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno == EWOULDBLOCK)
        fprintf(stderr, "chargpt train: %s is in use by another chargpt train (it holds %s); wait for it or stop it\n",
                t->o->out_dir, path);
    else
        fprintf(stderr, "chargpt train: cannot lock %s: %s\n", path, strerror(errno));
    return 1;
}

/* Rank 0, a new run (no --resume): the files of an earlier run in DIR are not replaced unless
 * --overwrite says so. */
static int check_fresh(trainer *t)
{
    if (!t->lead || t->o->resume || t->o->overwrite)
        return 0;
    const char *names[3] = {"ckpt.safetensors", "log.csv", "resume.safetensors"};
    const char *paths[3] = {t->ckpt_path, t->log_path, t->resume_path};
    char found[128] = "";
    struct stat sb;
    for (int i = 0; i < 3; i++)
        if (lstat(paths[i], &sb) == 0)
            snprintf(found + strlen(found), sizeof found - strlen(found), "%s%s", *found ? ", " : "", names[i]);
    if (!*found)
        return 0;
    fprintf(stderr, "chargpt train: %s already holds a run (%s): continue it with --resume, or replace it with "
            "--overwrite\n", t->o->out_dir, found);
    return 1;
}

/* Model (rank 0's initial weights on every rank), optimizer, scheduler, batch generator. */
static int build_model(trainer *t)
{
    const chargpt_opts *o = t->o;
    nb_set_num_threads(o->threads);
    if (!o->threads && nb_dist_local_size() > 1) /* ranks sharing a host share its cores */
        nb_set_num_threads(nb_get_num_threads() > nb_dist_local_size() ? nb_get_num_threads() / nb_dist_local_size() : 1);
    nb_lm_config c = chargpt_lm_config(o, t->data.vocab.n);
    nb_generator init_gen;
    nb_generator_seed(&init_gen, o->seed);
    nb_lm_init(&t->m, &c, &init_gen); /* gpt: nb_gpt_new, as before --model */
    nb_module_parameters(t->m.module, false, &t->pl);
    t->opt = nb_lm_configure_optimizers(&t->m, o->weight_decay, o->learning_rate, o->beta1, o->beta2);
    if (o->lr_schedule == CHARGPT_LR_COSINE)
        t->sched = nb_lambda_lr_new(t->opt, cosine_factor, (void *)o);
    else if (o->lr_schedule == CHARGPT_LR_MULTISTEP)
        t->sched = nb_multi_step_lr_new(t->opt, o->milestones, o->n_milestones, o->gamma);
    else
        t->sched = nb_lambda_lr_new(t->opt, constant_factor, NULL);
    t->ts = (nb_train_state){.iter = 0, .best_val_loss = 1e9, .log_rows = 0};
    nb_generator_seed(&t->ts.rng, o->seed ^ 0x5eed5eed5eedULL); /* one stream, the same on every rank */
    if (nb_dist_broadcast_params(t->pl.params, t->pl.n) == NB_OK)
        return 0;
    fprintf(stderr, "chargpt train [rank %d]: %s\n", t->rank, nb_last_error());
    return 1;
}

/* --resume, rank 0: the resume state in, log.csv trimmed to the rows it knows of. */
static int load_resume(trainer *t)
{
    if (!t->lead)
        return 0;
    if (nb_resume_load_lm(t->resume_path, &t->m, &t->data.vocab, t->opt, t->sched, &t->data, &t->ts) != NB_OK) {
        fprintf(stderr, "chargpt train: cannot resume: %s\n", nb_last_error());
        return 1;
    }
    if (t->m.carry.h && (!t->o->sequential || nb_tensor_size(t->m.carry.h, 1) != t->o->batch_size)) {
        fprintf(stderr, "chargpt train: cannot resume: the resume state carries the state of --sampling sequential "
                "with --batch-size %lld streams; resume with those options\n",
                (long long)nb_tensor_size(t->m.carry.h, 1));
        return 1;
    }
    if (log_truncate(t->log_path, t->ts.log_rows) != 0) {
        fprintf(stderr, "chargpt train: cannot trim %s: %s\n", t->log_path, file_error(errno));
        return 1;
    }
    return 0;
}

/* The options a resumed run should keep, as "name value" lines (saved in the resume state). */
static void options_text(const chargpt_opts *o, char *buf, size_t n)
{
    static const char *const sched[] = {"cosine", "multistep", "constant"};
    snprintf(buf, n,
             "learning-rate %.15g\nmin-lr %.15g\nwarmup-iters %lld\nlr-decay-iters %lld\nlr-schedule %s\n"
             "batch-size %lld\nseed %llu\nsampling %s\nweight-decay %.15g\nbeta1 %.15g\nbeta2 %.15g\n"
             "grad-clip %.15g\neval-interval %lld\neval-iters %lld\ndtype %s\n",
             o->learning_rate, o->min_lr, (long long)o->warmup_iters, (long long)o->lr_decay_iters,
             sched[o->lr_schedule], (long long)o->batch_size, (unsigned long long)o->seed,
             o->sequential ? "sequential" : o->epoch_sampling ? "epoch" : "random", o->weight_decay, o->beta1, o->beta2,
             o->grad_clip,
             (long long)o->eval_interval, (long long)o->eval_iters, o->bf16 ? "bfloat16" : "float32");
}

/* A warning on stderr for each option whose value differs from the resumed run's (saved) one. */
static void warn_changed_options(const char *saved, const char *now)
{
    for (const char *l = now; *l;) {
        const char *nl = strchr(l, '\n'), *sp = strchr(l, ' ');
        size_t key = (size_t)(sp - l), len = (size_t)(nl - l);
        for (const char *m = saved; *m;) { /* the same key in the saved text */
            const char *mnl = strchr(m, '\n');
            if (!mnl)
                break;
            if (strncmp(m, l, key + 1) == 0) {
                size_t mlen = (size_t)(mnl - m);
                if (mlen != len || strncmp(m, l, len))
                    fprintf(stderr, "chargpt train: warning: --%.*s (the resumed run used %.*s)\n", (int)len, l,
                            (int)(mlen - key - 1), m + key + 1);
                break;
            }
            m = mnl + 1;
        }
        l = nl + 1;
    }
}

static void report_resume(const trainer *t)
{
    if (!t->lead)
        return;
    printf("resuming from iter %lld (best val loss %.4f)\n", (long long)t->ts.iter, t->ts.best_val_loss);
    char now[sizeof t->ts.options];
    options_text(t->o, now, sizeof now);
    warn_changed_options(t->ts.options, now);
    if (t->ts.world_size * t->ts.grad_accum != t->world * t->o->grad_accum)
        printf("warning: the resume state was written by %lld rank(s) x %lld micro-batch(es) per step, this run "
               "takes %lld x %lld: training goes on, but not as the interrupted run would have\n",
               (long long)t->ts.world_size, (long long)t->ts.grad_accum, (long long)t->world,
               (long long)t->o->grad_accum);
}

/* Rank 0: log.csv appended to (resume) or started. */
static int open_log(trainer *t)
{
    if (!t->lead)
        return 0;
    t->log = fopen_regular(t->log_path, t->ts.iter > 0 ? "a" : "w");
    if (!t->log) {
        fprintf(stderr, "chargpt train: cannot write %s: %s\n", t->log_path, file_error(errno));
        return 1;
    }
    if (t->ts.iter == 0) {
        fprintf(t->log, "iter,train_loss,val_loss,lr,tokens_per_s\n");
        unlink(t->resume_path); /* an older run's state must not be resumed into this run's log */
    }
    return 0;
}

static void print_banner(const trainer *t)
{
    const chargpt_opts *o = t->o;
    if (!t->lead)
        return;
    if (t->world > 1 || o->grad_accum > 1)
        printf("data parallel: %d rank(s) x %lld micro-batch(es) of %lld per step = %lld tokens per step\n", t->world,
               (long long)o->grad_accum, (long long)o->batch_size,
               (long long)(t->world * o->grad_accum * o->batch_size * o->block_size));
    if (o->model != NB_LM_GPT) { /* the GPT's banner stays as it was */
        char *js = nb_lm_config_to_json(&t->m.config);
        printf("model: %s\n", js);
        free(js);
    }
    printf("chargpt: %lld parameters, vocab %d, %lld train / %lld val tokens, %d threads\n",
           (long long)nb_module_parameter_numel(t->m.module), t->data.vocab.n, (long long)t->data.n_train,
           (long long)(t->data.n - t->data.n_train), nb_get_num_threads());
}

/* Every setup phase returns this rank's status; chargpt_dist_agree makes it every rank's, so all
 * ranks stop at the same phase. */
static int setup(trainer *t)
{
    int rc;
    /* validate and build first; create files after: a refused run leaves nothing behind */
    if ((rc = chargpt_dist_agree(load_data(t))) || (rc = chargpt_dist_agree(check_memory(t))) ||
        (rc = chargpt_dist_agree(build_model(t))) || (rc = chargpt_dist_agree(make_out_dir(t))) ||
        (rc = chargpt_dist_agree(lock_run_dir(t))) || (rc = chargpt_dist_agree(check_fresh(t))))
        return rc;
    if (t->o->resume) { /* rank 0 reads the resume state and hands it to the others */
        if ((rc = chargpt_dist_agree(load_resume(t))) ||
            (rc = chargpt_dist_share_state(&t->m, t->opt, t->sched, &t->data, &t->ts)))
            return rc;
        report_resume(t);
    }
    t->ts.world_size = t->world, t->ts.grad_accum = t->o->grad_accum;
    options_text(t->o, t->ts.options, sizeof t->ts.options);
    if ((rc = chargpt_dist_agree(open_log(t))) != 0)
        return rc;
    print_banner(t);
    return 0;
}

static void teardown(trainer *t)
{
    if (t->lock_fd >= 0)
        close(t->lock_fd); /* releases the flock; the file stays (removing it would race a waiting trainer) */
    nb_param_list_free(&t->pl);
    if (t->sched)
        nb_lr_scheduler_free(t->sched);
    if (t->opt)
        nb_optimizer_free(t->opt);
    if (t->m.module)
        nb_lm_free(&t->m);
    nb_char_data_free(&t->data);
}

/* ---- one iteration's phases ----------------------------------------------------------------- */
/* Train and val loss (nanoGPT's estimate_loss); the checkpoint when val improved (or always);
 * --debug-dist's identity check. Returns this rank's status. */
static int evaluate(trainer *t, double *val_loss)
{
    const chargpt_opts *o = t->o;
    int64_t it = t->ts.iter;
    end_progress(t);
    double tl = estimate_loss(&t->m, &t->data, NB_SPLIT_TRAIN, o, &t->ts.rng);
    *val_loss = estimate_loss(&t->m, &t->data, NB_SPLIT_VAL, o, &t->ts.rng);
    if (t->lead)
        printf("step %lld: train loss %.4f, val loss %.4f\n", (long long)it, tl, *val_loss);
    if (*val_loss < t->ts.best_val_loss || o->always_save) { /* the same val_loss on every rank */
        if (*val_loss < t->ts.best_val_loss)
            t->ts.best_val_loss = *val_loss;
        /* iter 0 too (nanoGPT skips it): a checkpoint of this run always exists, so the "last good
         * checkpoint" after a divergence is never missing or an older run's */
        int rc = 0;
        int64_t bad = isfinite(*val_loss) ? chargpt_nonfinite_weights(t->m.module) : 0; /* the same on every rank */
        if (!isfinite(*val_loss) || bad) { /* --always-save-checkpoint only: NaN never improves */
            if (t->lead)
                fprintf(stderr, "chargpt train: warning: not saving the checkpoint of iter %lld (%s); %s keeps the "
                        "last good one\n", (long long)it, bad ? "non-finite weights" : "val loss is not finite",
                        t->ckpt_path);
            return 0;
        }
        const char *dt = o->bf16 ? "bfloat16" : "float32"; /* --dtype, in the metadata */
        if (t->lead && nb_ckpt_save_lm_ex(t->ckpt_path, &t->m, &t->data.vocab, it, *val_loss, dt) != NB_OK) {
            fprintf(stderr, "chargpt train: cannot save checkpoint: %s\n", nb_last_error());
            rc = 1;
        }
        if (rc)
            return rc;
    }
    return o->debug_dist ? chargpt_dist_check(&t->m, t->opt, it) : 0;
}

/* The next batch of this rank's micro-step k; with dropout over several micro-batches, the masks
 * are seeded from the batch's place in the stream (the same masks however the batches are split). */
static void get_batch(trainer *t, int64_t k, nb_tensor **x, nb_tensor **y)
{
    const chargpt_opts *o = t->o;
    if (chargpt_dist_draw(&t->data, o, &t->ts.rng, x, y)) /* a new pass of the sequential streams */
        nb_char_rnn_state_clear(&t->m.carry);
    if (o->dropout > 0 && t->world * o->grad_accum > 1)
        nb_generator_seed(nb_lm_dropout_gen(&t->m), o->seed ^ (UINT64_C(0x9E3779B97F4A7C15) *
                                              (uint64_t)((t->ts.iter * o->grad_accum + k) * t->world + t->rank + 1)));
}

/* Forward and backward over --gradient-accumulation-steps micro-batches (each loss scaled by 1/K:
 * the gradients accumulate to the mean), then the step's agreement. *loss: the step's mean loss. */
static int forward_backward(trainer *t, double *loss)
{
    const chargpt_opts *o = t->o;
    double loss_sum = 0; /* this rank's sum of micro-batch losses */
    for (int64_t k = 0; k < o->grad_accum; k++) {
        int ms = nb_scope_begin();
        nb_tensor *x, *y;
        get_batch(t, k, &x, &y);
        if (o->bf16) /* --dtype bfloat16: the forward under autocast; backward follows each node's mode */
            nb_autocast_begin();
        nb_tensor *l = nb_lm_loss(&t->m, nb_lm_forward(&t->m, x, o->sequential), y); /* RNN: carried state */
        if (o->bf16)
            nb_autocast_end();
        loss_sum += nb_tensor_item(l);
        nb_backward(o->grad_accum > 1 ? nb_mul_scalar(l, 1.0 / (double)o->grad_accum) : l, NULL, false);
        nb_scope_end(ms);
    }
    return sync_step(t, loss_sum, loss);
}

/* Gradient clipping (with a warning on a norm spike), the optimizer and scheduler steps. */
static void clip_and_step(trainer *t)
{
    const chargpt_opts *o = t->o;
    int64_t it = t->ts.iter;
    double gn = o->grad_clip > 0 ? nb_optimizer_clip_grad_norm(t->opt, o->grad_clip) : 0;
    if (t->lead && it > t->first_iter + 10 && gn > 10 * t->grad_norm_avg) {
        end_progress(t);
        printf("warning: gradient norm spike at iter %lld: %.3g (running mean %.3g)\n", (long long)it, gn,
               t->grad_norm_avg);
    }
    t->grad_norm_avg = it > t->first_iter ? 0.95 * t->grad_norm_avg + 0.05 * gn : gn;
    nb_optimizer_step(t->opt);
    nb_optimizer_zero_grad(t->opt, true);
    nb_lr_scheduler_step(t->sched);
}

/* One log.csv row (rank 0) and the progress line. */
static void log_iteration(trainer *t, double loss, double val_loss, double lr, double dt)
{
    const chargpt_opts *o = t->o;
    int64_t it = t->ts.iter;
    double tps = (double)(o->batch_size * o->block_size * o->grad_accum * t->world) / dt;
    if (t->log && isnan(val_loss))
        fprintf(t->log, "%lld,%.6f,,%.8g,%.0f\n", (long long)it, loss, lr, tps);
    else if (t->log)
        fprintf(t->log, "%lld,%.6f,%.6f,%.8g,%.0f\n", (long long)it, loss, val_loss, lr, tps);
    t->ts.log_rows++;
    double elapsed = now_s() - t->t_start, per = elapsed / (double)(it - t->first_iter + 1);
    char eta[32];
    format_eta(per * (double)(o->max_iters - it), eta, sizeof eta);
    if (o->quiet || !t->lead)
        return;
    char line[256];
    int n = snprintf(line, sizeof line, "iter %lld/%lld | loss %.4f | lr %.2e | %.0f tok/s | ETA %s", (long long)it,
                     (long long)o->max_iters, loss, lr, tps, eta);
    if (t->tty) { /* one line, redrawn */
        printf("\r%s%*s", line, t->progress_len > n ? t->progress_len - n : 0, "");
        t->progress_len = n > t->progress_len ? n : t->progress_len;
    } else if ((it - t->first_iter) % o->log_interval == 0 || it == o->max_iters) { /* a log, line by line */
        printf("%s\n", line);
    }
    fflush(stdout);
}

/* The resume state after each eval interval, at the end and on an interrupt (it resumes at the
 * next iteration). Returns this rank's status. */
static int checkpoint_resume(trainer *t)
{
    const chargpt_opts *o = t->o;
    int64_t it = t->ts.iter;
    if ((it + 1) % o->eval_interval != 0 && it != o->max_iters && !t->interrupted)
        return 0;
    int64_t bad = chargpt_nonfinite_weights(t->m.module); /* the same on every rank */
    if (bad) {
        if (t->lead)
            fprintf(stderr, "chargpt train: %lld weights are NaN/Inf after iter %lld; stopping (the resume state and "
                    "the checkpoint of the last good point are kept)\n", (long long)bad, (long long)it);
        return 3;
    }
    nb_train_state save = t->ts;
    save.iter = it + 1;
    int rc = 0;
    if (t->lead) {
        fflush(t->log);
        if (nb_resume_save_lm(t->resume_path, &t->m, &t->data.vocab, t->opt, t->sched, &t->data, &save) != NB_OK) {
            end_progress(t);
            fprintf(stderr, "chargpt train: cannot save resume state: %s\n", nb_last_error());
            rc = 1;
        }
    }
    return rc;
}

/* ---- the loop (nanoGPT's train.py) --------------------------------------------------------- */
/* Under mpirun the ranks agree at three points of each iteration, all in this loop: after
 * evaluate and after the resume point (chargpt_dist_agree: the worst status of any rank, so a
 * failed save on rank 0 stops every rank at the same iteration), and in sync_step inside
 * forward_backward (the losses, the signals, the gradient mean). With one process they are no-ops. */
static int train_loop(trainer *t)
{
    const chargpt_opts *o = t->o;
    int rc = 0;
    t->t_start = now_s();
    t->first_iter = t->ts.iter;
    for (; t->ts.iter <= o->max_iters; t->ts.iter++) {
        double lr = nb_optimizer_get_lr(t->opt, 0), val_loss = NAN, loss = 0;
        if (t->ts.iter % o->eval_interval == 0 && (rc = chargpt_dist_agree(evaluate(t, &val_loss))) != 0)
            break;
        double t0 = now_s();
        int scope = nb_scope_begin();
        if ((rc = forward_backward(t, &loss)) == 0)
            clip_and_step(t);
        nb_scope_end(scope);
        if (rc != 0)
            break;
        log_iteration(t, loss, val_loss, lr, now_s() - t0);
        if ((rc = chargpt_dist_agree(checkpoint_resume(t))) != 0)
            break;
        if (t->interrupted) {
            end_progress(t);
            if (t->lead)
                printf("interrupted at iter %lld (%s): resume state saved to %s (continue with --resume)\n",
                       (long long)t->ts.iter, t->signal == SIGTERM ? "SIGTERM" : "SIGINT", t->resume_path);
            rc = 128 + t->signal;
            break;
        }
    }
    return rc;
}

int chargpt_train(const chargpt_opts *o)
{
    /* Under mpirun every rank runs this function in step; rank 0 alone writes files and prints
     * progress, and a failure on any rank is agreed on (chargpt_dist_agree) so all stop together. */
    trainer t = {.o = o, .rank = nb_dist_rank(), .world = nb_dist_world_size(), .lock_fd = -1};
    t.lead = t.rank == 0;
    t.tty = isatty(STDOUT_FILENO);
    int rc = setup(&t);
    if (rc == 0) {
        struct sigaction sa = {0}, old_int, old_term;
        sa.sa_handler = on_signal;
        g_signal = 0;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
        rc = train_loop(&t);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        end_progress(&t);
    }
    if (t.log && fclose(t.log) != 0 && (rc == 0 || t.interrupted)) {
        fprintf(stderr, "chargpt train: error writing %s\n", t.log_path);
        rc = 1;
    }
    if (rc == 0 && !t.interrupted && t.lead)
        printf("done: best val loss %.4f, checkpoint %s\n", t.ts.best_val_loss, t.ckpt_path);
    teardown(&t);
    return rc;
}
