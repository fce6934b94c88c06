/* nb__big_zalloc and the memory limit (see internal.h). */
/* madvise(MADV_HUGEPAGE) is not POSIX. */
#define _DEFAULT_SOURCE 1
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

void *nb__big_zalloc(size_t n, size_t elem)
{
    if (elem && n > SIZE_MAX / elem) return NULL;
    const size_t huge = (size_t)2 << 20, bytes = n * elem;
    size_t size = bytes ? bytes : 1, align = 64;
    if (size >= 2 * huge && size <= SIZE_MAX - huge) align = huge;
    size = (size + align - 1) / align * align;
    void *p = aligned_alloc(align, size);
    if (!p) return NULL;
#if defined(MADV_HUGEPAGE)
    if (align == huge) madvise(p, size, MADV_HUGEPAGE); /* a hint: failure is harmless */
#endif
    memset(p, 0, size);
    return p;
}

/* "512M", "2G", "1.5GiB", "1000000": bytes (K, M, G, T are powers of 1024). */
int nb__parse_bytes(const char *s, size_t *out)
{
    if (!s || !isdigit((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !(v >= 0)) return -1;
    static const char units[] = "KMGT";
    const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
    if (u) {
        for (const char *p = units; p <= u; p++) v *= 1024;
        end++;
        if (*end == 'i' && end[1] == 'B') end += 2;
        else if (*end == 'B') end++;
    } else if (*end == 'B') {
        end++;
    }
    if (*end || v < 1 || v >= 0x1p63) return -1;
    *out = (size_t)v;
    return 0;
}

/* The first number in a file such as /sys/fs/cgroup/memory.max; 0 when none
 * ("max", missing). */
static size_t nb__file_bytes(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    unsigned long long v = 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
    return v > SIZE_MAX ? SIZE_MAX : (size_t)v;
}

size_t nb__memory_limit(char *why, size_t size)
{
    size_t b;
    const char *e = getenv("NABLA_MEMORY_LIMIT");
    if (e && *e && !nb__parse_bytes(e, &b)) {
        snprintf(why, size, "NABLA_MEMORY_LIMIT=%.40s", e);
        return b;
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    size_t lim = pages > 0 && page > 0 && (size_t)pages <= SIZE_MAX / (size_t)page ? (size_t)pages * (size_t)page
                                                                                   : SIZE_MAX;
    const char *what = "this machine's memory";
    size_t cg = nb__file_bytes("/sys/fs/cgroup/memory.max");
    if (cg && cg < lim) {
        lim = cg;
        what = "this control group's memory limit";
    }
    struct rlimit r;
    if (!getrlimit(RLIMIT_AS, &r) && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < lim) {
        lim = (size_t)r.rlim_cur;
        what = "the address-space limit (ulimit -v)";
    }
    if (!getrlimit(RLIMIT_DATA, &r) && r.rlim_cur != RLIM_INFINITY && r.rlim_cur < lim) {
        lim = (size_t)r.rlim_cur;
        what = "the data-size limit (ulimit -d)";
    }
    char amount[32];
    snprintf(why, size, "%s (%s)", what, nb__bytes_str(lim, amount, sizeof amount));
    return lim;
}

const char *nb__bytes_str(size_t bytes, char *buf, size_t size)
{
    static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)bytes;
    int u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        u++;
    }
    if (u == 0) snprintf(buf, size, "%zu bytes", bytes);
    else snprintf(buf, size, "%.1f %s", v, unit[u]);
    return buf;
}
