/* nabla op-case catalogue: every differentiable op of nabla.h, exercised by
 * several small, reproducible cases (contiguous, broadcast, size-1 dims,
 * empty shapes).  `nabla gradcheck` runs them through nb_gradcheck; the tests
 * compare them with PyTorch fixtures.  Test code, not library code: built into
 * the CLI and the test runner (never into libnabla), over nabla.h alone.
 *
 *   size_t n;
 *   const nb_opcase *cs = nb_opcases(&n);
 *   nb_ctx *c = nb_ctx_new(NULL);
 *   nb_tensor *in[NB_OPCASE_MAX_IN];
 *   for (size_t i = 0; i < n; i++) {
 *       if (nb_opcase_inputs(c, &cs[i], NB_F64, in) != 0) break;
 *       nb_tensor *y = cs[i].build(c, in, cs[i].n_in);   // the op under test
 *       ...
 *       nb_ctx_reset(c);
 *   }
 *   nb_ctx_free(c);
 */
#ifndef NB_CATALOGUE_H
#define NB_CATALOGUE_H

#include "nabla/nabla.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NB_OPCASE_MAX_IN 4

/* Where a case's input values come from (all drawn from an nb_rng). */
typedef enum nb_case_domain {
    NB_CASE_ANY = 0,  /* uniform in [-2, 2) */
    NB_CASE_POSITIVE, /* uniform in [0.5, 2): log, sqrt, divisors, pow bases */
    NB_CASE_AWAY,     /* at least 1/8 from every multiple of 1/2: no kinks of
                         abs, relu, leaky_relu, elu, clamp(+-0.5 or +-1) */
    NB_CASE_DISTINCT, /* all values at least 0.05 apart: no ties for max/min */
    NB_CASE_UNIT,     /* uniform in [0, 1): probabilities and targets */
    NB_CASE_INT       /* int32, uniform in [lo, hi): indices, labels, masks */
} nb_case_domain;

/* One input of a case. */
typedef struct nb_case_input {
    nb_dtype dtype; /* NB_F64: a float input (made in the dtype asked for); NB_I32 */
    nb_case_domain dom;
    int requires_grad; /* float inputs only */
    int lo, hi;        /* NB_CASE_INT range [lo, hi) */
    int ndim;
    size_t shape[NB_MAX_DIMS];
} nb_case_input;

typedef struct nb_opcase {
    const char *name; /* unique: "op.variant", e.g. "add.broadcast_row" */
    const char *op;   /* the op under test: "add", "matmul", ..., "apply" (nb_apply) */
    int n_in;
    nb_case_input in[NB_OPCASE_MAX_IN];
    /* Run the op on inputs made by nb_opcase_inputs (any float dtype). Returns
     * an arena tensor of c, or NULL with nb_errmsg() set. */
    nb_tensor *(*build)(nb_ctx *c, nb_tensor *const *in, int n_in);
    /* The same computation in PyTorch, a Python expression over x0, x1, ...
     * (float inputs as tensors of the run's dtype, int32 inputs as int64),
     * `torch` and `F` (torch.nn.functional).  NULL: no reference possible
     * (dropout's mask comes from nb_rng, not torch's generator). */
    const char *torch;
    double param; /* the op's main parameter where a test needs it (dropout p) */
} nb_opcase;

/* The whole catalogue (static storage, never freed); *n receives its length. */
const nb_opcase *nb_opcases(size_t *n);
/* The case of that name, or NULL. */
const nb_opcase *nb_opcase_find(const char *name);
/* The case's fixed RNG seed (a hash of its name). */
uint64_t nb_opcase_seed(const nb_opcase *oc);
/* Make the case's inputs in c, float inputs in float_dt (NB_F32 or NB_F64),
 * requires_grad set as specified.  in[] gets oc->n_in arena tensors.  The
 * values are the same on every call and every platform.  0 on success; -1
 * on a bad argument (nb_errmsg() is then not set) or when the library fails
 * (it says why in nb_errmsg()). */
int nb_opcase_inputs(nb_ctx *c, const nb_opcase *oc, nb_dtype float_dt, nb_tensor **in);
/* A fixed random upstream gradient (normal, seeded from the case) of like's
 * shape and dtype, for backward passes on the case's output; NULL as above. */
nb_tensor *nb_opcase_upstream(nb_ctx *c, const nb_opcase *oc, const nb_tensor *like);

#ifdef __cplusplus
}
#endif
#endif /* NB_CATALOGUE_H */
