/* Portable gemm kernels, the fallback on any CPU (and the only ones off
 * x86-64): 4 x 8 float and 4 x 4 double micro-tiles over 16-byte GNU C vectors
 * (SSE2 on baseline x86-64, NEON on arm64), or plain scalars (4 x 2) where the
 * compiler has no vector extension. */
#include "gemm.h"

#include <string.h>

#define KATTR
#define MR 4
#define ROWS(X) X(0) X(1) X(2) X(3)

#if defined(__GNUC__)
#define KPREFETCH(p) __builtin_prefetch(p)
typedef float nb__gv4f __attribute__((vector_size(16)));
typedef double nb__gv2d __attribute__((vector_size(16)));
/* Loads and stores through memcpy: unaligned, and no aliasing trouble. */
#define NB__GV(V, T, S, VL)                                                   \
    static inline V nb__gload_##S(const T *p)                                 \
    {                                                                         \
        V v;                                                                  \
        memcpy(&v, p, sizeof v);                                              \
        return v;                                                             \
    }                                                                         \
    static inline void nb__gstore_##S(T *p, V v) { memcpy(p, &v, sizeof v); } \
    static inline V nb__gloadm_##S(const T *p, size_t n)                      \
    {                                                                         \
        V v = {0};                                                            \
        for (size_t i = 0; i < n; i++) v[i] = p[i];                           \
        return v;                                                             \
    }                                                                         \
    static inline void nb__gstorem_##S(T *p, size_t n, V v)                   \
    {                                                                         \
        for (size_t i = 0; i < n; i++) p[i] = v[i];                           \
    }                                                                         \
    static inline V nb__gbcast_##S(T x)                                       \
    {                                                                         \
        V v;                                                                  \
        for (int i = 0; i < VL; i++) v[i] = x;                                \
        return v;                                                             \
    }                                                                         \
    static inline T nb__ghsum_##S(V v)                                        \
    {                                                                         \
        T s = 0;                                                              \
        for (int i = 0; i < VL; i++) s += v[i];                               \
        return s;                                                             \
    }
NB__GV(nb__gv4f, float, f32, 4)
NB__GV(nb__gv2d, double, f64, 2)
#define VM size_t
#define VMASK(n) ((size_t)(n))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VMUL(a, b) ((a) * (b))
#define VADD(a, b) ((a) + (b))

/* ------------------------------------------------------------- float 4 x 8 */
#define T float
#define V nb__gv4f
#define VL 4
#define VZERO() ((nb__gv4f){0, 0, 0, 0})
#define VLOAD(p) nb__gload_f32(p)
#define VSTORE(p, v) nb__gstore_f32(p, v)
#define VBCAST(x) nb__gbcast_f32(x)
#define VHSUM(v) nb__ghsum_f32(v)
#define VLOADM(p, m) nb__gloadm_f32(p, m)
#define VSTOREM(p, m, v) nb__gstorem_f32(p, m, v)
#define KS(name) nb__generic_##name##_f32
#define KTYPE nb__gemm_kern_f32
#define KNAME nb__gemm_generic_f32
#define KMC 128
#define KKC 256
#define KNC 2048
#include "gemm_kern.inc"
#undef T
#undef V
#undef VL
#undef VZERO
#undef VLOAD
#undef VSTORE
#undef VBCAST
#undef VHSUM
#undef VLOADM
#undef VSTOREM
#undef KS
#undef KTYPE
#undef KNAME
#undef KMC
#undef KKC
#undef KNC

/* ------------------------------------------------------------ double 4 x 4 */
#define T double
#define V nb__gv2d
#define VL 2
#define VZERO() ((nb__gv2d){0, 0})
#define VLOAD(p) nb__gload_f64(p)
#define VSTORE(p, v) nb__gstore_f64(p, v)
#define VBCAST(x) nb__gbcast_f64(x)
#define VHSUM(v) nb__ghsum_f64(v)
#define VLOADM(p, m) nb__gloadm_f64(p, m)
#define VSTOREM(p, m, v) nb__gstorem_f64(p, m, v)
#define KS(name) nb__generic_##name##_f64
#define KTYPE nb__gemm_kern_f64
#define KNAME nb__gemm_generic_f64
#define KMC 64
#define KKC 256
#define KNC 1024
#include "gemm_kern.inc"

#else /* no vector extension: one-lane "vectors" */
#define KPREFETCH(p) ((void)0)
#define VL 1
#define VM size_t
#define VMASK(n) ((size_t)(n))
#define VZERO() 0
#define VLOAD(p) (*(p))
#define VSTORE(p, v) (*(p) = (v))
#define VBCAST(x) (x)
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VMUL(a, b) ((a) * (b))
#define VADD(a, b) ((a) + (b))
#define VHSUM(v) (v)
#define VLOADM(p, m) ((m) ? *(p) : 0)
#define VSTOREM(p, m, v) ((m) ? (void)(*(p) = (v)) : (void)0)
#define KMC 128
#define KKC 256
#define KNC 1024

#define T float
#define V float
#define KS(name) nb__generic_##name##_f32
#define KTYPE nb__gemm_kern_f32
#define KNAME nb__gemm_generic_f32
#include "gemm_kern.inc"
#undef T
#undef V
#undef KS
#undef KTYPE
#undef KNAME

#define T double
#define V double
#define KS(name) nb__generic_##name##_f64
#define KTYPE nb__gemm_kern_f64
#define KNAME nb__gemm_generic_f64
#include "gemm_kern.inc"
#endif
