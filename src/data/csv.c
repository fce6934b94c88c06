/* Numeric CSV reader: an optional header, one integer label column, finite
 * numeric features.  Every row is checked; messages say "file:line: ...". */
#include "../internal.h"
#include "nabla/data.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define NB__CSV_DEFAULT_MAX_LINE ((size_t)1 << 20)

/* One line into buf (without the newline or a trailing \r): 1 read, 0 end
 * of file, -1 error (too long, NUL byte, I/O). */
static int nb__csv_line(FILE *f, char *buf, size_t cap, size_t *len, const char *path, size_t lineno)
{
    size_t k = 0;
    int c;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (c == '\0') return nb__erri("%s:%zu: NUL byte in a text file", path, lineno);
        if (k == cap) return nb__erri("%s:%zu: line longer than %zu bytes", path, lineno, cap);
        buf[k++] = (char)c;
    }
    if (c == EOF) {
        if (ferror(f)) return nb__erri("%s:%zu: read error: %s", path, lineno, strerror(errno));
        if (k == 0) return 0;
    }
    if (k && buf[k - 1] == '\r') k--;
    buf[k] = '\0';
    *len = k;
    return 1;
}

static char *nb__trim(char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
    return s;
}

/* Split line in place at delim; fills fields (up to maxf); returns the count. */
static size_t nb__split(char *line, char delim, char **fields, size_t maxf)
{
    size_t n = 0;
    char *p = line;
    for (;;) {
        char *e = strchr(p, delim);
        if (e) *e = '\0';
        if (n < maxf) fields[n] = nb__trim(p);
        n++;
        if (!e) return n;
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
    if (ncap < a->cap || ncap > SIZE_MAX / sizeof(double) / a->d)
        return nb__erri("%s: too many rows", path);
    double *nx = realloc(a->x, ncap * a->d * sizeof(double));
    if (!nx) return nb__erri("%s: out of memory after %zu rows", path, a->rows);
    a->x = nx;
    int32_t *ny = realloc(a->y, ncap * sizeof(int32_t));
    if (!ny) return nb__erri("%s: out of memory after %zu rows", path, a->rows);
    a->y = ny;
    a->cap = ncap;
    return 0;
}

nb_dataset *nb_csv_load(const char *path, const nb_csv_opts *opts)
{
    nb_csv_opts o = opts ? *opts : (nb_csv_opts){0};
    if (!path) return nb__err("nb_csv_load: NULL path");
    if (o.header < NB_CSV_HEADER_AUTO || o.header > NB_CSV_HEADER_NO)
        return nb__err("%s: bad header option %d", path, o.header);
    if (o.n_classes < 0 || o.n_classes > NB_DATA_MAX_CLASSES)
        return nb__err("%s: n_classes %d (must be 0..%d)", path, o.n_classes, NB_DATA_MAX_CLASSES);
    char delim = o.delim ? o.delim : ',';
    if (delim == '\n' || delim == '\r' || delim == '"' || delim == '.' || delim == '-' ||
        delim == '+' || (delim >= '0' && delim <= '9'))
        return nb__err("%s: delimiter '%c' cannot separate numbers", path, delim);
    size_t maxl = o.max_line ? o.max_line : NB__CSV_DEFAULT_MAX_LINE;
    if (maxl > SIZE_MAX / 2) return nb__err("%s: max_line too large", path);

    FILE *f = fopen(path, "rb");
    if (!f) return nb__err("%s: cannot open: %s", path, strerror(errno));
    char *line = malloc(maxl + 1);
    /* A line of maxl bytes has at most maxl/2 + 1 non-empty fields. */
    size_t maxf = maxl / 2 + 2;
    char **fields = malloc(maxf * sizeof *fields);
    nb__csv_acc a = {0};
    nb_dataset *ds = NULL;
    double *row = NULL;
    size_t ncols = 0, label = 0, lineno = 0, len, header_line = 0;
    int got_first = 0, had_header = 0, r;
    if (!line || !fields) {
        nb__err("%s: out of memory", path);
        goto done;
    }
    while ((r = nb__csv_line(f, line, maxl, &len, path, lineno + 1)) == 1) {
        lineno++;
        if (!*nb__trim(line)) continue; /* blank line */
        size_t nf = nb__split(line, delim, fields, maxf);
        if (nf > maxf) {
            nb__err("%s:%zu: %zu fields, most of them empty", path, lineno, nf);
            goto done;
        }
        if (!got_first) {
            got_first = 1;
            ncols = nf;
            if (ncols < 2) {
                nb__err("%s:%zu: %zu column; need a label and at least one feature (delimiter '%c')",
                        path, lineno, ncols, delim);
                goto done;
            }
            size_t n_num = 0;
            for (size_t i = 0; i < nf; i++) {
                double v;
                if (nb__num(fields[i], &v) == 0) n_num++;
            }
            if (o.header == NB_CSV_HEADER_YES) had_header = 1;
            else if (o.header == NB_CSV_HEADER_AUTO) {
                if (n_num == 0) had_header = 1;
                else if (n_num < nf) {
                    nb__err("%s:%zu: the first line mixes numbers and non-numbers (%zu of %zu "
                            "fields numeric); is it a header? set the header option", path,
                            lineno, n_num, nf);
                    goto done;
                }
            }
            /* Resolve the label column. */
            if (o.label_name) {
                if (!had_header) {
                    nb__err("%s: label column \"%s\" asked by name, but the file has no header",
                            path, o.label_name);
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
                    nb__err("%s:%zu: label column %d does not exist (%zu columns)", path, lineno,
                            o.label_col, ncols);
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
                nb__err("%s:%zu: column %zu: %s%.40s%s is not a number", path, lineno, i + 1,
                        *fields[i] ? "\"" : "", *fields[i] ? fields[i] : "empty field",
                        *fields[i] ? "\"" : "");
                goto done;
            }
            if (e == 2) {
                nb__err("%s:%zu: column %zu: %.40s (NaN and Inf are not accepted)", path, lineno,
                        i + 1, fields[i]);
                goto done;
            }
            if (i == label) {
                if (v != floor(v) || v < 0 || v >= NB_DATA_MAX_CLASSES) {
                    nb__err("%s:%zu: label %.40s is not a class index (an integer in 0..%d)", path,
                            lineno, fields[i], NB_DATA_MAX_CLASSES - 1);
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
    fclose(f);
    free(line);
    free(fields);
    free(row);
    free(a.x);
    free(a.y);
    return ds;
}
