/* fuzz_options.c — libFuzzer target: chargpt's command line (models/chargpt_args.c).
 * The input is split at NUL bytes into up to 64 arguments after the subcommand; parsing is run
 * twice per input (the parser must be reusable). Accepted options must respect every documented
 * range; rejected ones return 2 (or -1 for --help). stdout/stderr of the parser go to /dev/null
 * (sanitizer reports still reach fd 2). Built by `make fuzz`. */
#include "config.h"
#include "chargpt.h"

#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    FILE *null = fopen("/dev/null", "w");
    if (null)
        stdout = stderr = null;
    return 0;
}

static void check(bool ok, const char *what)
{
    if (!ok) { /* stderr is /dev/null: write to fd 2 */
        static const char pre[] = "fuzz_options: broken invariant: ";
        if (write(2, pre, sizeof pre - 1) < 0 || write(2, what, strlen(what)) < 0 || write(2, "\n", 1) < 0)
            abort();
        abort();
    }
}

static bool in_buf(const char *p, const char *buf, size_t n) { return p >= buf && p < buf + n; }

/* Parses buf (size bytes + NUL); returns rc and the options in *o (strings as offsets). */
static int parse_once(char *buf, size_t size, chargpt_opts *out)
{
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    argv[argc++] = "train";
    for (char *p = buf; p < buf + size && argc <= MAX_ARGS; p += strlen(p) + 1)
        argv[argc++] = p;
    argv[argc] = NULL;
    chargpt_opts o;
    chargpt_opts_default(&o);
    const char *output = NULL;
    bool mg = false;
    int rc = chargpt_parse_args(argc, argv, &o, &output, &mg);
    check(rc == 0 || rc == 2 || rc == -1, "return value");
    *out = o;
    if (rc != 0)
        return rc;
    check(optind >= 1 && optind <= argc, "optind");
    check(o.n_layer >= 1 && o.n_layer <= 1024 && o.n_head >= 1 && o.n_head <= 4096, "n_layer/n_head");
    check(o.n_embd >= 1 && o.n_embd <= 65536 && o.block_size >= 1 && o.batch_size >= 1, "sizes");
    check(o.dropout >= 0 && o.dropout <= 0.999 && o.top_p > 0 && o.top_p <= 1, "dropout/top_p");
    check(o.temperature >= 1e-6 && o.temperature <= 1e6 && isfinite(o.learning_rate), "temperature/lr");
    check(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1 && o.gamma >= 0, "betas/gamma");
    check(o.eval_interval >= 1 && o.eval_iters >= 1 && o.lr_decay_iters >= 1, "intervals");
    check(o.threads >= 0 && o.threads <= 1024 && o.num_samples >= 1, "threads/num_samples");
    check(!strcmp(o.split, "val") || !strcmp(o.split, "train"), "split");
    check(o.n_milestones >= 0 && o.n_milestones <= CHARGPT_MAX_MILESTONES, "milestone count");
    for (int i = 1; i < o.n_milestones; i++)
        check(o.milestones[i - 1] <= o.milestones[i], "milestones order");
    check(!mg || o.n_milestones > 0, "milestones given but empty");
    const char *strs[] = {o.data, o.out_dir, o.checkpoint, output};
    for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
        check(!strs[i] || in_buf(strs[i], buf, size + 1), "option string outside argv");
    out->data = out->data ? (const char *)(out->data - buf) : NULL; /* comparable across buffers */
    out->out_dir = out->out_dir ? (const char *)(out->out_dir - buf) : NULL;
    out->checkpoint = out->checkpoint ? (const char *)(out->checkpoint - buf) : NULL;
    check(o.n_labels >= 0 && o.n_labels <= CHARGPT_MAX_LABELS, "label count");
    for (int i = 0; i < o.n_labels; i++) { /* plot's --label strings point into argv too */
        check(in_buf(o.labels[i], buf, size + 1), "label outside argv");
        out->labels[i] = (const char *)(o.labels[i] - buf);
    }
    out->prompt = out->split = NULL;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    chargpt_opts o[2];
    int rc[2];
    for (int rep = 0; rep < 2; rep++) { /* the second parse, on a new argv, must not see the first */
        char *buf = malloc(size + 1);
        memcpy(buf, data, size);
        buf[size] = '\0';
        memset(&o[rep], 0, sizeof o[rep]);
        rc[rep] = parse_once(buf, size, &o[rep]);
        free(buf);
    }
    check(rc[0] == rc[1], "two parses of the same arguments gave different results");
    if (rc[0] == 0)
        check(memcmp(&o[0], &o[1], sizeof o[0]) == 0, "two parses of the same arguments gave different options");
    return 0;
}
