/* The data layer: IDX and CSV readers (with a catalogue of malformed files),
 * datasets, splits, statistics, the loader, and the real Fashion-MNIST. */
#include "t.h"

#include "core/pool.h"
#include "nabla/data.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------- helpers */
/* A fresh temp file name (the file exists, empty); remove it when done. */
static void t_tmp(char path[64])
{
    strcpy(path, "/tmp/nabla_data_XXXXXX");
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
}

static void t_write(const char *path, const void *buf, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(buf, 1, n, f);
    fclose(f);
}

static void t_write_str(const char *path, const char *s) { t_write(path, s, strlen(s)); }

/* IDX bytes: header for (type, dims) followed by `data` (raw, as given). */
static size_t t_idx_bytes(unsigned char *out, int type, int ndim, const uint32_t *dims, const void *data,
                          size_t data_bytes)
{
    out[0] = 0;
    out[1] = 0;
    out[2] = (unsigned char)type;
    out[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        out[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        out[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        out[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        out[7 + 4 * i] = (unsigned char)dims[i];
    }
    size_t h = 4 + 4 * (size_t)ndim;
    if (data_bytes) memcpy(out + h, data, data_bytes);
    return h + data_bytes;
}

/* gzip-compress in into a new buffer (caller frees); *n_out its size. */
static unsigned char *t_gzip(const void *in, size_t n, size_t *n_out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) return NULL;
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *n_out = cap - z.avail_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

static int t_has(const char *sub) { return strstr(nb_errmsg(), sub) != NULL; }

/* The bytes must be rejected by nb_idx_read (from a file, whose path the
 * message must name) and by nb_idx_parse, with `sub` in the message. */
static void t_idx_bad(const char *file, int line, const void *bytes, size_t n, const char *sub, const nb_idx_opts *opts)
{
    char p[64];
    t_tmp(p);
    t_write(p, bytes, n);
    nb_clear_error();
    nb_idx *x = nb_idx_read(p, opts);
    if (x) t_fail(file, line, "nb_idx_read accepted a malformed file (%s)", sub);
    else if (!t_has(sub) || !t_has(p))
        t_fail(file, line, "message \"%s\" lacks \"%s\" or the file name", nb_errmsg(), sub);
    nb_idx_free(x);
    nb_clear_error();
    x = nb_idx_parse(bytes, n, "mem.idx", opts);
    if (x) t_fail(file, line, "nb_idx_parse accepted a malformed buffer (%s)", sub);
    else if (!t_has(sub) || !t_has("mem.idx"))
        t_fail(file, line, "parse message \"%s\" lacks \"%s\"", nb_errmsg(), sub);
    nb_idx_free(x);
    remove(p);
}
#define IDX_BAD(bytes, n, sub) t_idx_bad(__FILE__, __LINE__, bytes, n, sub, NULL)
#define IDX_BAD_OPTS(bytes, n, sub, opts) t_idx_bad(__FILE__, __LINE__, bytes, n, sub, opts)

/* Same, gzipped first. */
static void t_idx_bad_gz(const char *file, int line, const void *bytes, size_t n, const char *sub)
{
    size_t gn;
    unsigned char *gz = t_gzip(bytes, n, &gn);
    if (!gz) {
        t_fail(file, line, "test setup: gzip failed");
        return;
    }
    t_idx_bad(file, line, gz, gn, sub, NULL);
    free(gz);
}
#define IDX_BAD_GZ(bytes, n, sub) t_idx_bad_gz(__FILE__, __LINE__, bytes, n, sub)

/* A valid 2x3 ubyte IDX (12-byte header + 6 = 18 bytes) into buf. */
static size_t t_small_idx(unsigned char *buf)
{
    const uint8_t px[6] = {1, 2, 3, 4, 5, 250};
    return t_idx_bytes(buf, 0x08, 2, (uint32_t[]){2, 3}, px, 6);
}

/* ------------------------------------------------------ IDX round trips */
static void t_roundtrip(int gzip)
{
    uint8_t px[3 * 2 * 2];
    for (int i = 0; i < 12; i++) px[i] = (uint8_t)(i * 21);
    nb_idx w = {.type = NB_IDX_U8, .ndim = 3, .dims = {3, 2, 2}, .count = 12, .data = px};
    char p[64];
    t_tmp(p);
    CHECK_OK(nb_idx_write(p, &w, gzip) == 0);
    FILE *f = fopen(p, "rb");
    int c0 = f ? getc(f) : -1, c1 = f ? getc(f) : -1;
    if (f) fclose(f);
    CHECK(gzip ? (c0 == 0x1f && c1 == 0x8b) : (c0 == 0 && c1 == 0));
    nb_idx *r = nb_idx_read(p, NULL);
    CHECK_OK(r);
    if (r) {
        CHECK(r->type == NB_IDX_U8 && r->ndim == 3 && r->count == 12);
        CHECK(r->dims[0] == 3 && r->dims[1] == 2 && r->dims[2] == 2);
        CHECK(memcmp(r->data, px, 12) == 0);
    }
    nb_idx_free(r);
    remove(p);
}

TEST(data, idx_roundtrip_plain) { t_roundtrip(0); }
TEST(data, idx_roundtrip_gzip) { t_roundtrip(1); }

TEST(data, idx_big_endian_types)
{
    /* Hand-written big-endian files, independent of the writer. */
    const unsigned char i32be[8] = {0xff, 0xff, 0xff, 0xfe, 0x00, 0x01, 0x02, 0x03};
    unsigned char buf[64];
    size_t n = t_idx_bytes(buf, 0x0C, 1, (uint32_t[]){2}, i32be, 8);
    nb_idx *x = nb_idx_parse(buf, n, "i32", NULL);
    CHECK_OK(x);
    if (x) CHECK(((int32_t *)x->data)[0] == -2 && ((int32_t *)x->data)[1] == 0x010203);
    nb_idx_free(x);
    const unsigned char f32be[4] = {0x3f, 0xc0, 0x00, 0x00}; /* 1.5f */
    n = t_idx_bytes(buf, 0x0D, 1, (uint32_t[]){1}, f32be, 4);
    x = nb_idx_parse(buf, n, "f32", NULL);
    CHECK_OK(x);
    if (x) CHECK(((float *)x->data)[0] == 1.5f);
    nb_idx_free(x);
    const unsigned char i16be[2] = {0x80, 0x00};
    n = t_idx_bytes(buf, 0x0B, 1, (uint32_t[]){1}, i16be, 2);
    x = nb_idx_parse(buf, n, "i16", NULL);
    CHECK_OK(x);
    if (x) CHECK(((int16_t *)x->data)[0] == -32768);
    nb_idx_free(x);
}

TEST(data, idx_roundtrip_all_types_gzip)
{
    double d[3] = {-1.25, 0.0, 3e300};
    float f[3] = {-0.5f, 2.0f, 1e-30f};
    int32_t i[3] = {-7, 0, 2147483647};
    int16_t s[3] = {-300, 1, 32767};
    int8_t b[3] = {-128, 0, 127};
    struct {
        nb_idx_type t;
        void *p;
        size_t es;
    } cases[] = {
        {NB_IDX_F64, d, 8}, {NB_IDX_F32, f, 4}, {NB_IDX_I32, i, 4}, {NB_IDX_I16, s, 2}, {NB_IDX_I8, b, 1},
    };
    for (int k = 0; k < 5; k++)
        for (int gz = 0; gz < 2; gz++) {
            nb_idx w = {.type = cases[k].t, .ndim = 1, .dims = {3}, .count = 3, .data = cases[k].p};
            char p[64];
            t_tmp(p);
            CHECK_OK(nb_idx_write(p, &w, gz) == 0);
            nb_idx *r = nb_idx_read(p, NULL);
            CHECK_OK(r);
            if (r) CHECK(r->type == cases[k].t && memcmp(r->data, cases[k].p, 3 * cases[k].es) == 0);
            nb_idx_free(r);
            remove(p);
        }
}

TEST(data, idx_parse_memory_plain_and_gzip)
{
    unsigned char buf[64];
    size_t n = t_small_idx(buf), gn;
    nb_idx *x = nb_idx_parse(buf, n, "plain", NULL);
    CHECK_OK(x);
    if (x) CHECK(x->count == 6 && ((uint8_t *)x->data)[5] == 250);
    nb_idx_free(x);
    unsigned char *gz = t_gzip(buf, n, &gn);
    x = nb_idx_parse(gz, gn, "gz", NULL);
    CHECK_OK(x);
    if (x) CHECK(x->count == 6 && ((uint8_t *)x->data)[5] == 250);
    nb_idx_free(x);
    free(gz);
}

TEST(data, idx_gzip_concatenated_members)
{
    /* gzip allows several members back to back; the data is their concatenation. */
    unsigned char buf[64];
    size_t n = t_small_idx(buf), g1, g2;
    unsigned char *a = t_gzip(buf, 7, &g1), *b = t_gzip(buf + 7, n - 7, &g2);
    unsigned char *both = malloc(g1 + g2);
    memcpy(both, a, g1);
    memcpy(both + g1, b, g2);
    nb_idx *x = nb_idx_parse(both, g1 + g2, "two-members", NULL);
    CHECK_OK(x);
    if (x) CHECK(x->count == 6 && memcmp(x->data, buf + 12, 6) == 0);
    nb_idx_free(x);
    free(a);
    free(b);
    free(both);
}

/* ------------------------------------------------ malformed IDX catalogue */
TEST(data, idx_bad_magic)
{
    unsigned char buf[64];
    size_t n = t_small_idx(buf);
    buf[0] = 'P';
    IDX_BAD(buf, n, "bad magic");
    buf[0] = 0;
    buf[1] = 1;
    IDX_BAD(buf, n, "bad magic");
}

TEST(data, idx_unknown_type)
{
    unsigned char buf[64];
    size_t n = t_small_idx(buf);
    buf[2] = 0x0A;
    IDX_BAD(buf, n, "unknown IDX type code 0x0a");
    buf[2] = 0xFF;
    IDX_BAD(buf, n, "unknown IDX type code 0xff");
}

TEST(data, idx_zero_dims)
{
    const unsigned char buf[8] = {0, 0, 8, 0, 1, 2, 3, 4};
    IDX_BAD(buf, sizeof buf, "zero dimensions");
}

TEST(data, idx_too_many_dims)
{
    unsigned char buf[64] = {0, 0, 8, 9};
    for (int i = 0; i < 9; i++) buf[7 + 4 * i] = 1;
    IDX_BAD(buf, 4 + 36 + 1, "9 dimensions");
    buf[3] = 255;
    IDX_BAD(buf, 64, "255 dimensions");
}

TEST(data, idx_dimension_is_zero)
{
    unsigned char buf[64];
    size_t n = t_idx_bytes(buf, 0x08, 2, (uint32_t[]){3, 0}, NULL, 0);
    IDX_BAD(buf, n, "dimension 1 is 0");
}

TEST(data, idx_size_mismatch_short)
{
    unsigned char buf[64];
    size_t n = t_small_idx(buf);
    IDX_BAD(buf, n - 1, "header says 2x3 = 18 bytes but file has 17");
    IDX_BAD_GZ(buf, n - 1, "header says 2x3 = 18 bytes but it decompresses to 17");
}

TEST(data, idx_size_mismatch_long)
{
    unsigned char buf[64];
    size_t n = t_small_idx(buf);
    buf[n] = 7;
    IDX_BAD(buf, n + 1, "header says 2x3 = 18 bytes but file has 19");
    IDX_BAD_GZ(buf, n + 1, "header says 2x3 = 18 bytes but it decompresses to 19");
}

TEST(data, idx_size_mismatch_names_type)
{
    unsigned char buf[64];
    size_t n = t_idx_bytes(buf, 0x0C, 1, (uint32_t[]){3}, "abcdefghijkl", 11);
    IDX_BAD(buf, n, "header says 3 int = 20 bytes but file has 19");
}

TEST(data, idx_truncated_header)
{
    unsigned char buf[64];
    t_small_idx(buf);
    IDX_BAD(buf, 3, "truncated header: the file has only 3 bytes");
    IDX_BAD(buf, 1, "only 1 byte");
    IDX_BAD(buf, 9, "2 dimensions need 12 header bytes but the file has 9");
    IDX_BAD_GZ(buf, 6, "2 dimensions need 12 header bytes but the file has 6");
}

TEST(data, idx_empty_file)
{
    IDX_BAD("", 0, "empty file");
    IDX_BAD_GZ("", 0, "empty gzip-decompressed file");
}

TEST(data, idx_truncated_gzip)
{
    unsigned char big[4096 + 16], px[4096];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 7919 >> 3);
    size_t n = t_idx_bytes(big, 0x08, 1, (uint32_t[]){4096}, px, 4096), gn;
    unsigned char *gz = t_gzip(big, n, &gn);
    CHECK(gz && gn > 100);
    IDX_BAD(gz, gn / 2, "truncated gzip stream");
    IDX_BAD(gz, gn - 4, "truncated gzip stream"); /* trailer cut: length missing */
    IDX_BAD(gz, 2, "truncated gzip stream");      /* the magic alone */
    free(gz);
}

TEST(data, idx_garbage_gzip)
{
    unsigned char g[256] = {0x1f, 0x8b};
    nb_rng r;
    nb_rng_seed(&r, 3);
    for (size_t i = 2; i < sizeof g; i++) g[i] = (unsigned char)nb_rng_u64(&r);
    IDX_BAD(g, sizeof g, "corrupt gzip data");
}

TEST(data, idx_gzip_bad_crc)
{
    unsigned char buf[64];
    size_t n = t_small_idx(buf), gn;
    unsigned char *gz = t_gzip(buf, n, &gn);
    gz[gn - 8] ^= 0x55; /* the CRC32 in the trailer */
    IDX_BAD(gz, gn, "corrupt gzip data");
    free(gz);
}

TEST(data, idx_gzip_trailing_garbage)
{
    unsigned char buf[64];
    size_t n = t_small_idx(buf), gn;
    unsigned char *gz = t_gzip(buf, n, &gn);
    unsigned char *more = malloc(gn + 5);
    memcpy(more, gz, gn);
    memcpy(more + gn, "junk!", 5);
    IDX_BAD(more, gn + 5, "corrupt gzip data");
    free(gz);
    free(more);
}

TEST(data, idx_huge_dims_overflow)
{
    unsigned char buf[64];
    uint32_t dims[8];
    for (int i = 0; i < 8; i++) dims[i] = 0xFFFFFFFFu;
    size_t n = t_idx_bytes(buf, 0x08, 8, dims, NULL, 0);
    IDX_BAD(buf, n, "overflow");
    n = t_idx_bytes(buf, 0x0E, 3, (uint32_t[]){0x7FFFFFFF, 0x7FFFFFFF, 0x7FFFFFFF}, NULL, 0);
    IDX_BAD(buf, n, "overflow");
}

TEST(data, idx_huge_dims_over_limit)
{
    /* A 16-byte file claiming 10^10 bytes fails on the limit, allocating nothing big. */
    unsigned char buf[64];
    size_t n = t_idx_bytes(buf, 0x08, 3, (uint32_t[]){100000, 1000, 100}, NULL, 0);
    IDX_BAD(buf, n, "more than the limit of 1073741824 bytes");
    IDX_BAD_GZ(buf, n, "more than the limit");
}

TEST(data, idx_gzip_bomb)
{
    /* A header that says 16 bytes, then 8 MiB of zeros: under a 1 MiB cap the
     * reader stops counting at the cap instead of inflating everything. */
    size_t big = (size_t)8 << 20, gn;
    unsigned char *raw = calloc(big, 1);
    t_idx_bytes(raw, 0x08, 1, (uint32_t[]){16}, NULL, 0);
    unsigned char *gz = t_gzip(raw, big, &gn);
    CHECK(gz && gn < big / 100);
    nb_idx_opts o = {.max_bytes = (size_t)1 << 20};
    IDX_BAD_OPTS(gz, gn, "decompresses to more than 1048576 (the limit)", &o);
    /* And a header that claims more than the cap. */
    t_idx_bytes(raw, 0x08, 1, (uint32_t[]){2 << 20}, NULL, 0);
    free(gz);
    gz = t_gzip(raw, big, &gn);
    IDX_BAD_OPTS(gz, gn, "more than the limit of 1048576", &o);
    free(gz);
    free(raw);
}

TEST(data, idx_float_nan_rejected)
{
    const unsigned char nanbe[8] = {0x3f, 0x80, 0, 0, 0x7f, 0xc0, 0, 0};
    unsigned char buf[64];
    size_t n = t_idx_bytes(buf, 0x0D, 1, (uint32_t[]){2}, nanbe, 8);
    IDX_BAD(buf, n, "element 1 is NaN");
    const unsigned char infbe[8] = {0x7f, 0xf0, 0, 0, 0, 0, 0, 0};
    n = t_idx_bytes(buf, 0x0E, 1, (uint32_t[]){1}, infbe, 8);
    IDX_BAD(buf, n, "element 0 is Inf");
}

TEST(data, idx_missing_file_and_directory)
{
    CHECK(nb_idx_read("/nonexistent/nabla/x.idx", NULL) == NULL);
    CHECK(t_has("/nonexistent/nabla/x.idx") && t_has("cannot open"));
    CHECK(nb_idx_read("/tmp", NULL) == NULL);
    CHECK(t_has("not a regular file"));
}

TEST(data, idx_write_rejects_bad_struct)
{
    uint8_t px[4] = {0};
    char p[64];
    t_tmp(p);
    nb_idx w = {.type = NB_IDX_U8, .ndim = 1, .dims = {4}, .count = 3, .data = px};
    CHECK(nb_idx_write(p, &w, 0) == -1);
    w.count = 4;
    w.type = (nb_idx_type)0x0A;
    CHECK(nb_idx_write(p, &w, 0) == -1);
    w.type = NB_IDX_U8;
    w.ndim = 0;
    CHECK(nb_idx_write(p, &w, 0) == -1);
    remove(p);
}

/* --------------------------------------------------------------- datasets */
static nb_idx t_idx_u8(int ndim, const size_t *dims, void *data)
{
    nb_idx x = {.type = NB_IDX_U8, .ndim = ndim, .data = data, .count = 1};
    for (int i = 0; i < ndim; i++) {
        x.dims[i] = dims[i];
        x.count *= dims[i];
    }
    return x;
}

TEST(data, dataset_from_idx)
{
    uint8_t px[4 * 2 * 3], lb[4] = {0, 2, 1, 2};
    for (int i = 0; i < 24; i++) px[i] = (uint8_t)i;
    nb_idx im = t_idx_u8(3, (size_t[]){4, 2, 3}, px), la = t_idx_u8(1, (size_t[]){4}, lb);
    nb_dataset *ds = nb_dataset_from_idx(&im, &la, 0, "dir/im.idx", "la.idx");
    CHECK_OK(ds);
    if (ds) {
        CHECK(ds->kind == NB_DATA_U8 && ds->n == 4 && ds->d == 6 && ds->n_classes == 3);
        CHECK(ds->ndim == 2 && ds->shape[0] == 2 && ds->shape[1] == 3);
        CHECK(ds->x8[23] == 23 && ds->y[1] == 2);
        CHECK(strcmp(ds->name, "im.idx") == 0);
        CHECK(nb_dataset_validate(ds) == 0);
    }
    nb_dataset_free(ds);
    /* float images give a float dataset */
    float fx[4] = {0.5f, -1, 2, 3};
    nb_idx fim = {.type = NB_IDX_F32, .ndim = 1, .dims = {4}, .count = 4, .data = fx};
    ds = nb_dataset_from_idx(&fim, &la, 5, NULL, NULL);
    CHECK_OK(ds);
    if (ds) CHECK(ds->kind == NB_DATA_F64 && ds->d == 1 && ds->xf[1] == -1 && ds->n_classes == 5);
    nb_dataset_free(ds);
}

TEST(data, dataset_labels_out_of_range)
{
    uint8_t px[3] = {0}, lb[3] = {0, 5, 1};
    nb_idx im = t_idx_u8(1, (size_t[]){3}, px), la = t_idx_u8(1, (size_t[]){3}, lb);
    CHECK(nb_dataset_from_idx(&im, &la, 3, "im", "la") == NULL);
    CHECK(t_has("la: label 5 of sample 1 is outside [0, 3)"));
    int8_t neg[3] = {0, -1, 1};
    nb_idx ln = {.type = NB_IDX_I8, .ndim = 1, .dims = {3}, .count = 3, .data = neg};
    CHECK(nb_dataset_from_idx(&im, &ln, 0, "im", "la") == NULL);
    CHECK(t_has("negative"));
    /* and the validator catches it on a hand-filled dataset */
    nb_dataset *ds = nb_dataset_new(NB_DATA_U8, 2, 1, (size_t[]){1}, 2);
    CHECK_OK(ds);
    ds->y[1] = 2;
    CHECK(nb_dataset_validate(ds) == -1 && t_has("outside [0, 2)"));
    nb_dataset_free(ds);
}

TEST(data, dataset_count_mismatch)
{
    uint8_t px[6] = {0}, lb[2] = {0, 1};
    nb_idx im = t_idx_u8(2, (size_t[]){3, 2}, px), la = t_idx_u8(1, (size_t[]){2}, lb);
    CHECK(nb_dataset_from_idx(&im, &la, 0, "imgs", "labs") == NULL);
    CHECK(t_has("imgs has 3 images but labs has 2 labels"));
}

TEST(data, dataset_label_file_shape_and_type)
{
    uint8_t px[4] = {0}, lb[4] = {0};
    nb_idx im = t_idx_u8(1, (size_t[]){4}, px), la2 = t_idx_u8(2, (size_t[]){2, 2}, lb);
    CHECK(nb_dataset_from_idx(&im, &la2, 0, "im", "la") == NULL && t_has("1-D"));
    float fl[4] = {0};
    nb_idx lf = {.type = NB_IDX_F32, .ndim = 1, .dims = {4}, .count = 4, .data = fl};
    CHECK(nb_dataset_from_idx(&im, &lf, 0, "im", "la") == NULL && t_has("integers"));
}

TEST(data, dataset_load_idx_files)
{
    uint8_t px[5 * 4], lb[5] = {4, 3, 2, 1, 0};
    for (int i = 0; i < 20; i++) px[i] = (uint8_t)(i * 10);
    nb_idx im = t_idx_u8(3, (size_t[]){5, 2, 2}, px), la = t_idx_u8(1, (size_t[]){5}, lb);
    char pi[64], pl[64];
    t_tmp(pi);
    t_tmp(pl);
    CHECK_OK(nb_idx_write(pi, &im, 1) == 0);
    CHECK_OK(nb_idx_write(pl, &la, 0) == 0);
    nb_dataset *ds = nb_dataset_load_idx(pi, pl, 0, NULL);
    CHECK_OK(ds);
    if (ds) CHECK(ds->n == 5 && ds->d == 4 && ds->n_classes == 5 && ds->x8[19] == 190 && ds->y[0] == 4);
    nb_dataset_free(ds);
    /* a label file that is not IDX: the message names it */
    t_write_str(pl, "hello world");
    CHECK(nb_dataset_load_idx(pi, pl, 0, NULL) == NULL && t_has(pl) && t_has("bad magic"));
    remove(pi);
    remove(pl);
}

/* n samples, d = 3: x = {i & 255, i >> 8, 7}, y = i % 5 — the index is recoverable. */
static nb_dataset *t_indexed(size_t n)
{
    nb_dataset *ds = nb_dataset_new(NB_DATA_U8, n, 1, (size_t[]){3}, 5);
    if (!ds) return NULL;
    for (size_t i = 0; i < n; i++) {
        ds->x8[3 * i] = (uint8_t)(i & 255);
        ds->x8[3 * i + 1] = (uint8_t)(i >> 8);
        ds->x8[3 * i + 2] = 7;
        ds->y[i] = (int32_t)(i % 5);
    }
    snprintf(ds->name, sizeof ds->name, "indexed");
    return ds;
}

TEST(data, split_tail_and_seeded)
{
    nb_dataset *ds = t_indexed(100), *tr, *va;
    CHECK_OK(nb_dataset_split(ds, 20, 0, 0, &tr, &va) == 0);
    if (tr && va) {
        CHECK(tr->n == 80 && va->n == 20);
        CHECK(tr->x8[3 * 79] == 79 && va->x8[0] == 80 && va->y[0] == 0);
        CHECK(strcmp(va->name, "indexed/val") == 0);
    }
    nb_dataset_free(tr);
    nb_dataset_free(va);
    /* seeded: disjoint, covering, ordered, reproducible, seed-dependent */
    nb_dataset *tr2, *va2, *tr3, *va3;
    CHECK_OK(nb_dataset_split(ds, 30, 1, 42, &tr, &va) == 0);
    CHECK_OK(nb_dataset_split(ds, 30, 1, 42, &tr2, &va2) == 0);
    CHECK_OK(nb_dataset_split(ds, 30, 1, 43, &tr3, &va3) == 0);
    if (tr && va && tr2 && va2 && tr3 && va3) {
        int seen[100] = {0}, tail = 1, prev = -1, sorted = 1;
        for (size_t i = 0; i < va->n; i++) {
            int k = va->x8[3 * i];
            seen[k]++;
            if (k < 70) tail = 0;
            if (k <= prev) sorted = 0;
            prev = k;
        }
        for (size_t i = 0; i < tr->n; i++) seen[tr->x8[3 * i]]++;
        for (int k = 0; k < 100; k++) CHECK(seen[k] == 1);
        CHECK(!tail && sorted);
        CHECK(memcmp(va->x8, va2->x8, 90) == 0);
        CHECK(memcmp(va->x8, va3->x8, 90) != 0);
    }
    nb_dataset_free(tr);
    nb_dataset_free(va);
    nb_dataset_free(tr2);
    nb_dataset_free(va2);
    nb_dataset_free(tr3);
    nb_dataset_free(va3);
    CHECK(nb_dataset_split(ds, 0, 0, 0, &tr, &va) == -1 && !tr && !va);
    CHECK(nb_dataset_split(ds, 100, 0, 0, &tr, &va) == -1);
    nb_dataset_free(ds);
}

TEST(data, subset_rejects_bad_rows)
{
    nb_dataset *ds = t_indexed(10);
    nb_dataset *s = nb_dataset_subset(ds, (size_t[]){9, 0, 9}, 3);
    CHECK_OK(s);
    if (s) CHECK(s->n == 3 && s->x8[0] == 9 && s->x8[3] == 0 && s->y[2] == 4);
    nb_dataset_free(s);
    CHECK(nb_dataset_subset(ds, (size_t[]){10}, 1) == NULL && t_has("past the 10 samples"));
    nb_dataset_free(ds);
}

TEST(data, gather_normalisation_values)
{
    nb_dataset *ds = nb_dataset_new(NB_DATA_U8, 1, 1, (size_t[]){3}, 1);
    ds->x8[0] = 0;
    ds->x8[1] = 51;
    ds->x8[2] = 255;
    float f[3];
    double d[3];
    size_t row = 0;
    CHECK_OK(nb_dataset_gather(ds, &row, 1, 0, 0.2860, 0.3530, NB_F32, f, NULL) == 0);
    CHECK_OK(nb_dataset_gather(ds, &row, 1, 0, 0.2860, 0.3530, NB_F64, d, NULL) == 0);
    const double want[3] = {(0 - 0.2860) / 0.3530, (0.2 - 0.2860) / 0.3530, (1 - 0.2860) / 0.3530};
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(d[i], want[i], 1e-15);
        CHECK(f[i] == (float)d[i]);
    }
    /* raw [0,1] and a custom scale */
    CHECK_OK(nb_dataset_gather(ds, &row, 1, 0, 0, 1, NB_F64, d, NULL) == 0);
    CHECK(d[0] == 0 && d[1] == 0.2 && d[2] == 1);
    CHECK_OK(nb_dataset_gather(ds, &row, 1, 1, 0, 1, NB_F64, d, NULL) == 0);
    CHECK(d[1] == 51 && d[2] == 255);
    CHECK(nb_dataset_gather(ds, &row, 1, 0, 0, 0, NB_F64, d, NULL) == -1);
    CHECK(nb_dataset_gather(ds, &row, 1, 0, 0, 1, NB_I32, d, NULL) == -1);
    nb_dataset_free(ds);
    /* float data: scale 1 */
    ds = nb_dataset_new(NB_DATA_F64, 1, 1, (size_t[]){2}, 1);
    ds->xf[0] = 3;
    ds->xf[1] = -1;
    CHECK_OK(nb_dataset_gather(ds, &row, 1, 0, 1, 2, NB_F32, f, NULL) == 0);
    CHECK(f[0] == 1.0f && f[1] == -1.0f);
    nb_dataset_free(ds);
}

TEST(data, stats_small_u8_and_float)
{
    nb_dataset *ds = nb_dataset_new(NB_DATA_U8, 4, 1, (size_t[]){2}, 3);
    const uint8_t px[8] = {0, 10, 255, 10, 0, 10, 255, 10};
    memcpy(ds->x8, px, 8);
    ds->y[0] = 0;
    ds->y[1] = 0;
    ds->y[2] = 2;
    ds->y[3] = 0;
    nb_data_stats *s = nb_dataset_stats(ds);
    CHECK_OK(s);
    if (s) {
        double m = (510 + 40) / 8.0, var = 0;
        for (int i = 0; i < 8; i++) var += (px[i] - m) * (px[i] - m);
        CHECK_NEAR(s->mean, m / 255, 1e-14);
        CHECK_NEAR(s->std, sqrt(var / 8) / 255, 1e-13);
        CHECK(s->min == 0 && s->max == 1);
        CHECK_NEAR(s->feat_mean[0], 0.5, 1e-15);
        CHECK_NEAR(s->feat_std[0], 0.5, 1e-15);
        CHECK(s->feat_std[1] == 0 && s->n_constant == 1);
        CHECK(s->class_count[0] == 3 && s->class_count[1] == 0 && s->class_count[2] == 1);
        CHECK(s->n_empty_classes == 1 && s->min_class_count == 0 && s->max_class_count == 3);
    }
    nb_data_stats_free(s);
    nb_dataset_free(ds);
    ds = nb_dataset_new(NB_DATA_F64, 3, 1, (size_t[]){2}, 1);
    const double v[6] = {1, -2, 3, -2, 5, 4};
    memcpy(ds->xf, v, sizeof v);
    s = nb_dataset_stats(ds);
    CHECK_OK(s);
    if (s) {
        double m = 9.0 / 6, var = 0;
        for (int i = 0; i < 6; i++) var += (v[i] - m) * (v[i] - m);
        CHECK_NEAR(s->mean, m, 1e-15);
        CHECK_NEAR(s->std, sqrt(var / 6), 1e-14);
        CHECK(s->min == -2 && s->max == 5 && s->feat_min[1] == -2 && s->feat_max[1] == 4);
        CHECK_NEAR(s->feat_mean[0], 3, 1e-15);
        CHECK_NEAR(s->feat_std[0], sqrt(8.0 / 3), 1e-14);
        CHECK(s->n_constant == 0 && s->class_count[0] == 3);
    }
    nb_data_stats_free(s);
    nb_dataset_free(ds);
}

/* -------------------------------------------------------------------- CSV */
static nb_dataset *t_csv(const char *text, const nb_csv_opts *o, char path[64])
{
    t_tmp(path);
    t_write_str(path, text);
    nb_clear_error();
    nb_dataset *ds = nb_csv_load(path, o);
    return ds;
}

/* The CSV text must be rejected with `sub` and "path:line" in the message. */
static void t_csv_bad(const char *file, int line, const char *text, const nb_csv_opts *o, int at_line, const char *sub)
{
    char p[64], where[96];
    nb_dataset *ds = t_csv(text, o, p);
    if (at_line) snprintf(where, sizeof where, "%s:%d: ", p, at_line);
    else snprintf(where, sizeof where, "%s", p);
    if (ds) t_fail(file, line, "nb_csv_load accepted bad CSV (%s)", sub);
    else if (!t_has(sub) || !t_has(where))
        t_fail(file, line, "message \"%s\" lacks \"%s\" or \"%s\"", nb_errmsg(), sub, where);
    nb_dataset_free(ds);
    remove(p);
}
#define CSV_BAD(text, o, at_line, sub) t_csv_bad(__FILE__, __LINE__, text, o, at_line, sub)

TEST(data, csv_header_and_label_by_name)
{
    char p[64];
    nb_csv_opts o = {.label_name = "class"};
    nb_dataset *ds = t_csv("a, \"class\" ,b\r\n1.5,2,-3\r\n\r\n4,0,6e2\n", &o, p);
    CHECK_OK(ds);
    if (ds) {
        CHECK(ds->kind == NB_DATA_F64 && ds->n == 2 && ds->d == 2 && ds->n_classes == 3);
        CHECK(ds->xf[0] == 1.5 && ds->xf[1] == -3 && ds->xf[3] == 600);
        CHECK(ds->y[0] == 2 && ds->y[1] == 0);
        CHECK(ds->mean == 0 && ds->std == 1);
    }
    nb_dataset_free(ds);
    remove(p);
    o.label_name = "nope";
    CSV_BAD("a,b\n1,2\n", &o, 1, "no column named \"nope\"");
    CSV_BAD("1,2\n1,2\n", &o, 0, "has no header");
}

TEST(data, csv_no_header_label_index)
{
    char p[64];
    nb_dataset *ds = t_csv("0.5,1,3\n0.25,2,1\n", &(nb_csv_opts){.label_col = -1}, p);
    CHECK_OK(ds);
    if (ds) CHECK(ds->n == 2 && ds->d == 2 && ds->y[0] == 3 && ds->y[1] == 1 && ds->xf[2] == 0.25);
    nb_dataset_free(ds);
    remove(p);
    ds = t_csv("1,9\n0,8\n", NULL, p); /* defaults: label first, no header detected */
    CHECK_OK(ds);
    if (ds) CHECK(ds->n == 2 && ds->y[0] == 1 && ds->xf[0] == 9 && ds->n_classes == 2);
    nb_dataset_free(ds);
    remove(p);
    /* header forced off: a non-number on line 1 is then an error */
    CSV_BAD("x,y\n1,2\n", &(nb_csv_opts){.header = NB_CSV_HEADER_NO}, 1, "is not a number");
    CSV_BAD("1,2\n", &(nb_csv_opts){.label_col = 2}, 1, "label column 2 does not exist");
}

TEST(data, csv_ragged)
{
    CSV_BAD("l,a,b\n0,1,2\n1,2\n", NULL, 3, "2 fields but the header has 3 (ragged row)");
    CSV_BAD("0,1,2\n1,2,3,4\n", NULL, 2, "4 fields but the first row has 3");
}

TEST(data, csv_nan_inf)
{
    CSV_BAD("0,1\n1,nan\n", NULL, 2, "NaN and Inf are not accepted");
    CSV_BAD("0,1\n1,-inf\n", NULL, 2, "NaN and Inf are not accepted");
    CSV_BAD("0,1\n1,1e999\n", NULL, 2, "NaN and Inf are not accepted");
}

TEST(data, csv_non_number_and_empty_field)
{
    CSV_BAD("0,1\n1,abc\n", NULL, 2, "column 2: \"abc\" is not a number");
    CSV_BAD("0,1\n1,2x\n", NULL, 2, "\"2x\" is not a number");
    CSV_BAD("0,1,2\n1,,3\n", NULL, 2, "column 2: empty field is not a number");
    CSV_BAD("0,1\n1.5,2\n", NULL, 2, "label 1.5 is not a class index");
    CSV_BAD("0,1\n-1,2\n", NULL, 2, "label -1 is not a class index");
    CSV_BAD("0,1\n3,2\n", &(nb_csv_opts){.n_classes = 3}, 2, "label 3 is outside [0, 3)");
}

TEST(data, csv_empty_and_header_only)
{
    CSV_BAD("", NULL, 0, "empty file");
    CSV_BAD("\n\n  \n", NULL, 0, "empty file");
    CSV_BAD("label,x\n", NULL, 0, "header (line 1) but no data rows");
    CSV_BAD("label,x\n\n", NULL, 0, "but no data rows");
}

TEST(data, csv_mixed_first_line_and_one_column)
{
    CSV_BAD("label,3\n1,2\n", NULL, 1, "mixes numbers and non-numbers");
    CSV_BAD("1\n2\n", NULL, 1, "1 column; need a label and at least one feature");
}

TEST(data, csv_long_line_and_nul)
{
    char *text = malloc(5000);
    memset(text, '1', 4999);
    text[0] = '0';
    text[1] = ',';
    text[4999] = '\0';
    CSV_BAD(text, &(nb_csv_opts){.max_line = 4096}, 1, "line longer than 4096 bytes");
    free(text);
    char p[64];
    t_tmp(p);
    t_write(p, "0,1\n1,\0\n", 8);
    CHECK(nb_csv_load(p, NULL) == NULL && t_has("NUL byte") && t_has(":2:"));
    remove(p);
}

TEST(data, csv_delimiter_option)
{
    char p[64];
    nb_dataset *ds = t_csv("y;x1;x2\n1;0.5;2\n", &(nb_csv_opts){.delim = ';'}, p);
    CHECK_OK(ds);
    if (ds) CHECK(ds->n == 1 && ds->d == 2 && ds->xf[1] == 2);
    nb_dataset_free(ds);
    remove(p);
    CHECK(nb_csv_load("/nonexistent/nabla.csv", NULL) == NULL && t_has("cannot open"));
}

/* ----------------------------------------------------------------- loader */
/* Run one epoch; write the rows in order into rows[] and return the count. */
static size_t t_epoch(nb_loader *L, size_t *rows, size_t *n_batches)
{
    size_t bs = 64;
    double x[64 * 3];
    int32_t y[64];
    size_t idx[64], k = 0;
    nb_batch b = {.x = x, .dtype = NB_F64, .y = y, .index = idx};
    *n_batches = 0;
    int rc;
    while ((rc = nb_loader_next(L, &b)) == 1) {
        (*n_batches)++;
        for (size_t i = 0; i < b.n && i < bs; i++) {
            size_t from_x = (size_t)x[3 * i] + 256 * (size_t)x[3 * i + 1];
            if (from_x != idx[i] || y[i] != (int32_t)(idx[i] % 5) || x[3 * i + 2] != 7) {
                t_fail(__FILE__, __LINE__, "batch row %zu does not match dataset row %zu", i, idx[i]);
                return 0;
            }
            rows[k++] = idx[i];
        }
    }
    CHECK(rc == 0);
    return k;
}

static nb_loader_opts t_raw_opts(size_t bs, int shuffle, int drop_last, uint64_t seed)
{
    /* scale 1, mean 0, std 1: the features come out as the raw bytes */
    return (nb_loader_opts){
        .batch_size = bs, .shuffle = shuffle, .drop_last = drop_last, .seed = seed, .scale = 1, .mean = 0, .std = 1};
}

TEST(data, loader_every_sample_once_per_epoch)
{
    nb_dataset *ds = t_indexed(300);
    nb_loader_opts o = t_raw_opts(64, 1, 0, 5);
    nb_loader *L = nb_loader_new(ds, &o);
    CHECK_OK(L);
    CHECK(nb_loader_batches_per_epoch(L) == 5);
    size_t rows[300], nb;
    for (int e = 0; e < 3; e++) {
        size_t k = t_epoch(L, rows, &nb);
        CHECK(k == 300 && nb == 5);
        int seen[300] = {0};
        for (size_t i = 0; i < k; i++) seen[rows[i]]++;
        for (int i = 0; i < 300; i++) CHECK(seen[i] == 1);
        CHECK(nb_loader_epoch(L) == (uint64_t)e + 1);
    }
    nb_loader_free(L);
    nb_dataset_free(ds);
}

TEST(data, loader_same_seed_same_batches_epochs_differ)
{
    nb_dataset *ds = t_indexed(200);
    nb_loader_opts o = t_raw_opts(64, 1, 0, 11);
    nb_loader *A = nb_loader_new(ds, &o), *B = nb_loader_new(ds, &o);
    o.seed = 12;
    nb_loader *C = nb_loader_new(ds, &o);
    size_t a0[200], a1[200], b0[200], b1[200], c0[200], nb;
    t_epoch(A, a0, &nb);
    t_epoch(A, a1, &nb);
    t_epoch(B, b0, &nb);
    t_epoch(B, b1, &nb);
    t_epoch(C, c0, &nb);
    CHECK(memcmp(a0, b0, sizeof a0) == 0 && memcmp(a1, b1, sizeof a1) == 0);
    CHECK(memcmp(a0, a1, sizeof a0) != 0);
    CHECK(memcmp(a0, c0, sizeof a0) != 0);
    size_t ident = 0;
    for (size_t i = 0; i < 200; i++) ident += a0[i] == i;
    CHECK(ident < 20); /* actually shuffled */
    nb_loader_free(A);
    nb_loader_free(B);
    nb_loader_free(C);
    nb_dataset_free(ds);
}

TEST(data, loader_no_shuffle_in_order_partial_last)
{
    nb_dataset *ds = t_indexed(130);
    nb_loader_opts o = t_raw_opts(64, 0, 0, 0);
    nb_loader *L = nb_loader_new(ds, &o);
    size_t rows[130], nb;
    CHECK(t_epoch(L, rows, &nb) == 130 && nb == 3);
    for (size_t i = 0; i < 130; i++) CHECK(rows[i] == i);
    nb_loader_free(L);
    nb_dataset_free(ds);
}

TEST(data, loader_drop_last)
{
    nb_dataset *ds = t_indexed(130);
    nb_loader_opts o = t_raw_opts(64, 1, 1, 2);
    nb_loader *L = nb_loader_new(ds, &o);
    CHECK(nb_loader_batches_per_epoch(L) == 2);
    size_t rows[130], nb;
    int hit_all = 1;
    int seen[130] = {0};
    for (int e = 0; e < 4; e++) {
        CHECK(t_epoch(L, rows, &nb) == 128 && nb == 2);
        for (size_t i = 0; i < 128; i++) seen[rows[i]]++;
    }
    for (int i = 0; i < 130; i++) hit_all &= seen[i] > 0;
    CHECK(hit_all); /* the dropped tail differs by epoch */
    nb_loader_free(L);
    o.batch_size = 131;
    CHECK(nb_loader_new(ds, &o) == NULL && t_has("gives no batches"));
    nb_dataset_free(ds);
}

TEST(data, loader_state_save_restore)
{
    nb_dataset *ds = t_indexed(150);
    nb_loader_opts o = t_raw_opts(32, 1, 0, 99);
    nb_loader *A = nb_loader_new(ds, &o);
    double x[32 * 3];
    int32_t y[32];
    size_t ia[32], ib[32];
    nb_batch b = {.x = x, .dtype = NB_F64, .y = y, .index = ia};
    /* An epoch is 5 batches then a 0; go one batch into the second epoch and save. */
    for (int i = 0; i < 5 + 1 + 1; i++) nb_loader_next(A, &b);
    nb_loader_state st;
    nb_loader_get_state(A, &st);
    CHECK(st.n == 150 && st.epoch == 1 && st.pos == 32);
    /* A fresh loader with another seed, restored, continues identically for 3 epochs. */
    o.seed = 1234;
    nb_loader *B = nb_loader_new(ds, &o);
    CHECK_OK(nb_loader_set_state(B, &st) == 0);
    nb_batch bb = {.x = NULL, .dtype = NB_F64, .y = NULL, .index = ib};
    for (int k = 0; k < 20; k++) {
        int ra = nb_loader_next(A, &b), rb = nb_loader_next(B, &bb);
        CHECK(ra == rb && b.n == bb.n);
        if (ra == 1) CHECK(memcmp(ia, ib, b.n * sizeof ia[0]) == 0);
    }
    CHECK(nb_loader_epoch(A) == nb_loader_epoch(B) && nb_loader_epoch(A) >= 3);
    /* A state saved at an epoch boundary restores too. */
    while (nb_loader_next(A, &b) == 1) {
    }
    nb_loader_get_state(A, &st);
    CHECK(st.pos == 0);
    CHECK_OK(nb_loader_set_state(B, &st) == 0);
    for (int k = 0; k < 12; k++) {
        int ra = nb_loader_next(A, &b), rb = nb_loader_next(B, &bb);
        CHECK(ra == rb && b.n == bb.n);
        if (ra == 1) CHECK(memcmp(ia, ib, b.n * sizeof ia[0]) == 0);
    }
    nb_loader_state bad = st;
    bad.n = 151;
    CHECK(nb_loader_set_state(B, &bad) == -1 && t_has("151"));
    bad = st;
    bad.pos = 151;
    CHECK(nb_loader_set_state(B, &bad) == -1);
    memset(bad.rng, 0, sizeof bad.rng);
    bad.pos = 0;
    CHECK(nb_loader_set_state(B, &bad) == -1 && t_has("all-zero"));
    nb_loader_free(A);
    nb_loader_free(B);
    nb_dataset_free(ds);
}

TEST(data, loader_normalisation_default_and_custom)
{
    nb_dataset *ds = nb_dataset_new(NB_DATA_U8, 2, 2, (size_t[]){1, 2}, 2);
    ds->x8[0] = 0;
    ds->x8[1] = 255;
    ds->x8[2] = 51;
    ds->x8[3] = 102;
    ds->y[1] = 1;
    ds->mean = NB_FASHION_MNIST_MEAN;
    ds->std = NB_FASHION_MNIST_STD;
    nb_loader *L = nb_loader_new(ds, &(nb_loader_opts){.batch_size = 2});
    float x[4];
    int32_t y[2];
    nb_batch b = {.x = x, .dtype = NB_F32, .y = y};
    CHECK(nb_loader_next(L, &b) == 1 && b.n == 2);
    CHECK(x[0] == (float)((0 - 0.2860) / 0.3530) && x[1] == (float)((1 - 0.2860) / 0.3530));
    CHECK(x[2] == (float)((0.2 - 0.2860) / 0.3530) && y[0] == 0 && y[1] == 1);
    CHECK(nb_loader_next(L, &b) == 0 && b.n == 0);
    b.dtype = NB_I32;
    CHECK(nb_loader_next(L, &b) == -1);
    nb_loader_free(L);
    L = nb_loader_new(ds, &(nb_loader_opts){.batch_size = 2, .mean = 0.5, .std = 0.5});
    b.dtype = NB_F32;
    CHECK(nb_loader_next(L, &b) == 1);
    CHECK(x[0] == -1.0f && x[1] == 1.0f);
    nb_loader_free(L);
    CHECK(nb_loader_new(ds, &(nb_loader_opts){.batch_size = 0}) == NULL && t_has("batch_size is 0"));
    CHECK(nb_loader_new(ds, &(nb_loader_opts){.batch_size = 1, .std = -1}) == NULL);
    nb_dataset_free(ds);
}

/* ---------------------------------------------------------- Fashion-MNIST */
TEST(data, fashion_find_missing_says_how)
{
    char out[256];
    CHECK(nb_fashion_mnist_find("/nonexistent/nabla-data", out, sizeof out) == -1);
    CHECK(t_has("apt-get install dataset-fashion-mnist (as root)"));
    CHECK(t_has("--data DIR holding train-images-idx3-ubyte.gz"));
    CHECK(t_has("/nonexistent/nabla-data"));
    CHECK(strlen(nb_errmsg()) < 500); /* not cut by the message buffer */
}

TEST(data, fashion_find_dir_and_env)
{
    char dir[64] = "/tmp/nabla_fm_XXXXXX", sub[128], p[256];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(sub, sizeof sub, "%s/fashion-mnist", dir);
    CHECK(mkdir(sub, 0700) == 0);
    uint8_t px[2 * 28 * 28] = {0}, lb[2] = {3, 9};
    nb_idx im = t_idx_u8(3, (size_t[]){2, 28, 28}, px), la = t_idx_u8(1, (size_t[]){2}, lb);
    const char *names[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                            "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, names[i]);
        CHECK_OK(nb_idx_write(p, i % 2 ? &la : &im, strstr(names[i], ".gz") != NULL) == 0);
    }
    char out[256];
    CHECK_OK(nb_fashion_mnist_find(dir, out, sizeof out) == 0); /* DIR/fashion-mnist */
    CHECK(strcmp(out, sub) == 0);
    CHECK_OK(nb_fashion_mnist_find(sub, out, sizeof out) == 0);
    const char *old = getenv("NABLA_DATA");
    char saved[512] = "";
    if (old) snprintf(saved, sizeof saved, "%s", old);
    setenv("NABLA_DATA", sub, 1);
    CHECK_OK(nb_fashion_mnist_find(NULL, out, sizeof out) == 0);
    CHECK(strcmp(out, sub) == 0);
    nb_dataset *tr, *te;
    CHECK_OK(nb_fashion_mnist_load(NULL, &tr, &te) == 0);
    if (tr && te) {
        CHECK(tr->n == 2 && tr->d == 784 && tr->n_classes == 10 && tr->y[1] == 9);
        CHECK(tr->mean == NB_FASHION_MNIST_MEAN && tr->std == NB_FASHION_MNIST_STD);
        CHECK(strcmp(tr->name, "fashion-mnist train") == 0);
    }
    nb_dataset_free(tr);
    nb_dataset_free(te);
    setenv("NABLA_DATA", "/nonexistent/nabla-env", 1);
    CHECK(nb_fashion_mnist_find(NULL, out, sizeof out) == -1 && t_has("NABLA_DATA=/nonexistent/nabla-env"));
    if (old) setenv("NABLA_DATA", saved, 1);
    else unsetenv("NABLA_DATA");
    /* a label outside 0..9 is caught */
    lb[0] = 10;
    snprintf(p, sizeof p, "%s/%s", sub, names[3]);
    CHECK_OK(nb_idx_write(p, &la, 0) == 0);
    CHECK(nb_fashion_mnist_load(sub, NULL, &te) == -1 && te == NULL && t_has("outside [0, 10)"));
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", sub, names[i]);
        remove(p);
    }
    rmdir(sub);
    rmdir(dir);
    CHECK(strcmp(nb_fashion_mnist_class_name(9), "Ankle boot") == 0);
    CHECK(strcmp(nb_fashion_mnist_class_name(10), "?") == 0);
}

TEST(data, fashion_mnist_real)
{
    char dir[4096];
    if (nb_fashion_mnist_find(NULL, dir, sizeof dir) != 0) {
        T_SKIP("real Fashion-MNIST not found: %s", nb_errmsg());
        return;
    }
    nb_dataset *tr, *te;
    CHECK_OK(nb_fashion_mnist_load(NULL, &tr, &te) == 0);
    if (!tr || !te) return;
    CHECK(tr->n == 60000 && te->n == 10000);
    CHECK(tr->d == 784 && te->d == 784 && tr->n_classes == 10 && te->n_classes == 10);
    nb_data_stats *s = nb_dataset_stats(tr), *st = nb_dataset_stats(te);
    CHECK_OK(s && st);
    if (s && st) {
        for (int c = 0; c < 10; c++) CHECK(s->class_count[c] == 6000 && st->class_count[c] == 1000);
        printf("  note: train pixel mean %.6f std %.6f (in [0,1]); test mean %.6f std %.6f\n", s->mean, s->std,
               st->mean, st->std);
        CHECK(fabs(s->mean - NB_FASHION_MNIST_MEAN) < 5e-5);
        CHECK(fabs(s->std - NB_FASHION_MNIST_STD) < 5e-5);
        CHECK(s->min == 0 && s->max == 1);
    }
    /* The normalised training pixels have mean ~0 and std ~1 through the loader. */
    nb_loader *L = nb_loader_new(tr, &(nb_loader_opts){.batch_size = 1000, .shuffle = 1, .seed = 1});
    static float xb[1000 * 784];
    nb_batch b = {.x = xb, .dtype = NB_F32};
    double sum = 0, sq = 0, cnt = 0;
    while (nb_loader_next(L, &b) == 1)
        for (size_t i = 0; i < b.n * 784; i++) {
            sum += xb[i];
            sq += (double)xb[i] * xb[i];
            cnt++;
        }
    CHECK(cnt == 60000.0 * 784);
    CHECK(fabs(sum / cnt) < 1e-3);
    CHECK(fabs(sqrt(sq / cnt - (sum / cnt) * (sum / cnt)) - 1) < 1e-3);
    nb_loader_free(L);
    nb_data_stats_free(s);
    nb_data_stats_free(st);
    nb_dataset_free(tr);
    nb_dataset_free(te);
}

static void loader_spin_task(void *p, size_t t)
{
    (void)p, (void)t;
    volatile double x = 0;
    for (int i = 0; i < 5000; i++) x += i;
    (void)x;
}

/* A prefetching loader serves the batches of a plain one, bit for bit and in
 * the same order: across epochs, with a partial last batch or drop_last,
 * in both dtypes, after a change of dtype, and after set_state.  On one
 * thread its own thread gathers; with a pool thread for every CPU, the pool's
 * idle threads do (a pool region between batches lets them). */
TEST(data, loader_prefetch_serves_the_same_batches)
{
    nb_dataset *ds = t_indexed(300);
    CHECK_OK(ds);
    const int saved = nb_get_threads();
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    for (int run = 0; run < 4; run++) {
        const int drop = run & 1;
        CHECK_OK(nb_set_threads(run < 2 ? 1 : cpus < 2 ? 2 : (int)(cpus > 64 ? 64 : cpus)) == 0);
        nb_loader_opts o = {.batch_size = 64, .shuffle = 1, .drop_last = drop, .seed = 9};
        nb_loader *A = nb_loader_new(ds, &o);
        o.prefetch = 1;
        nb_loader *P = nb_loader_new(ds, &o);
        CHECK_OK(A && P);
        double xa[64 * 3], xp[64 * 3];
        int32_t ya[64], yp[64];
        size_t ia[64], ip[64];
        nb_loader_state mid = {0};
        for (int call = 0; call < 40; call++) {
            const nb_dtype dt = call % 13 == 12 ? NB_F64 : NB_F32; /* now and then another dtype */
            nb_batch a = {.x = xa, .dtype = dt, .y = ya, .index = ia}, p = {.x = xp, .dtype = dt, .y = yp, .index = ip};
            if (call == 17) p.y = NULL, a.y = NULL; /* and a batch without labels */
            memset(xa, 0, sizeof xa);
            memset(xp, 0, sizeof xp);
            const int ra = nb_loader_next(A, &a), rp = nb_loader_next(P, &p);
            CHECK(ra == rp && a.n == p.n);
            CHECK(!memcmp(xa, xp, sizeof xa) && !memcmp(ia, ip, a.n * sizeof ia[0]));
            CHECK(!a.y || !memcmp(ya, yp, a.n * sizeof ya[0]));
            if (call == 7) nb_loader_get_state(A, &mid);
            if (call == 25) { /* both back to where A was at call 7 */
                CHECK_OK(nb_loader_set_state(A, &mid) == 0 && nb_loader_set_state(P, &mid) == 0);
            }
            nb__pool_run(4, loader_spin_task, NULL);
        }
        CHECK(nb_loader_epoch(A) == nb_loader_epoch(P));
        nb_loader_free(A);
        nb_loader_free(P);
    }
    nb_set_threads(saved);
    nb_dataset_free(ds);
}
