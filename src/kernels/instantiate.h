/* Instantiates a type template (private): a *.inc file written once in
 * terms of
 *   T        the element type, float or double
 *   S(name)  name##_f32 or name##_f64
 *   NB__F32  1 for float, 0 for double (for float-only paths)
 * is compiled for both types by
 *   #define NB__TEMPLATE "elementwise.inc"
 *   #include "instantiate.h"
 * The name is looked up from this folder (src/kernels).  No include guard:
 * every inclusion instantiates the template it names, then forgets it. */
#ifndef NB__TEMPLATE
#error "define NB__TEMPLATE (the template's file name) before including instantiate.h"
#endif

#define T float
#define S(name) name##_f32
#define NB__F32 1
#include NB__TEMPLATE
#undef T
#undef S
#undef NB__F32

#define T double
#define S(name) name##_f64
#define NB__F32 0
#include NB__TEMPLATE
#undef T
#undef S
#undef NB__F32

#undef NB__TEMPLATE
