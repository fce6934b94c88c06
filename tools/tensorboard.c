/* TensorBoard event files: TFRecords of hand-encoded Event protobufs.
 *
 *   record:   uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
 *   Event:    1 wall_time (double)  2 step (int64)  3 file_version (string)
 *             5 summary (Summary)   6 session_log (SessionLog)
 *   Summary:  1 value (repeated Value);  Value: 1 tag (string)  2 simple_value (float)
 *   SessionLog: 1 status (enum, START = 1)
 * All little-endian; lengths and integers as base-128 varints. */
#include "tensorboard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct nb_tb {
    FILE *f;
    int failed; /* a write failed: every later call says so */
    char path[1200];
};

uint32_t nb_crc32c(uint32_t crc, const void *data, size_t n)
{
    static uint32_t table[256];
    if (!table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            table[i] = c;
        }
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t nb_crc32c_mask(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xa282ead8u; }

/* A protobuf message under construction, in a fixed buffer. */
typedef struct {
    unsigned char b[512];
    size_t n;
} nb__pb;

static void nb__pb_byte(nb__pb *m, unsigned v)
{
    if (m->n < sizeof m->b) m->b[m->n] = (unsigned char)v;
    m->n++; /* past the end: the caller sees n > sizeof b */
}

static void nb__pb_varint(nb__pb *m, uint64_t v)
{
    while (v >= 0x80) {
        nb__pb_byte(m, (unsigned)(v & 0x7f) | 0x80);
        v >>= 7;
    }
    nb__pb_byte(m, (unsigned)v);
}

static void nb__pb_le(nb__pb *m, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) nb__pb_byte(m, (unsigned)(v >> (8 * i)) & 0xff);
}

/* A length-delimited field (wire type 2). */
static void nb__pb_bytes(nb__pb *m, int field, const void *data, size_t n)
{
    nb__pb_varint(m, (uint64_t)field << 3 | 2);
    nb__pb_varint(m, n);
    for (size_t i = 0; i < n; i++) nb__pb_byte(m, ((const unsigned char *)data)[i]);
}

/* An Event's head: wall_time and step. */
static void nb__pb_event_head(nb__pb *m, int64_t step)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double wall = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    uint64_t bits;
    memcpy(&bits, &wall, sizeof bits);
    nb__pb_varint(m, 1 << 3 | 1);
    nb__pb_le(m, bits, 8);
    nb__pb_varint(m, 2 << 3 | 0);
    nb__pb_varint(m, (uint64_t)step);
}

/* One TFRecord holding m. */
static int nb__tb_record(nb_tb *tb, const nb__pb *m)
{
    if (tb->failed) return -1;
    if (m->n > sizeof m->b) {
        errno = EOVERFLOW;
        return -1;
    }
    unsigned char len[8], crc[4];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)m->n >> (8 * i));
    uint32_t c = nb_crc32c_mask(nb_crc32c(0, len, 8));
    for (int i = 0; i < 4; i++) crc[i] = (unsigned char)(c >> (8 * i));
    int ok = fwrite(len, 1, 8, tb->f) == 8 && fwrite(crc, 1, 4, tb->f) == 4 && fwrite(m->b, 1, m->n, tb->f) == m->n;
    c = nb_crc32c_mask(nb_crc32c(0, m->b, m->n));
    for (int i = 0; i < 4; i++) crc[i] = (unsigned char)(c >> (8 * i));
    ok = ok && fwrite(crc, 1, 4, tb->f) == 4;
    if (!ok) tb->failed = 1;
    return ok ? 0 : -1;
}

nb_tb *nb_tb_open(const char *dir)
{
    nb_tb *tb = calloc(1, sizeof *tb);
    if (!tb) return NULL;
    char host[64] = "localhost";
    if (gethostname(host, sizeof host)) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    /* TensorBoard's own naming; the counter makes two files in one second differ */
    for (int k = 0; k < 100 && !tb->f; k++) {
        snprintf(tb->path, sizeof tb->path, "%s/events.out.tfevents.%010lld.%s.%ld.%d", dir, (long long)time(NULL),
                 host, (long)getpid(), k);
        tb->f = fopen(tb->path, "wbx");
        if (!tb->f && errno != EEXIST) break;
    }
    nb__pb m = {.n = 0};
    nb__pb_event_head(&m, 0);
    nb__pb_bytes(&m, 3, "brain.Event:2", 13);
    if (!tb->f || nb__tb_record(tb, &m)) {
        int e = errno;
        if (tb->f) fclose(tb->f);
        free(tb);
        errno = e;
        return NULL;
    }
    return tb;
}

int nb_tb_scalar(nb_tb *tb, const char *tag, int64_t step, double value)
{
    size_t tn = strlen(tag);
    if (tn > 200) return -1;
    float v = (float)value;
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    nb__pb val = {.n = 0}, sum = {.n = 0}, ev = {.n = 0};
    nb__pb_bytes(&val, 1, tag, tn);
    nb__pb_varint(&val, 2 << 3 | 5);
    nb__pb_le(&val, bits, 4);
    nb__pb_bytes(&sum, 1, val.b, val.n);
    nb__pb_event_head(&ev, step);
    nb__pb_bytes(&ev, 5, sum.b, sum.n);
    return nb__tb_record(tb, &ev);
}

int nb_tb_restart(nb_tb *tb, int64_t step)
{
    nb__pb log = {.n = 0}, ev = {.n = 0};
    nb__pb_varint(&log, 1 << 3 | 0);
    nb__pb_varint(&log, 1); /* START */
    nb__pb_event_head(&ev, step);
    nb__pb_bytes(&ev, 6, log.b, log.n);
    return nb__tb_record(tb, &ev);
}

int nb_tb_flush(nb_tb *tb)
{
    if (!tb->failed && fflush(tb->f)) tb->failed = 1;
    return tb->failed ? -1 : 0;
}

int nb_tb_close(nb_tb *tb)
{
    if (!tb) return 0;
    int rc = nb_tb_flush(tb);
    if (fclose(tb->f)) rc = -1;
    free(tb);
    return rc;
}

const char *nb_tb_path(const nb_tb *tb) { return tb->path; }
