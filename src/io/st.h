/* Helpers shared by the safetensors reader and writer (private). */
#ifndef NB_IO_ST_H
#define NB_IO_ST_H

#include "nabla/io.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static inline int nb__st_host_le(void)
{
    const uint16_t one = 1;
    unsigned char c;
    memcpy(&c, &one, 1);
    return c == 1;
}

/* Reverse the bytes of each of the n elements of `size` bytes in p. */
static inline void nb__st_bswap(unsigned char *p, size_t n, size_t size)
{
    if (size < 2) return;
    for (size_t i = 0; i < n; i++, p += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* "[2, 3]" into buf (cut with "...]" if it does not fit); returns buf. */
static inline char *nb__st_shape_str(char *buf, size_t cap, int ndim, const size_t *shape)
{
    size_t o = 0;
    buf[o++] = '[';
    for (int i = 0; i < ndim && o + 32 < cap; i++)
        o += (size_t)snprintf(buf + o, cap - o, "%s%zu", i ? ", " : "", shape[i]);
    snprintf(buf + o, cap - o, "]");
    return buf;
}

#endif
