/* Matrix multiply kernels (private), row-major, BLAS-style arguments:
 *   C = alpha * op(A) op(B) + beta * C        C: [M, N], row stride ldc
 *   op(A) = A    [M, K], row stride lda   (ta == 0)
 *         = A^T  with A stored [K, M]     (ta != 0)
 *   op(B) = B    [K, N], row stride ldb   (tb == 0)
 *         = B^T  with B stored [N, K]     (tb != 0)
 * beta == 0 overwrites C (whatever it held, NaN included); beta == 1 accumulates.
 * nb_k_gemm_ref_* is the naive triple loop kept as the reference the tests
 * compare the fast version against; _f32 and _f64 come from gemm.inc. */
#ifndef NB_KERNELS_GEMM_H
#define NB_KERNELS_GEMM_H

#include <stddef.h>

#define NB__GEMM_DECLS(T, S)                                                                    \
    void nb_k_gemm_##S(int ta, int tb, size_t M, size_t N, size_t K, T alpha, const T *A,      \
                       size_t lda, const T *B, size_t ldb, T beta, T *C, size_t ldc);           \
    void nb_k_gemm_ref_##S(int ta, int tb, size_t M, size_t N, size_t K, T alpha, const T *A,  \
                           size_t lda, const T *B, size_t ldb, T beta, T *C, size_t ldc);

NB__GEMM_DECLS(float, f32)
NB__GEMM_DECLS(double, f64)

#endif
