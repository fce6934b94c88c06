/* The shared library exports the public API and nothing else: every dynamic
 * symbol libnabla.so defines must be a name the headers in include/nabla/
 * declare, and none may be private (nb__*, nb_k_*).  The library is built
 * with -fvisibility=hidden and NB_API on each public declaration; a function
 * that loses its NB_API, or a private one that gains it, fails here. */
#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"

typedef struct {
    char **name;
    size_t n, cap;
} t_names;

static void t_names_add(t_names *s, const char *p, size_t len)
{
    for (size_t i = 0; i < s->n; i++)
        if (strlen(s->name[i]) == len && !memcmp(s->name[i], p, len)) return;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 512;
        char **g = realloc(s->name, cap * sizeof *g);
        if (!g) return;
        s->name = g;
        s->cap = cap;
    }
    char *c = malloc(len + 1);
    if (!c) return;
    memcpy(c, p, len);
    c[len] = '\0';
    s->name[s->n++] = c;
}

static int t_names_has(const t_names *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->name[i], name)) return 1;
    return 0;
}

static void t_names_free(t_names *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->name[i]);
    free(s->name);
}

static int t_ident(int c) { return isalnum(c) || c == '_'; }

/* Every nb_* identifier followed by "(" or ")(" in one header: the functions
 * it declares (a name in parentheses is one a call-site macro wraps). */
static void t_header_names(const char *path, t_names *s)
{
    FILE *f = fopen(path, "rb");
    if (!f) return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        for (char *p = line; (p = strstr(p, "nb_")) != NULL;) {
            if (p > line && t_ident((unsigned char)p[-1])) {
                p += 3;
                continue;
            }
            char *e = p;
            while (t_ident((unsigned char)*e)) e++;
            if (*e == '(' || (e[0] == ')' && e[1] == '(')) t_names_add(s, p, (size_t)(e - p));
            p = e;
        }
    }
    fclose(f);
}

/* A symbol is private when it starts nb__ or nb_k_; nb__here is the one
 * exception: the call-site macros expand to it in the user's code. */
static int t_private(const char *name)
{
    if (!strcmp(name, "nb__here")) return 0;
    return !strncmp(name, "nb__", 4) || !strncmp(name, "nb_k_", 5);
}

TEST(symbols, shared_library_exports_only_the_public_api)
{
    char so[512];
    snprintf(so, sizeof so, "%s/libnabla.so", t_build_dir());
    FILE *probe = fopen(so, "rb");
    if (!probe || system("nm --version > /dev/null 2>&1") != 0) {
        if (probe) fclose(probe);
        printf("  (skipped: no %s or no nm)\n", so);
        return;
    }
    fclose(probe);

    t_names api = {0};
    DIR *d = opendir("include/nabla");
    CHECK(d != NULL);
    if (!d) return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 3 || strcmp(de->d_name + n - 2, ".h")) continue;
        char path[600];
        snprintf(path, sizeof path, "include/nabla/%s", de->d_name);
        t_header_names(path, &api);
    }
    closedir(d);
    CHECK_MSG(api.n > 100, "only %zu names declared in include/nabla/*.h", api.n);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s'", so);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (!p) {
        t_names_free(&api);
        return;
    }
    char line[512];
    size_t n_sym = 0, n_bad = 0;
    while (fgets(line, sizeof line, p)) {
        char addr[64], type[8], name[400];
        if (sscanf(line, "%63s %7s %399s", addr, type, name) != 3) continue;
        n_sym++;
        if (t_private(name) || !t_names_has(&api, name)) {
            if (n_bad++ < 10) /* name the first few */
                CHECK_MSG(0, "libnabla.so exports %s, which %s", name,
                          t_private(name) ? "is private" : "no header in include/nabla/ declares");
        }
    }
    int rc = pclose(p);
    CHECK_MSG(rc == 0, "nm exited with status %d", rc);
    CHECK_MSG(n_bad == 0, "%zu symbols exported beyond the public API", n_bad);
    /* not vacuous: the public API is there */
    CHECK_MSG(n_sym > 100, "only %zu symbols exported", n_sym);
    t_names_free(&api);
}

/* The negative control: the check above knows a private name when it sees one. */
TEST(symbols, private_names_are_recognised)
{
    CHECK(t_private("nb__err"));
    CHECK(t_private("nb_k_gemm_f32"));
    CHECK(!t_private("nb__here"));
    CHECK(!t_private("nb_add"));
    t_names s = {0};
    t_header_names("include/nabla/nabla.h", &s);
    CHECK(t_names_has(&s, "nb_add") && t_names_has(&s, "nb_errmsg") && !t_names_has(&s, "nb__err"));
    t_names_free(&s);
}
