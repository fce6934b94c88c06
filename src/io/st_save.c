/* safetensors writer: validate everything, build the header in memory, then
 * write PATH.tmp.XXXXXX, fsync, rename over PATH, fsync the directory.  Any
 * failure removes the temporary file and leaves PATH untouched.
 *
 * The temporary file is made with open(O_CREAT | O_EXCL, 0666) and a random
 * suffix rather than mkstemp: the guarantee is the same (a fresh file no one
 * else holds), but the file gets the usual umask-derived permissions instead
 * of mkstemp's 0600, so a checkpoint is as readable as any other file.
 *
 * A save that is killed (SIGKILL, power loss) leaves its PATH.tmp.XXXXXX
 * behind; PATH itself is never torn.  The next successful save to PATH
 * removes such leftovers: a saver holds flock(LOCK_EX) on its temporary file
 * from creation until after the rename, so a temporary that can be locked
 * belongs to no live save (the kernel drops the locks of a dead process).
 * Empty ones younger than a minute are spared (a saver between its open and
 * its flock). */
#include "../internal.h"
#include "json.h"
#include "st.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------- header builder */
typedef struct {
    char *p;
    size_t n, cap;
    int oom;
} nb__sb;

static void nb__sb_put(nb__sb *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void nb__sb_str(nb__sb *b, const char *s) { nb__sb_put(b, s, strlen(s)); }

static void nb__sb_u64(nb__sb *b, uint64_t v)
{
    char t[24];
    nb__sb_put(b, t, (size_t)snprintf(t, sizeof t, "%llu", (unsigned long long)v));
}

/* A JSON string (s is valid UTF-8, checked by the caller), escaped as
 * nb_json_write_string does: runs of plain bytes go in one piece. */
static void nb__sb_jstr(nb__sb *b, const char *s)
{
    nb__sb_put(b, "\"", 1);
    for (const char *run = s;; s++) {
        char e[8];
        size_t n = nb__json_escape((unsigned char)*s, e);
        if (!n && *s) continue;
        nb__sb_put(b, run, (size_t)(s - run));
        if (!*s) break;
        nb__sb_put(b, e, n);
        run = s + 1;
    }
    nb__sb_put(b, "\"", 1);
}

/* ------------------------------------------------------------ validation */
typedef struct {
    const char *name;
    size_t size, i;
    uint64_t bytes;
} nb__st_item;

static int nb__st_item_layout_cmp(const void *a, const void *b) /* dtype size desc, then name */
{
    const nb__st_item *x = a, *y = b;
    if (x->size != y->size) return x->size > y->size ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int nb__st_str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static const char *nb__st_q(char *q, size_t cap, const char *s) { return nb__json_quote(q, cap, s, strlen(s), 64); }

static int nb__st_utf8(const char *s)
{
    size_t bad;
    return nb__utf8_check((const unsigned char *)s, strlen(s), &bad);
}

/* Reject duplicates among n strings (sorted copy, neighbours compared). */
static int nb__st_unique(const char *path, const char *what, const char **s, size_t n)
{
    if (n < 2) return 0;
    const char **c = malloc(n * sizeof *c);
    if (!c) return nb__erri("%s: out of memory", path);
    memcpy(c, s, n * sizeof *c);
    qsort(c, n, sizeof *c, nb__st_str_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(c[i - 1], c[i]) == 0) {
            char q[96];
            nb__st_q(q, sizeof q, c[i]);
            free(c);
            return nb__erri("%s: duplicate %s %s", path, what, q);
        }
    free(c);
    return 0;
}

static int nb__st_check(const char *path, const nb_st_tensor *t, size_t n, const nb_st_meta *meta, size_t n_meta,
                        nb__st_item *items)
{
    char q[96];
    const char **names = malloc((n > n_meta ? n : n_meta) * sizeof *names + 1);
    if (!names) return nb__erri("%s: out of memory", path);
    int rc = -1;
    for (size_t i = 0; i < n; i++) {
        const nb_st_tensor *x = &t[i];
        if (!x->name) {
            nb__erri("%s: tensor %zu has a NULL name", path, i);
            goto out;
        }
        nb__st_q(q, sizeof q, x->name);
        if (nb__st_utf8(x->name) != 0) {
            nb__erri("%s: tensor %zu's name %s is not valid UTF-8", path, i, q);
            goto out;
        }
        if (strcmp(x->name, "__metadata__") == 0) {
            nb__erri("%s: \"__metadata__\" is reserved and cannot name a tensor", path);
            goto out;
        }
        size_t sz = nb_st_dtype_size(x->dtype);
        if (!sz) {
            nb__erri("%s: tensor %s has unknown dtype %d", path, q, (int)x->dtype);
            goto out;
        }
        if (x->ndim < 0 || x->ndim > NB_MAX_DIMS) {
            nb__erri("%s: tensor %s has %d dimensions (must be 0..%d)", path, q, x->ndim, NB_MAX_DIMS);
            goto out;
        }
        uint64_t bytes = sz;
        int zero = 0, over = 0;
        for (int d = 0; d < x->ndim; d++) {
            uint64_t s = x->shape[d];
            if (s == 0) zero = 1;
            else if (bytes > UINT64_MAX / s) over = 1;
            else bytes *= s;
        }
        if (zero) bytes = 0;
        if ((over && !zero) || bytes > SIZE_MAX) {
            char shs[160];
            nb__erri("%s: tensor %s: shape %s of %s is too large", path, q,
                     nb__st_shape_str(shs, sizeof shs, x->ndim, x->shape), nb_st_dtype_name(x->dtype));
            goto out;
        }
        if (bytes && !x->data) {
            nb__erri("%s: tensor %s has NULL data", path, q);
            goto out;
        }
        items[i] = (nb__st_item){x->name, sz, i, bytes};
        names[i] = x->name;
    }
    if (nb__st_unique(path, "tensor name", names, n) != 0) goto out;
    for (size_t i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value) {
            nb__erri("%s: metadata entry %zu has a NULL %s", path, i, meta[i].key ? "value" : "key");
            goto out;
        }
        if (nb__st_utf8(meta[i].key) != 0 || nb__st_utf8(meta[i].value) != 0) {
            nb__erri("%s: metadata entry %s is not valid UTF-8", path, nb__st_q(q, sizeof q, meta[i].key));
            goto out;
        }
        names[i] = meta[i].key;
    }
    if (nb__st_unique(path, "metadata key", names, n_meta) != 0) goto out;
    rc = 0;
out:
    free(names);
    return rc;
}

/* ----------------------------------------------------------------- files */
static int nb__st_write_all(int fd, const void *p, size_t n)
{
    const unsigned char *c = p;
    while (n > 0) {
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t w = write(fd, c, chunk);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Tensor data in little-endian order (swapped through a bounce buffer on a
 * big-endian host). */
static int nb__st_write_data(int fd, const void *data, size_t bytes, size_t size)
{
    if (nb__st_host_le() || size < 2) return nb__st_write_all(fd, data, bytes);
    unsigned char tmp[1 << 14];
    const unsigned char *p = data;
    while (bytes > 0) {
        size_t k = bytes < sizeof tmp ? bytes : sizeof tmp;
        memcpy(tmp, p, k);
        nb__st_bswap(tmp, k / size, size);
        if (nb__st_write_all(fd, tmp, k) != 0) return -1;
        p += k;
        bytes -= k;
    }
    return 0;
}

static uint64_t nb__st_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* Create PATH.tmp.XXXXXX exclusively; tmp receives the name.  fd or -1. */
static int nb__st_tmp_open(const char *path, char *tmp, size_t cap)
{
    static _Thread_local uint64_t counter;
    static const char al[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t seed = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 40) ^
                    (uint64_t)(uintptr_t)&ts;
    for (int attempt = 0; attempt < 100; attempt++) {
        uint64_t r = nb__st_mix(seed ^ nb__st_mix(++counter));
        int o = snprintf(tmp, cap, "%s.tmp.", path);
        for (int k = 0; k < 6; k++, r /= 62) tmp[o + k] = al[r % 62];
        tmp[o + 6] = '\0';
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) flock(fd, LOCK_EX | LOCK_NB); /* "in use" for nb__st_sweep; best effort */
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    errno = EEXIST;
    return -1;
}

/* Flush the directory entry made by rename (EINVAL: the file system cannot). */
static int nb__st_sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1;
    char *dir = malloc(len + 1);
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    if (slash) memcpy(dir, path, len);
    else dir[0] = '.';
    dir[len] = '\0';
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    if (rc != 0 && errno == EINVAL) rc = 0;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Remove the PATH.tmp.XXXXXX files that killed saves left next to path (see
 * the top of the file).  Best effort: a failure here changes nothing. */
static void nb__st_sweep(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 1, blen = strlen(base);
    char *dir = malloc(dlen + 1);
    if (!dir) return;
    if (slash) memcpy(dir, path, dlen);
    else dir[0] = '.';
    dir[dlen] = '\0';
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        const char *nm = e->d_name;
        if (strncmp(nm, base, blen) != 0 || strncmp(nm + blen, ".tmp.", 5) != 0 || strlen(nm + blen + 5) != 6) continue;
        int ok = 1;
        for (const char *c = nm + blen + 5; *c; c++)
            ok &= (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9');
        if (!ok) continue;
        int fd = openat(dirfd(d), nm, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) continue;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_size > 0 || time(NULL) - st.st_mtime > 60) &&
            flock(fd, LOCK_EX | LOCK_NB) == 0)
            unlinkat(dirfd(d), nm, 0);
        close(fd); /* drops our lock */
    }
    if (d) closedir(d);
    free(dir);
}

int nb_st_save(const char *path, const nb_st_tensor *tensors, size_t n, const nb_st_meta *meta, size_t n_meta)
{
    if (!path || !*path) return nb__erri("nb_st_save: empty path");
    if (n && !tensors) return nb__erri("%s: NULL tensor array", path);
    if (n_meta && !meta) return nb__erri("%s: NULL metadata array", path);
    size_t plen = strlen(path);
    if (path[plen - 1] == '/') return nb__erri("%s: the path names a directory", path);

    nb__st_item *items = malloc((n ? n : 1) * sizeof *items);
    char *tmp = malloc(plen + 16);
    nb__sb h = {0};
    int fd = -1, lfd = -1, cfd, rc = -1;
    if (!items || !tmp) {
        nb__erri("%s: out of memory", path);
        goto out;
    }
    if (nb__st_check(path, tensors, n, meta, n_meta, items) != 0) goto out;
    qsort(items, n, sizeof *items, nb__st_item_layout_cmp);

    /* The header: __metadata__ first, then the tensors in layout order. */
    nb__sb_put(&h, "\0\0\0\0\0\0\0\0{", 9); /* the length is patched in below */
    int first = 1;
    if (n_meta) {
        nb__sb_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < n_meta; i++) {
            if (i) nb__sb_put(&h, ",", 1);
            nb__sb_jstr(&h, meta[i].key);
            nb__sb_put(&h, ":", 1);
            nb__sb_jstr(&h, meta[i].value);
        }
        nb__sb_put(&h, "}", 1);
        first = 0;
    }
    uint64_t at = 0;
    for (size_t k = 0; k < n; k++) {
        const nb_st_tensor *t = &tensors[items[k].i];
        if (!first) nb__sb_put(&h, ",", 1);
        first = 0;
        nb__sb_jstr(&h, t->name);
        nb__sb_str(&h, ":{\"dtype\":\"");
        nb__sb_str(&h, nb_st_dtype_name(t->dtype));
        nb__sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) nb__sb_put(&h, ",", 1);
            nb__sb_u64(&h, t->shape[d]);
        }
        nb__sb_str(&h, "],\"data_offsets\":[");
        nb__sb_u64(&h, at);
        nb__sb_put(&h, ",", 1);
        if (items[k].bytes > UINT64_MAX - at) {
            nb__erri("%s: total size overflows", path);
            goto out;
        }
        at += items[k].bytes;
        nb__sb_u64(&h, at);
        nb__sb_str(&h, "]}");
    }
    nb__sb_put(&h, "}", 1);
    while (!h.oom && h.n % 8) nb__sb_put(&h, " ", 1); /* pad with spaces, as the reference does */
    if (h.oom) {
        nb__erri("%s: out of memory building the header", path);
        goto out;
    }
    uint64_t hlen = h.n - 8;
    if (hlen > NB_ST_MAX_HEADER_BYTES) {
        nb__erri("%s: the header would be %llu bytes, over the %zu-byte limit readers accept", path,
                 (unsigned long long)hlen, NB_ST_MAX_HEADER_BYTES);
        goto out;
    }
    for (int i = 0; i < 8; i++) h.p[i] = (char)(hlen >> (8 * i) & 0xFF);

    fd = nb__st_tmp_open(path, tmp, plen + 16);
    if (fd < 0) {
        nb__erri("%s: cannot create a temporary file next to it: %s", path, strerror(errno));
        goto out;
    }
    if (nb__st_write_all(fd, h.p, h.n) != 0) goto write_fail;
    for (size_t k = 0; k < n; k++) {
        const nb_st_tensor *t = &tensors[items[k].i];
        if (items[k].bytes && nb__st_write_data(fd, t->data, (size_t)items[k].bytes, items[k].size) != 0)
            goto write_fail;
    }
    if (fsync(fd) != 0) {
        nb__erri("%s: fsync failed: %s (the previous file is unchanged)", path, strerror(errno));
        goto unlink_tmp;
    }
    /* lfd keeps the temporary locked (flock belongs to the open file) until
     * it has been renamed, so no other saver's sweep can take it. */
    lfd = dup(fd);
    cfd = fd;
    fd = -1;
    if (close(cfd) != 0) {
        nb__erri("%s: close failed: %s (the previous file is unchanged)", path, strerror(errno));
        goto unlink_tmp;
    }
    if (rename(tmp, path) != 0) {
        nb__erri("%s: cannot rename the temporary file over it: %s (the previous file is unchanged)", path,
                 strerror(errno));
        goto unlink_tmp;
    }
    if (nb__st_sync_dir(path) != 0) {
        nb__erri("%s: saved, but syncing its directory failed: %s", path, strerror(errno));
        goto out;
    }
    if (lfd >= 0) close(lfd);
    lfd = -1;
    nb__st_sweep(path);
    rc = 0;
    goto out;

write_fail:
    nb__erri("%s: write failed: %s (the previous file is unchanged)", path, strerror(errno));
unlink_tmp:
    if (fd >= 0) close(fd);
    fd = -1;
    unlink(tmp);
out:
    if (fd >= 0) close(fd);
    if (lfd >= 0) close(lfd);
    free(items);
    free(tmp);
    free(h.p);
    return rc;
}

int nb_st_describe(nb_st_tensor *out, const char *name, const nb_tensor *t)
{
    if (!out || !name || !t) return nb__erri("nb_st_describe: NULL %s", !out ? "output" : !name ? "name" : "tensor");
    int dt = nb_st_dtype_of(t->dtype);
    if (dt < 0) return nb__erri("nb_st_describe: tensor '%s' has unknown dtype %d", name, (int)t->dtype);
    memset(out, 0, sizeof *out);
    out->name = name;
    out->dtype = (nb_st_dtype)dt;
    out->ndim = t->ndim;
    for (int d = 0; d < t->ndim; d++) out->shape[d] = t->shape[d];
    out->data = t->data;
    return 0;
}
