/* The layout of the tools: no function in tools/ longer than 150 lines (a
 * command is a short story -- setup, loop, end -- each a function).  In the
 * tree's style a function's body opens with a line that begins with `{`,
 * after its declarator, and closes at the next line that is exactly `}`; its
 * length is the number of lines between the two.  The tests run from the
 * repository root, so the sources are at tools/. */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

enum { T_FN_MAX_LINES = 150, T_FN_OVER = 16 };

typedef struct {
    char name[96];
    int line; /* of the opening `{`, from 1 */
    int body; /* lines between `{` and `}` */
} t_fn_len;

typedef struct {
    int n_fns;                /* functions found */
    int n_over;               /* of them longer than the limit */
    t_fn_len over[T_FN_OVER]; /* the first T_FN_OVER of those */
} t_fn_scan;

/* The function's name in its declarator (the text from the last line that
 * begins in column 0 up to the `{`): the first identifier followed by `(`,
 * past a leading __attribute__((...)). */
static void t_fn_name(const char *decl, size_t len, char *name, size_t size)
{
    snprintf(name, size, "?");
    for (size_t i = 0; i < len; i++) {
        if (!(isalpha((unsigned char)decl[i]) || decl[i] == '_')) continue;
        size_t s = i;
        while (i < len && (isalnum((unsigned char)decl[i]) || decl[i] == '_')) i++;
        size_t e = i;
        while (i < len && decl[i] == ' ') i++;
        if (i < len && decl[i] == '(') {
            if (e - s == 13 && !memcmp(decl + s, "__attribute__", 13)) { /* skip its ((...)) */
                int depth = 0;
                for (; i < len; i++) {
                    depth += decl[i] == '(';
                    depth -= decl[i] == ')';
                    if (!depth) break;
                }
                continue;
            }
            snprintf(name, size, "%.*s", (int)(e - s), decl + s);
            return;
        }
        i--;
    }
}

/* Measure every function in text; those longer than limit go in sc->over. */
static void t_fn_scan_text(const char *text, int limit, t_fn_scan *sc)
{
    memset(sc, 0, sizeof *sc);
    const char *decl = NULL, *open = NULL;
    int lineno = 0, open_line = 0;
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        lineno++;
        if (!open) {
            if (p[0] == '{') {
                open = p;
                open_line = lineno;
            } else if (len && !isspace((unsigned char)p[0])) {
                decl = p;
            }
        } else if (len == 1 && p[0] == '}') {
            int body = lineno - open_line - 1;
            sc->n_fns++;
            if (body > limit) {
                if (sc->n_over < T_FN_OVER) {
                    t_fn_len *f = &sc->over[sc->n_over];
                    f->line = open_line;
                    f->body = body;
                    if (decl) t_fn_name(decl, (size_t)(open - decl), f->name, sizeof f->name);
                    else snprintf(f->name, sizeof f->name, "?");
                }
                sc->n_over++;
            }
            open = NULL;
            decl = NULL;
        }
        p += len + (eol != NULL);
    }
}

/* A synthetic function: a declarator, `{`, body lines of statements, `}`. */
static char *t_fn_synth(const char *decl, int body)
{
    const char stmt[] = "    x++;\n";
    size_t size = strlen(decl) + 8 + (size_t)body * (sizeof stmt - 1);
    char *s = malloc(size);
    if (!s) return NULL;
    size_t at = (size_t)snprintf(s, size, "%s\n{\n", decl);
    for (int i = 0; i < body; i++) at += (size_t)snprintf(s + at, size - at, "%s", stmt);
    snprintf(s + at, size - at, "}\n");
    return s;
}

static char *t_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
    if (n >= 0 && !fseek(f, 0, SEEK_SET) && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = '\0';
        }
    }
    fclose(f);
    return buf;
}

/* The counter itself: a 151-line body is caught and named, a 150-line one
 * is not, and a multi-line declarator with an attribute gives the right name. */
TEST(layout, counter_catches_a_long_function)
{
    t_fn_scan sc;
    char *at = t_fn_synth("static int nb__too_long(int argc, char **argv)", T_FN_MAX_LINES + 1);
    char *ok = t_fn_synth("static void nb__just_fits(void)", T_FN_MAX_LINES);
    char *attr = t_fn_synth(
        "__attribute__((constructor)) static void nb__init(int a,\n                           int b)", 200);
    CHECK_OK(at && ok && attr);
    if (at && ok && attr) {
        t_fn_scan_text(at, T_FN_MAX_LINES, &sc);
        CHECK_MSG(sc.n_fns == 1 && sc.n_over == 1, "151 lines: %d functions, %d over", sc.n_fns, sc.n_over);
        CHECK_MSG(sc.n_over == 1 && sc.over[0].body == 151 && !strcmp(sc.over[0].name, "nb__too_long"),
                  "151 lines: got %s with %d", sc.over[0].name, sc.over[0].body);
        t_fn_scan_text(ok, T_FN_MAX_LINES, &sc);
        CHECK_MSG(sc.n_fns == 1 && sc.n_over == 0, "150 lines: %d functions, %d over", sc.n_fns, sc.n_over);
        t_fn_scan_text(attr, T_FN_MAX_LINES, &sc);
        CHECK_MSG(sc.n_over == 1 && !strcmp(sc.over[0].name, "nb__init") && sc.over[0].line == 3,
                  "attribute: got %s at line %d", sc.over[0].name, sc.over[0].line);
    }
    /* A brace inside a body, or a struct's closing `};`, ends nothing. */
    t_fn_scan_text("static int f(void)\n{\n    if (1) {\n    }\n};\n    return 0;\n}\n", 2, &sc);
    CHECK_MSG(sc.n_fns == 1 && sc.n_over == 1 && sc.over[0].body == 4, "nested: %d functions, body %d", sc.n_fns,
              sc.n_over ? sc.over[0].body : -1);
    free(at);
    free(ok);
    free(attr);
}

TEST(layout, no_tools_function_over_150_lines)
{
    DIR *d = opendir("tools");
    if (!d) {
        CHECK_MSG(0, "tools/: cannot open (the tests run from the repository root)");
        return;
    }
    int files = 0, fns = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (n < 3 || strcmp(de->d_name + n - 2, ".c")) continue;
        char path[512];
        snprintf(path, sizeof path, "tools/%s", de->d_name);
        char *text = t_slurp(path);
        CHECK_MSG(text, "%s: cannot read", path);
        if (!text) continue;
        t_fn_scan sc;
        t_fn_scan_text(text, T_FN_MAX_LINES, &sc);
        files++;
        fns += sc.n_fns;
        for (int i = 0; i < sc.n_over && i < T_FN_OVER; i++)
            CHECK_MSG(0, "%s:%d: %s is %d lines long (at most %d in tools/)", path, sc.over[i].line, sc.over[i].name,
                      sc.over[i].body, T_FN_MAX_LINES);
        free(text);
    }
    closedir(d);
    /* the scan saw the tree: a wrong folder or a changed style would find nothing */
    CHECK_MSG(files >= 10 && fns >= 100, "only %d files and %d functions found in tools/", files, fns);
}
