/* The convolutional layer kinds of layer descriptions (src/nn/conv_layers.c),
 * built by their rows of spec.c's registry:
 *   conv2d(out, k=3, s=1, p=0, d=1, g=1, bias=1)   weight [out, C/g, k, k], bias [out]
 *   maxpool2d(k, s=k, p=0), avgpool2d(k, s=k, p=0) no entries
 *   gap                                            [C, H, W] -> [C]
 *   batchnorm2d(eps=1e-5, momentum=0.1, affine=1)  weight, bias, running_mean,
 *                                                  running_var, num_batches_tracked
 * Each takes one image per sample, [C, H, W] (the batch arrives as [N, C, H, W]
 * or flattened, [N, C H W]); PyTorch's names and layouts throughout. */
#ifndef NB_NN_CONV_LAYERS_H
#define NB_NN_CONV_LAYERS_H

#include "nn_internal.h"

int nb__build_conv2d(nb__spec_ctx *b, const nb__layer_def *def, const double *a);
int nb__build_maxpool2d(nb__spec_ctx *b, const nb__layer_def *def, const double *a);
int nb__build_avgpool2d(nb__spec_ctx *b, const nb__layer_def *def, const double *a);
int nb__build_gap(nb__spec_ctx *b, const nb__layer_def *def, const double *a);
int nb__build_batchnorm2d(nb__spec_ctx *b, const nb__layer_def *def, const double *a);
/* Can conv (a layer) take in the max pool `next` after its relu: conv2d and
 * maxpool2d with kernel = stride and no padding (windows that do not
 * overlap)?  Then the model runs the three as nb__conv_fwd_relu_pool. */
int nb__conv_takes_pool(const nb__ext *conv, const nb__ext *next);
nb_tensor *nb__conv_fwd_relu_pool(nb__ext *conv, nb_ctx *c, nb_tensor *x, const nb__ext *pool);

#endif
