/* libFuzzer harness for the IDX reader, nb_idx_parse (build and run with
 * tests/fuzz/run.sh).  The first input byte picks a mode, the rest is the
 * file:
 *   mode & 3 == 0  the bytes as they are (plain IDX, or a raw gzip stream)
 *   mode & 3 == 1  the bytes gzipped by the harness: the gzip path sees
 *                  structured IDX content, not just CRC failures
 *   mode & 3 == 2  gzipped, then cut short or with one byte flipped (where:
 *                  the mode's upper bits)
 *   mode & 3 == 3  gzipped as two concatenated members
 *   mode & 4       a 4 KiB cap on the decompressed size (else 4 MiB)
 * Whatever parses must be self-consistent; whatever fails must say so in a
 * message naming the buffer.  A parsed 1-D integer file is also fed to
 * nb_dataset_from_idx as labels for itself. */
#include "nabla/data.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* gzip in[0..n) onto out (appending at *len); 0 or -1. */
static int fz_gzip(const uint8_t *in, size_t n, uint8_t **out, size_t *len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK) return -1;
    size_t cap = deflateBound(&z, (uLong)n) + 64;
    uint8_t *p = realloc(*out, *len + cap);
    if (!p) {
        deflateEnd(&z);
        return -1;
    }
    *out = p;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = p + *len;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *len += cap - z.avail_out;
    deflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}

static void fz_check(const nb_idx *x)
{
    size_t es = nb_idx_type_size(x->type), count = 1;
    if (!es || x->ndim < 1 || x->ndim > NB_MAX_DIMS) abort();
    for (int i = 0; i < x->ndim; i++) {
        if (x->dims[i] == 0) abort();
        count *= x->dims[i];
    }
    if (count != x->count) abort();
    volatile unsigned char sink = 0;
    const unsigned char *p = x->data;
    for (size_t i = 0; i < count * es; i++) sink ^= p[i];
    (void)sink;
    if (x->type == NB_IDX_F32)
        for (size_t i = 0; i < count; i++)
            if (!(((const float *)x->data)[i] - ((const float *)x->data)[i] == 0)) abort();
    if (x->type == NB_IDX_F64)
        for (size_t i = 0; i < count; i++)
            if (!(((const double *)x->data)[i] - ((const double *)x->data)[i] == 0)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned mode = data[0];
    data++;
    size--;
    nb_idx_opts o = {.max_bytes = (mode & 4) ? 4096 : (size_t)4 << 20};
    uint8_t *buf = NULL;
    size_t len = 0;
    const uint8_t *in = data;
    switch (mode & 3) {
    case 0: len = size; break;
    case 1:
        if (fz_gzip(data, size, &buf, &len)) abort();
        in = buf;
        break;
    case 2:
        if (fz_gzip(data, size, &buf, &len)) abort();
        in = buf;
        if (mode & 8) len = len * (mode >> 4) / 16; /* cut to 0..15/16 */
        else buf[(len - 1) * (mode >> 4) / 15] ^= 0x5a;
        break;
    case 3: {
        size_t half = size * (mode >> 3) / 31;
        if (fz_gzip(data, half, &buf, &len) || fz_gzip(data + half, size - half, &buf, &len)) abort();
        in = buf;
        break;
    }
    }
    nb_idx *x = nb_idx_parse(in, len, "fuzz.idx", &o);
    if (!x) {
        if (strncmp(nb_errmsg(), "fuzz.idx: ", 10) != 0) abort();
    } else {
        fz_check(x);
        if (x->ndim == 1 && x->type != NB_IDX_F32 && x->type != NB_IDX_F64) {
            nb_dataset *ds = nb_dataset_from_idx(x, x, 0, "fuzz.images", "fuzz.labels");
            if (ds && nb_dataset_validate(ds) != 0) abort();
            nb_dataset_free(ds);
        }
        nb_idx_free(x);
    }
    free(buf);
    return 0;
}
