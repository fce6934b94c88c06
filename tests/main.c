/* The test runner: every registered case, or those matching the arguments.
 * A case passes, fails (any CHECK failed), or is skipped (it called T_SKIP and
 * nothing failed).  A filter that matches no case is an error. */
#include "t.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    const char *suite, *name;
    t_fn fn;
} t_case;

static t_case *t_cases; /* grown as the constructors register cases */
static size_t t_ncases, t_cap;
static int t_lost; /* a case could not be registered (out of memory) */
static int t_cur_failed, t_cur_skipped;
static char t_cur_skip_why[256];

void t_register(const char *suite, const char *name, t_fn fn)
{
    if (t_ncases == t_cap) {
        size_t cap = t_cap ? 2 * t_cap : 512;
        t_case *g = realloc(t_cases, cap * sizeof *g);
        if (!g) {
            t_lost = 1;
            return;
        }
        t_cases = g;
        t_cap = cap;
    }
    t_cases[t_ncases++] = (t_case){suite, name, fn};
}

void t_skip(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (!t_cur_skipped++) vsnprintf(t_cur_skip_why, sizeof t_cur_skip_why, fmt, ap);
    va_end(ap);
}

void t_skip_unless_required(const char *file, int line, const char *env, const char *why)
{
    if (getenv(env)) t_fail(file, line, "%s is set, so this may not be skipped: %s", env, why);
    else t_skip(file, line, "%s", why);
}

void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    t_cur_failed++;
}

int t_child_passed(int pid, int fd, char *why, size_t size)
{
    char byte = 0;
    const ssize_t got = read(fd, &byte, 1);
    int status = 0;
    const int waited = waitpid((pid_t)pid, &status, 0) == (pid_t)pid;
    const int said_ok = got == 1 && byte == 'k';
    const int code = waited && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (said_ok && code == 0) return 1;
    if (said_ok && code == 3 && t_under_valgrind()) {
        printf(
            "  note: the child passed; valgrind's exit code 3 for it is its leak check of inherited thread caches\n");
        return 1;
    }
    snprintf(why, size, "child %s %d, %s", waited && WIFEXITED(status) ? "exit status" : "wait status",
             waited && WIFEXITED(status) ? code : status, said_ok ? "its checks passed" : "its checks failed");
    return 0;
}

int t_under_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return pre && strstr(pre, "vgpreload") != NULL;
}

int t_close(double a, double b, double atol, double rtol)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    if (isinf(a) || isinf(b)) return a == b;
    return fabs(a - b) <= atol + rtol * fabs(b);
}

const char *t_build_dir(void)
{
    const char *b = getenv("NB_BUILD");
    return b && *b ? b : "build";
}

static int t_cmp(const void *x, const void *y)
{
    const t_case *a = x, *b = y;
    int s = strcmp(a->suite, b->suite);
    return s ? s : strcmp(a->name, b->name);
}

int main(int argc, char **argv)
{
    if (t_lost) {
        fprintf(stderr, "test_nabla: out of memory registering the cases\n");
        return 1;
    }
    if (t_ncases) qsort(t_cases, t_ncases, sizeof t_cases[0], t_cmp);
    int passed = 0, failed = 0, skipped = 0;
    int *matched = calloc((size_t)argc, sizeof *matched);
    if (!matched) return 1;
    for (size_t i = 0; i < t_ncases; i++) {
        char full[256];
        snprintf(full, sizeof full, "%s.%s", t_cases[i].suite, t_cases[i].name);
        int want = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strstr(full, argv[a])) want = matched[a] = 1;
        if (!want) continue;
        t_cur_failed = t_cur_skipped = 0;
        nb_clear_error();
        t_cases[i].fn();
        if (t_cur_failed) {
            failed++;
            printf("FAIL %s\n", full);
        } else if (t_cur_skipped) {
            skipped++;
            printf("skip %s (%s)\n", full, t_cur_skip_why);
        } else {
            passed++;
            printf("ok   %s\n", full);
        }
        fflush(stdout);
    }
    for (int a = 1; a < argc; a++)
        if (!matched[a]) {
            printf("FAIL no case matches \"%s\"\n", argv[a]);
            failed++;
        }
    free(matched);
    free(t_cases);
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
