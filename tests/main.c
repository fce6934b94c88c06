/* The test runner: every registered case, or those matching the arguments. */
#include "t.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *suite, *name;
    t_fn fn;
} t_case;

static t_case t_cases[2048];
static int t_ncases;
static int t_cur_failed;

void t_register(const char *suite, const char *name, t_fn fn)
{
    if (t_ncases < (int)(sizeof t_cases / sizeof t_cases[0]))
        t_cases[t_ncases++] = (t_case){suite, name, fn};
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
    qsort(t_cases, (size_t)t_ncases, sizeof t_cases[0], t_cmp);
    int passed = 0, failed = 0;
    for (int i = 0; i < t_ncases; i++) {
        char full[256];
        snprintf(full, sizeof full, "%s.%s", t_cases[i].suite, t_cases[i].name);
        int want = argc < 2;
        for (int a = 1; a < argc; a++)
            if (strstr(full, argv[a])) want = 1;
        if (!want) continue;
        t_cur_failed = 0;
        nb_clear_error();
        t_cases[i].fn();
        if (t_cur_failed) {
            failed++;
            printf("FAIL %s\n", full);
        } else {
            passed++;
            printf("ok   %s\n", full);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
