/* chargpt_plot.c — `chargpt plot`: train/val loss curves of one or more runs in one PNG, drawn by
 * gnuplot (run as a child process with a generated script; no shell involved). */
#define _DEFAULT_SOURCE /* POSIX: truncate, fork, mkstemp, sigaction */
#include "config.h"
#include "chargpt.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Writes s as a gnuplot single-quoted string ('' escapes a quote). */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

int chargpt_plot(int n_dirs, char *const *dirs, const char *out_png)
{
    for (int i = 0; i < n_dirs; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/log.csv", dirs[i]);
        if (access(p, R_OK) != 0) {
            fprintf(stderr, "chargpt plot: cannot read %s: %s\n", p, strerror(errno));
            return 1;
        }
    }
    const char *gp = getenv("NB_GNUPLOT");
    if (!gp)
        gp = strcmp(NB_GNUPLOT, "no") ? NB_GNUPLOT : "gnuplot";
    char script[] = "/tmp/chargpt-plot-XXXXXX";
    int fd = mkstemp(script);
    if (fd < 0) {
        fprintf(stderr, "chargpt plot: cannot create a temporary script: %s\n", strerror(errno));
        return 1;
    }
    FILE *f = fdopen(fd, "w");
    fprintf(f, "set terminal pngcairo size 1000,600 noenhanced\nset output ");
    put_quoted(f, out_png);
    fprintf(f, "\nset datafile separator ','\nset key outside right\nset grid\n"
               "set xlabel 'iteration'\nset ylabel 'loss'\nset title 'chargpt: train (per step) and val (per eval) loss'\n"
               "plot ");
    for (int i = 0; i < n_dirs; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/log.csv", dirs[i]);
        for (int k = 0; k < 2; k++) {
            fprintf(f, "%s", i || k ? ", " : "");
            put_quoted(f, p);
            fprintf(f, " using 1:%d every ::1 with %s lw %d title ", k ? 3 : 2, k ? "linespoints" : "lines", k ? 2 : 1);
            char title[4200];
            snprintf(title, sizeof title, "%s %s", dirs[i], k ? "val" : "train");
            put_quoted(f, title);
        }
    }
    fprintf(f, "\n");
    if (fclose(f) != 0) {
        unlink(script);
        fprintf(stderr, "chargpt plot: cannot write the gnuplot script\n");
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        execlp(gp, gp, script, (char *)NULL);
        fprintf(stderr, "chargpt plot: cannot run %s: %s (install gnuplot-nox)\n", gp, strerror(errno));
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        status = -1;
    unlink(script);
    if (status != 0) {
        fprintf(stderr, "chargpt plot: gnuplot failed (status %d)\n", status);
        return 1;
    }
    printf("wrote %s\n", out_png);
    return 0;
}
