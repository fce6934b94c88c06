/* Fashion-MNIST: find the four IDX files (argument, $NABLA_DATA, Debian's
 * dataset-fashion-mnist) and load them as uint8 datasets. */
#include "../internal.h"
#include "nabla/data.h"

#include <stdlib.h>

#define NB__FM_HOWTO                                                                  \
    "To get it: apt-get install dataset-fashion-mnist (as root), or pass --data DIR " \
    "holding train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "                \
    "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (plain or gzipped), or " \
    "set NABLA_DATA=DIR"

static const char *const nb__fm_files[4] = {
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
};

static int nb__readable(const char *path)
{
    FILE *f = nb__fopen_regular(path);
    if (!f) return 0;
    fclose(f);
    return 1;
}

/* The path of dir/base, or dir/base.gz, into out; 0 found, 1 missing, -1 too long. */
static int nb__fm_file(const char *dir, const char *base, char *out, size_t size)
{
    int k = snprintf(out, size, "%s/%s", dir, base);
    if (k < 0 || (size_t)k >= size) return -1;
    if (nb__readable(out)) return 0;
    k = snprintf(out, size, "%s/%s.gz", dir, base);
    if (k < 0 || (size_t)k >= size) return -1;
    return nb__readable(out) ? 0 : 1;
}

/* 0 if dir holds all four files; else 1 and the first missing one. */
static int nb__fm_dir_ok(const char *dir, const char **missing)
{
    char p[4096];
    for (int i = 0; i < 4; i++) {
        if (nb__fm_file(dir, nb__fm_files[i], p, sizeof p) != 0) {
            *missing = nb__fm_files[i];
            return 1;
        }
    }
    return 0;
}

/* dir itself, else dir/fashion-mnist; 0 found (written to out), 1 not. */
static int nb__fm_try(const char *dir, char *out, size_t size, const char **missing)
{
    char sub[4096];
    const char *cands[2] = {dir, sub};
    int k = snprintf(sub, sizeof sub, "%s/fashion-mnist", dir);
    int nc = (k > 0 && (size_t)k < sizeof sub) ? 2 : 1;
    const char *first_missing = NULL;
    for (int i = 0; i < nc; i++) {
        const char *m = NULL;
        if (nb__fm_dir_ok(cands[i], &m) == 0) {
            if (strlen(cands[i]) >= size) return nb__erri("Fashion-MNIST: path too long: %s", cands[i]);
            memcpy(out, cands[i], strlen(cands[i]) + 1);
            return 0;
        }
        if (!first_missing) first_missing = m;
    }
    *missing = first_missing;
    return 1;
}

int nb_fashion_mnist_find(const char *dir, char *out, size_t size)
{
    if (!out || size == 0) return nb__erri("nb_fashion_mnist_find: no output buffer");
    out[0] = '\0';
    const char *missing = NULL, *env = getenv("NABLA_DATA");
    int rc;
    if (dir && *dir) {
        rc = nb__fm_try(dir, out, size, &missing);
        if (rc == 1) return nb__erri("Fashion-MNIST not found: --data %s has no %s[.gz]. " NB__FM_HOWTO, dir, missing);
        return rc;
    }
    if (env && *env) {
        rc = nb__fm_try(env, out, size, &missing);
        if (rc == 1)
            return nb__erri("Fashion-MNIST not found: NABLA_DATA=%s has no %s[.gz]. " NB__FM_HOWTO, env, missing);
        return rc;
    }
    rc = nb__fm_try(NB_FASHION_MNIST_DEBIAN_DIR, out, size, &missing);
    if (rc == 1)
        return nb__erri("Fashion-MNIST not found: %s has no %s[.gz]. " NB__FM_HOWTO, NB_FASHION_MNIST_DEBIAN_DIR,
                        missing);
    return rc;
}

static nb_dataset *nb__fm_part(const char *dir, int part)
{
    char im[4096], lb[4096];
    const char *base_i = nb__fm_files[2 * part], *base_l = nb__fm_files[2 * part + 1];
    if (nb__fm_file(dir, base_i, im, sizeof im) != 0)
        return nb__err("Fashion-MNIST: %s/%s[.gz] is missing", dir, base_i);
    if (nb__fm_file(dir, base_l, lb, sizeof lb) != 0)
        return nb__err("Fashion-MNIST: %s/%s[.gz] is missing", dir, base_l);
    nb_dataset *ds = nb_dataset_load_idx(im, lb, 10, NULL);
    if (!ds) return NULL;
    if (ds->kind != NB_DATA_U8 || ds->ndim != 2 || ds->shape[0] != 28 || ds->shape[1] != 28) {
        nb__err("%s: not Fashion-MNIST: expected uint8 28x28 images, got %s %zu-feature samples", im,
                ds->kind == NB_DATA_U8 ? "uint8" : "non-uint8", ds->d);
        nb_dataset_free(ds);
        return NULL;
    }
    ds->mean = NB_FASHION_MNIST_MEAN;
    ds->std = NB_FASHION_MNIST_STD;
    snprintf(ds->name, sizeof ds->name, "fashion-mnist %s", part == 0 ? "train" : "test");
    return ds;
}

int nb_fashion_mnist_load(const char *dir, nb_dataset **train, nb_dataset **test)
{
    if (train) *train = NULL;
    if (test) *test = NULL;
    char where[4096];
    if (nb_fashion_mnist_find(dir, where, sizeof where) != 0) return -1;
    nb_dataset *tr = NULL, *te = NULL;
    if (train && !(tr = nb__fm_part(where, 0))) return -1;
    if (test && !(te = nb__fm_part(where, 1))) {
        nb_dataset_free(tr);
        return -1;
    }
    if (train) *train = tr;
    if (test) *test = te;
    return 0;
}

const char *nb_fashion_mnist_class_name(int label)
{
    static const char *const names[10] = {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    };
    return label >= 0 && label < 10 ? names[label] : "?";
}
