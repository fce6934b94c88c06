/* safetensors checkpoints: round trips, atomic saves (a full disk simulated
 * with RLIMIT_FSIZE), a catalogue of malformed files (one case each), a
 * truncate-and-flip fuzz pass, and interop with the Python reference library
 * (skipped, with a note, when python3 lacks safetensors or numpy). */
#include "t.h"

#include "nabla/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------- helpers */
/* A fresh, empty file under /tmp; the caller removes it. */
static void io_tmp(char *path, size_t cap)
{
    snprintf(path, cap, "/tmp/nb_io_XXXXXX");
    int fd = mkstemp(path);
    if (fd >= 0) close(fd);
    else t_fail(__FILE__, __LINE__, "mkstemp: %s", strerror(errno));
}

static int io_write(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

/* u64 length + header + data, into a malloc'ed image. */
static unsigned char *io_image(const char *hdr, size_t hlen, const void *data, size_t dlen, size_t *n)
{
    unsigned char *b = malloc(8 + hlen + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    memcpy(b + 8, hdr, hlen);
    if (dlen) memcpy(b + 8 + hlen, data, dlen);
    *n = 8 + hlen + dlen;
    return b;
}

/* The image must fail to load, from a file and from memory, with a message
 * naming the file and containing `want`. */
static void io_bad_image(const unsigned char *img, size_t n, const char *want, int line)
{
    char path[64];
    io_tmp(path, sizeof path);
    if (io_write(path, img, n) != 0) t_fail(__FILE__, line, "cannot write %s", path);
    nb_clear_error();
    nb_st_file *f = nb_st_load(path);
    if (f) {
        t_fail(__FILE__, line, "malformed file loaded (expected an error containing \"%s\")", want);
        nb_st_free(f);
    } else if (!strstr(nb_errmsg(), path) || !strstr(nb_errmsg(), want)) {
        t_fail(__FILE__, line, "error \"%s\" should name the file and contain \"%s\"", nb_errmsg(), want);
    }
    nb_clear_error();
    f = nb_st_load_mem(img, n, "mem.safetensors");
    if (f) {
        t_fail(__FILE__, line, "malformed image loaded from memory");
        nb_st_free(f);
    } else if (!strstr(nb_errmsg(), "mem.safetensors") || !strstr(nb_errmsg(), want)) {
        t_fail(__FILE__, line, "memory error \"%s\" should contain \"%s\"", nb_errmsg(), want);
    }
    remove(path);
}

static void io_bad_hdr(const char *hdr, size_t hlen, const void *data, size_t dlen, const char *want, int line)
{
    size_t n;
    unsigned char *img = io_image(hdr, hlen, data, dlen, &n);
    io_bad_image(img, n, want, line);
    free(img);
}

static const unsigned char io_zeros[64];
/* A header (C string) with `dlen` zero bytes of data. */
#define BAD(hdr, dlen, want) io_bad_hdr((hdr), strlen(hdr), io_zeros, (dlen), (want), __LINE__)
/* A header given with an explicit length (may hold NUL or odd bytes). */
#define BADN(hdr, hlen, dlen, want) io_bad_hdr((hdr), (hlen), io_zeros, (dlen), (want), __LINE__)

static int io_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static long io_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* --------------------------------------------------------- round trips */
TEST(io, dtype_table)
{
    CHECK(nb_st_dtype_size(NB_ST_F32) == 4 && nb_st_dtype_size(NB_ST_F64) == 8);
    CHECK(nb_st_dtype_size(NB_ST_I64) == 8 && nb_st_dtype_size(NB_ST_U8) == 1);
    CHECK(nb_st_dtype_size(NB_ST_BF16) == 2 && nb_st_dtype_size(NB_ST_DTYPE_COUNT) == 0);
    CHECK(strcmp(nb_st_dtype_name(NB_ST_F8_E4M3), "F8_E4M3") == 0);
    CHECK(strcmp(nb_st_dtype_name((nb_st_dtype)99), "?") == 0);
    CHECK(nb_st_dtype_of(NB_F32) == NB_ST_F32 && nb_st_dtype_of(NB_I32) == NB_ST_I32);
    CHECK(nb_st_dtype_of((nb_dtype)7) == -1);
}

TEST(io, roundtrip)
{
    float w[6] = {0.5f, -1.25f, 3e-8f, 1e30f, -0.0f, 7.0f};
    double s = 3.141592653589793;
    int32_t idx[4] = {-2, 0, 7, INT32_MAX};
    int64_t big[2] = {INT64_MIN, (int64_t)1 << 40};
    uint8_t bytes[5] = {0, 1, 127, 128, 255};
    static const char *odd = "odd \"name\"\\ with\nnewline \xc3\xa9\xf0\x9f\x98\x80";
    nb_st_tensor ts[] = {
        {"layer.weight", NB_ST_F32, 2, {2, 3}, w}, {"scalar", NB_ST_F64, 0, {0}, &s},
        {"idx", NB_ST_I32, 1, {4}, idx},           {"big", NB_ST_I64, 1, {2}, big},
        {"bytes", NB_ST_U8, 1, {5}, bytes},        {"empty", NB_ST_F32, 2, {0, 3}, NULL},
        {odd, NB_ST_U8, 2, {1, 1}, bytes + 4},
    };
    size_t n = sizeof ts / sizeof ts[0];
    nb_st_meta meta[] = {{"format", "nabla"}, {"step", "1200"}, {"note", "tab\there \"q\" \xe6\x97\xa5"}};
    char path[64];
    io_tmp(path, sizeof path);
    CHECK_OK(nb_st_save(path, ts, n, meta, 3) == 0);

    /* Header length padded to a multiple of 8 with spaces; file size exact. */
    FILE *fp = fopen(path, "rb");
    unsigned char b8[8] = {0};
    CHECK(fp && fread(b8, 1, 8, fp) == 8);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | b8[i];
    CHECK(hl % 8 == 0);
    char *hdr = malloc(hl + 1);
    CHECK(fp && fread(hdr, 1, hl, fp) == hl);
    hdr[hl] = '\0';
    CHECK(hdr[0] == '{');
    size_t last = hl;
    while (last > 0 && hdr[last - 1] == ' ') last--;
    CHECK(last > 0 && hdr[last - 1] == '}');
    CHECK(strncmp(hdr, "{\"__metadata__\":{", 17) == 0);
    free(hdr);
    if (fp) fclose(fp);
    CHECK(io_file_size(path) == (long)(8 + hl + 24 + 8 + 16 + 16 + 5 + 0 + 1));

    nb_st_file *f = nb_st_load(path);
    CHECK_OK(f);
    if (f) {
        CHECK(nb_st_count(f) == n);
        for (size_t i = 0; i < n; i++) {
            const nb_st_tensor *t = nb_st_find(f, ts[i].name);
            CHECK_MSG(t, "missing %s: %s", ts[i].name, nb_errmsg());
            if (!t) continue;
            CHECK(strcmp(t->name, ts[i].name) == 0);
            CHECK(t->dtype == ts[i].dtype && t->ndim == ts[i].ndim);
            size_t numel = 1;
            for (int d = 0; d < t->ndim; d++) {
                CHECK(t->shape[d] == ts[i].shape[d]);
                numel *= t->shape[d];
            }
            size_t sz = nb_st_dtype_size(t->dtype);
            CHECK((uintptr_t)t->data % sz == 0);
            if (numel) CHECK(memcmp(t->data, ts[i].data, numel * sz) == 0);
        }
        /* Header order is the layout order: dtype size descending, then name. */
        const char *order[] = {"big", "scalar", "empty", "idx", "layer.weight", "bytes"};
        for (size_t i = 0; i < 6; i++) {
            const nb_st_tensor *t = nb_st_at(f, i);
            CHECK_MSG(t && strcmp(t->name, order[i]) == 0, "tensor %zu is %s, expected %s", i, t ? t->name : "NULL",
                      order[i]);
        }
        CHECK(nb_st_at(f, n) == NULL);
        CHECK(nb_st_meta_count(f) == 3);
        for (size_t i = 0; i < 3; i++) {
            const char *v = nb_st_meta_get(f, meta[i].key);
            CHECK(v && strcmp(v, meta[i].value) == 0);
            const nb_st_meta *m = nb_st_meta_at(f, i);
            CHECK(m && strcmp(m->key, meta[i].key) == 0);
        }
        CHECK(nb_st_meta_get(f, "absent") == NULL);
        CHECK(nb_st_meta_at(f, 3) == NULL);
        nb_clear_error();
        CHECK(nb_st_find(f, "nope") == NULL);
        CHECK(strstr(nb_errmsg(), "'nope'") && strstr(nb_errmsg(), path));
        nb_st_free(f);
    }
    nb_st_free(NULL);
    CHECK(nb_st_count(NULL) == 0);
    remove(path);
}

TEST(io, nb_tensor_bridge)
{
    nb_tensor *w = nb_tensor_new(NB_F32, 2, (size_t[]){2, 2});
    nb_tensor *b = nb_tensor_new(NB_F64, 1, (size_t[]){3});
    CHECK_OK(w && b);
    if (!w || !b) return;
    for (size_t i = 0; i < 4; i++) nb_set(w, i, (double)i - 1.5);
    for (size_t i = 0; i < 3; i++) nb_set(b, i, 1.0 / (double)(i + 1));
    nb_st_tensor ts[2];
    CHECK_OK(nb_st_describe(&ts[0], "w", w) == 0);
    CHECK_OK(nb_st_describe(&ts[1], "b", b) == 0);
    char path[64];
    io_tmp(path, sizeof path);
    CHECK_OK(nb_st_save(path, ts, 2, NULL, 0) == 0);
    nb_st_file *f = nb_st_load(path);
    CHECK_OK(f);
    if (f) {
        nb_tensor *w2 = nb_st_to_tensor(nb_st_find(f, "w"));
        CHECK_OK(w2);
        if (w2) {
            CHECK(w2->dtype == NB_F32 && w2->ndim == 2 && w2->shape[0] == 2 && w2->shape[1] == 2);
            for (size_t i = 0; i < 4; i++) CHECK(nb_get(w2, i) == (double)i - 1.5);
        }
        nb_tensor *b2 = nb_tensor_new(NB_F64, 1, (size_t[]){3});
        CHECK_OK(nb_st_read_into(b2, nb_st_find(f, "b")) == 0);
        for (size_t i = 0; i < 3; i++) CHECK(nb_get(b2, i) == 1.0 / (double)(i + 1));
        /* Shape and dtype mismatches are errors naming the tensor. */
        nb_tensor *wrong = nb_tensor_new(NB_F64, 1, (size_t[]){4});
        CHECK(nb_st_read_into(wrong, nb_st_find(f, "b")) == -1);
        CHECK(strstr(nb_errmsg(), "'b'") && strstr(nb_errmsg(), "[3]") && strstr(nb_errmsg(), "[4]"));
        nb_tensor *wrong2 = nb_tensor_new(NB_F32, 1, (size_t[]){3});
        CHECK(nb_st_read_into(wrong2, nb_st_find(f, "b")) == -1);
        CHECK(strstr(nb_errmsg(), "dtype F64"));
        nb_tensor_free(w2);
        nb_tensor_free(b2);
        nb_tensor_free(wrong);
        nb_tensor_free(wrong2);
        nb_st_free(f);
    }
    /* A U8 tensor has no nb_tensor equivalent. */
    uint8_t u = 3;
    nb_st_tensor raw = {"u", NB_ST_U8, 0, {0}, &u};
    CHECK(nb_st_to_tensor(&raw) == NULL && strstr(nb_errmsg(), "U8"));
    nb_tensor_free(w);
    nb_tensor_free(b);
    remove(path);
}

TEST(io, empty_checkpoint)
{
    char path[64];
    io_tmp(path, sizeof path);
    CHECK_OK(nb_st_save(path, NULL, 0, NULL, 0) == 0);
    CHECK(io_file_size(path) == 16); /* "{}" padded to 8 */
    nb_st_file *f = nb_st_load(path);
    CHECK_OK(f);
    CHECK(nb_st_count(f) == 0 && nb_st_meta_count(f) == 0);
    nb_st_free(f);
    remove(path);
}

/* A file written by hand the way other writers may: whitespace, escapes,
 * entries listed out of offset order, a header length that is not a multiple
 * of 8, and an F32 tensor at an odd offset (it must come back aligned). */
TEST(io, foreign_layout)
{
    const char *hdr =
        "{ \"caf\\u00e9\\ud83d\\ude00\" : {\"shape\": [2], \"dtype\": \"F32\", \"data_offsets\": [1, 9]},\n"
        "  \"a\\/b\": {\"data_offsets\": [0, 1], \"dtype\": \"U8\", \"shape\": [] },"
        "  \"__metadata__\": {\"k\": \"\\\"v\\\"\\n\"} }   ";
    unsigned char data[9];
    float v[2] = {1.5f, -2.25f};
    data[0] = 42;
    memcpy(data + 1, v, 8);
    size_t n;
    unsigned char *img = io_image(hdr, strlen(hdr), data, 9, &n);
    nb_st_file *f = nb_st_load_mem(img, n, "foreign");
    CHECK_OK(f);
    if (f) {
        CHECK(nb_st_count(f) == 2);
        const nb_st_tensor *t = nb_st_find(f, "caf\xc3\xa9\xf0\x9f\x98\x80");
        CHECK_OK(t);
        if (t) {
            CHECK((uintptr_t)t->data % 4 == 0);
            CHECK(((const float *)t->data)[0] == 1.5f && ((const float *)t->data)[1] == -2.25f);
        }
        t = nb_st_find(f, "a/b");
        CHECK_OK(t);
        if (t) CHECK(t->ndim == 0 && *(const uint8_t *)t->data == 42);
        CHECK(strcmp(nb_st_meta_get(f, "k"), "\"v\"\n") == 0);
        CHECK(strcmp(nb_st_at(f, 0)->name, "caf\xc3\xa9\xf0\x9f\x98\x80") == 0); /* header order */
        nb_st_free(f);
    }
    free(img);
}

/* ----------------------------------------------------- save: bad input */
TEST(io, save_rejects_bad_input)
{
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/nb_io_dir_XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/x.safetensors", dir);
    float x[2] = {1, 2};
    struct {
        nb_st_tensor t[2];
        size_t n;
        nb_st_meta m[2];
        size_t nm;
        const char *want;
    } cases[] = {
        {{{"a", NB_ST_F32, 1, {2}, x}, {"a", NB_ST_F64, 1, {1}, x}}, 2, {{0}}, 0, "duplicate tensor name 'a'"},
        {{{"__metadata__", NB_ST_F32, 1, {2}, x}}, 1, {{0}}, 0, "reserved"},
        {{{"a", NB_ST_F32, 1, {2}, NULL}}, 1, {{0}}, 0, "NULL data"},
        {{{NULL, NB_ST_F32, 1, {2}, x}}, 1, {{0}}, 0, "NULL name"},
        {{{"a", (nb_st_dtype)40, 1, {2}, x}}, 1, {{0}}, 0, "unknown dtype"},
        {{{"a", NB_ST_F32, 9, {2}, x}}, 1, {{0}}, 0, "9 dimensions"},
        {{{"a", NB_ST_F32, 2, {SIZE_MAX, 4}, x}}, 1, {{0}}, 0, "too large"},
        {{{"bad\xff", NB_ST_F32, 1, {2}, x}}, 1, {{0}}, 0, "name 'bad?' is not valid UTF-8"},
        {{{"a", NB_ST_F32, 1, {2}, x}}, 1, {{"k", "1"}, {"k", "2"}}, 2, "duplicate metadata key 'k'"},
        {{{"a", NB_ST_F32, 1, {2}, x}}, 1, {{"k", NULL}}, 1, "NULL value"},
        {{{"a", NB_ST_F32, 1, {2}, x}}, 1, {{"k", "\xc0\xaf"}}, 1, "not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nb_clear_error();
        CHECK_MSG(nb_st_save(path, cases[i].t, cases[i].n, cases[i].m, cases[i].nm) == -1, "case %zu saved", i);
        CHECK_MSG(strstr(nb_errmsg(), cases[i].want) && strstr(nb_errmsg(), path), "case %zu: \"%s\" lacks \"%s\"", i,
                  nb_errmsg(), cases[i].want);
        CHECK_MSG(io_count_entries(dir) == 0, "case %zu left a file behind", i);
    }
    CHECK(nb_st_save(NULL, NULL, 0, NULL, 0) == -1);
    CHECK(nb_st_save(path, NULL, 1, NULL, 0) == -1);
    rmdir(dir);
}

TEST(io, save_missing_directory)
{
    nb_clear_error();
    CHECK(nb_st_save("/tmp/nb_io_no_such_dir_4f1/x.safetensors", NULL, 0, NULL, 0) == -1);
    CHECK(strstr(nb_errmsg(), "/tmp/nb_io_no_such_dir_4f1/x.safetensors") && strstr(nb_errmsg(), strerror(ENOENT)));
}

/* --------------------------------------------------------- save: atomic */
static float io_old[4] = {1, 2, 3, 4};

/* A directory holding one good checkpoint "c.safetensors". */
static void io_old_ckpt(char *dir, size_t dcap, char *path, size_t pcap)
{
    snprintf(dir, dcap, "/tmp/nb_io_dir_XXXXXX");
    if (!mkdtemp(dir)) t_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
    snprintf(path, pcap, "%s/c.safetensors", dir);
    nb_st_tensor t = {"old", NB_ST_F32, 1, {4}, io_old};
    if (nb_st_save(path, &t, 1, NULL, 0) != 0) t_fail(__FILE__, __LINE__, "%s", nb_errmsg());
}

static void io_check_old(const char *dir, const char *path, int line)
{
    nb_st_file *f = nb_st_load(path);
    if (!f) {
        t_fail(__FILE__, line, "the old checkpoint no longer loads: %s", nb_errmsg());
    } else {
        const nb_st_tensor *t = nb_st_find(f, "old");
        if (!t || nb_st_count(f) != 1 || memcmp(t->data, io_old, sizeof io_old) != 0)
            t_fail(__FILE__, line, "the old checkpoint changed");
        nb_st_free(f);
    }
    int n = io_count_entries(dir);
    if (n != 1) t_fail(__FILE__, line, "%s holds %d entries; a temporary file was left behind", dir, n);
}

/* A full disk, simulated in a child with a 64 KiB file-size limit: the save
 * fails cleanly, the previous checkpoint is intact, no temporary remains. */
TEST(io, save_atomic_disk_full)
{
    char dir[64], path[128];
    io_old_ckpt(dir, sizeof dir, path, sizeof path);
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {65536, 65536};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) {
            fprintf(stderr, "  child: setrlimit(RLIMIT_FSIZE): %s\n", strerror(errno));
            _exit(5);
        }
        size_t n = 1 << 16; /* 256 KiB of floats */
        float *big = calloc(n, sizeof *big);
        nb_st_tensor t = {"new", NB_ST_F32, 1, {n}, big};
        int rc = nb_st_save(path, &t, 1, NULL, 0);
        const char *m = nb_errmsg();
        int ok = rc == -1 && strstr(m, path) && strstr(m, "write failed") && strstr(m, strerror(EFBIG));
        if (!ok) fprintf(stderr, "  child: rc %d, \"%s\"\n", rc, m);
        free(big);
        if (ok && write(fds[1], "k", 1) != 1) ok = 0;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    char why[128] = "fork failed";
    CHECK_MSG(pid > 0 && t_child_passed(pid, fds[0], why, sizeof why), "%s", why);
    close(fds[0]);
    io_check_old(dir, path, __LINE__);
    remove(path);
    rmdir(dir);
}

/* rename() fails when PATH is a non-empty directory: the save reports it and
 * cleans up its temporary file. */
TEST(io, save_atomic_rename_fails)
{
    char dir[64], path[128], inner[200];
    io_old_ckpt(dir, sizeof dir, path, sizeof path);
    char target[160];
    snprintf(target, sizeof target, "%s/d.safetensors", dir);
    CHECK(mkdir(target, 0755) == 0);
    snprintf(inner, sizeof inner, "%s/keep", target);
    CHECK(io_write(inner, "x", 1) == 0);
    float x = 1;
    nb_st_tensor t = {"x", NB_ST_F32, 0, {0}, &x};
    nb_clear_error();
    CHECK(nb_st_save(target, &t, 1, NULL, 0) == -1);
    CHECK(strstr(nb_errmsg(), target) && strstr(nb_errmsg(), "rename"));
    CHECK(io_count_entries(dir) == 2 && io_count_entries(target) == 1);
    remove(inner);
    rmdir(target);
    io_check_old(dir, path, __LINE__);
    remove(path);
    rmdir(dir);
}

/* A directory we may not write into (skipped as root, who may). */
TEST(io, save_atomic_unwritable_dir)
{
    if (geteuid() == 0) {
        T_SKIP("running as root, who may write anywhere");
        return;
    }
    char dir[64], path[128];
    io_old_ckpt(dir, sizeof dir, path, sizeof path);
    CHECK(chmod(dir, 0500) == 0);
    float x[3] = {9, 9, 9};
    nb_st_tensor t = {"old", NB_ST_F32, 1, {3}, x};
    nb_clear_error();
    CHECK(nb_st_save(path, &t, 1, NULL, 0) == -1);
    CHECK(strstr(nb_errmsg(), path) && strstr(nb_errmsg(), strerror(EACCES)));
    chmod(dir, 0700);
    io_check_old(dir, path, __LINE__);
    remove(path);
    rmdir(dir);
}

/* Overwriting an existing checkpoint replaces it whole. */
TEST(io, save_replaces)
{
    char dir[64], path[128];
    io_old_ckpt(dir, sizeof dir, path, sizeof path);
    double y[2] = {5, 6};
    nb_st_tensor t = {"new", NB_ST_F64, 1, {2}, y};
    CHECK_OK(nb_st_save(path, &t, 1, NULL, 0) == 0);
    nb_st_file *f = nb_st_load(path);
    CHECK_OK(f);
    CHECK(nb_st_count(f) == 1 && nb_st_find(f, "new") && !nb_st_find(f, "old"));
    nb_st_free(f);
    CHECK(io_count_entries(dir) == 1);
    remove(path);
    rmdir(dir);
}

/* --------------------------------------------- the malformed catalogue */
TEST(io_bad, missing_file)
{
    nb_clear_error();
    CHECK(nb_st_load("/tmp/nb_io_no_such_file.safetensors") == NULL);
    CHECK(strstr(nb_errmsg(), "nb_io_no_such_file") && strstr(nb_errmsg(), strerror(ENOENT)));
    CHECK(nb_st_load("/tmp") == NULL && strstr(nb_errmsg(), "not a regular file"));
}

TEST(io_bad, empty_file) { io_bad_image(io_zeros, 0, "too short", __LINE__); }
TEST(io_bad, short_file) { io_bad_image(io_zeros, 5, "too short", __LINE__); }

TEST(io_bad, header_length_past_eof)
{
    unsigned char b[12] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
    io_bad_image(b, sizeof b, "runs past the end of the file", __LINE__);
}

TEST(io_bad, header_length_over_100mb)
{
    unsigned char b[16] = {0x01, 0xE1, 0xF5, 0x05, 0, 0, 0, 0, '{', '}'}; /* 100000001 */
    io_bad_image(b, sizeof b, "exceeds the limit", __LINE__);
    unsigned char c[16] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, '{', '}'};
    io_bad_image(c, sizeof c, "exceeds the limit", __LINE__);
}

TEST(io_bad, header_length_zero) { io_bad_image(io_zeros, 8, "does not start with '{'", __LINE__); }
TEST(io_bad, header_not_object) { BAD("[]      ", 0, "does not start with '{'"); }
TEST(io_bad, header_leading_space) { BAD(" {}     ", 0, "does not start with '{'"); }

TEST(io_bad, utf8_invalid_byte) { BAD("{\"a\xff\":{}}", 0, "not valid UTF-8 (header byte 3)"); }
TEST(io_bad, utf8_overlong) { BAD("{\"\xc0\xaf\":1}", 0, "not valid UTF-8"); }
TEST(io_bad, utf8_encoded_surrogate) { BAD("{\"\xed\xa0\x80\":1}", 0, "not valid UTF-8"); }
TEST(io_bad, utf8_truncated_sequence) { BAD("{\"k\":\"\xe2\x82\"}", 0, "not valid UTF-8"); }
TEST(io_bad, utf8_beyond_unicode) { BAD("{\"\xf4\x90\x80\x80\":1}", 0, "not valid UTF-8"); }

TEST(io_bad, json_unterminated_object) { BAD("{\"a\":{\"dtype\":\"F32\"", 0, "unexpected end of input"); }
TEST(io_bad, json_unterminated_string) { BAD("{\"abc", 0, "unterminated string"); }
TEST(io_bad, json_trailing_comma)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},}", 1, "expected a string key");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,],\"data_offsets\":[0,1]}}", 1, "expected a value");
}
TEST(io_bad, json_single_quotes) { BAD("{'a':1}", 0, "expected a string key"); }
TEST(io_bad, json_unquoted_key) { BAD("{a:1}", 0, "expected a string key"); }
TEST(io_bad, json_missing_colon) { BAD("{\"a\" 1}", 0, "expected ':'"); }
TEST(io_bad, json_missing_comma) { BAD("{\"__metadata__\":{\"a\":\"b\" \"c\":\"d\"}}", 0, "expected ',' or '}'"); }
TEST(io_bad, json_bad_escape) { BAD("{\"__metadata__\":{\"a\":\"\\x41\"}}", 0, "invalid escape '\\x'"); }
TEST(io_bad, json_short_unicode_escape) { BAD("{\"__metadata__\":{\"a\":\"\\u12\"}}", 0, "four hex digits"); }
TEST(io_bad, json_lone_high_surrogate)
{
    BAD("{\"__metadata__\":{\"a\":\"\\ud800x\"}}", 0, "not followed by a low surrogate");
}
TEST(io_bad, json_lone_low_surrogate) { BAD("{\"__metadata__\":{\"a\":\"\\udc00\"}}", 0, "lone low surrogate"); }
TEST(io_bad, json_raw_control_char) { BAD("{\"__metadata__\":{\"a\":\"x\ty\"}}", 0, "control character 0x09"); }
TEST(io_bad, json_leading_zero)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[01],\"data_offsets\":[0,1]}}", 1, "leading zero");
}
TEST(io_bad, json_bad_number)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1.],\"data_offsets\":[0,1]}}", 1, "digits after '.'");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[-],\"data_offsets\":[0,1]}}", 1, "invalid number");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[+1],\"data_offsets\":[0,1]}}", 1, "unexpected '+'");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1e],\"data_offsets\":[0,1]}}", 1, "exponent");
}
TEST(io_bad, json_bad_literal) { BAD("{\"__metadata__\":{\"a\":tru}}", 0, "invalid literal"); }
TEST(io_bad, json_comment) { BAD("{/* x */}", 0, "expected a string key"); }
TEST(io_bad, trailing_garbage)
{
    BAD("{} x    ", 0, "trailing characters");
    BAD("{}{}    ", 0, "trailing characters");
    BADN("{}\0     ", 8, 0, "trailing characters");
}

TEST(io_bad, deep_nesting)
{
    size_t n = 100000;
    char *h = malloc(n + 32);
    strcpy(h, "{\"__metadata__\":");
    size_t o = strlen(h);
    memset(h + o, '[', n);
    h[o + n] = '\0';
    BAD(h, 0, "nesting deeper than 64");
    free(h);
}

TEST(io_bad, entry_not_object) { BAD("{\"a\":[1,2]}", 0, "tensor 'a': the entry is not an object"); }
TEST(io_bad, unknown_dtype)
{
    BAD("{\"a\":{\"dtype\":\"F128\",\"shape\":[1],\"data_offsets\":[0,16]}}", 16,
        "tensor 'a' has unknown dtype 'F128'");
    BAD("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype 'f32'");
}
TEST(io_bad, dtype_with_nul)
{
    BAD("{\"a\":{\"dtype\":\"U8\\u0000\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unknown dtype");
}
TEST(io_bad, dtype_not_string)
{
    BAD("{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype is not a string");
}
TEST(io_bad, ndims_9)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
        "shape has 9 dimensions; at most 8");
}
TEST(io_bad, negative_shape)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, "shape[0] is negative");
}
TEST(io_bad, negative_zero_shape)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[-0],\"data_offsets\":[0,0]}}", 0, "shape[0] is negative");
}
TEST(io_bad, non_integer_shape)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2]}}", 2, "shape[0] is not an integer");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1e1],\"data_offsets\":[0,10]}}", 10, "shape[0] is not an integer");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[\"2\"],\"data_offsets\":[0,2]}}", 2, "shape[0] is not a number");
}
TEST(io_bad, shape_not_array)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":2,\"data_offsets\":[0,2]}}", 2, "shape is not an array");
}
TEST(io_bad, huge_number_shape)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[18446744073709551616],\"data_offsets\":[0,1]}}", 1,
        "shape[0] is too large");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999999999999999999],\"data_offsets\":[0,1]}}", 1,
        "shape[0] is too large");
}
TEST(io_bad, shape_bytes_overflow)
{
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0,
        "overflows 64-bit byte sizes");
    BAD("{\"a\":{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}}", 0,
        "overflows 64-bit byte sizes");
}
TEST(io_bad, huge_number_offset)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,18446744073709551616]}}", 1,
        "data_offsets end is too large");
}
TEST(io_bad, offsets_gap)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}",
        5, "gap in the data buffer: bytes [2, 3) belong to no tensor (tensor 'b' starts at 3)");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, "bytes [0, 1) belong to no tensor");
}
TEST(io_bad, offsets_overlap)
{
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[8,20]}}",
        20, "tensors 'a' [0, 12] and 'b' [8, 20] overlap");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
        4, "overlap");
}
TEST(io_bad, offsets_out_of_range)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}", 4,
        "data_offsets [0, 8] run past the end of the 4-byte data buffer");
}
TEST(io_bad, offsets_size_mismatch)
{
    const char *h = "{\"layers.0.weight\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,10]}}";
    size_t n;
    unsigned char *img = io_image(h, strlen(h), io_zeros, 10, &n);
    nb_st_file *f = nb_st_load_mem(img, n, "ckpt.safetensors");
    CHECK(!f);
    CHECK_MSG(strcmp(nb_errmsg(), "ckpt.safetensors: tensor 'layers.0.weight' data_offsets [0, 10] hold 10 "
                                  "bytes but dtype F32 shape [3] needs 12") == 0,
              "got: %s", nb_errmsg());
    free(img);
    BAD("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,20]}}", 20, "needs 16");
}
TEST(io_bad, offsets_end_before_begin)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[4,0]}}", 4, "end before they begin");
}
TEST(io_bad, offsets_not_a_pair)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1,2]}}", 1, "not a [begin, end] pair");
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":{\"b\":0}}}", 1, "not a [begin, end] pair");
}
TEST(io_bad, offsets_negative)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[-1,0]}}", 1, "data_offsets begin is negative");
}
TEST(io_bad, end_not_buffer_size)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 3,
        "the data buffer holds 3 bytes but the tensors cover only 2");
    BAD("{}      ", 1, "holds 1 bytes but the tensors cover only 0");
}
TEST(io_bad, duplicate_tensor_names)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
        2, "duplicate key 'a'");
    /* The same name spelled with an escape is still the same name. */
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"\\u0061\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
        2, "duplicate key 'a'");
}
TEST(io_bad, duplicate_key_in_entry)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "duplicate key 'dtype'");
}
TEST(io_bad, duplicate_metadata_key) { BAD("{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0, "duplicate key 'k'"); }
TEST(io_bad, missing_field)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, "tensor 'a' is missing \"data_offsets\"");
    BAD("{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,1]}}", 1, "is missing \"shape\"");
    BAD("{\"a\":{}}", 0, "is missing \"dtype\"");
}
TEST(io_bad, extra_field)
{
    BAD("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"offsets\":[0,1]}}", 1,
        "tensor 'a' has an unexpected key 'offsets'");
}
TEST(io_bad, metadata_non_string_value)
{
    BAD("{\"__metadata__\":{\"epoch\":3}}", 0, "__metadata__ value of 'epoch' is not a string");
    BAD("{\"__metadata__\":{\"x\":null}}", 0, "is not a string");
    BAD("{\"__metadata__\":{\"x\":{\"y\":\"z\"}}}", 0, "is not a string");
}
TEST(io_bad, metadata_not_object) { BAD("{\"__metadata__\":[\"a\",\"b\"]}", 0, "__metadata__ is not an object"); }
TEST(io_bad, metadata_nul) { BAD("{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", 0, "contains a NUL byte"); }
TEST(io_bad, name_with_nul)
{
    BAD("{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "the name contains a NUL byte");
}

/* A sparse file just over the size cap is refused before anything is read. */
TEST(io_bad, file_over_size_cap)
{
    char path[64];
    io_tmp(path, sizeof path);
    int fd = open(path, O_WRONLY);
    unsigned char b[10] = {2, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    int ok = fd >= 0 && write(fd, b, sizeof b) == (ssize_t)sizeof b &&
             ftruncate(fd, (off_t)NB_ST_MAX_FILE_BYTES + 1) == 0;
    if (fd >= 0) close(fd);
    if (!ok) {
        T_SKIP("cannot make a sparse file here");
    } else {
        CHECK(nb_st_load(path) == NULL);
        CHECK(strstr(nb_errmsg(), "exceeds the 4294967296-byte limit"));
    }
    remove(path);
}

/* ------------------------------------------------------------- fuzzing */
/* Every truncation of a valid file fails, and every single-byte change in
 * the first 8 + N bytes either fails cleanly or still describes a valid file
 * (run under SAN=1 to catch any bad access). */
TEST(io, fuzz_truncate_and_flip)
{
    float w[6] = {1, 2, 3, 4, 5, 6};
    int64_t k[2] = {7, 8};
    nb_st_tensor ts[] = {{"w", NB_ST_F32, 2, {2, 3}, w}, {"k", NB_ST_I64, 1, {2}, k}, {"s", NB_ST_U8, 0, {0}, "x"}};
    nb_st_meta m = {"key", "value"};
    char path[64];
    io_tmp(path, sizeof path);
    CHECK_OK(nb_st_save(path, ts, 3, &m, 1) == 0);
    long size = io_file_size(path);
    unsigned char *img = malloc((size_t)size);
    FILE *fp = fopen(path, "rb");
    CHECK(fp && fread(img, 1, (size_t)size, fp) == (size_t)size);
    if (fp) fclose(fp);
    remove(path);
    nb_st_file *f = nb_st_load_mem(img, (size_t)size, "fuzz");
    CHECK_OK(f);
    nb_st_free(f);
    for (long n = 0; n < size; n++) {
        f = nb_st_load_mem(img, (size_t)n, "fuzz");
        CHECK_MSG(!f, "truncation to %ld bytes loaded", n);
        nb_st_free(f);
    }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | img[i];
    static const unsigned char subs[] = {0x00, 0x01, '"', '{', '}',  '[', ']',  ',',
                                         ':',  '0',  '9', '-', '\\', 'u', 0x80, 0xFF};
    long loaded = 0, tried = 0;
    for (size_t p = 0; p < 8 + hl; p++) {
        unsigned char orig = img[p];
        for (size_t s = 0; s < sizeof subs; s++) {
            if (subs[s] == orig) continue;
            img[p] = subs[s];
            tried++;
            f = nb_st_load_mem(img, (size_t)size, "fuzz");
            if (f) { /* whatever loaded must be self-consistent */
                loaded++;
                for (size_t i = 0; i < nb_st_count(f); i++) {
                    const nb_st_tensor *t = nb_st_at(f, i);
                    CHECK(t && t->name && nb_st_find(f, t->name) && nb_st_dtype_size(t->dtype) > 0);
                }
                nb_st_free(f);
            } else {
                CHECK(strstr(nb_errmsg(), "fuzz: ") == nb_errmsg());
            }
        }
        img[p] = orig;
    }
    CHECK(tried > 1000 && loaded < tried / 4);
    free(img);
}

/* --------------------------------------------------- Python interop */
/* The files both sides write and check are described in
 * tests/ref/check_safetensors.py; keep the two in step. */
static int io_have_python(void) { return system("python3 -c \"import safetensors, numpy\" >/dev/null 2>&1") == 0; }

TEST(io, python_interop)
{
    if (!io_have_python()) {
        T_SKIP_UNLESS_REQUIRED("NB_REQUIRE_PYTHON", "python3 with safetensors and numpy not found "
                                                    "(python3 -m pip install safetensors numpy)");
        return;
    }
    /* C writes, Python checks. */
    float w[6];
    for (int i = 0; i < 6; i++) w[i] = (float)i * 0.25f - 0.5f;
    double b[3] = {1.0, 0.5, 1.0 / 3.0};
    int32_t idx[4] = {-2, 0, 7, INT32_MAX};
    int64_t big[2] = {-9007199254740993LL, (int64_t)1 << 40};
    uint8_t u8[5] = {0, 1, 127, 128, 255};
    float sc = 3.5f, one = 1.0f;
    nb_st_tensor ts[] = {
        {"w.f32", NB_ST_F32, 2, {2, 3}, w},    {"b.f64", NB_ST_F64, 1, {3}, b},
        {"idx.i32", NB_ST_I32, 1, {4}, idx},   {"big.i64", NB_ST_I64, 1, {2}, big},
        {"bytes.u8", NB_ST_U8, 1, {5}, u8},    {"scalar", NB_ST_F32, 0, {0}, &sc},
        {"empty", NB_ST_F32, 2, {0, 4}, NULL}, {"\xc3\xbcn\xc3\xaf\"code", NB_ST_F32, 1, {1}, &one},
    };
    nb_st_meta meta[] = {{"format", "nabla"}, {"step", "42"}, {"note", "h\xc3\xa9llo \"q\"\n"}};
    char path[64], cmd[256];
    io_tmp(path, sizeof path);
    CHECK_OK(nb_st_save(path, ts, sizeof ts / sizeof ts[0], meta, 3) == 0);
    snprintf(cmd, sizeof cmd, "python3 tests/ref/check_safetensors.py check %s", path);
    CHECK_MSG(system(cmd) == 0, "python could not read what nabla wrote: %s", cmd);

    /* Python writes, C checks. */
    snprintf(cmd, sizeof cmd, "python3 tests/ref/check_safetensors.py write %s", path);
    CHECK_MSG(system(cmd) == 0, "%s failed", cmd);
    nb_st_file *f = nb_st_load(path);
    CHECK_OK(f);
    if (f) {
        CHECK(nb_st_count(f) == 7);
        const nb_st_tensor *t = nb_st_find(f, "py.f32");
        CHECK(t && t->dtype == NB_ST_F32 && t->ndim == 2 && t->shape[0] == 3 && t->shape[1] == 2);
        if (t)
            for (int i = 0; i < 6; i++) CHECK(((const float *)t->data)[i] == (float)i * 1.5f - 2.0f);
        t = nb_st_find(f, "py.f64");
        CHECK(t && t->dtype == NB_ST_F64 && t->ndim == 1 && t->shape[0] == 4);
        if (t)
            for (int i = 0; i < 4; i++) CHECK(((const double *)t->data)[i] == 1.0 / (double)(i + 1));
        t = nb_st_find(f, "py.i64");
        CHECK(t && t->dtype == NB_ST_I64 && t->ndim == 1 && t->shape[0] == 3);
        if (t) CHECK(((const int64_t *)t->data)[0] == -(INT64_C(1) << 62) && ((const int64_t *)t->data)[2] == 5);
        t = nb_st_find(f, "py.i32");
        CHECK(t && t->dtype == NB_ST_I32 && t->ndim == 0);
        if (t) CHECK(*(const int32_t *)t->data == -123456);
        t = nb_st_find(f, "py.u8");
        CHECK(t && t->dtype == NB_ST_U8 && t->ndim == 3 && t->shape[0] == 2 && t->shape[2] == 2);
        if (t)
            for (int i = 0; i < 8; i++) CHECK(((const uint8_t *)t->data)[i] == (uint8_t)(i * 37));
        t = nb_st_find(f, "py.f16");
        CHECK(t && t->dtype == NB_ST_F16 && t->shape[0] == 2);
        if (t) CHECK(((const uint16_t *)t->data)[0] == 0x3C00 && ((const uint16_t *)t->data)[1] == 0xC000);
        t = nb_st_find(f, "py.bool");
        CHECK(t && t->dtype == NB_ST_BOOL && t->shape[0] == 3);
        if (t) CHECK(memcmp(t->data, "\1\0\1", 3) == 0);
        const char *v = nb_st_meta_get(f, "source");
        CHECK(v && strcmp(v, "python") == 0);
        v = nb_st_meta_get(f, "unicode");
        CHECK(v && strcmp(v, "\xe6\x97\xa5\xe6\x9c\xac") == 0);
        nb_tensor *x = nb_st_to_tensor(nb_st_find(f, "py.f64"));
        CHECK_OK(x);
        if (x) CHECK(nb_get(x, 1) == 0.5);
        nb_tensor_free(x);
        nb_st_free(f);
    }
    remove(path);
}

/* A file of another kind (a README, a PyTorch pickle) is named as such, not
 * reported by its first 8 bytes read as an absurd header length. */
TEST(io_bad, not_safetensors_text)
{
    static const char text[] = "# nabla\n\nTensors and autograd in C11.\n";
    io_bad_image((const unsigned char *)text, sizeof text - 1, "not a safetensors checkpoint", __LINE__);
    unsigned char zip[16] = {'P', 'K', 3, 4, 20, 0, 0, 0, 8, 0};
    io_bad_image(zip, sizeof zip, "not a safetensors checkpoint", __LINE__);
    io_bad_image(io_zeros, 3, "not a safetensors checkpoint", __LINE__);
}
