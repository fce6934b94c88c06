/* The flag parser of every command: see flags.h. */
#include "flags.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "nabla/nabla.h"

/* A range bound of an INT flag as a long (the table keeps doubles). */
static long nb__bound(double b)
{
    if (b >= (double)LONG_MAX) return LONG_MAX;
    if (b <= (double)LONG_MIN) return LONG_MIN;
    return (long)b;
}

int nb_flag_long(const char *cmd, const char *flag, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno) return nb_cli_usage_error(cmd, "%s: '%s' is not an integer", flag, v ? v : "");
    if (x < lo || x > hi) return nb_cli_usage_error(cmd, "%s: %ld is out of range [%ld, %ld]", flag, x, lo, hi);
    *out = x;
    return 0;
}

int nb_flag_double(const char *cmd, const char *flag, const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = v ? strtod(v, &end) : 0;
    if (!v || !*v || *end || errno || !isfinite(x))
        return nb_cli_usage_error(cmd, "%s: '%s' is not a number", flag, v ? v : "");
    /* the value as written: %g would show 0.9999999 as 1 */
    if (x < lo || x > hi) return nb_cli_usage_error(cmd, "%s: %s is out of range [%g, %g]", flag, v, lo, hi);
    *out = x;
    return 0;
}

/* An INT value, checked quietly (for flags with their own message). */
static int nb__long_ok(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

static int nb__double_ok(const char *v, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (!*v || *end || errno || !isfinite(x) || x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

/* Store an integer with the width of its destination (int, or a 64-bit
 * long / size_t / uint64_t; the range check keeps unsigned ones >= 0). */
static void nb__store_int(void *dst, size_t size, long x)
{
    if (size == sizeof(int)) {
        int v = (int)x;
        memcpy(dst, &v, sizeof v);
    } else {
        memcpy(dst, &x, sizeof x);
    }
}

static int nb__enum_index(const char *const *choices, const char *v)
{
    for (int k = 0; choices[k]; k++)
        if (!strcmp(choices[k], v)) return k;
    return -1;
}

/* Apply one flag's value (v NULL for BOOL and ACTION); 0, or 2 (printed). */
static int nb__apply(const char *cmd, const nb_flag *f, void *base, const char *v)
{
    void *dst = (char *)base + f->off;
    long n = 0;
    double d = 0;
    int ok;
    switch (f->kind) {
    case NB_FLAG_BOOL: {
        int one = 1;
        memcpy(dst, &one, sizeof one);
        return 0;
    }
    case NB_FLAG_ACTION:
    case NB_FLAG_CUSTOM: return f->fn(cmd, f->name, v, base);
    case NB_FLAG_STRING: memcpy(dst, &v, sizeof v); return 0;
    case NB_FLAG_INT:
        if (!f->expect) {
            if (nb_flag_long(cmd, f->name, v, nb__bound(f->lo), nb__bound(f->hi), &n)) return 2;
        } else if (!nb__long_ok(v, nb__bound(f->lo), nb__bound(f->hi), &n)) {
            break;
        }
        nb__store_int(dst, f->size, n);
        return 0;
    case NB_FLAG_DOUBLE:
        if (!f->expect) {
            if (nb_flag_double(cmd, f->name, v, f->lo, f->hi, &d)) return 2;
        } else if (!nb__double_ok(v, f->lo, f->hi, &d)) {
            break;
        }
        memcpy(dst, &d, sizeof d);
        return 0;
    case NB_FLAG_TEXT: return 0;
    case NB_FLAG_ENUM:
        ok = nb__enum_index(f->choices, v);
        if (ok < 0) break;
        memcpy(dst, &ok, sizeof ok);
        return 0;
    }
    if (f->expect) return nb_cli_usage_error(cmd, "%s %s: expected %s", f->name, v, f->expect);
    /* an ENUM without its own message: list the names */
    return nb_flag_bad_name(cmd, f->name, v, f->choices, "value");
}

int nb_flag_bad_name(const char *cmd, const char *flag, const char *v, const char *const *names, const char *what)
{
    char list[512] = "";
    size_t at = 0, n = 0;
    for (; names[n]; n++)
        if (at < sizeof list) at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", n ? "|" : "", names[n]);
    const char *near = nb_cli_nearest(v, strlen(v), names, n);
    if (near)
        return nb_cli_usage_error(cmd, "%s: unknown %s '%s'; did you mean %s? (valid: %s)", flag, what, v, near, list);
    return nb_cli_usage_error(cmd, "%s: unknown %s '%s' (valid: %s)", flag, what, v, list);
}

const char *nb_cli_errmsg(void)
{
    /* "nb_optim SGD: why" -> "why": the function's name means nothing to
     * someone who typed flags */
    const char *m = nb_errmsg();
    if (strncmp(m, "nb_", 3) != 0) return m;
    const char *colon = strstr(m, ": ");
    if (!colon || memchr(m, '(', (size_t)(colon - m))) return m;
    return colon + 2;
}

/* The flag named by a (up to its '=' when it has one), and its table. */
static const nb_flag *nb__find(const nb_flag_table *tables, size_t n_tables, const char *a, size_t len, void **base)
{
    for (size_t t = 0; t < n_tables; t++)
        for (size_t i = 0; i < tables[t].n; i++) {
            const nb_flag *f = &tables[t].flags[i];
            if (f->name && strlen(f->name) == len && !strncmp(f->name, a, len)) {
                *base = tables[t].base;
                return f;
            }
        }
    return NULL;
}

/* Edit distance of a[0..la) and b (insertions, deletions, substitutions and
 * swaps of two neighbours: "rleu" is 1 from "relu"), capped at 3. */
static int nb__distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b);
    if (la > 63 || lb > 63) return 3;
    int d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb] < 3 ? d[la][lb] : 3;
}

const char *nb_cli_nearest(const char *word, size_t len, const char *const *names, size_t n)
{
    const char *best = NULL;
    int best_d = 3;
    size_t n_prefixed = 0;
    const char *prefixed = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!names[i]) continue;
        if (len >= 3 && !strncmp(names[i], word, len)) { /* an abbreviation */
            n_prefixed++;
            prefixed = names[i];
        }
        int d = nb__distance(word, len, names[i]);
        if (d < best_d) best_d = d, best = names[i];
    }
    if (best && best_d <= (len > 4 ? 2 : 1)) return best;
    return n_prefixed == 1 ? prefixed : NULL;
}

/* The flag closest to the unknown a[0..len), or NULL. */
static const char *nb__nearest_flag(const nb_flag_table *tables, size_t n_tables, const char *a, size_t len)
{
    const char *names[256];
    size_t n = 0;
    for (size_t t = 0; t < n_tables; t++)
        for (size_t i = 0; i < tables[t].n && n < 256; i++)
            if (tables[t].flags[i].name) names[n++] = tables[t].flags[i].name;
    if (n < 256) names[n++] = "--help";
    return nb_cli_nearest(a, len, names, n);
}

static int nb__takes_value(const nb_flag *f) { return f->kind != NB_FLAG_BOOL && f->kind != NB_FLAG_ACTION; }

char *nb_flags_help(char *buf, size_t size, const nb_flag *flags, size_t n, int width)
{
    size_t at = strlen(buf);
#define NB__PUT(...) \
    if (at < size) at += (size_t)snprintf(buf + at, size - at, __VA_ARGS__)
    for (size_t i = 0; i < n; i++) {
        const nb_flag *f = &flags[i];
        if (!f->help) continue;
        if (f->kind == NB_FLAG_TEXT) {
            NB__PUT("%s", f->help);
            continue;
        }
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", f->name, f->arg ? " " : "", f->arg ? f->arg : "");
        NB__PUT("  %-*s ", width, left);
        for (const char *h = f->help; *h;) { /* one line at a time, the later ones indented */
            const char *nl = strchr(h, '\n');
            int len = nl ? (int)(nl - h) : (int)strlen(h);
            NB__PUT("%.*s\n", len, h);
            h += len + (nl ? 1 : 0);
            if (*h) NB__PUT("%*s", width + 3, "");
        }
    }
#undef NB__PUT
    return buf;
}

int nb_flags_unexpected(const char *cmd, const char *arg)
{
    return nb_cli_usage_error(cmd, "unexpected argument '%s' (see `nabla help %s`)", arg, cmd);
}

int nb_flags_parse(const char *cmd, const char *usage, const nb_flag_table *tables, size_t n_tables, int argc,
                   char **argv, int *n_pos)
{
    int np = 0, flags_done = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (flags_done || a[0] != '-' || !a[1]) { /* a positional ("-" too) */
            argv[++np] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            flags_done = 1;
            continue;
        }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return NB_FLAGS_HELP;
        }
        const char *eq = strchr(a, '=');
        size_t len = eq && a[1] == '-' ? (size_t)(eq - a) : strlen(a);
        void *base = NULL;
        const nb_flag *f = nb__find(tables, n_tables, a, len, &base);
        if (!f) {
            const char *near = nb__nearest_flag(tables, n_tables, a, len);
            if (near)
                return nb_cli_usage_error(cmd, "unknown option '%.*s'; did you mean %s? (see `nabla help %s`)",
                                          (int)len, a, near, cmd);
            return nb_cli_usage_error(cmd, "unknown option '%.*s' (see `nabla help %s`)", (int)len, a, cmd);
        }
        const char *v = NULL;
        if (a[len] == '=') {
            if (!nb__takes_value(f)) return nb_cli_usage_error(cmd, "%s takes no value", f->name);
            v = a + len + 1;
        } else if (nb__takes_value(f)) {
            if (i + 1 >= argc) return nb_cli_usage_error(cmd, "%s needs a value", f->name);
            v = argv[++i];
        }
        if (nb__apply(cmd, f, base, v)) return NB_FLAGS_ERROR;
    }
    *n_pos = np;
    return NB_FLAGS_OK;
}
