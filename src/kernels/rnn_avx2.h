/* AVX2 loops of the float32 LSTM cell (private; rnn.inc calls them when
 * nb__cpu_has_avx2() says the CPU has AVX2).  Each performs exactly the float
 * operations of the scalar loop in rnn.inc, in the same order and without
 * fusing a multiply into an add, so the results are the same bits. */
#ifndef NB_KERNELS_RNN_AVX2_H
#define NB_KERNELS_RNN_AVX2_H

#include <stddef.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define NB__RNN_X86 1
/* One row of h: g [4H] the activated gates i f g o, cp [H] c_{t-1} (NULL:
 * zeros); cn = f cp + i g, then h = o tanh(cn) with tcn = tanh(cn). */
void nb__lstm_fwd_row_avx2_f32(size_t h, const float *g, const float *cp, float *cn, float *tcn, float *ho);
/* One row of the backward (see rnn.inc's scalar loop for the formulas). */
void nb__lstm_bwd_row_avx2_f32(size_t h, const float *g, const float *cp, const float *tc, const float *dy,
                               const float *dh, float *dc, float *dg);
#endif

#endif
