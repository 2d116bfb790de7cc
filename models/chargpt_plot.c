/* chargpt_plot.c — `chargpt plot`: train/val loss curves of one or more runs in one PNG, drawn by
 * gnuplot (run as a child process with a generated script; no shell involved).
 *
 * Safety: no user text (paths, labels) ever appears literally in the script. Each such string is
 * written as a gnuplot double-quoted string of octal escapes ("\057\164..."), so the script holds
 * only ASCII digits, backslashes and the fixed commands: a newline, '!', backquotes, quotes or '@'
 * in a name cannot end the string, start a shell command or expand a macro. The PNG is drawn into
 * a temporary file in the output's directory and renamed over the output only when gnuplot
 * succeeded and wrote a PNG, so a failed plot leaves an existing file untouched. A run's default
 * label is its directory's base name and, when its checkpoint says, the model: "run1 (llama)". */
#define _DEFAULT_SOURCE /* POSIX: truncate, fork, mkstemp, sigaction */
#include "config.h"
#include "chargpt.h"
#include "checkpoint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <jansson.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Writes s as a gnuplot double-quoted string in which every byte is an octal escape. */
static void put_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        fprintf(f, "\\%03o", *p);
    fputc('"', f);
}

/* The default label of a run: the base name of its directory (trailing slashes ignored). */
static void base_name(const char *dir, char *out, size_t cap)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/')
        b--;
    if (n - b >= cap)
        n = b + cap - 1;
    memcpy(out, dir + b, n - b);
    out[n - b] = '\0';
}

/* The default label of a run: its base name, followed by " (MODEL)" when DIR/ckpt.safetensors
 * names its model (metadata "model": gpt, llama, lstm), so runs of different models overlaid in
 * one plot can be told apart whatever their directories are called. */
static void default_label(const char *dir, char *out, size_t cap)
{
    char p[4096], model[64], config[4096];
    base_name(dir, out, cap);
    if ((size_t)snprintf(p, sizeof p, "%s/ckpt.safetensors", dir) < sizeof p &&
        nb_ckpt_peek_meta(p, "model", model, sizeof model) && model[0]) {
        /* an lstm-family run names its cell (gru), read from the JSON config */
        json_t *c = nb_ckpt_peek_meta(p, "config", config, sizeof config) ? json_loads(config, 0, NULL) : NULL;
        const char *cell = json_string_value(json_object_get(c, "cell"));
        size_t n = strlen(out);
        snprintf(out + n, cap - n, " (%s)", cell && !strcmp(model, "lstm") ? cell : model);
        json_decref(c);
    }
}

static bool is_png(const char *path)
{
    unsigned char sig[8];
    FILE *f = fopen(path, "rb");
    bool ok = f && fread(sig, 1, 8, f) == 8 && !memcmp(sig, "\x89PNG\r\n\x1a\n", 8);
    if (f)
        fclose(f);
    return ok;
}

/* Writes the gnuplot script drawing the runs into `tmp_png`. 0, or 1 (message printed). */
static int write_script(FILE *f, int n_dirs, char *const *dirs, const char *const *labels, const char *tmp_png)
{
    fprintf(f, "set terminal pngcairo size 1000,600 noenhanced\nset output ");
    put_string(f, tmp_png);
    fprintf(f, "\nset datafile separator ','\nset key outside right\nset grid\n"
               "set xlabel 'iteration'\nset ylabel 'loss'\nset title 'chargpt: train (per step) and val (per eval) loss'\n");
    for (int i = 0; i < n_dirs; i++) { /* run i: file_i, label_i as string variables */
        char p[4096], base[1024];
        if ((size_t)snprintf(p, sizeof p, "%s/log.csv", dirs[i]) >= sizeof p) {
            fprintf(stderr, "chargpt plot: run directory name too long\n");
            return 1;
        }
        struct stat sb; /* gnuplot would wait forever on a FIFO */
        if (stat(p, &sb) == 0 && !S_ISREG(sb.st_mode)) {
            fprintf(stderr, "chargpt plot: cannot read %s: not a regular file\n", p);
            return 1;
        }
        fprintf(f, "file_%d = ", i);
        put_string(f, p);
        default_label(dirs[i], base, sizeof base);
        fprintf(f, "\nlabel_%d = ", i);
        put_string(f, labels && labels[i] ? labels[i] : base);
        fputc('\n', f);
    }
    fprintf(f, "plot ");
    for (int i = 0; i < n_dirs; i++)
        fprintf(f, "%sfile_%d using 1:2 every ::1 with lines lw 1 title label_%d.' train', "
                   "file_%d using 1:3 every ::1 with linespoints lw 2 title label_%d.' val'",
                i ? ", " : "", i, i, i, i);
    fprintf(f, "\nunset output\n");
    return 0;
}

/* Runs gnuplot on `script`; true when it exited 0. */
static bool run_gnuplot(const char *script)
{
    const char *gp = getenv("NB_GNUPLOT");
    if (!gp)
        gp = strcmp(NB_GNUPLOT, "no") ? NB_GNUPLOT : "gnuplot";
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execlp(gp, gp, script, (char *)NULL);
        fprintf(stderr, "chargpt plot: cannot run %s: %s (install gnuplot-nox)\n", gp, strerror(errno));
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        status = -1;
    if (status != 0)
        fprintf(stderr, "chargpt plot: gnuplot failed (status %d)\n", status);
    return status == 0;
}

int chargpt_plot(char *const *dirs, int n_dirs, const char *const *labels, const char *out_png)
{
    for (int i = 0; i < n_dirs; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/log.csv", dirs[i]);
        if (access(p, R_OK) != 0) {
            fprintf(stderr, "chargpt plot: cannot read %s: %s\n", p, strerror(errno));
            return 1;
        }
    }
    /* the PNG goes to OUTDIR/.chargpt-plot-XXXXXX first, renamed over out_png on success */
    char tmp_png[4200];
    const char *slash = strrchr(out_png, '/');
    int dir_len = slash ? (int)(slash - out_png) + 1 : 0;
    if ((size_t)snprintf(tmp_png, sizeof tmp_png, "%.*s.chargpt-plot-XXXXXX", dir_len, out_png) >= sizeof tmp_png) {
        fprintf(stderr, "chargpt plot: output path too long\n");
        return 1;
    }
    int pfd = mkstemp(tmp_png);
    if (pfd < 0) {
        fprintf(stderr, "chargpt plot: cannot create a file next to %s: %s\n", out_png, strerror(errno));
        return 1;
    }
    mode_t um = umask(0);
    umask(um);
    fchmod(pfd, 0666 & ~um); /* the PNG gets a regular file's mode, not mkstemp's 0600 */
    close(pfd);
    char script[] = "/tmp/chargpt-plot-XXXXXX";
    int fd = mkstemp(script);
    FILE *f = fd < 0 ? NULL : fdopen(fd, "w");
    if (!f) {
        fprintf(stderr, "chargpt plot: cannot create a temporary script: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd), unlink(script);
        unlink(tmp_png);
        return 1;
    }
    int rc = write_script(f, n_dirs, dirs, labels, tmp_png);
    if (fclose(f) != 0 && rc == 0) {
        fprintf(stderr, "chargpt plot: cannot write the gnuplot script\n");
        rc = 1;
    }
    if (rc == 0 && !run_gnuplot(script))
        rc = 1;
    unlink(script);
    if (rc == 0 && !is_png(tmp_png)) {
        fprintf(stderr, "chargpt plot: gnuplot wrote no PNG\n");
        rc = 1;
    }
    if (rc == 0 && rename(tmp_png, out_png) != 0) {
        fprintf(stderr, "chargpt plot: cannot rename the plot to %s: %s\n", out_png, strerror(errno));
        rc = 1;
    }
    if (rc != 0) {
        unlink(tmp_png);
        return 1;
    }
    printf("wrote %s\n", out_png);
    return 0;
}
