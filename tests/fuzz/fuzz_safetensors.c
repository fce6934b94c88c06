/* libFuzzer harness for the safetensors reader, nb_st_load_mem (build and
 * run with tests/fuzz/run.sh; not part of `make test`).  The input is a whole
 * file.  Any input must either load or fail with a message naming the label,
 * and whatever loads must be self-consistent. */
#include "nabla/io.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nb_st_file *f = nb_st_load_mem(data, size, "fuzz");
    if (!f) {
        if (strncmp(nb_errmsg(), "fuzz: ", 6) != 0) abort();
        return 0;
    }
    for (size_t i = 0; i < nb_st_count(f); i++) {
        const nb_st_tensor *t = nb_st_at(f, i);
        if (!t || nb_st_find(f, t->name) != t) abort();
        size_t n = nb_st_dtype_size(t->dtype);
        for (int d = 0; d < t->ndim; d++) n *= t->shape[d];
        volatile unsigned char sink = 0;
        for (size_t k = 0; k < n; k++) sink ^= ((const unsigned char *)t->data)[k];
        (void)sink;
    }
    for (size_t i = 0; i < nb_st_meta_count(f); i++)
        if (nb_st_meta_get(f, nb_st_meta_at(f, i)->key) != nb_st_meta_at(f, i)->value) abort();
    nb_st_free(f);
    return 0;
}
