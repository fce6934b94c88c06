/* Writes the seed corpora under tests/fuzz/corpus/ (committed; rerun only to
 * change them):
 *   cc -std=c11 -D_POSIX_C_SOURCE=200809L -Iinclude tests/fuzz/make_corpus.c \
 *      build/libnabla.a -lz -lm -o /tmp/make_corpus && /tmp/make_corpus tests/fuzz/corpus
 * Each harness gets a few valid inputs and near-valid ones (one field wrong).
 * Input layouts are those the harnesses expect (see each fuzz_*.c): IDX and
 * CSV seeds start with the option byte(s). */
#include "nabla/io.h"
#include "nabla/train.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *root;

static void put(const char *dir, const char *name, const void *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ------------------------------------------------------------------- IDX */
static size_t idx(unsigned char *out, unsigned mode, int type, int ndim, const uint32_t *dims, size_t esize)
{
    size_t n = 0, count = 1;
    out[n++] = (unsigned char)mode;
    out[n++] = 0;
    out[n++] = 0;
    out[n++] = (unsigned char)type;
    out[n++] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        for (int b = 3; b >= 0; b--) out[n++] = (unsigned char)(dims[i] >> (8 * b));
        count *= dims[i];
    }
    for (size_t i = 0; i < count * esize; i++) out[n++] = (unsigned char)(i * 37 % 11); /* finite as floats */
    return n;
}

static void idx_seeds(void)
{
    unsigned char b[4096];
    size_t n;
    n = idx(b, 0, 0x08, 2, (uint32_t[]){2, 3}, 1);
    put("idx", "u8_2x3", b, n);
    n = idx(b, 1, 0x08, 3, (uint32_t[]){2, 2, 2}, 1);
    put("idx", "u8_2x2x2_gzip", b, n);
    n = idx(b, 0, 0x08, 1, (uint32_t[]){5}, 1);
    put("idx", "u8_labels", b, n);
    n = idx(b, 0, 0x09, 1, (uint32_t[]){4}, 1);
    put("idx", "i8_1d", b, n);
    n = idx(b, 0, 0x0B, 2, (uint32_t[]){2, 2}, 2);
    put("idx", "i16_2x2", b, n);
    n = idx(b, 1, 0x0C, 1, (uint32_t[]){3}, 4);
    put("idx", "i32_labels_gzip", b, n);
    n = idx(b, 0, 0x0D, 1, (uint32_t[]){2}, 4);
    put("idx", "f32_1d", b, n);
    n = idx(b, 0, 0x0E, 2, (uint32_t[]){1, 2}, 8);
    put("idx", "f64_1x2", b, n);
    n = idx(b, 3 | (15u << 3), 0x08, 2, (uint32_t[]){3, 3}, 1);
    put("idx", "u8_two_members", b, n);
    n = idx(b, 2 | 8 | (12u << 4), 0x08, 2, (uint32_t[]){4, 4}, 1);
    put("idx", "gzip_cut", b, n);
    n = idx(b, 2 | (7u << 4), 0x08, 2, (uint32_t[]){4, 4}, 1);
    put("idx", "gzip_flipped", b, n);
    n = idx(b, 1 | 4, 0x08, 1, (uint32_t[]){64}, 1);
    put("idx", "gzip_small_cap", b, n);
    n = idx(b, 0, 0x08, 2, (uint32_t[]){2, 3}, 1);
    put("idx", "near_short", b, n - 1);
    n = idx(b, 0, 0x08, 2, (uint32_t[]){2, 3}, 1);
    b[n++] = 9;
    put("idx", "near_long", b, n);
    n = idx(b, 0, 0x0A, 1, (uint32_t[]){2}, 1);
    put("idx", "near_bad_type", b, n);
    n = idx(b, 0, 0x08, 2, (uint32_t[]){0, 3}, 1);
    put("idx", "near_zero_dim", b, n);
    n = idx(b, 0, 0x08, 1, (uint32_t[]){0xFFFFFFFFu}, 0);
    put("idx", "near_huge_dim", b, n);
    n = idx(b, 0, 0x0D, 1, (uint32_t[]){1}, 0);
    memcpy(b + n, "\x7f\xc0\0\0", 4);
    put("idx", "near_f32_nan", b, n + 4);
    /* A real gzip stream given raw (mode 0). */
    unsigned char raw[64], gz[256];
    size_t rn = idx(raw, 0, 0x08, 1, (uint32_t[]){6}, 1) - 1;
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    z.next_in = raw + 1;
    z.avail_in = (uInt)rn;
    z.next_out = gz + 1;
    z.avail_out = sizeof gz - 1;
    deflate(&z, Z_FINISH);
    gz[0] = 0;
    put("idx", "raw_gzip", gz, 1 + (sizeof gz - 1 - z.avail_out));
    deflateEnd(&z);
}

/* ------------------------------------------------------------------- CSV */
static void csvn(const char *name, unsigned a, unsigned b, const char *text, size_t n)
{
    unsigned char *p = malloc(n + 2);
    p[0] = (unsigned char)a;
    p[1] = (unsigned char)b;
    memcpy(p + 2, text, n);
    put("csv", name, p, n + 2);
    free(p);
}

static void csv(const char *name, unsigned a, unsigned b, const char *text) { csvn(name, a, b, text, strlen(text)); }

static void csv_seeds(void)
{
    /* a: header = a%3, label_col = ((a>>2)&7)-3; b: delim b&7 (1 ','),
     * max_line (b>>3)&7 (7 = default), n_classes if b&0x40, label_name if b&0x80 */
    const unsigned A0 = 3 << 2; /* auto header, label column 0 */
    const unsigned B = 1 | (7 << 3);
    csv("header", A0, B, "label,a,b\n0,1.5,2\n1,-3,4e2\n2,0,0\n");
    csv("no_header", A0, B, "1,0.5,2\n0,0.25,-1\n");
    csv("label_last", 2 << 2, B, "0.5,1,3\n0.25,2,1\n");
    csv("label_by_name", A0, B | 0x80, "x,label,y\n1,2,3\n4,0,6\n");
    csv("semicolon_crlf", A0, 2 | (7 << 3), "y;x1;x2\r\n1;0.5;2\r\n\r\n0;1;1\r\n");
    csv("tab_spaces", A0, 3 | (7 << 3), " 1\t 2 \t3\n0\t4\t5\n");
    csv("n_classes", A0, B | 0x40 | 0, "0,1\n1,2\n");
    csv("forced_header", 1 | A0, B, "1,2\n3,4\n");
    csv("small_cap", A0, 1 | (1 << 3), "0,1,2,3,4,5,6,7,8,9,10,11,12\n");
    csv("near_ragged", A0, B, "0,1,2\n1,2\n");
    csv("near_nan", A0, B, "0,1\n1,nan\n");
    csv("near_empty_field", A0, B, "0,1,2\n1,,3\n");
    csv("near_bad_label", A0, B, "0,1\n1.5,2\n");
    csv("near_header_only", A0, B, "label,x\n");
    csv("near_mixed_header", A0, B, "label,3\n1,2\n");
    csv("near_hex_inf", A0, B, "0,0x1p3\n1,1e999\n");
    csvn("near_nul", A0, B, "0,1\n1,\0002\n", 9);
}

/* ------------------------------------------------------------ safetensors */
static void st_raw(const char *dir, const char *name, const char *hdr, const void *data, size_t dlen)
{
    size_t hl = strlen(hdr), n = 8 + hl + dlen;
    unsigned char *p = malloc(n);
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(p + 8, hdr, hl);
    if (dlen) memcpy(p + 8 + hl, data, dlen);
    put(dir, name, p, n);
    free(p);
}

static void st_file(const char *dir, const char *name, const char *tmp)
{
    FILE *f = fopen(tmp, "rb");
    static unsigned char b[1 << 20];
    size_t n = f ? fread(b, 1, sizeof b, f) : 0;
    if (f) fclose(f);
    remove(tmp);
    put(dir, name, b, n);
}

static void st_seeds(const char *tmp)
{
    float w[6] = {1, 2, 3, 4, 5, 6};
    int64_t k[2] = {7, 8};
    double d = 0.5;
    nb_st_tensor ts[] = {{"w", NB_ST_F32, 2, {2, 3}, w},
                         {"k", NB_ST_I64, 1, {2}, k},
                         {"s", NB_ST_U8, 0, {0}, "x"},
                         {"d", NB_ST_F64, 0, {0}, &d},
                         {"e", NB_ST_F32, 2, {0, 3}, NULL}};
    nb_st_meta m[] = {{"format", "pt"}, {"note", "h\xc3\xa9llo \"q\"\n"}};
    if (nb_st_save(tmp, ts, 5, m, 2) == 0) st_file("safetensors", "mixed", tmp);
    if (nb_st_save(tmp, ts, 1, NULL, 0) == 0) st_file("safetensors", "one_f32", tmp);
    if (nb_st_save(tmp, NULL, 0, m, 1) == 0) st_file("safetensors", "meta_only", tmp);
    st_raw("safetensors", "empty_object", "{}      ", NULL, 0);
    st_raw("safetensors", "unaligned_foreign",
           "{\"b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[1,9]}}",
           "\1\0\0\x80\x3f\0\0\0\x40", 9);
    st_raw("safetensors", "all_dtypes",
           "{\"a\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]},"
           "\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[1,3]},"
           "\"c\":{\"dtype\":\"U16\",\"shape\":[],\"data_offsets\":[3,5]},"
           "\"d\":{\"dtype\":\"F8_E4M3\",\"shape\":[1,1],\"data_offsets\":[5,6]},"
           "\"e\":{\"dtype\":\"U64\",\"shape\":[1],\"data_offsets\":[6,14]}}",
           "01234567890123", 14);
    st_raw("safetensors", "near_gap", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", "xy", 2);
    st_raw("safetensors", "near_overlap",
           "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
           "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
           "xyz", 3);
    st_raw("safetensors", "near_dtype", "{\"a\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd", 4);
    st_raw("safetensors", "near_escape", "{\"__metadata__\":{\"k\":\"\\ud83d\\ude00\\u00e9\\n\"}}", NULL, 0);
    st_raw("safetensors", "near_trailing", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "xy", 2);
}

/* ------------------------------------------------------------ model specs */
static void spec_seeds(void)
{
    const char *s[][2] = {
        {"mnist", "784-128-10"}, {"two", "2-3"},       {"deep", "4-4-4-4-4-4-2"}, {"max", "1000000-1"},
        {"zero", "0-1"},         {"dash", "1--2"},     {"trailing", "2-"},        {"lead", "-2-3"},
        {"over", "1000001-2"},   {"one", "7"},         {"letters", "784-x-10"},   {"act", "leaky_relu"},
        {"init", "kaiming"},     {"space", "784 -10"},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) put("model_spec", s[i][0], s[i][1], strlen(s[i][1]));
    char many[512];
    size_t at = 0;
    for (int i = 0; i < 65; i++) at += (size_t)snprintf(many + at, sizeof many - at, i ? "-%d" : "%d", 1 + i % 3);
    put("model_spec", "65_widths", many, at);
}

/* ------------------------------------------------------------ checkpoints */
static void ck(const char *tmp, const char *name, const char *spec, nb_dtype dt, int bn, nb_optim_kind ok, int steps,
               int with_progress)
{
    nb_mlp_config cfg = {.act = NB_ACT_RELU, .batchnorm = bn};
    nb_mlp_parse_widths(&cfg, spec);
    nb_model *m = nb_mlp_new(dt, &cfg);
    nb_rng r;
    nb_rng_seed(&r, 1);
    nb_model_init(m, NB_INIT_TORCH, 0, &r);
    nb_optim_config oc = nb_optim_defaults(ok);
    if (ok == NB_OPT_SGD) oc.momentum = 0.9;
    nb_optim *o = nb_optim_new(&oc, dt, nb_model_n_params(m));
    for (int i = 0; i < steps; i++) {
        nb_model_zero_grad(m);
        nb_optim_step(o, nb_model_params(m), nb_model_grads(m));
    }
    nb_sched_config sc = nb_sched_defaults(NB_SCHED_STEP);
    sc.step_size = 3;
    nb_sched s;
    nb_sched_init(&s, &sc, oc.lr);
    for (int i = 0; i < steps; i++) nb_sched_step(&s);
    nb_progress p = {
        .step = steps, .epoch = 1, .loader = {.n = 10, .epoch = 1, .pos = 4, .rng = {1, 2, 3, 4}}, .rng = r};
    nb_kv kv[] = {{"model", spec}, {"act", "relu"}, {"batchnorm", bn ? "1" : "0"}};
    if (nb_checkpoint_save(tmp, m, o, &s, with_progress ? &p : NULL, kv, 3) != 0) {
        fprintf(stderr, "%s\n", nb_errmsg());
        exit(1);
    }
    st_file("checkpoint", name, tmp);
    nb_optim_free(o);
    nb_model_free(m);
}

int main(int argc, char **argv)
{
    root = argc > 1 ? argv[1] : "tests/fuzz/corpus";
    mkdir(root, 0755);
    char tmp[] = "/tmp/nb_make_corpus.safetensors";
    idx_seeds();
    csv_seeds();
    st_seeds(tmp);
    spec_seeds();
    ck(tmp, "adam_f32", "4-3-2", NB_F32, 0, NB_OPT_ADAM, 2, 1);
    ck(tmp, "sgd_f64", "3-2", NB_F64, 0, NB_OPT_SGD, 1, 1);
    ck(tmp, "rmsprop_bn", "2-3-3-2", NB_F32, 1, NB_OPT_RMSPROP, 1, 1);
    ck(tmp, "adamw_no_progress", "2-2", NB_F32, 0, NB_OPT_ADAMW, 0, 0);
    st_raw("checkpoint", "near_not_checkpoint", "{\"__metadata__\":{\"format\":\"pt\"}}", NULL, 0);
    st_raw("checkpoint", "near_format_only", "{\"__metadata__\":{\"format\":\"nabla-checkpoint-1\",\"model\":\"2-2\"}}",
           NULL, 0);
    return 0;
}
