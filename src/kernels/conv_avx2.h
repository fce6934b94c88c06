/* AVX2 loop of the float32 2x2, stride-2 max pool (private; conv.inc calls
 * it when nb__cpu_has_avx2() says the CPU has AVX2): the same selection as
 * the scalar loop (a NaN wins, the first of equals stays, the window read
 * row by row), so the same values and indices. */
#ifndef NB_KERNELS_CONV_AVX2_H
#define NB_KERNELS_CONV_AVX2_H

#include <stddef.h>
#include <stdint.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define NB__CONV_X86 1
/* One output row of one plane: windows at rows r0 / r0 + w of xp (the plane),
 * columns 2 ox and 2 ox + 1, for ox < ow; y and ix the row's outputs. */
void nb__maxpool2_row_avx2_f32(float *y, uint32_t *ix, const float *xp, size_t r0, size_t w, size_t ow);
#endif

#endif
