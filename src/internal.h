/* Private to libnabla: graph nodes, op definitions, the arena, error helpers.
 * Names are nb__*.  Nothing here is installed. */
#ifndef NB_INTERNAL_H
#define NB_INTERNAL_H

/* Library code never uses the call-site macros of nabla.h: this (re)include
 * removes them even when a nabla header was included first. */
#define NB_BUILDING_LIBRARY 1
#include "nabla/nabla.h"

#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

/* ---------------------------------------------------------------- errors */
/* Set the calling thread's error message; always returns NULL so a failing
 * op can `return nb__err(...)`. */
void *nb__err(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* The same, for functions returning int: returns -1. */
int nb__erri(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* NULL for a NULL argument, leaving a message "fn: NULL argument" unless
 * one is already set (by the call that returned the NULL). */
void *nb__null_arg(const char *fn);
/* Open an input file for reading, refusing (before any blocking open) what
 * is not a regular file: a descriptor / FILE, or -1 / NULL with the error
 * ("PATH: cannot open: ..." or "PATH: not a regular file"). */
int nb__open_regular(const char *path);
FILE *nb__fopen_regular(const char *path);

/* ------------------------------------------------------------ tensor flags */
enum {
    NB__F_REQUIRES_GRAD = 1u << 0,
    NB__F_OWNS_DATA = 1u << 1, /* data is ours to free (long-lived) */
    NB__F_RETAIN_GRAD = 1u << 2,
    NB__F_OWNS_STRUCT = 1u << 3, /* heap struct, freed by nb_tensor_free */
};

static inline bool nb__is_float(nb_dtype dt) { return dt == NB_F32 || dt == NB_F64; }

/* ------------------------------------------------------------- big buffers */
/* Zeroed storage for big long-lived buffers (datasets, parameters, gradients,
 * optimizer state; src/core/bigmem.c): from a few MiB on it is 2 MiB aligned
 * and offered to the kernel for huge pages, since batches read dataset rows
 * at random and every step streams the parameter buffers, and each 4 KiB
 * TLB miss is a costly page walk (more so in a virtual machine).  Always
 * 64-byte aligned; n * elem bytes, NULL on failure or overflow (as calloc);
 * released with free(). */
void *nb__big_zalloc(size_t n, size_t elem);
/* How many bytes a model's storage may take: NABLA_MEMORY_LIMIT ("512M",
 * "2G"; powers of 1024) when set, else the least of the machine's memory,
 * the control group's memory.max and the address-space and data limits;
 * why gets what it is ("this machine's memory (15.6 GiB)"). */
size_t nb__memory_limit(char *why, size_t size);
int nb__parse_bytes(const char *s, size_t *out);                 /* 0, or -1 when s is no size */
const char *nb__bytes_str(size_t bytes, char *buf, size_t size); /* "7.2 TiB" */

/* ------------------------------------------------------------------ arena */
void *nb__arena_alloc(nb_ctx *c, size_t bytes); /* 64-aligned, NOT zeroed; NULL + error on OOM */
/* An arena tensor with uninitialised data (NULL + error on failure). */
nb_tensor *nb__new(nb_ctx *c, nb_dtype dt, int ndim, const size_t *shape);
nb_tensor *nb__new_like(nb_ctx *c, const nb_tensor *t);
nb_tensor *nb__zeros_like(nb_ctx *c, const nb_tensor *t);
/* A tensor struct in the arena pointing at existing data (a view). */
nb_tensor *nb__view(nb_ctx *c, nb_tensor *base, int ndim, const size_t *shape, size_t elem_offset);
/* Validate a shape; writes numel; returns 0 or -1 with an error naming `what`. */
int nb__check_shape(const char *what, int ndim, const size_t *shape, size_t *numel);
/* "[2, 3]" for error messages; uses a small rotating set of thread-local buffers. */
const char *nb__shp(const nb_tensor *t);

/* ---------------------------------------------------------- graph nodes */
struct nb__node;
/* backward: read n->gout (gradient of n->out) and ACCUMULATE (+=) into the
 * gradient buffers of the inputs, obtained with nb__gbuf.  0 on success. */
typedef int (*nb__backward_fn)(nb_ctx *c, struct nb__node *n);

typedef struct nb__opdef {
    const char *name;
    nb__backward_fn backward;
} nb__opdef;

#define NB__NODE_INLINE_IN 3
typedef struct nb__node {
    const nb__opdef *op;
    nb_tensor *out;
    nb_tensor *gout; /* gradient of out during a backward pass */
    int n_in;
    nb_tensor **in; /* inputs (points at inline_in or into the arena) */
    nb_tensor *inline_in[NB__NODE_INLINE_IN];
    void *saved; /* op-owned scratch in the arena */
    void *saved2;
    double f[4]; /* op parameters */
    long i[NB_MAX_DIMS + 4];
    size_t id;             /* position on the tape */
    struct nb__node *prev; /* tape: previous node recorded in this ctx */
    struct nb__site {      /* where the op was made (see nb__site below) */
        const char *file;
        int line;
        const char *layer; /* the layer running, "layers.2 (linear)", or NULL */
    } site;
    bool released; /* graph freed by a backward without retain_graph */
} nb__node;

/* Record a node for `out` if grad mode is on and any input requires grad.
 * *node is NULL when nothing was recorded.  Returns -1 (error set) on OOM or
 * when an input belongs to another context. */
int nb__record(nb_ctx *c, const nb__opdef *op, nb_tensor *out, int n_in, nb_tensor *const *in, nb__node **node);

/* Where ops come from, per thread: the caller's file:line (noted by nb__here
 * through the call-site macros) and the name of the layer running (set by
 * whoever runs layers, nb_model_forward; NULL otherwise).  nb__record copies
 * it into each node; the name must outlive the node (the model owns it). */
typedef struct nb__site nb__site;
nb__site nb__site_get(void);
void nb__site_set(nb__site s);
void nb__site_layer(const char *layer);

/* Anomaly mode (engine.c): check t for NaN/Inf and, on the first one since
 * the clear, fill c->anomaly.  input: -1 output, k input k.  Returns -1 (error
 * set) only under NB_ANOMALY_STOP when t is not finite. */
int nb__anomaly_check(nb_ctx *c, const char *op, int backward, int input, const nb_tensor *t, int n_in,
                      nb_tensor *const *in, const nb_tensor *out, nb__site site);
/* Forward: the output of op; when it is not finite, blames an input that
 * already was, else the output.  Same return as nb__anomaly_check. */
int nb__anomaly_forward(nb_ctx *c, const char *op, const nb_tensor *out, int n_in, nb_tensor *const *in, nb__site site);

/* During backward: the buffer to accumulate x's gradient into (zeroed when
 * first created), or NULL when x needs no gradient.  *err is set to -1 on
 * allocation failure. */
nb_tensor *nb__gbuf(nb_ctx *c, nb_tensor *x, int *err);

/* conv2d with an activation taken in (the model's conv2d followed by an
 * activation layer): y = act(conv(x, w) + b) as one node, applied to each
 * image's planes while they are in cache; the same values and gradients as
 * nb_conv2d then the activation op.  Only activations whose derivative
 * follows from y (nb__linear_needs_z false); others are refused. */
nb_tensor *nb__conv2d_act(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int padding, int dilation,
                          int groups, nb_act act, double param);
/* nb__conv2d_act with relu, then the max pool of window and stride pool (no
 * padding) after it, as one op: the pool's output, the bits of the three ops
 * (the model's conv2d relu maxpool2d(k), outside anomaly mode). */
nb_tensor *nb__conv2d_relu_pool(nb_ctx *c, nb_tensor *x, nb_tensor *w, nb_tensor *b, int stride, int padding,
                                int dilation, int groups, int pool);

/* ------------------------------------------------------------- hooks */
typedef struct nb__hook {
    nb_hook_fn fn;
    void *user;
    struct nb__hook *next;
    bool heap; /* allocated with malloc (long-lived tensor) */
} nb__hook;

/* -------------------------------------------------------------- context */
typedef struct nb__chunk {
    struct nb__chunk *next;
    size_t size, used;
    unsigned char *mem;
} nb__chunk;

struct nb_ctx {
    nb__chunk *chunks; /* all chunks; `cur` is where we bump now */
    nb__chunk *cur;
    size_t chunk_bytes;
    nb__node *tape; /* the last recorded node */
    size_t n_nodes;
    struct nb__leafbuf *pass_leaves; /* hooked leaves, during backward only */
    bool grad_enabled;
    bool training;
    unsigned char anomaly_policy; /* nb_anomaly_policy; 0 = off */
    bool has_anomaly;
    bool in_backward;   /* ops run by a custom backward: not checked as forward */
    nb_anomaly anomaly; /* the first since nb_anomaly_clear */
};

/* Broadcast two shapes (NumPy rules); 0 or -1 with an error naming op. */
int nb__broadcast_shape(const char *op, const nb_tensor *a, const nb_tensor *b, int *ndim, size_t *shape);

/* 0 if a is float32/float64, else -1 with an error naming op and shape. */
int nb__need_float(const char *op, const nb_tensor *a);

#endif
