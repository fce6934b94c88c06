/* Numeric CSV reader: an optional header, one integer label column, finite
 * numeric features.  Every row is checked; messages say "file:line: ...". */
#include "../internal.h"
#include "nabla/data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define NB__CSV_DEFAULT_MAX_LINE ((size_t)1 << 20)

/* Where the text comes from: a FILE, or a buffer in memory. */
typedef struct {
    FILE *f;
    const unsigned char *mem;
    size_t len, pos;
} nb__csv_src;

static int nb__csv_getc(nb__csv_src *s)
{
    if (s->f) return getc(s->f);
    return s->pos < s->len ? s->mem[s->pos++] : EOF;
}

/* A buffer that grows on demand, so a small file costs little however long
 * a line may be. */
typedef struct {
    void *p;
    size_t cap; /* elements */
} nb__csv_buf;

/* Make room for n elements of `size` bytes; 0 or -1 (out of memory). */
static int nb__csv_reserve(nb__csv_buf *b, size_t n, size_t size)
{
    if (n <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < n) cap = cap > SIZE_MAX / 2 ? n : cap * 2;
    if (cap > SIZE_MAX / size) return -1;
    void *p = realloc(b->p, cap * size);
    if (!p) return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* One line into b (without the newline or a trailing \r, NUL-terminated):
 * 1 read, 0 end of file, -1 error (longer than max bytes, NUL byte, I/O,
 * out of memory). */
static int nb__csv_line(nb__csv_src *s, nb__csv_buf *b, size_t max, const char *path, size_t lineno)
{
    size_t k = 0;
    int c;
    while ((c = nb__csv_getc(s)) != EOF && c != '\n') {
        if (c == '\r') { /* CR LF, or a lone CR (old Mac files) */
            int d = nb__csv_getc(s);
            if (d != '\n' && d != EOF) {
                if (s->f) ungetc(d, s->f);
                else s->pos--;
            }
            break;
        }
        if (c == '\0') return nb__erri("%s:%zu: NUL byte in a text file", path, lineno);
        if (k == max) return nb__erri("%s:%zu: line longer than %zu bytes", path, lineno, max);
        if (nb__csv_reserve(b, k + 2, 1) != 0) /* this byte and the NUL */
            return nb__erri("%s:%zu: out of memory for a %zu-byte line", path, lineno, k + 2);
        ((char *)b->p)[k++] = (char)c;
    }
    if (c == EOF) {
        if (s->f && ferror(s->f)) return nb__erri("%s:%zu: read error: %s", path, lineno, strerror(errno));
        if (k == 0) return 0;
    }
    if (nb__csv_reserve(b, k + 1, 1) != 0) return nb__erri("%s:%zu: out of memory", path, lineno);
    char *buf = b->p;
    if (k && buf[k - 1] == '\r') k--;
    buf[k] = '\0';
    return 1;
}

static char *nb__trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
    return s;
}

/* The number of fields delim splits line into. */
static size_t nb__count_fields(const char *line, char delim)
{
    size_t n = 1;
    for (const char *p = line; (p = strchr(p, delim)); p++) n++;
    return n;
}

/* Split line in place at delim into fields (room for all of them). */
static void nb__split(char *line, char delim, char **fields)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *e = strchr(p, delim);
        if (e) *e = '\0';
        fields[n++] = nb__trim(p);
        if (!e) return;
        p = e + 1;
    }
}

/* 0 and *v for a finite number filling the whole field; 1 not a number;
 * 2 NaN or infinite. */
static int nb__num(const char *s, double *v)
{
    if (!*s) return 1;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end) return 1;
    if (isnan(x) || isinf(x)) return 2;
    *v = x;
    return 0;
}

typedef struct {
    double *x;
    int32_t *y;
    size_t rows, cap, d;
} nb__csv_acc;

static int nb__csv_push(nb__csv_acc *a, const char *path)
{
    if (a->rows < a->cap) return 0;
    size_t ncap = a->cap ? a->cap * 2 : 256;
    if (ncap < a->cap || ncap > SIZE_MAX / sizeof(double) / a->d) return nb__erri("%s: too many rows", path);
    double *nx = realloc(a->x, ncap * a->d * sizeof(double));
    if (!nx) return nb__erri("%s: out of memory after %zu rows", path, a->rows);
    a->x = nx;
    int32_t *ny = realloc(a->y, ncap * sizeof(int32_t));
    if (!ny) return nb__erri("%s: out of memory after %zu rows", path, a->rows);
    a->y = ny;
    a->cap = ncap;
    return 0;
}

/* Check the options; 0, or -1 with an error naming path. */
static int nb__csv_opts_check(const char *path, const nb_csv_opts *o)
{
    if (o->header < NB_CSV_HEADER_AUTO || o->header > NB_CSV_HEADER_NO)
        return nb__erri("%s: bad header option %d", path, o->header);
    if (o->n_classes < 0 || o->n_classes > NB_DATA_MAX_CLASSES)
        return nb__erri("%s: n_classes %d (must be 0..%d)", path, o->n_classes, NB_DATA_MAX_CLASSES);
    char delim = o->delim ? o->delim : ',';
    if (delim == '\n' || delim == '\r' || delim == '"' || delim == '.' || delim == '-' || delim == '+' ||
        (delim >= '0' && delim <= '9'))
        return nb__erri("%s: delimiter '%c' cannot separate numbers", path, delim);
    size_t maxl = o->max_line ? o->max_line : NB__CSV_DEFAULT_MAX_LINE;
    if (maxl > SIZE_MAX / 2 / sizeof(char *)) return nb__erri("%s: max_line too large", path);
    return 0;
}

/* The reader proper, on an opened source; `path` names it in messages. */
static nb_dataset *nb__csv_read(nb__csv_src *src, const char *path, const nb_csv_opts *opts)
{
    const nb_csv_opts o = *opts;
    char delim = o.delim ? o.delim : ',';
    size_t maxl = o.max_line ? o.max_line : NB__CSV_DEFAULT_MAX_LINE;
    /* A line of maxl bytes has at most maxl/2 + 1 non-empty fields. */
    size_t maxf = maxl / 2 + 2;
    nb__csv_buf lb = {0}, fb = {0};
    char *line, **fields;
    nb__csv_acc a = {0};
    nb_dataset *ds = NULL;
    double *row = NULL;
    size_t ncols = 0, label = 0, lineno = 0, header_line = 0;
    int got_first = 0, had_header = 0, r;
    while ((r = nb__csv_line(src, &lb, maxl, path, lineno + 1)) == 1) {
        lineno++;
        line = lb.p;
        if (lineno == 1 && !strncmp(line, "\xef\xbb\xbf", 3)) line += 3; /* a UTF-8 byte-order mark */
        if (!*nb__trim(line)) continue;                                  /* blank line */
        size_t nf = nb__count_fields(line, delim);
        if (nf > maxf) {
            nb__err("%s:%zu: %zu fields, most of them empty", path, lineno, nf);
            goto done;
        }
        if (nb__csv_reserve(&fb, nf, sizeof(char *)) != 0) {
            nb__err("%s:%zu: out of memory for %zu fields", path, lineno, nf);
            goto done;
        }
        fields = fb.p;
        nb__split(line, delim, fields);
        if (!got_first) {
            got_first = 1;
            ncols = nf;
            if (ncols < 2) {
                nb__err("%s:%zu: %zu column; need a label and at least one feature (delimiter '%c')", path, lineno,
                        ncols, delim);
                goto done;
            }
            size_t n_num = 0;
            for (size_t i = 0; i < nf; i++) {
                double v;
                if (nb__num(fields[i], &v) == 0) n_num++;
            }
            size_t n_quoted_num = 0; /* "1","2": numbers or column names? */
            for (size_t i = 0; i < nf; i++) {
                size_t fl = strlen(fields[i]);
                double v;
                char q[64];
                if (fl >= 3 && fl < sizeof q + 1 && fields[i][0] == '"' && fields[i][fl - 1] == '"') {
                    snprintf(q, sizeof q, "%.*s", (int)(fl - 2), fields[i] + 1);
                    n_quoted_num += nb__num(q, &v) == 0;
                }
            }
            if (o.header == NB_CSV_HEADER_AUTO && n_num == 0 && n_quoted_num == nf) {
                nb__err("%s:%zu: the first line is quoted numbers: a header or data? set the header option", path,
                        lineno);
                goto done;
            }
            if (o.header == NB_CSV_HEADER_YES) had_header = 1;
            else if (o.header == NB_CSV_HEADER_AUTO) {
                if (n_num == 0) had_header = 1;
                else if (n_num < nf) {
                    nb__err("%s:%zu: the first line mixes numbers and non-numbers (%zu of %zu "
                            "fields numeric); is it a header? set the header option",
                            path, lineno, n_num, nf);
                    goto done;
                }
            }
            /* Resolve the label column. */
            if (o.label_name) {
                if (!had_header) {
                    nb__err("%s: label column \"%s\" asked by name, but the file has no header", path, o.label_name);
                    goto done;
                }
                size_t i;
                for (i = 0; i < nf; i++) {
                    const char *h = fields[i];
                    size_t hl = strlen(h);
                    if (hl >= 2 && h[0] == '"' && h[hl - 1] == '"') {
                        if (strlen(o.label_name) == hl - 2 && !strncmp(h + 1, o.label_name, hl - 2)) break;
                    } else if (!strcmp(h, o.label_name)) break;
                }
                if (i == nf) {
                    nb__err("%s:%zu: no column named \"%s\" in the header", path, lineno, o.label_name);
                    goto done;
                }
                label = i;
            } else {
                long lc = o.label_col < 0 ? (long)ncols + o.label_col : o.label_col;
                if (lc < 0 || (size_t)lc >= ncols) {
                    nb__err("%s:%zu: label column %d does not exist (%zu columns)", path, lineno, o.label_col, ncols);
                    goto done;
                }
                label = (size_t)lc;
            }
            a.d = ncols - 1;
            row = malloc(a.d * sizeof *row);
            if (!row) {
                nb__err("%s: out of memory", path);
                goto done;
            }
            if (had_header) {
                header_line = lineno;
                continue;
            }
        }
        if (nf != ncols) {
            nb__err("%s:%zu: %zu fields but %s has %zu (ragged row)", path, lineno, nf,
                    had_header ? "the header" : "the first row", ncols);
            goto done;
        }
        long long lab = 0;
        size_t k = 0;
        for (size_t i = 0; i < nf; i++) {
            double v;
            int e = nb__num(fields[i], &v);
            if (e == 1) {
                nb__err("%s:%zu: column %zu: %s%.40s%s is not a number", path, lineno, i + 1, *fields[i] ? "\"" : "",
                        *fields[i] ? fields[i] : "empty field", *fields[i] ? "\"" : "");
                goto done;
            }
            if (e == 2) {
                nb__err("%s:%zu: column %zu: %.40s (NaN and Inf are not accepted)", path, lineno, i + 1, fields[i]);
                goto done;
            }
            if (i == label) {
                if (v != floor(v) || v < 0 || v >= NB_DATA_MAX_CLASSES) {
                    nb__err("%s:%zu: label %.40s is not a class index (an integer in 0..%d)", path, lineno, fields[i],
                            NB_DATA_MAX_CLASSES - 1);
                    goto done;
                }
                lab = (long long)v;
                if (o.n_classes && lab >= o.n_classes) {
                    nb__err("%s:%zu: label %lld is outside [0, %d)", path, lineno, lab, o.n_classes);
                    goto done;
                }
            } else {
                row[k++] = v;
            }
        }
        if (nb__csv_push(&a, path) != 0) goto done;
        memcpy(a.x + a.rows * a.d, row, a.d * sizeof(double));
        a.y[a.rows++] = (int32_t)lab;
    }
    if (r < 0) goto done;
    if (!got_first) {
        nb__err("%s: empty file (no rows)", path);
        goto done;
    }
    if (a.rows == 0) {
        nb__err("%s: header (line %zu) but no data rows", path, header_line);
        goto done;
    }
    int nc = o.n_classes;
    if (!nc)
        for (size_t i = 0; i < a.rows; i++)
            if (a.y[i] + 1 > nc) nc = a.y[i] + 1;
    ds = nb_dataset_new(NB_DATA_F64, a.rows, 1, &a.d, nc);
    if (!ds) goto done;
    memcpy(ds->xf, a.x, a.rows * a.d * sizeof(double));
    memcpy(ds->y, a.y, a.rows * sizeof(int32_t));
    const char *base = strrchr(path, '/');
    snprintf(ds->name, sizeof ds->name, "%s", base ? base + 1 : path);
done:
    free(lb.p);
    free(fb.p);
    free(row);
    free(a.x);
    free(a.y);
    return ds;
}

nb_dataset *nb_csv_load(const char *path, const nb_csv_opts *opts)
{
    nb_csv_opts o = opts ? *opts : (nb_csv_opts){0};
    if (!path) return nb__err("nb_csv_load: NULL path");
    if (nb__csv_opts_check(path, &o) != 0) return NULL;
    nb__csv_src s = {.f = nb__fopen_regular(path)};
    if (!s.f) return NULL;
    nb_dataset *ds = nb__csv_read(&s, path, &o);
    fclose(s.f);
    return ds;
}

nb_dataset *nb_csv_parse(const void *buf, size_t len, const char *name, const nb_csv_opts *opts)
{
    nb_csv_opts o = opts ? *opts : (nb_csv_opts){0};
    if (!name) name = "(memory)";
    if (!buf && len) return nb__err("%s: NULL buffer", name);
    if (nb__csv_opts_check(name, &o) != 0) return NULL;
    nb__csv_src s = {.mem = buf, .len = len};
    return nb__csv_read(&s, name, &o);
}
