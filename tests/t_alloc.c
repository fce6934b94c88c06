/* The interposed allocator (see t_alloc.h).  glibc exports its own
 * implementation as __libc_*, so ours only counts and forwards. */
#include "t_alloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if T_ALLOC_INTERPOSED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static volatile int t_counting, t_failing;
static volatile long t_calls, t_fail_at;
static long t_live; /* updated atomically: any thread may allocate */

/* One allocation call: 1 if it must fail. */
static int t_alloc_call(void)
{
    if (t_failing) return ++t_calls == t_fail_at;
    if (t_counting) t_calls++;
    return 0;
}

static void *t_live_add(void *p)
{
    if (p) __atomic_add_fetch(&t_live, 1, __ATOMIC_RELAXED);
    return p;
}

void *malloc(size_t n)
{
    if (t_alloc_call()) {
        errno = ENOMEM;
        return NULL;
    }
    return t_live_add(__libc_malloc(n));
}

void *calloc(size_t n, size_t s)
{
    if (t_alloc_call()) {
        errno = ENOMEM;
        return NULL;
    }
    return t_live_add(__libc_calloc(n, s));
}

void *realloc(void *p, size_t n)
{
    if (t_alloc_call()) {
        errno = ENOMEM;
        return NULL;
    }
    if (!p) return t_live_add(__libc_realloc(p, n));
    void *q = __libc_realloc(p, n);
    if (!q && n == 0) __atomic_sub_fetch(&t_live, 1, __ATOMIC_RELAXED); /* glibc freed p */
    return q;
}

void free(void *p)
{
    if (p) __atomic_sub_fetch(&t_live, 1, __ATOMIC_RELAXED);
    __libc_free(p);
}

void *aligned_alloc(size_t a, size_t n)
{
    if (t_alloc_call()) {
        errno = ENOMEM;
        return NULL;
    }
    return t_live_add(__libc_memalign(a, n));
}

void *memalign(size_t a, size_t n);
void *memalign(size_t a, size_t n)
{
    if (t_alloc_call()) {
        errno = ENOMEM;
        return NULL;
    }
    return t_live_add(__libc_memalign(a, n));
}

int posix_memalign(void **out, size_t a, size_t n)
{
    if (t_alloc_call()) return ENOMEM;
    void *p = t_live_add(__libc_memalign(a, n));
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
#endif

int t_alloc_usable(const char **why)
{
    const char *w = NULL;
#if !T_ALLOC_INTERPOSED
    w = "built with a sanitizer's allocator (ASan) or without glibc";
#else
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "vgpreload")) w = "running under valgrind, which replaces malloc";
#endif
    if (why) *why = w;
    return w == NULL;
}

#if T_ALLOC_INTERPOSED
void t_alloc_count_start(void)
{
    t_calls = 0;
    t_counting = 1;
}
long t_alloc_count_stop(void)
{
    t_counting = 0;
    return t_calls;
}
void t_alloc_fail_nth(long n)
{
    t_calls = 0;
    t_fail_at = n;
    t_failing = 1;
}
long t_alloc_fail_stop(void)
{
    t_failing = 0;
    return t_calls;
}
long t_alloc_live(void) { return __atomic_load_n(&t_live, __ATOMIC_RELAXED); }
#else
void t_alloc_count_start(void) {}
long t_alloc_count_stop(void) { return 0; }
void t_alloc_fail_nth(long n) { (void)n; }
long t_alloc_fail_stop(void) { return 0; }
long t_alloc_live(void) { return 0; }
#endif
