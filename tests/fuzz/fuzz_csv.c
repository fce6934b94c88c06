/* libFuzzer harness for the CSV reader, nb_csv_parse (build and run with
 * tests/fuzz/run.sh).  The first two input bytes pick the options (header
 * mode, label column, delimiter, line cap, class count, label by name); the
 * rest is the text.  Whatever loads must be a valid dataset; whatever fails
 * must say so in a message naming the buffer. */
#include "nabla/data.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    static const char delims[8] = {0, ',', ';', '\t', ' ', '|', ':', 'x'};
    static const size_t caps[8] = {16, 32, 64, 128, 256, 1024, 4096, 0};
    unsigned a = data[0], b = data[1];
    nb_csv_opts o = {
        .header = (int)(a % 3),
        .label_col = (int)((a >> 2) & 7) - 3,
        .delim = delims[b & 7],
        .max_line = caps[(b >> 3) & 7],
        .n_classes = (b & 0x40) ? (int)(a >> 5) + 1 : 0,
        .label_name = (b & 0x80) ? "label" : NULL,
    };
    nb_dataset *ds = nb_csv_parse(data + 2, size - 2, "fuzz.csv", &o);
    if (!ds) {
        if (strncmp(nb_errmsg(), "fuzz.csv", 8) != 0) abort();
        return 0;
    }
    if (ds->kind != NB_DATA_F64 || ds->n < 1 || ds->d < 1 || ds->ndim != 1 || ds->shape[0] != ds->d) abort();
    if (ds->n_classes < 1 || (o.n_classes && ds->n_classes != o.n_classes)) abort();
    if (nb_dataset_validate(ds) != 0) abort();
    for (size_t i = 0; i < ds->n * ds->d; i++)
        if (!isfinite(ds->xf[i])) abort();
    for (size_t i = 0; i < ds->n; i++)
        if (ds->y[i] < 0 || ds->y[i] >= ds->n_classes) abort();
    nb_dataset_free(ds);
    return 0;
}
