/* libFuzzer harness for the safetensors reader (not part of `make test`).
 *
 *   make CC=clang B=build-clang build-clang/libnabla.a
 *   clang -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined \
 *         -Iinclude -Isrc tests/fuzz/fuzz_safetensors.c src/io/json.c src/io/st_load.c src/io/st_save.c \
 *         build-clang/libnabla.a \
 *         -lz -lm -o /tmp/fuzz_st
 *   /tmp/fuzz_st -max_total_time=60 CORPUS_DIR
 *
 * Any input must either load or fail with a message naming the label, and
 * whatever loads must be self-consistent. */
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
