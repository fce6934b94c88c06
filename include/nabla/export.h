/* NB_API marks the functions libnabla exports.  The library is compiled with
 * -fvisibility=hidden, so everything else (the nb__* helpers, the nb_k_*
 * kernels) stays inside libnabla.so; every public header includes this. */
#ifndef NABLA_EXPORT_H
#define NABLA_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define NB_API __attribute__((visibility("default")))
#else
#define NB_API
#endif

#endif
