/* IDX (MNIST) reader and writer, plain or gzipped.  Nothing in the file is
 * trusted: magic, type code, dims count, every dimension, the exact size
 * (overflow-checked), the gzip stream's integrity and a cap on its
 * decompressed size are all checked before the data is believed. */
#include "../internal.h"
#include "nabla/data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <zlib.h>

#define NB__IN_CHUNK ((size_t)1 << 16)

size_t nb_idx_type_size(nb_idx_type t)
{
    switch (t) {
    case NB_IDX_U8:
    case NB_IDX_I8: return 1;
    case NB_IDX_I16: return 2;
    case NB_IDX_I32:
    case NB_IDX_F32: return 4;
    case NB_IDX_F64: return 8;
    }
    return 0;
}

const char *nb_idx_type_name(nb_idx_type t)
{
    switch (t) {
    case NB_IDX_U8: return "ubyte";
    case NB_IDX_I8: return "byte";
    case NB_IDX_I16: return "short";
    case NB_IDX_I32: return "int";
    case NB_IDX_F32: return "float";
    case NB_IDX_F64: return "double";
    }
    return "?";
}

void nb_idx_free(nb_idx *x)
{
    if (!x) return;
    free(x->data);
    free(x);
}

/* ------------------------------------------------------------ byte source */
/* Raw bytes come from a FILE or from memory; a gzip layer may sit on top. */
typedef struct {
    const char *name;
    FILE *f;
    const unsigned char *mem;
    size_t mem_len, mem_pos;
    int raw_eof;
    int gz, zinit, zend; /* zend: the last member ended and no input is left */
    z_stream zs;
    unsigned char *inbuf; /* NB__IN_CHUNK, for gzip from a FILE */
    size_t max_out;       /* the decompressed-size cap */
} nb__src;

/* Up to n raw bytes; returns the count (0 at end), or (size_t)-1 on I/O error. */
static size_t nb__raw_read(nb__src *s, unsigned char *dst, size_t n)
{
    if (s->f) {
        size_t got = fread(dst, 1, n, s->f);
        if (got < n) {
            if (ferror(s->f)) {
                nb__err("%s: read error: %s", s->name, strerror(errno));
                return (size_t)-1;
            }
            s->raw_eof = 1;
        }
        return got;
    }
    size_t left = s->mem_len - s->mem_pos, got = n < left ? n : left;
    memcpy(dst, s->mem + s->mem_pos, got);
    s->mem_pos += got;
    if (s->mem_pos == s->mem_len) s->raw_eof = 1;
    return got;
}

/* Give inflate more input; returns 0 (avail_in may stay 0 at the end) or -1. */
static int nb__refill(nb__src *s)
{
    if (s->f) {
        if (s->raw_eof) return 0;
        size_t got = nb__raw_read(s, s->inbuf, NB__IN_CHUNK);
        if (got == (size_t)-1) return -1;
        s->zs.next_in = s->inbuf;
        s->zs.avail_in = (uInt)got;
        return 0;
    }
    size_t left = s->mem_len - s->mem_pos, take = left < ((size_t)1 << 30) ? left : ((size_t)1 << 30);
    s->zs.next_in = (Bytef *)(uintptr_t)(s->mem + s->mem_pos);
    s->zs.avail_in = (uInt)take;
    s->mem_pos += take;
    if (s->mem_pos == s->mem_len) s->raw_eof = 1;
    return 0;
}

/* Up to n decompressed bytes into dst; *got < n only at the end of the data.
 * 0 or -1 (error set: truncated or corrupt stream, I/O error). */
static int nb__src_read(nb__src *s, unsigned char *dst, size_t n, size_t *got)
{
    *got = 0;
    if (!s->gz) {
        size_t r = nb__raw_read(s, dst, n);
        if (r == (size_t)-1) return -1;
        *got = r;
        return 0;
    }
    while (*got < n && !s->zend) {
        if (s->zs.avail_in == 0 && nb__refill(s) != 0) return -1;
        size_t want = n - *got;
        if (want > ((size_t)1 << 30)) want = (size_t)1 << 30;
        s->zs.next_out = dst + *got;
        s->zs.avail_out = (uInt)want;
        int rc = inflate(&s->zs, Z_NO_FLUSH);
        *got += want - s->zs.avail_out;
        if (rc == Z_STREAM_END) {
            /* A member ended (its CRC and length checked by zlib).  More
             * input means another concatenated member. */
            if (s->zs.avail_in == 0 && nb__refill(s) != 0) return -1;
            if (s->zs.avail_in == 0) {
                s->zend = 1;
                break;
            }
            if (inflateReset(&s->zs) != Z_OK) return nb__erri("%s: gzip: cannot reset the decompressor", s->name);
            continue;
        }
        if (rc == Z_OK) continue;
        if (rc == Z_BUF_ERROR) {
            if (s->zs.avail_in == 0 && s->raw_eof)
                return nb__erri("%s: truncated gzip stream (the file ends inside the "
                                "compressed data)",
                                s->name);
            continue; /* output space ran out: loop ends or makes progress */
        }
        if (rc == Z_MEM_ERROR) return nb__erri("%s: gzip: out of memory", s->name);
        return nb__erri("%s: corrupt gzip data (%s)", s->name, s->zs.msg ? s->zs.msg : "invalid stream");
    }
    return 0;
}

static void nb__src_close(nb__src *s)
{
    if (s->zinit) inflateEnd(&s->zs);
    free(s->inbuf);
    if (s->f) fclose(s->f);
}

/* ---------------------------------------------------------------- parsing */
static uint32_t nb__be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static const char *nb__dims_str(const nb_idx *x, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < x->ndim && at < size; i++)
        at += (size_t)snprintf(buf + at, size - at, i ? "x%zu" : "%zu", x->dims[i]);
    return buf;
}

/* Convert the big-endian elements in place to host order; reject NaN/Inf. */
static int nb__to_host(const char *name, nb_idx *x)
{
    unsigned char *p = x->data;
    size_t es = nb_idx_type_size(x->type);
    for (size_t i = 0; i < x->count; i++, p += es) {
        if (es == 2) {
            uint16_t v = (uint16_t)((unsigned)p[0] << 8 | p[1]);
            memcpy(p, &v, 2);
        } else if (es == 4) {
            uint32_t v = nb__be32(p);
            if (x->type == NB_IDX_F32) {
                float f;
                memcpy(&f, &v, 4);
                if (!isfinite(f))
                    return nb__erri("%s: element %zu is %s (only finite floats are accepted)", name, i,
                                    isnan(f) ? "NaN" : "Inf");
            }
            memcpy(p, &v, 4);
        } else if (es == 8) {
            uint64_t v = (uint64_t)nb__be32(p) << 32 | nb__be32(p + 4);
            double d;
            memcpy(&d, &v, 8);
            if (!isfinite(d))
                return nb__erri("%s: element %zu is %s (only finite floats are accepted)", name, i,
                                isnan(d) ? "NaN" : "Inf");
            memcpy(p, &v, 8);
        }
    }
    return 0;
}

/* Count the bytes left in the source (up to the cap); -1 on stream errors. */
static int nb__count_rest(nb__src *s, size_t already, size_t *total, int *over_cap)
{
    unsigned char scratch[4096];
    *total = already;
    *over_cap = 0;
    for (;;) {
        size_t got;
        if (nb__src_read(s, scratch, sizeof scratch, &got) != 0) return -1;
        *total += got;
        if (*total > s->max_out) {
            *over_cap = 1;
            return 0;
        }
        if (got < sizeof scratch) return 0;
    }
}

/* known_size: the raw size when known and not gzipped (else -1). */
static nb_idx *nb__idx_from_src(nb__src *s, long long known_size)
{
    const char *name = s->name;
    unsigned char hdr[4 + 4 * NB_MAX_DIMS];
    size_t got;
    if (nb__src_read(s, hdr, 4, &got) != 0) return NULL;
    if (got == 0)
        return nb__err("%s: empty %sfile (an IDX file starts with a 4-byte magic)", name,
                       s->gz ? "gzip-decompressed " : "");
    if (got < 4)
        return nb__err("%s: truncated header: the file has only %zu byte%s (an IDX file "
                       "starts with a 4-byte magic)",
                       name, got, got == 1 ? "" : "s");
    if (hdr[0] != 0 || hdr[1] != 0)
        return nb__err("%s: bad magic %02x %02x %02x %02x: not an IDX file (IDX starts "
                       "with two zero bytes, a type code and a dims count)",
                       name, hdr[0], hdr[1], hdr[2], hdr[3]);
    nb_idx_type type = (nb_idx_type)hdr[2];
    size_t es = nb_idx_type_size(type);
    if (es == 0)
        return nb__err("%s: unknown IDX type code 0x%02x (known: 0x08 ubyte, 0x09 byte, "
                       "0x0B short, 0x0C int, 0x0D float, 0x0E double)",
                       name, hdr[2]);
    int ndim = hdr[3];
    if (ndim == 0) return nb__err("%s: the header has zero dimensions", name);
    if (ndim > NB_MAX_DIMS)
        return nb__err("%s: the header has %d dimensions (at most %d supported)", name, ndim, NB_MAX_DIMS);
    size_t hbytes = 4 + 4 * (size_t)ndim;
    if (nb__src_read(s, hdr + 4, hbytes - 4, &got) != 0) return NULL;
    if (got < hbytes - 4)
        return nb__err("%s: truncated header: %d dimensions need %zu header bytes but the "
                       "file has %zu",
                       name, ndim, hbytes, 4 + got);

    nb_idx tmp = {.type = type, .ndim = ndim};
    char dims[160];
    size_t count = 1;
    int overflow = 0;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = nb__be32(hdr + 4 + 4 * (size_t)i);
        if (d == 0) return nb__err("%s: dimension %d is 0", name, i);
        tmp.dims[i] = d;
        if (count > SIZE_MAX / d) overflow = 1;
        else count *= d;
    }
    nb__dims_str(&tmp, dims, sizeof dims);
    if (overflow || count > (SIZE_MAX - hbytes) / es)
        return nb__err("%s: header dims %s (%s) overflow the size computation", name, dims, nb_idx_type_name(type));
    size_t data_bytes = count * es, expect = hbytes + data_bytes;
    const char *tn = type == NB_IDX_U8 ? "" : nb_idx_type_name(type);
    const char *sp = type == NB_IDX_U8 ? "" : " ";
    if (expect > s->max_out)
        return nb__err("%s: header says %s%s%s = %zu bytes, more than the limit of %zu bytes", name, dims, sp, tn,
                       expect, s->max_out);
    if (known_size >= 0 && (unsigned long long)known_size != expect)
        return nb__err("%s: header says %s%s%s = %zu bytes but file has %lld", name, dims, sp, tn, expect, known_size);

    /* Grow the buffer as data arrives, so a lying header in a tiny file
     * cannot make us allocate its claim up front. */
    size_t cap = data_bytes < ((size_t)1 << 24) ? data_bytes : ((size_t)1 << 24), have = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) return nb__err("%s: out of memory (%zu bytes)", name, cap);
    for (;;) {
        if (nb__src_read(s, buf + have, cap - have, &got) != 0) goto fail;
        have += got;
        if (have < cap || cap == data_bytes) break;
        size_t ncap = cap > data_bytes / 2 ? data_bytes : cap * 2;
        unsigned char *grown = realloc(buf, ncap);
        if (!grown) {
            nb__err("%s: out of memory (%zu bytes)", name, ncap);
            goto fail;
        }
        buf = grown;
        cap = ncap;
    }
    size_t total;
    int over;
    if (have == data_bytes) {
        /* Anything after the data is an error; reading to the end also makes
         * zlib verify the gzip trailer (CRC and length). */
        if (nb__count_rest(s, hbytes + have, &total, &over) != 0) goto fail;
    } else {
        total = hbytes + have;
        over = 0;
    }
    if (total != expect) {
        if (over)
            nb__err("%s: header says %s%s%s = %zu bytes but the %s more than %zu (the limit)", name, dims, sp, tn,
                    expect, s->gz ? "data decompresses to" : "file has", s->max_out);
        else
            nb__err("%s: header says %s%s%s = %zu bytes but %s %zu", name, dims, sp, tn, expect,
                    s->gz ? "it decompresses to" : "file has", total);
        goto fail;
    }
    tmp.count = count;
    tmp.data = buf;
    if (nb__to_host(name, &tmp) != 0) goto fail;
    nb_idx *x = malloc(sizeof *x);
    if (!x) {
        nb__err("%s: out of memory", name);
        goto fail;
    }
    *x = tmp;
    return x;
fail:
    free(buf);
    return NULL;
}

/* Look at the first two raw bytes and set up gzip if they are its magic. */
static int nb__src_open(nb__src *s, const nb_idx_opts *opts)
{
    s->max_out = opts && opts->max_bytes ? opts->max_bytes : NB_IDX_DEFAULT_MAX_BYTES;
    unsigned char m[2];
    size_t got;
    if (s->f) {
        got = nb__raw_read(s, m, 2);
        if (got == (size_t)-1) return -1;
    } else {
        got = s->mem_len < 2 ? s->mem_len : 2;
        memcpy(m, s->mem, got);
    }
    if (!(got == 2 && m[0] == 0x1f && m[1] == 0x8b)) {
        if (s->f) {
            /* Put the peeked bytes back by rewinding (the file is seekable
             * here: nb_idx_read only opens regular files). */
            s->raw_eof = 0;
            if (fseek(s->f, 0, SEEK_SET) != 0) return nb__erri("%s: cannot seek: %s", s->name, strerror(errno));
        }
        return 0;
    }
    s->gz = 1;
    if (s->f) {
        s->raw_eof = 0;
        if (fseek(s->f, 0, SEEK_SET) != 0) return nb__erri("%s: cannot seek: %s", s->name, strerror(errno));
        s->inbuf = malloc(NB__IN_CHUNK);
        if (!s->inbuf) return nb__erri("%s: out of memory", s->name);
    }
    memset(&s->zs, 0, sizeof s->zs);
    if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK)
        return nb__erri("%s: cannot start the gzip decompressor", s->name);
    s->zinit = 1;
    return 0;
}

nb_idx *nb_idx_read(const char *path, const nb_idx_opts *opts)
{
    if (!path) return nb__err("nb_idx_read: NULL path");
    nb__src s = {.name = path};
    s.f = nb__fopen_regular(path);
    if (!s.f) return NULL;
    struct stat st;
    if (fstat(fileno(s.f), &st) != 0) {
        nb__err("%s: cannot stat: %s", path, strerror(errno));
        nb__src_close(&s);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        nb__err("%s: not a regular file", path);
        nb__src_close(&s);
        return NULL;
    }
    nb_idx *x = NULL;
    if (nb__src_open(&s, opts) == 0) x = nb__idx_from_src(&s, s.gz ? -1 : (long long)st.st_size);
    nb__src_close(&s);
    return x;
}

nb_idx *nb_idx_parse(const void *buf, size_t len, const char *name, const nb_idx_opts *opts)
{
    if (!name) name = "(memory)";
    if (!buf && len) return nb__err("%s: NULL buffer", name);
    nb__src s = {.name = name, .mem = buf ? buf : (const void *)"", .mem_len = len};
    s.raw_eof = len == 0;
    nb_idx *x = NULL;
    if (nb__src_open(&s, opts) == 0) x = nb__idx_from_src(&s, s.gz ? -1 : (long long)len);
    nb__src_close(&s);
    return x;
}

/* ----------------------------------------------------------------- writer */
typedef struct {
    FILE *f;
    gzFile g;
} nb__sink;

static int nb__put(nb__sink *k, const void *p, size_t n)
{
    if (k->g) {
        const unsigned char *c = p;
        while (n) {
            unsigned part = n > (1u << 30) ? (1u << 30) : (unsigned)n;
            if (gzwrite(k->g, c, part) != (int)part) return -1;
            c += part;
            n -= part;
        }
        return 0;
    }
    return fwrite(p, 1, n, k->f) == n ? 0 : -1;
}

int nb_idx_write(const char *path, const nb_idx *x, int gzip)
{
    if (!path || !x) return nb__erri("nb_idx_write: NULL %s", path ? "idx" : "path");
    size_t es = nb_idx_type_size(x->type);
    if (es == 0) return nb__erri("%s: nb_idx_write: unknown type code 0x%02x", path, (unsigned)x->type);
    if (x->ndim < 1 || x->ndim > NB_MAX_DIMS)
        return nb__erri("%s: nb_idx_write: %d dimensions (must be 1..%d)", path, x->ndim, NB_MAX_DIMS);
    size_t count = 1;
    for (int i = 0; i < x->ndim; i++) {
        if (x->dims[i] == 0 || x->dims[i] > UINT32_MAX)
            return nb__erri("%s: nb_idx_write: dimension %d is %zu (must be 1..2^32-1)", path, i, x->dims[i]);
        if (count > SIZE_MAX / es / x->dims[i]) return nb__erri("%s: nb_idx_write: dims overflow", path);
        count *= x->dims[i];
    }
    if (count != x->count)
        return nb__erri("%s: nb_idx_write: count %zu does not match the dims (%zu)", path, x->count, count);
    if (!x->data) return nb__erri("%s: nb_idx_write: NULL data", path);

    nb__sink k = {0};
    if (gzip) k.g = gzopen(path, "wb");
    else k.f = fopen(path, "wb");
    if (!k.g && !k.f) return nb__erri("%s: cannot create: %s", path, strerror(errno));
    unsigned char hdr[4 + 4 * NB_MAX_DIMS] = {0, 0, (unsigned char)x->type, (unsigned char)x->ndim};
    for (int i = 0; i < x->ndim; i++) {
        uint32_t d = (uint32_t)x->dims[i];
        unsigned char *p = hdr + 4 + 4 * i;
        p[0] = (unsigned char)(d >> 24);
        p[1] = (unsigned char)(d >> 16);
        p[2] = (unsigned char)(d >> 8);
        p[3] = (unsigned char)d;
    }
    int bad = nb__put(&k, hdr, 4 + 4 * (size_t)x->ndim);
    /* Elements big-endian, in blocks. */
    unsigned char blk[8192];
    const unsigned char *src = x->data;
    size_t per = sizeof blk / es;
    for (size_t i = 0; !bad && i < count; i += per) {
        size_t m = count - i < per ? count - i : per;
        for (size_t j = 0; j < m; j++) {
            const unsigned char *e = src + (i + j) * es;
            unsigned char *o = blk + j * es;
            if (es == 1) {
                o[0] = e[0];
                continue;
            }
            uint64_t v = 0;
            if (es == 2) {
                uint16_t t;
                memcpy(&t, e, 2);
                v = t;
            } else if (es == 4) {
                uint32_t t;
                memcpy(&t, e, 4);
                v = t;
            } else memcpy(&v, e, 8);
            for (size_t b = 0; b < es; b++) o[b] = (unsigned char)(v >> (8 * (es - 1 - b)));
        }
        bad = nb__put(&k, blk, m * es);
    }
    int closed = k.g ? (gzclose(k.g) == Z_OK ? 0 : -1) : (fclose(k.f) == 0 ? 0 : -1);
    if (bad || closed) return nb__erri("%s: write failed", path);
    return 0;
}
