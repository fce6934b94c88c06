/* Plain text for character-level models: files or folders read into one
 * stream of character ids (a fixed 96-symbol alphabet), split into training
 * and validation chunks, and cut into windows of seq_len + 1 ids. */
#include "../internal.h"
#include "nabla/data.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int nb_text_encode(int byte)
{
    if (byte == '\n') return 0;
    if (byte == '\t') return ' ' - 31;
    if (byte >= 32 && byte <= 126) return byte - 31;
    return '?' - 31;
}

int nb_text_decode(int id)
{
    if (id == 0) return '\n';
    if (id >= 1 && id < NB_TEXT_VOCAB) return id + 31;
    return '?';
}

void nb_text_free(nb_text *t)
{
    if (!t) return;
    free(t->ids);
    free(t);
}

/* Append path's bytes, encoded.  0 or -1. */
static int nb__text_append(nb_text *t, const char *path, size_t max_bytes)
{
    FILE *f = nb__fopen_regular(path);
    if (!f) return -1;
    unsigned char buf[65536];
    size_t k;
    int rc = 0;
    while (!rc && (k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (memchr(buf, 0, k)) rc = nb__erri("%s: a NUL byte: not a text file", path);
        else if (t->n + k > max_bytes) rc = nb__erri("%s: the text passes %zu bytes (the limit)", path, max_bytes);
        else if (t->n + k > t->cap) {
            size_t nc = t->cap ? t->cap * 2 : (size_t)1 << 20;
            while (nc < t->n + k) nc *= 2;
            uint8_t *p = realloc(t->ids, nc);
            if (!p) rc = nb__erri("%s: out of memory", path);
            else {
                t->ids = p;
                t->cap = nc;
            }
        }
        for (size_t i = 0; !rc && i < k; i++) t->ids[t->n++] = (uint8_t)nb_text_encode(buf[i]);
    }
    if (!rc && ferror(f)) rc = nb__erri("%s: read error: %s", path, strerror(errno));
    fclose(f);
    if (!rc) t->n_files++;
    return rc;
}

static int nb__cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A file whose first 4 KiB hold a NUL byte (fortune's .dat indexes). */
static int nb__is_binary(const char *path)
{
    FILE *f = nb__fopen_regular(path);
    if (!f) return 1;
    unsigned char buf[4096];
    size_t k = fread(buf, 1, sizeof buf, f);
    fclose(f);
    return memchr(buf, 0, k) != NULL;
}

/* A folder: its regular text files (not links, not hidden, not binary), by name. */
static int nb__text_folder(nb_text *t, const char *dir, size_t max_bytes)
{
    DIR *d = opendir(dir);
    if (!d) return nb__erri("%s: cannot open the folder: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        if (!p) {
            rc = nb__erri("%s: out of memory", dir);
            break;
        }
        snprintf(p, len, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) != 0 || !S_ISREG(st.st_mode) || nb__is_binary(p)) {
            free(p);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **q = realloc(names, cap * sizeof *q);
            if (!q) {
                free(p);
                rc = nb__erri("%s: out of memory", dir);
                break;
            }
            names = q;
        }
        names[n++] = p;
    }
    closedir(d);
    if (!rc && !n) rc = nb__erri("%s: no text files in the folder", dir);
    if (!rc) qsort(names, n, sizeof *names, nb__cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (!rc) rc = nb__text_append(t, names[i], max_bytes);
        free(names[i]);
    }
    free(names);
    return rc;
}

nb_text *nb_text_load(const char *const *paths, int n_paths, size_t max_bytes)
{
    if (!paths || n_paths < 1) return nb__err("text: no files given");
    if (!max_bytes) max_bytes = NB_TEXT_DEFAULT_MAX_BYTES;
    nb_text *t = calloc(1, sizeof *t);
    if (!t) return nb__err("text: out of memory");
    for (int i = 0; i < n_paths; i++) {
        if (!paths[i]) {
            nb_text_free(t);
            return nb__err("text: NULL path");
        }
        struct stat st;
        int rc = stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode) ? nb__text_folder(t, paths[i], max_bytes)
                                                                 : nb__text_append(t, paths[i], max_bytes);
        if (rc) {
            nb_text_free(t);
            return NULL;
        }
    }
    if (!t->n) {
        nb_text_free(t);
        return nb__err("text: the files are empty");
    }
    return t;
}

nb_text *nb_text_from_ids(const uint8_t *ids, size_t n)
{
    nb_text *t = calloc(1, sizeof *t);
    if (!t || !(t->ids = malloc(n ? n : 1))) {
        free(t);
        return nb__err("text: out of memory");
    }
    for (size_t i = 0; i < n; i++)
        if (ids[i] >= NB_TEXT_VOCAB) {
            nb_text_free(t);
            return nb__err("text: id %d at %zu is outside [0, %d)", ids[i], i, NB_TEXT_VOCAB);
        }
    memcpy(t->ids, ids, n);
    t->n = t->cap = n;
    return t;
}

int nb_text_split(const nb_text *t, nb_text **train, nb_text **val)
{
    if (!t || !train || !val) return nb__erri("text_split: NULL argument");
    *train = *val = NULL;
    size_t nv = 0, C = NB_TEXT_CHUNK;
    for (size_t at = 0, k = 0; at < t->n; at += C, k++)
        if (k % NB_TEXT_VAL_EVERY == NB_TEXT_VAL_EVERY - 1) nv += t->n - at < C ? t->n - at : C;
    if (!nv || nv == t->n)
        return nb__erri("text: %zu characters are too few to split (validation takes every %dth chunk of %zu)", t->n,
                        NB_TEXT_VAL_EVERY, C);
    nb_text *tr = calloc(1, sizeof *tr), *va = calloc(1, sizeof *va);
    if (tr) tr->ids = malloc(t->n - nv);
    if (va) va->ids = malloc(nv);
    if (!tr || !va || !tr->ids || !va->ids) {
        nb_text_free(tr);
        nb_text_free(va);
        return nb__erri("text: out of memory");
    }
    for (size_t at = 0, k = 0; at < t->n; at += C, k++) {
        size_t len = t->n - at < C ? t->n - at : C;
        nb_text *to = k % NB_TEXT_VAL_EVERY == NB_TEXT_VAL_EVERY - 1 ? va : tr;
        memcpy(to->ids + to->n, t->ids + at, len);
        to->n += len;
    }
    tr->cap = tr->n;
    va->cap = va->n;
    tr->n_files = va->n_files = t->n_files;
    *train = tr;
    *val = va;
    return 0;
}

nb_dataset *nb_text_windows(const nb_text *t, size_t seq_len, const char *name)
{
    if (!t || !seq_len) return nb__err("text_windows: NULL text or zero length");
    if (t->n < seq_len + 1)
        return nb__err("%s: %zu characters, fewer than one window of %zu + 1", name ? name : "text", t->n, seq_len);
    const size_t n = (t->n - 1) / seq_len, L = seq_len;
    nb_dataset *ds = nb_dataset_new(NB_DATA_F64, n, 1, (size_t[]){L}, NB_TEXT_VOCAB);
    if (!ds) return NULL;
    free(ds->y);
    if (!(ds->y = calloc(n * L, sizeof *ds->y))) {
        nb_dataset_free(ds);
        return nb__err("%s: out of memory for %zu windows", name ? name : "text", n);
    }
    ds->y_per = L;
    /* window i: inputs ids[i*L, i*L + L), labels one further on */
    for (size_t i = 0; i < n * L; i++) {
        ds->xf[i] = t->ids[i];
        ds->y[i] = t->ids[i + 1];
    }
    ds->mean = 0;
    ds->std = 1;
    snprintf(ds->name, sizeof ds->name, "%s", name ? name : "text");
    return ds;
}

nb_dataset *nb_text_streams(const nb_text *t, size_t seq_len, size_t batch, const char *name)
{
    if (!t || !seq_len || !batch) return nb__err("text_streams: NULL text, zero length or zero batch");
    const char *nm = name ? name : "text";
    const size_t L = seq_len, S = t->n ? (t->n - 1) / batch / L : 0; /* windows per stream */
    if (!S) return nb__err("%s: %zu characters give %zu streams no window of %zu + 1 each", nm, t->n, batch, seq_len);
    const size_t n = batch * S;
    nb_dataset *ds = nb_dataset_new(NB_DATA_F64, n, 1, (size_t[]){L}, NB_TEXT_VOCAB);
    if (!ds) return NULL;
    free(ds->y);
    if (!(ds->y = calloc(n * L, sizeof *ds->y))) {
        nb_dataset_free(ds);
        return nb__err("%s: out of memory for %zu windows", nm, n);
    }
    ds->y_per = L;
    /* sample j*batch + r: stream r's window j, which starts at (r*S + j)*L */
    for (size_t j = 0; j < S; j++)
        for (size_t r = 0; r < batch; r++) {
            const size_t at = (r * S + j) * L, to = (j * batch + r) * L;
            for (size_t i = 0; i < L; i++) {
                ds->xf[to + i] = t->ids[at + i];
                ds->y[to + i] = t->ids[at + i + 1];
            }
        }
    ds->mean = 0;
    ds->std = 1;
    snprintf(ds->name, sizeof ds->name, "%s", nm);
    return ds;
}
