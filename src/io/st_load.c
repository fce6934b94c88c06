/* safetensors reader.  Every byte is checked before it is believed: the
 * header length, UTF-8 and the JSON grammar (json.c), each entry's exact
 * fields, dtype, shape and offsets with overflow-checked sizes, and that the
 * tensors tile the byte buffer with no gap, overlap or trailing byte. */
#include "../internal.h"
#include "json.h"
#include "st.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *name;
    size_t i;
} nb__st_byname;

struct nb_st_file {
    size_t n, n_meta;
    nb_st_tensor *t;        /* header order */
    nb__st_byname *by_name; /* sorted by name */
    nb_st_meta *meta;
    char *strings;        /* decoded header strings: names, metadata */
    unsigned char *buf;   /* the byte buffer, 64-aligned */
    unsigned char *moved; /* aligned copies of tensors at unaligned offsets */
    char *label;          /* the file's name, for errors */
};

static const struct {
    const char *name;
    size_t size;
} nb__st_dtypes[NB_ST_DTYPE_COUNT] = {
    [NB_ST_BOOL] = {"BOOL", 1},       [NB_ST_U8] = {"U8", 1},           [NB_ST_I8] = {"I8", 1},
    [NB_ST_F8_E5M2] = {"F8_E5M2", 1}, [NB_ST_F8_E4M3] = {"F8_E4M3", 1}, [NB_ST_I16] = {"I16", 2},
    [NB_ST_U16] = {"U16", 2},         [NB_ST_F16] = {"F16", 2},         [NB_ST_BF16] = {"BF16", 2},
    [NB_ST_I32] = {"I32", 4},         [NB_ST_U32] = {"U32", 4},         [NB_ST_F32] = {"F32", 4},
    [NB_ST_F64] = {"F64", 8},         [NB_ST_I64] = {"I64", 8},         [NB_ST_U64] = {"U64", 8},
};
_Static_assert(NB_ST_DTYPE_COUNT == 15, "nb__st_dtypes must name every nb_st_dtype");

size_t nb_st_dtype_size(nb_st_dtype dt) { return (unsigned)dt < NB_ST_DTYPE_COUNT ? nb__st_dtypes[dt].size : 0; }

const char *nb_st_dtype_name(nb_st_dtype dt) { return (unsigned)dt < NB_ST_DTYPE_COUNT ? nb__st_dtypes[dt].name : "?"; }

int nb_st_dtype_of(nb_dtype dt)
{
    switch (dt) {
    case NB_F32: return NB_ST_F32;
    case NB_F64: return NB_ST_F64;
    case NB_I32: return NB_ST_I32;
    }
    return -1;
}

void nb_st_free(nb_st_file *f)
{
    if (!f) return;
    free(f->t);
    free(f->by_name);
    free(f->meta);
    free(f->strings);
    free(f->buf);
    free(f->moved);
    free(f->label);
    free(f);
}

/* --------------------------------------------------------------- header */
typedef struct {
    uint64_t begin, end;
    size_t i; /* tensor index */
} nb__st_span;

static int nb__st_span_cmp(const void *a, const void *b)
{
    const nb__st_span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

static int nb__st_byname_cmp(const void *a, const void *b)
{
    return strcmp(((const nb__st_byname *)a)->name, ((const nb__st_byname *)b)->name);
}

/* A JSON number that must be a non-negative integer. */
static int nb__st_uint(const char *label, const char *who, const char *what, const nb__jval *v, uint64_t *out)
{
    if (v->type != NB__J_NUM) return nb__erri("%s: %s %s is not a number", label, who, what);
    switch ((nb__jnum)v->num) {
    case NB__JN_UINT: *out = v->u; return 0;
    case NB__JN_BIGUINT: return nb__erri("%s: %s %s is too large (more than 2^64 - 1)", label, who, what);
    case NB__JN_NEGINT: return nb__erri("%s: %s %s is negative", label, who, what);
    case NB__JN_REAL: break;
    }
    return nb__erri("%s: %s %s is not an integer", label, who, what);
}

static int nb__st_metadata(nb_st_file *f, const char *label, const nb__json *j, const nb__jval *m)
{
    if (m->type != NB__J_OBJ) return nb__erri("%s: __metadata__ is not an object", label);
    f->meta = calloc(m->n ? m->n : 1, sizeof *f->meta);
    if (!f->meta) return nb__erri("%s: out of memory", label);
    for (uint32_t c = m->first; c != NB__J_NONE; c = j->v[c].next) {
        const nb__jval *e = &j->v[c];
        char q[96];
        nb__json_quote(q, sizeof q, nb__jkey(j, e), e->key_len, 64);
        if (memchr(nb__jkey(j, e), '\0', e->key_len))
            return nb__erri("%s: __metadata__ key %s contains a NUL byte", label, q);
        if (e->type != NB__J_STR) return nb__erri("%s: __metadata__ value of %s is not a string", label, q);
        if (memchr(nb__jstr(j, e), '\0', e->str_len))
            return nb__erri("%s: __metadata__ value of %s contains a NUL byte", label, q);
        f->meta[f->n_meta++] = (nb_st_meta){nb__jkey(j, e), nb__jstr(j, e)};
    }
    return 0;
}

/* One tensor entry {"dtype": ..., "shape": [...], "data_offsets": [b, e]}. */
static int nb__st_entry(const char *label, const nb__json *j, const nb__jval *e, nb_st_tensor *t, nb__st_span *span,
                        uint64_t buf_len)
{
    char who[112], q[96];
    nb__json_quote(q, sizeof q, nb__jkey(j, e), e->key_len, 64);
    snprintf(who, sizeof who, "tensor %s", q);
    if (memchr(nb__jkey(j, e), '\0', e->key_len)) return nb__erri("%s: %s: the name contains a NUL byte", label, who);
    if (e->type != NB__J_OBJ) return nb__erri("%s: %s: the entry is not an object", label, who);

    static const char *const fields[3] = {"dtype", "shape", "data_offsets"};
    const nb__jval *fv[3] = {NULL, NULL, NULL};
    for (uint32_t c = e->first; c != NB__J_NONE; c = j->v[c].next) {
        const nb__jval *m = &j->v[c];
        int k = 0;
        while (k < 3 && !(strlen(fields[k]) == m->key_len && memcmp(fields[k], nb__jkey(j, m), m->key_len) == 0)) k++;
        if (k == 3)
            return nb__erri("%s: %s has an unexpected key %s (an entry holds exactly dtype, shape and data_offsets)",
                            label, who, nb__json_quote(q, sizeof q, nb__jkey(j, m), m->key_len, 48));
        fv[k] = m; /* duplicates were rejected by the parser */
    }
    for (int k = 0; k < 3; k++)
        if (!fv[k]) return nb__erri("%s: %s is missing \"%s\"", label, who, fields[k]);

    /* dtype */
    if (fv[0]->type != NB__J_STR) return nb__erri("%s: %s: dtype is not a string", label, who);
    int dt = 0;
    while (dt < NB_ST_DTYPE_COUNT && strcmp(nb__st_dtypes[dt].name, nb__jstr(j, fv[0])) != 0) dt++;
    if (dt == NB_ST_DTYPE_COUNT || fv[0]->str_len != strlen(nb__jstr(j, fv[0])))
        return nb__erri("%s: %s has unknown dtype %s", label, who,
                        nb__json_quote(q, sizeof q, nb__jstr(j, fv[0]), fv[0]->str_len, 32));
    t->dtype = (nb_st_dtype)dt;

    /* shape, and the byte size it implies */
    const nb__jval *sh = fv[1];
    if (sh->type != NB__J_ARR) return nb__erri("%s: %s: shape is not an array", label, who);
    if (sh->n > NB_MAX_DIMS)
        return nb__erri("%s: %s: shape has %u dimensions; at most %d are supported", label, who, (unsigned)sh->n,
                        NB_MAX_DIMS);
    t->ndim = (int)sh->n;
    uint64_t bytes = nb__st_dtypes[dt].size;
    int over = 0, d = 0;
    for (uint32_t c = sh->first; c != NB__J_NONE; c = j->v[c].next, d++) {
        char what[32];
        uint64_t s;
        snprintf(what, sizeof what, "shape[%d]", d);
        if (nb__st_uint(label, who, what, &j->v[c], &s) != 0) return -1;
        if (s > SIZE_MAX)
            return nb__erri("%s: %s: %s = %llu does not fit in size_t", label, who, what, (unsigned long long)s);
        t->shape[d] = (size_t)s;
        if (s != 0 && bytes > UINT64_MAX / s) over = 1;
        else bytes *= s;
    }
    char shs[160];
    nb__st_shape_str(shs, sizeof shs, t->ndim, t->shape);
    int zero = 0;
    for (d = 0; d < t->ndim; d++) zero |= t->shape[d] == 0;
    if (over && !zero)
        return nb__erri("%s: %s: shape %s of %s overflows 64-bit byte sizes", label, who, shs, nb__st_dtypes[dt].name);
    if (zero) bytes = 0;

    /* data_offsets */
    const nb__jval *of = fv[2];
    if (of->type != NB__J_ARR || of->n != 2)
        return nb__erri("%s: %s: data_offsets is not a [begin, end] pair", label, who);
    uint64_t b, en;
    if (nb__st_uint(label, who, "data_offsets begin", &j->v[of->first], &b) != 0 ||
        nb__st_uint(label, who, "data_offsets end", &j->v[j->v[of->first].next], &en) != 0)
        return -1;
    if (en < b)
        return nb__erri("%s: %s data_offsets [%llu, %llu] end before they begin", label, who, (unsigned long long)b,
                        (unsigned long long)en);
    if (en - b != bytes)
        return nb__erri("%s: %s data_offsets [%llu, %llu] hold %llu bytes but dtype %s shape %s needs %llu", label, who,
                        (unsigned long long)b, (unsigned long long)en, (unsigned long long)(en - b),
                        nb__st_dtypes[dt].name, shs, (unsigned long long)bytes);
    if (en > buf_len)
        return nb__erri("%s: %s data_offsets [%llu, %llu] run past the end of the %llu-byte data buffer", label, who,
                        (unsigned long long)b, (unsigned long long)en, (unsigned long long)buf_len);
    span->begin = b;
    span->end = en;
    return 0;
}

/* Validate a header of hlen bytes for a data buffer of buf_len bytes.
 * Returns a file with names, dtypes and shapes set (data not yet) and the
 * offsets in *spans (indexed by tensor), or NULL. */
static nb_st_file *nb__st_header(const char *label, const char *hdr, size_t hlen, uint64_t buf_len,
                                 nb__st_span **spans_out)
{
    if (hlen == 0 || hdr[0] != '{')
        return nb__err("%s: not a safetensors checkpoint (the header does not start with '{')", label);
    nb__json j;
    if (nb__json_parse(&j, hdr, hlen, NULL) != 0) {
        if (strcmp(j.err, "invalid UTF-8") == 0)
            return nb__err("%s: the header is not valid UTF-8 (header byte %zu)", label, j.err_pos);
        return nb__err("%s: the header is not valid JSON: %s at header byte %zu", label, j.err, j.err_pos);
    }
    nb_st_file *f = calloc(1, sizeof *f);
    nb__st_span *spans = NULL;
    if (!f) goto oom;
    f->label = malloc(strlen(label) + 1);
    if (!f->label) goto oom;
    strcpy(f->label, label);

    const nb__jval *root = &j.v[0];
    size_t cap = root->n ? root->n : 1;
    f->t = calloc(cap, sizeof *f->t);
    f->by_name = calloc(cap, sizeof *f->by_name);
    spans = calloc(cap, sizeof *spans);
    if (!f->t || !f->by_name || !spans) goto oom;

    for (uint32_t c = root->first; c != NB__J_NONE; c = j.v[c].next) {
        const nb__jval *e = &j.v[c];
        if (e->key_len == 12 && memcmp(nb__jkey(&j, e), "__metadata__", 12) == 0) {
            if (nb__st_metadata(f, label, &j, e) != 0) goto fail;
            continue;
        }
        nb_st_tensor *t = &f->t[f->n];
        t->name = nb__jkey(&j, e);
        if (nb__st_entry(label, &j, e, t, &spans[f->n], buf_len) != 0) goto fail;
        spans[f->n].i = f->n;
        f->n++;
    }

    /* The tensors must tile [0, buf_len) exactly. */
    nb__st_span *sorted = malloc((f->n ? f->n : 1) * sizeof *sorted);
    if (!sorted) goto oom;
    memcpy(sorted, spans, f->n * sizeof *sorted);
    qsort(sorted, f->n, sizeof *sorted, nb__st_span_cmp);
    uint64_t at = 0;
    for (size_t k = 0; k < f->n; k++) {
        char q1[96], q2[96];
        const nb__st_span *s = &sorted[k];
        const char *nm = f->t[s->i].name;
        if (s->begin > at) {
            nb__err("%s: gap in the data buffer: bytes [%llu, %llu) belong to no tensor (tensor %s starts at %llu)",
                    label, (unsigned long long)at, (unsigned long long)s->begin,
                    nb__json_quote(q1, sizeof q1, nm, strlen(nm), 64), (unsigned long long)s->begin);
            free(sorted);
            goto fail;
        }
        if (s->begin < at) {
            const nb__st_span *p = &sorted[k - 1]; /* at > 0, so k > 0 */
            const char *pn = f->t[p->i].name;
            nb__err("%s: tensors %s [%llu, %llu] and %s [%llu, %llu] overlap", label,
                    nb__json_quote(q1, sizeof q1, pn, strlen(pn), 64), (unsigned long long)p->begin,
                    (unsigned long long)p->end, nb__json_quote(q2, sizeof q2, nm, strlen(nm), 64),
                    (unsigned long long)s->begin, (unsigned long long)s->end);
            free(sorted);
            goto fail;
        }
        at = s->end;
    }
    free(sorted);
    if (at != buf_len) {
        nb__err("%s: the data buffer holds %llu bytes but the tensors cover only %llu "
                "(trailing bytes belong to no tensor)",
                label, (unsigned long long)buf_len, (unsigned long long)at);
        goto fail;
    }

    for (size_t i = 0; i < f->n; i++) f->by_name[i] = (nb__st_byname){f->t[i].name, i};
    qsort(f->by_name, f->n, sizeof *f->by_name, nb__st_byname_cmp);
    for (size_t i = 1; i < f->n; i++) /* the parser rejects duplicate keys; NULs are rejected above */
        if (strcmp(f->by_name[i - 1].name, f->by_name[i].name) == 0) {
            nb__err("%s: duplicate tensor name", label);
            goto fail;
        }
    f->strings = j.strbuf; /* the file keeps the decoded strings */
    j.strbuf = NULL;
    nb__json_free(&j);
    *spans_out = spans;
    return f;

oom:
    nb__err("%s: out of memory reading the header", label);
fail:
    nb__json_free(&j);
    free(spans);
    nb_st_free(f);
    return NULL;
}

/* Point each tensor into buf (owned by f from here on), copying tensors at
 * unaligned offsets, and convert to host byte order. */
static int nb__st_attach(nb_st_file *f, unsigned char *buf, const nb__st_span *spans)
{
    f->buf = buf;
    size_t moved = 0;
    for (size_t i = 0; i < f->n; i++) {
        size_t sz = nb_st_dtype_size(f->t[i].dtype);
        if (spans[i].begin % sz) moved += (size_t)(spans[i].end - spans[i].begin + 7) / 8 * 8;
    }
    if (moved) {
        f->moved = aligned_alloc(64, (moved + 63) / 64 * 64);
        if (!f->moved) return nb__erri("%s: out of memory", f->label);
    }
    size_t at = 0;
    int swap = !nb__st_host_le();
    for (size_t i = 0; i < f->n; i++) {
        nb_st_tensor *t = &f->t[i];
        size_t sz = nb_st_dtype_size(t->dtype), len = (size_t)(spans[i].end - spans[i].begin);
        unsigned char *p = buf + spans[i].begin;
        if (spans[i].begin % sz) {
            memcpy(f->moved + at, p, len);
            p = f->moved + at;
            at += (len + 7) / 8 * 8;
        }
        if (swap) nb__st_bswap(p, len / sz, sz);
        t->data = p;
    }
    return 0;
}

static uint64_t nb__st_le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | b[i];
    return v;
}

/* Checks on the first 8 bytes against the file size, and on the byte after
 * them (first, -1 when the file ends there); the header length.  A file
 * whose header would not start with '{' is some other kind of file: say so,
 * rather than report its first 8 bytes as an absurd length. */
static int nb__st_prefix(const char *label, const unsigned char *b8, int first, uint64_t size, size_t *hlen)
{
    uint64_t n = nb__st_le64(b8);
    if (first >= 0 && first != '{')
        return nb__erri("%s: not a safetensors checkpoint (the header does not start with '{')", label);
    if (n > NB_ST_MAX_HEADER_BYTES)
        return nb__erri("%s: header length %llu exceeds the limit of %zu bytes", label, (unsigned long long)n,
                        NB_ST_MAX_HEADER_BYTES);
    if (n > size - 8)
        return nb__erri("%s: header length %llu runs past the end of the file (%llu bytes after the length)", label,
                        (unsigned long long)n, (unsigned long long)(size - 8));
    *hlen = (size_t)n;
    return 0;
}

static unsigned char *nb__st_buf_alloc(const char *label, uint64_t len)
{
    if (len > SIZE_MAX - 64) return nb__err("%s: data buffer too large", label);
    unsigned char *b = aligned_alloc(64, ((size_t)len + 64) / 64 * 64);
    if (!b) return nb__err("%s: out of memory for a %llu-byte data buffer", label, (unsigned long long)len);
    return b;
}

nb_st_file *nb_st_load_mem(const void *bytes, size_t len, const char *label)
{
    if (!label) label = "<memory>";
    if (!bytes && len) return nb__err("%s: NULL buffer", label);
    if (len < 8)
        return nb__err("%s: not a safetensors checkpoint (%zu bytes is too short for the 8-byte header length)", label,
                       len);
    if ((uint64_t)len > NB_ST_MAX_FILE_BYTES)
        return nb__err("%s: %zu bytes exceeds the %llu-byte limit", label, len,
                       (unsigned long long)NB_ST_MAX_FILE_BYTES);
    const unsigned char *b = bytes;
    size_t hlen;
    if (nb__st_prefix(label, b, len > 8 ? b[8] : -1, len, &hlen) != 0) return NULL;
    uint64_t buf_len = len - 8 - hlen;
    nb__st_span *spans;
    nb_st_file *f = nb__st_header(label, (const char *)b + 8, hlen, buf_len, &spans);
    if (!f) return NULL;
    unsigned char *buf = nb__st_buf_alloc(label, buf_len);
    if (!buf) {
        free(spans);
        nb_st_free(f);
        return NULL;
    }
    if (buf_len) memcpy(buf, b + 8 + hlen, (size_t)buf_len);
    int rc = nb__st_attach(f, buf, spans);
    free(spans);
    if (rc != 0) {
        nb_st_free(f);
        return NULL;
    }
    return f;
}

/* Read exactly n bytes; 0, or -1 with an error (short: the file changed). */
static int nb__st_read(int fd, const char *path, void *dst, size_t n)
{
    unsigned char *p = dst;
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t r = read(fd, p, chunk);
        if (r < 0) {
            if (errno == EINTR) continue;
            return nb__erri("%s: read error: %s", path, strerror(errno));
        }
        if (r == 0) return nb__erri("%s: the file ended early (was it truncated while being read?)", path);
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

nb_st_file *nb_st_load(const char *path)
{
    if (!path) return nb__err("nb_st_load: NULL path");
    int fd = nb__open_regular(path);
    if (fd < 0) return NULL;
    nb_st_file *f = NULL;
    nb__st_span *spans = NULL;
    char *hdr = NULL;
    unsigned char *buf = NULL;
    struct stat st;
    unsigned char b8[8], extra;
    size_t hlen;
    if (fstat(fd, &st) != 0) {
        nb__err("%s: cannot stat: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        nb__err("%s: not a regular file", path);
        goto fail;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        nb__err("%s: not a safetensors checkpoint (%llu bytes is too short for the 8-byte header length)", path,
                (unsigned long long)size);
        goto fail;
    }
    if (size > NB_ST_MAX_FILE_BYTES) {
        nb__err("%s: %llu bytes exceeds the %llu-byte limit", path, (unsigned long long)size,
                (unsigned long long)NB_ST_MAX_FILE_BYTES);
        goto fail;
    }
    unsigned char b9[9];
    if (nb__st_read(fd, path, b9, size > 8 ? 9 : 8) != 0) goto fail;
    memcpy(b8, b9, 8);
    if (nb__st_prefix(path, b8, size > 8 ? b9[8] : -1, size, &hlen) != 0) goto fail;
    hdr = malloc(hlen ? hlen : 1);
    if (!hdr) {
        nb__err("%s: out of memory for a %zu-byte header", path, hlen);
        goto fail;
    }
    if (hlen) hdr[0] = (char)b9[8]; /* hlen > 0 means size > 8: read above */
    if (hlen > 1 && nb__st_read(fd, path, hdr + 1, hlen - 1) != 0) goto fail;
    uint64_t buf_len = size - 8 - hlen;
    f = nb__st_header(path, hdr, hlen, buf_len, &spans);
    if (!f) goto fail;
    buf = nb__st_buf_alloc(path, buf_len);
    if (!buf || nb__st_read(fd, path, buf, (size_t)buf_len) != 0) goto fail;
    for (;;) { /* the file must end where fstat said */
        ssize_t r = read(fd, &extra, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            nb__err("%s: read error: %s", path, strerror(errno));
            goto fail;
        }
        if (r > 0) {
            nb__err("%s: the file grew while being read", path);
            goto fail;
        }
        break;
    }
    if (nb__st_attach(f, buf, spans) != 0) {
        buf = NULL; /* owned by f now */
        goto fail;
    }
    free(spans);
    free(hdr);
    close(fd);
    return f;

fail:
    free(spans);
    free(hdr);
    free(buf);
    nb_st_free(f);
    close(fd);
    return NULL;
}

/* -------------------------------------------------------------- accessors */
size_t nb_st_count(const nb_st_file *f) { return f ? f->n : 0; }

const nb_st_tensor *nb_st_at(const nb_st_file *f, size_t i) { return f && i < f->n ? &f->t[i] : NULL; }

const nb_st_tensor *nb_st_find(const nb_st_file *f, const char *name)
{
    if (!f || !name) return nb__err("nb_st_find: NULL %s", f ? "name" : "file");
    size_t lo = 0, hi = f->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(f->by_name[mid].name, name);
        if (c == 0) return &f->t[f->by_name[mid].i];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    char q[96];
    return nb__err("%s: no tensor %s", f->label, nb__json_quote(q, sizeof q, name, strlen(name), 64));
}

size_t nb_st_meta_count(const nb_st_file *f) { return f ? f->n_meta : 0; }

const nb_st_meta *nb_st_meta_at(const nb_st_file *f, size_t i) { return f && i < f->n_meta ? &f->meta[i] : NULL; }

const char *nb_st_meta_get(const nb_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

/* ------------------------------------------------------- nb_tensor bridge */
static int nb__st_nb_dtype(const nb_st_tensor *st, nb_dtype *dt)
{
    switch (st->dtype) {
    case NB_ST_F32: *dt = NB_F32; return 0;
    case NB_ST_F64: *dt = NB_F64; return 0;
    case NB_ST_I32: *dt = NB_I32; return 0;
    default: break;
    }
    char q[96];
    const char *nm = st->name ? st->name : "";
    return nb__erri("tensor %s: dtype %s has no nb_tensor equivalent (F32, F64, I32)",
                    nb__json_quote(q, sizeof q, nm, strlen(nm), 64), nb_st_dtype_name(st->dtype));
}

nb_tensor *nb_st_to_tensor(const nb_st_tensor *st)
{
    if (!st) return nb__err("nb_st_to_tensor: NULL tensor");
    nb_dtype dt;
    if (nb__st_nb_dtype(st, &dt) != 0) return NULL;
    nb_tensor *t = nb_tensor_new(dt, st->ndim, st->shape);
    if (t && t->numel) memcpy(t->data, st->data, t->numel * nb_dtype_size(dt));
    return t;
}

int nb_st_read_into(nb_tensor *dst, const nb_st_tensor *st)
{
    if (!dst || !st) return nb__erri("nb_st_read_into: NULL %s", dst ? "source" : "destination");
    nb_dtype dt;
    if (nb__st_nb_dtype(st, &dt) != 0) return -1;
    char q[96], a[160];
    const char *nm = st->name ? st->name : "";
    nb__json_quote(q, sizeof q, nm, strlen(nm), 64);
    nb__st_shape_str(a, sizeof a, st->ndim, st->shape);
    int same = dst->ndim == st->ndim;
    for (int d = 0; same && d < st->ndim; d++) same = dst->shape[d] == st->shape[d];
    if (!same) return nb__erri("tensor %s: the file has shape %s but the destination has %s", q, a, nb__shp(dst));
    if (dst->dtype != dt)
        return nb__erri("tensor %s: the file has dtype %s but the destination is %s", q, nb_st_dtype_name(st->dtype),
                        nb_dtype_name(dst->dtype));
    if (dst->numel) memcpy(dst->data, st->data, dst->numel * nb_dtype_size(dt));
    return 0;
}
