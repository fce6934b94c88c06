/* The step arena: chunks of memory bumped forward and released all at once by
 * nb_ctx_reset, which keeps them, so steady-state steps never touch the heap. */
#include "../internal.h"

#include <stdlib.h>

#define NB__ALIGN 64

static nb__chunk *nb__chunk_new(size_t size)
{
    nb__chunk *k = malloc(sizeof *k);
    if (!k) return NULL;
    k->mem = aligned_alloc(NB__ALIGN, size);
    if (!k->mem) {
        free(k);
        return NULL;
    }
    k->size = size;
    k->used = 0;
    k->next = NULL;
    return k;
}

nb_ctx *nb_ctx_new(const nb_ctx_opts *opts)
{
    nb_ctx *c = calloc(1, sizeof *c);
    if (!c) return nb__err("nb_ctx_new: out of memory");
    size_t cb = opts && opts->chunk_bytes ? opts->chunk_bytes : ((size_t)1 << 20);
    c->chunk_bytes = (cb + NB__ALIGN - 1) / NB__ALIGN * NB__ALIGN;
    c->grad_enabled = true;
    c->training = true;
    return c;
}

void nb_ctx_free(nb_ctx *c)
{
    if (!c) return;
    for (nb__chunk *k = c->chunks, *next; k; k = next) {
        next = k->next;
        free(k->mem);
        free(k);
    }
    free(c);
}

void nb_ctx_reset(nb_ctx *c)
{
    if (!c) return;
    for (nb__chunk *k = c->chunks; k; k = k->next) k->used = 0;
    c->cur = c->chunks;
    c->tape = NULL;
    c->n_nodes = 0;
}

void *nb__arena_alloc(nb_ctx *c, size_t bytes)
{
    if (bytes > SIZE_MAX - NB__ALIGN) return nb__err("arena: request of %zu bytes is too large", bytes);
    size_t need = (bytes + NB__ALIGN - 1) / NB__ALIGN * NB__ALIGN;
    if (need == 0) need = NB__ALIGN;
    /* Chunks after cur hold nothing live (reset empties them all), so walk on. */
    for (nb__chunk *k = c->cur; k; k = k->next) {
        if (k->size - k->used >= need) {
            void *p = k->mem + k->used;
            k->used += need;
            c->cur = k;
            return p;
        }
    }
    size_t size = c->chunk_bytes;
    while (size < need) {
        if (size > SIZE_MAX / 2) return nb__err("arena: request of %zu bytes is too large", bytes);
        size *= 2;
    }
    nb__chunk *k = nb__chunk_new(size);
    if (!k) return nb__err("arena: out of memory allocating %zu bytes", size);
    /* Append at the end so the order of reuse after a reset stays stable. */
    if (!c->chunks) {
        c->chunks = k;
    } else {
        nb__chunk *t = c->chunks;
        while (t->next) t = t->next;
        t->next = k;
    }
    c->cur = k;
    k->used = need;
    return k->mem;
}

void *nb_ctx_alloc(nb_ctx *c, size_t bytes)
{
    if (!c) return nb__err("nb_ctx_alloc: NULL context");
    void *p = nb__arena_alloc(c, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

size_t nb_ctx_bytes_used(const nb_ctx *c)
{
    size_t n = 0;
    for (const nb__chunk *k = c ? c->chunks : NULL; k; k = k->next) n += k->used;
    return n;
}

size_t nb_ctx_bytes_reserved(const nb_ctx *c)
{
    size_t n = 0;
    for (const nb__chunk *k = c ? c->chunks : NULL; k; k = k->next) n += k->size;
    return n;
}

int nb_set_grad_enabled(nb_ctx *c, int on)
{
    int prev = c->grad_enabled;
    c->grad_enabled = on != 0;
    return prev;
}
int nb_grad_enabled(const nb_ctx *c) { return c->grad_enabled; }
int nb_set_training(nb_ctx *c, int on)
{
    int prev = c->training;
    c->training = on != 0;
    return prev;
}
int nb_training(const nb_ctx *c) { return c->training; }
