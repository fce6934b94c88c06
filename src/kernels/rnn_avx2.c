/* AVX2 loops of the float32 LSTM cell (see rnn_avx2.h). */
#include "rnn_avx2.h"

#if defined(NB__RNN_X86)
#include <immintrin.h>

#include "vmath.h"

#define KATTR __attribute__((target("avx2")))
#define LD _mm256_loadu_ps
#define ST _mm256_storeu_ps
#define MUL _mm256_mul_ps
#define ADD _mm256_add_ps
#define SUB _mm256_sub_ps

KATTR void nb__lstm_fwd_row_avx2_f32(size_t h, const float *g, const float *cp, float *cn, float *tcn, float *ho)
{
    const float *gi = g, *gf = g + h, *gg = g + 2 * h, *go = g + 3 * h;
    size_t j = 0;
    if (cp) {
        for (; j + 8 <= h; j += 8) ST(cn + j, ADD(MUL(LD(gf + j), LD(cp + j)), MUL(LD(gi + j), LD(gg + j))));
        for (; j < h; j++) cn[j] = gf[j] * cp[j] + gi[j] * gg[j];
    } else {
        const __m256 z = _mm256_setzero_ps();
        for (; j + 8 <= h; j += 8) ST(cn + j, ADD(z, MUL(LD(gi + j), LD(gg + j))));
        for (; j < h; j++) cn[j] = 0.0f + gi[j] * gg[j];
    }
    nb__vtanh_f32(tcn, cn, h);
    for (j = 0; j + 8 <= h; j += 8) ST(ho + j, MUL(LD(go + j), LD(tcn + j)));
    for (; j < h; j++) ho[j] = go[j] * tcn[j];
}

KATTR void nb__lstm_bwd_row_avx2_f32(size_t h, const float *g, const float *cp, const float *tc, const float *dy,
                                     const float *dh, float *dc, float *dg)
{
    const float *gi = g, *gf = g + h, *gg = g + 2 * h, *go = g + 3 * h;
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= h; j += 8) {
        const __m256 i = LD(gi + j), f = LD(gf + j), gv = LD(gg + j), o = LD(go + j), tcj = LD(tc + j);
        const __m256 d = ADD(LD(dy + j), LD(dh + j));
        const __m256 dcj = ADD(LD(dc + j), MUL(MUL(d, o), SUB(one, MUL(tcj, tcj))));
        ST(dg + j, MUL(MUL(MUL(dcj, gv), i), SUB(one, i)));
        ST(dg + h + j, cp ? MUL(MUL(MUL(dcj, LD(cp + j)), f), SUB(one, f)) : zero);
        ST(dg + 2 * h + j, MUL(MUL(dcj, i), SUB(one, MUL(gv, gv))));
        ST(dg + 3 * h + j, MUL(MUL(MUL(d, tcj), o), SUB(one, o)));
        ST(dc + j, MUL(dcj, f));
    }
    for (; j < h; j++) {
        const float i = gi[j], f = gf[j], gv = gg[j], o = go[j], tcj = tc[j];
        const float d = dy[j] + dh[j];
        const float dcj = dc[j] + d * o * (1.0f - tcj * tcj);
        dg[j] = dcj * gv * i * (1.0f - i);
        dg[h + j] = cp ? dcj * cp[j] * f * (1.0f - f) : 0.0f;
        dg[2 * h + j] = dcj * i * (1.0f - gv * gv);
        dg[3 * h + j] = d * tcj * o * (1.0f - o);
        dc[j] = dcj * f;
    }
}
#endif
