/* guide: runs the transcripts of a Markdown guide and checks (or rewrites)
 * the output quoted under each command.
 *
 *   guide [--write] [--all] [--fast] [--match STR] [--build DIR] FILE.md...
 *
 * A transcript is a fenced block whose first line starts with "$ ":
 *
 *     <!-- nabla: tol=0.02 -->        (optional: settings, the line before)
 *     ```
 *     $ build/nabla lr-find
 *     ...the output the command prints (stdout and stderr together)
 *     ```
 *
 * Every "$ " line is a command, run with sh in a scratch folder that holds a
 * link `build` to the build (so `build/nabla` works and `runs/...` outputs
 * land there), with NABLA_THREADS=1 and NABLA_BLAS=builtin (so that a build
 * with OpenBLAS prints what one without it does), and NABLA_ISA=avx2 where
 * the CPU has AVX2 (so that a CPU showing AVX-512 prints what one hiding it
 * does); the lines up to the next "$ " line are
 * its quoted output.  The scratch folder is shared by the blocks of one file
 * (a block may read what an earlier one wrote) and removed at the end.  A
 * command quoted again later (the same text, in the same or another file
 * of this invocation) is not run again: its first output is reused.
 *
 * Quoted and printed output agree when, line by line (trailing blanks dropped,
 * runs of blanks equal to one blank):
 *   - the text between numbers is the same;
 *   - every number is the same string, or within the block's relative
 *     tolerance (tol=R: |a - b| <= R max(|a|, |b|)) or absolute one
 *     (abs=A: |a - b| <= A, for rounding errors such as 1.1e-16);
 *   - numbers with a time unit (12.3s, 4 s, 9 ms, 51234/s, 512 samples/s,
 *     512 train samples/s)
 *     are never compared: they are the machine's, not the program's;
 *   - a quoted line "..." stands for any number of printed lines.
 * Settings (space-separated in `<!-- nabla: ... -->`):
 *   slow     run only without --fast (full training runs: `make guide`)
 *   tol=R    relative tolerance for numbers that move with the kernels
 *   abs=A    absolute tolerance (both may be given: either suffices)
 *   skip     never run (an illustration)
 * A block whose command says "Fashion-MNIST not found" is skipped, not failed.
 * Exit statuses are not compared (diagnose exits 1 when a check fails): what
 * a command prints is.
 *
 * Without --write: prints one line per block and exits 1 when one differs.
 * With --write: every block that differs (every block with --all) gets the
 * printed output in place of the quoted one, keeping its "..." lines where
 * the lines around them can still be found; the file is replaced atomically.
 * --fast skips slow blocks; --match runs only blocks whose commands contain
 * STR; --build sets the build folder (default: build). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ lines */
typedef struct {
    char **v;
    size_t n, cap;
} lines;

static void die_oom(void)
{
    fputs("guide: out of memory\n", stderr);
    exit(2);
}

static void lines_push(lines *l, const char *s, size_t len)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        char **nv = realloc(l->v, l->cap * sizeof *nv);
        if (!nv) die_oom();
        l->v = nv;
    }
    char *c = malloc(len + 1);
    if (!c) die_oom();
    memcpy(c, s, len);
    c[len] = '\0';
    while (len && (c[len - 1] == ' ' || c[len - 1] == '\t' || c[len - 1] == '\r')) c[--len] = '\0';
    l->v[l->n++] = c;
}

static void lines_free(lines *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Split a buffer into lines (a last line without '\n' counts). */
static void lines_split(lines *l, const char *buf, size_t len)
{
    size_t s = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n') {
            lines_push(l, buf + s, i - s);
            s = i + 1;
        }
    if (s < len) lines_push(l, buf + s, len - s);
}

static char *read_stream(FILE *f, size_t *len)
{
    size_t cap = 8192, n = 0, got;
    char *buf = malloc(cap);
    if (!buf) die_oom();
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) die_oom();
            buf = nb;
        }
    }
    *len = n;
    return buf;
}

/* --------------------------------------------------------------- matching */
/* The next token of s at *p: a number (returned 1, its text in [*b, *e)) or a
 * run of other text (returned 0).  Blank runs become one blank in txt. */
static int is_num_start(const char *s, size_t p)
{
    if (isdigit((unsigned char)s[p])) return 1;
    if ((s[p] == '-' || s[p] == '+') && isdigit((unsigned char)s[p + 1]))
        return p == 0 || !(isalnum((unsigned char)s[p - 1]) || s[p - 1] == '.' || s[p - 1] == '_');
    if (s[p] == '.' && isdigit((unsigned char)s[p + 1])) return p == 0 || !isalnum((unsigned char)s[p - 1]);
    return 0;
}

static size_t num_end(const char *s, size_t p)
{
    if (s[p] == '-' || s[p] == '+') p++;
    while (isdigit((unsigned char)s[p])) p++;
    if (s[p] == '.' && isdigit((unsigned char)s[p + 1])) {
        p++;
        while (isdigit((unsigned char)s[p])) p++;
    }
    if ((s[p] == 'e' || s[p] == 'E') && (isdigit((unsigned char)s[p + 1]) ||
                                         ((s[p + 1] == '-' || s[p + 1] == '+') && isdigit((unsigned char)s[p + 2])))) {
        p += 2;
        while (isdigit((unsigned char)s[p])) p++;
    }
    return p;
}

/* A time or a rate follows the number ending at s[p]: "s", "ms", "/s",
 * "samples/s", "train samples/s" (after at most one blank), then no letter. */
static int is_time_unit(const char *s, size_t p)
{
    static const char *const units[] = {"samples/s", "train samples/s", "ms", "s", "/s"};
    if (s[p] == ' ') p++;
    for (size_t u = 0; u < sizeof units / sizeof *units; u++) {
        size_t n = strlen(units[u]);
        if (!strncmp(s + p, units[u], n) && !isalpha((unsigned char)s[p + n])) return 1;
    }
    return 0;
}

/* The line with every number replaced by '#' and blank runs by one blank:
 * two lines that differ only in numbers have the same skeleton. */
static void skeleton(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (size_t p = 0; s[p] && o + 2 < size;) {
        if (is_num_start(s, p)) {
            out[o++] = '#';
            p = num_end(s, p);
        } else if (s[p] == ' ' || s[p] == '\t') {
            out[o++] = ' ';
            while (s[p] == ' ' || s[p] == '\t') p++;
        } else {
            out[o++] = s[p++];
        }
    }
    out[o] = '\0';
}

/* Do a quoted line q and a printed line a agree (see the header)? */
static int line_eq(const char *q, const char *a, double tol, double atol)
{
    char sq[4096], sa[4096];
    skeleton(q, sq, sizeof sq);
    skeleton(a, sa, sizeof sa);
    if (strcmp(sq, sa)) return 0;
    size_t i = 0, j = 0;
    for (;;) {
        while (q[i] && !is_num_start(q, i)) i++;
        while (a[j] && !is_num_start(a, j)) j++;
        if (!q[i] || !a[j]) return !q[i] && !a[j];
        size_t ie = num_end(q, i), je = num_end(a, j);
        int timed = is_time_unit(q, ie);
        if (!timed && (ie - i != je - j || strncmp(q + i, a + j, ie - i))) {
            double x = strtod(q + i, NULL), y = strtod(a + j, NULL);
            if (!(fabs(x - y) <= tol * fmax(fabs(x), fabs(y)) || fabs(x - y) <= atol)) return 0;
        }
        i = ie;
        j = je;
    }
}

static int is_ellipsis(const char *s) { return !strcmp(s, "...") || !strcmp(s, "…"); }

/* Match quoted lines q against printed lines a, "..." matching any run of
 * lines (a glob over lines, with backtracking).  by_skeleton: compare lines
 * by skeleton only (to place the "..." when rewriting).  map (may be NULL)
 * receives, for each quoted line, the printed line it matched. */
static int glob_match(char **q, size_t nq, char **a, size_t na, double tol, double atol, int by_skeleton, size_t *map)
{
    size_t i = 0, j = 0, star_i = (size_t)-1, star_j = 0;
    char s1[4096], s2[4096];
    while (j < na || i < nq) {
        if (i < nq && is_ellipsis(q[i])) {
            star_i = i++;
            star_j = j;
            continue;
        }
        if (i < nq && j < na) {
            int eq;
            if (by_skeleton) {
                skeleton(q[i], s1, sizeof s1);
                skeleton(a[j], s2, sizeof s2);
                eq = !strcmp(s1, s2);
            } else {
                eq = line_eq(q[i], a[j], tol, atol);
            }
            if (eq) {
                if (map) map[i] = j;
                i++;
                j++;
                continue;
            }
        }
        if (star_i != (size_t)-1 && star_j < na) { /* let the last "..." eat one more line */
            i = star_i + 1;
            j = ++star_j;
            continue;
        }
        return 0;
    }
    return 1;
}

/* ----------------------------------------------------------------- blocks */
typedef struct {
    size_t cmd_line;  /* index of the "$ " line in the file */
    size_t out_first; /* quoted output: file lines [out_first, out_end) */
    size_t out_end;
} segment;

typedef struct {
    int slow, skip;
    double tol, atol;
} settings;

static settings parse_settings(const char *line, const char *file, size_t lineno)
{
    settings s = {0};
    const char *p = strstr(line, "nabla:") + 6;
    char word[64];
    int n;
    while (sscanf(p, " %63s%n", word, &n) == 1) {
        p += n;
        if (!strcmp(word, "-->")) break;
        if (!strcmp(word, "slow")) s.slow = 1;
        else if (!strcmp(word, "skip")) s.skip = 1;
        else if (!strncmp(word, "tol=", 4)) s.tol = atof(word + 4);
        else if (!strncmp(word, "abs=", 4)) s.atol = atof(word + 4);
        else fprintf(stderr, "%s:%zu: unknown setting '%s' (slow, skip, tol=R, abs=A)\n", file, lineno + 1, word);
    }
    return s;
}

/* Outputs already printed in this invocation, by command text: a command
 * that two guides quote (the English and the Korean one) runs once. */
static lines cache_cmd, cache_out[512];

/* Run cmd in dir (or take its output from the cache); the printed lines
 * (stdout and stderr) into out. */
static int run_cmd(const char *dir, const char *cmd, lines *out)
{
    for (size_t i = 0; i < cache_cmd.n; i++)
        if (!strcmp(cache_cmd.v[i], cmd)) {
            for (size_t k = 0; k < cache_out[i].n; k++) lines_push(out, cache_out[i].v[k], strlen(cache_out[i].v[k]));
            return 0;
        }
    size_t len = strlen(dir) + strlen(cmd) + 64;
    char *full = malloc(len);
    if (!full) die_oom();
    snprintf(full, len, "cd '%s' && { %s\n} 2>&1", dir, cmd);
    FILE *p = popen(full, "r");
    free(full);
    if (!p) return -1;
    size_t n;
    char *buf = read_stream(p, &n);
    int st = pclose(p);
    lines_split(out, buf, n);
    free(buf);
    if (cache_cmd.n < sizeof cache_out / sizeof *cache_out) {
        for (size_t k = 0; k < out->n; k++) lines_push(&cache_out[cache_cmd.n], out->v[k], strlen(out->v[k]));
        lines_push(&cache_cmd, cmd, strlen(cmd));
    }
    return st;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    int write, all, fast;
    const char *match, *build;
    int n_ok, n_bad, n_skip, n_written;
} opts;

/* Check (and with --write rewrite) one file.  0 when every block agreed. */
static int do_file(const char *path, opts *o)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "guide: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t len;
    char *buf = read_stream(f, &len);
    fclose(f);
    lines in = {0}, res = {0};
    lines_split(&in, buf, len);
    free(buf);

    char dir[] = "/tmp/nabla-guide-XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "guide: scratch folder: %s\n", strerror(errno));
        lines_free(&in);
        return 1;
    }
    char build_abs[4096] = "", link[4200];
    char cwd[2048];
    if (o->build[0] == '/') snprintf(build_abs, sizeof build_abs, "%s", o->build);
    else if (getcwd(cwd, sizeof cwd)) snprintf(build_abs, sizeof build_abs, "%s/%s", cwd, o->build);
    if (access(build_abs, X_OK)) {
        fprintf(stderr, "guide: build folder %s: %s\n", o->build, strerror(errno));
        lines_free(&in);
        rmdir(dir);
        return 1;
    }
    snprintf(link, sizeof link, "%s/build", dir);
    if (symlink(build_abs, link)) fprintf(stderr, "guide: %s: %s\n", link, strerror(errno));

    int bad = 0, changed = 0, write_err = 0;
    size_t i = 0;
    while (i < in.n) {
        lines_push(&res, in.v[i], strlen(in.v[i]));
        if (strncmp(in.v[i], "```", 3) || i + 1 >= in.n || strncmp(in.v[i + 1], "$ ", 2)) {
            i++;
            continue;
        }
        /* a transcript: its settings, segments and closing fence */
        settings st = {0};
        if (i > 0 && strstr(in.v[i - 1], "<!-- nabla:")) st = parse_settings(in.v[i - 1], path, i - 1);
        size_t open = i, close = i + 1;
        while (close < in.n && strncmp(in.v[close], "```", 3)) close++;
        if (close == in.n) {
            fprintf(stderr, "%s:%zu: transcript without its closing ```\n", path, open + 1);
            bad = 1;
            break;
        }
        segment seg[64];
        size_t nseg = 0;
        int matched = !o->match;
        for (size_t k = open + 1; k < close; k++)
            if (!strncmp(in.v[k], "$ ", 2) && nseg == 64) {
                fprintf(stderr, "%s:%zu: more than 64 commands in one block: split it\n", path, k + 1);
                bad = 1;
            } else if (!strncmp(in.v[k], "$ ", 2)) {
                if (nseg) seg[nseg - 1].out_end = k;
                seg[nseg++] = (segment){k, k + 1, close};
                if (o->match && strstr(in.v[k], o->match)) matched = 1;
            }
        const char *why = st.skip ? "skip" : !matched ? "not matched" : (st.slow && o->fast) ? "slow" : NULL;
        if (why) {
            if (strcmp(why, "not matched")) {
                printf("%s:%zu: skipped (%s): %s\n", path, open + 2, why, in.v[open + 1] + 2);
                o->n_skip++;
            }
            for (size_t k = open + 1; k <= close; k++) lines_push(&res, in.v[k], strlen(in.v[k]));
            i = close + 1;
            continue;
        }
        double t0 = now_s();
        int block_ok = 1, no_data = 0;
        lines got[64] = {{0}};
        for (size_t s = 0; s < nseg; s++) {
            run_cmd(dir, in.v[seg[s].cmd_line] + 2, &got[s]);
            for (size_t k = 0; k < got[s].n; k++) no_data |= strstr(got[s].v[k], "Fashion-MNIST not found") != NULL;
            char **q = in.v + seg[s].out_first;
            size_t nq = seg[s].out_end - seg[s].out_first;
            if (!glob_match(q, nq, got[s].v, got[s].n, st.tol, st.atol, 0, NULL)) {
                if (block_ok && !no_data) { /* say where: the first quoted line that differs */
                    size_t k = 0, *map = calloc(nq + 1, sizeof *map);
                    if (!map) die_oom();
                    const char *pl = "(end)";
                    if (glob_match(q, nq, got[s].v, got[s].n, 0, 0, 1, map)) { /* same lines, other numbers */
                        while (k < nq && (is_ellipsis(q[k]) || line_eq(q[k], got[s].v[map[k]], st.tol, st.atol))) k++;
                        if (k < nq) pl = got[s].v[map[k]];
                    } else {
                        while (k < nq && k < got[s].n && line_eq(q[k], got[s].v[k], st.tol, st.atol)) k++;
                        if (k < got[s].n) pl = got[s].v[k];
                    }
                    free(map);
                    printf("%s:%zu: DIFFERS: %s\n", path, seg[s].cmd_line + 1, in.v[seg[s].cmd_line] + 2);
                    printf("  quoted (line %zu): %s\n", seg[s].out_first + k + 1, k < nq ? q[k] : "(end)");
                    printf("  printed:           %s\n", pl);
                }
                block_ok = 0;
            }
        }
        double dt = now_s() - t0;
        if (no_data) {
            printf("%s:%zu: skipped (no Fashion-MNIST): %s\n", path, open + 2, in.v[open + 1] + 2);
            o->n_skip++;
        } else if (block_ok) {
            printf("%s:%zu: ok (%.1fs): %s\n", path, open + 2, dt, in.v[open + 1] + 2);
            o->n_ok++;
        } else {
            o->n_bad++;
            bad = 1;
        }
        int rewrite = o->write && !no_data && (!block_ok || o->all);
        for (size_t s = 0; s < nseg; s++) {
            lines_push(&res, in.v[seg[s].cmd_line], strlen(in.v[seg[s].cmd_line]));
            char **q = in.v + seg[s].out_first;
            size_t nq = seg[s].out_end - seg[s].out_first;
            size_t *map = calloc(nq + 1, sizeof *map);
            if (!map) die_oom();
            if (!rewrite) {
                for (size_t k = 0; k < nq; k++) lines_push(&res, q[k], strlen(q[k]));
            } else if (glob_match(q, nq, got[s].v, got[s].n, 0, 0, 1, map)) {
                /* keep the "..." where they were: copy the printed lines the
                 * quoted ones matched, "..." in place of the runs skipped */
                for (size_t k = 0; k < nq; k++)
                    if (is_ellipsis(q[k])) lines_push(&res, q[k], strlen(q[k]));
                    else lines_push(&res, got[s].v[map[k]], strlen(got[s].v[map[k]]));
            } else {
                for (size_t k = 0; k < got[s].n; k++) lines_push(&res, got[s].v[k], strlen(got[s].v[k]));
                for (size_t k = 0; k < nq; k++)
                    if (is_ellipsis(q[k])) {
                        printf("%s:%zu: the lines around \"...\" changed: wrote the whole output\n", path,
                               seg[s].cmd_line + 1);
                        break;
                    }
            }
            free(map);
            lines_free(&got[s]);
        }
        if (rewrite) {
            changed = 1;
            o->n_written++;
            printf("%s:%zu: rewritten\n", path, open + 2);
        }
        lines_push(&res, in.v[close], strlen(in.v[close]));
        i = close + 1;
    }
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "guide: could not remove %s\n", dir);

    if (changed) {
        char tmp[4200];
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *w = fopen(tmp, "w");
        int err = !w;
        for (size_t k = 0; w && k < res.n; k++) err |= fprintf(w, "%s\n", res.v[k]) < 0;
        if (w) err |= fclose(w) != 0;
        if (err || rename(tmp, path)) {
            fprintf(stderr, "guide: could not write %s: %s\n", path, strerror(errno));
            remove(tmp);
            write_err = 1;
        }
    }
    lines_free(&in);
    lines_free(&res);
    return o->write ? write_err : bad; /* --write: only a failed write is an error */
}

int main(int argc, char **argv)
{
    opts o = {.build = "build"};
    int nfiles = 0, rc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--write")) o.write = 1;
        else if (!strcmp(argv[i], "--all")) o.all = 1;
        else if (!strcmp(argv[i], "--fast")) o.fast = 1;
        else if (!strcmp(argv[i], "--match") && i + 1 < argc) o.match = argv[++i];
        else if (!strcmp(argv[i], "--build") && i + 1 < argc) o.build = argv[++i];
        else if (argv[i][0] == '-') {
            fprintf(stderr, "usage: guide [--write] [--all] [--fast] [--match STR] [--build DIR] FILE.md...\n");
            return 2;
        }
    }
    setenv("NABLA_THREADS", "1", 1);
    setenv("NABLA_BLAS", "builtin", 1); /* the same products with or without OpenBLAS */
#if defined(__x86_64__) && defined(__GNUC__)
    /* the same products where the CPU shows AVX-512 and where it hides it:
       the AVX-512 kernels sum in another order */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) setenv("NABLA_ISA", "avx2", 1);
#endif
    double t0 = now_s();
    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-') {
            if (!strcmp(argv[i], "--match") || !strcmp(argv[i], "--build")) i++;
            continue;
        }
        nfiles++;
        rc |= do_file(argv[i], &o);
    }
    if (!nfiles) {
        fprintf(stderr, "guide: no files\n");
        return 2;
    }
    printf("guide: %d ok, %d differ, %d skipped, %d rewritten (%.1fs)\n", o.n_ok, o.n_bad, o.n_skip, o.n_written,
           now_s() - t0);
    return rc;
}
