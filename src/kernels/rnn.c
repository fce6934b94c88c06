/* Recurrent kernels (see rnn.h), instantiated for float and double from rnn.inc. */
#include "rnn.h"

#include <string.h>
#include <tgmath.h>

#include "gemm.h"
#include "nabla/nabla.h"

#define NB__TEMPLATE "rnn.inc"
#include "instantiate.h"
