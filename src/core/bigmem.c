/* nb__big_zalloc (see internal.h). */
/* madvise(MADV_HUGEPAGE) is not POSIX. */
#define _DEFAULT_SOURCE 1
#include "internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

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
