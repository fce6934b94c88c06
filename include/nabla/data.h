/* nabla data layer — IDX (MNIST) and CSV readers, in-memory datasets, a seeded
 * shuffling loader with resumable state, and dataset statistics.
 *
 *   nb_dataset *train, *test;
 *   if (nb_fashion_mnist_load(data_dir_or_NULL, &train, &test) != 0) { puts(nb_errmsg()); exit(1); }
 *   nb_loader *L = nb_loader_new(train, &(nb_loader_opts){.batch_size = 64, .shuffle = 1, .seed = 1});
 *   float xb[64 * 784];  int32_t yb[64];            // the caller's batch buffers
 *   nb_batch b = {.x = xb, .dtype = NB_F32, .y = yb};
 *   for (int epoch = 0; epoch < 10; epoch++)
 *       while (nb_loader_next(L, &b) == 1) { ... b.n samples: (x/255 - 0.2860)/0.3530 ... }
 *   nb_loader_free(L); nb_dataset_free(train); nb_dataset_free(test);
 *
 * Every reader validates every byte it reads and never trusts a header: a
 * malformed file gives NULL / -1 and nb_errmsg() names the file and the
 * reason.  Nothing here prints, exits or keeps global state.
 */
#ifndef NABLA_DATA_H
#define NABLA_DATA_H

#include "nabla.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------- IDX */
/* The MNIST "IDX" format: bytes 0-1 zero, byte 2 a type code, byte 3 the
 * number of dimensions, then each dimension as a big-endian uint32, then the
 * elements, big-endian, row-major.  Files may be gzipped (detected by the
 * gzip magic 1f 8b, not by the name). */
typedef enum {
    NB_IDX_U8 = 0x08,  /* unsigned byte */
    NB_IDX_I8 = 0x09,  /* signed byte */
    NB_IDX_I16 = 0x0B, /* short */
    NB_IDX_I32 = 0x0C, /* int */
    NB_IDX_F32 = 0x0D, /* float (NaN/Inf rejected) */
    NB_IDX_F64 = 0x0E  /* double (NaN/Inf rejected) */
} nb_idx_type;

typedef struct nb_idx {
    nb_idx_type type;
    int ndim;                 /* 1..NB_MAX_DIMS */
    size_t dims[NB_MAX_DIMS]; /* each >= 1 */
    size_t count;             /* prod(dims) elements */
    void *data;               /* count elements of `type`, host byte order */
} nb_idx;

typedef struct nb_idx_opts {
    size_t max_bytes; /* cap on the (decompressed) file size; 0 = 1 GiB */
} nb_idx_opts;

#define NB_IDX_DEFAULT_MAX_BYTES ((size_t)1 << 30)

/* Bytes per element of a type code; 0 for an unknown code. */
NB_API size_t nb_idx_type_size(nb_idx_type t);
NB_API const char *nb_idx_type_name(nb_idx_type t); /* "ubyte", ...; "?" if unknown */

/* Read an IDX file, plain or gzipped.  opts NULL = defaults.  Returns a new
 * nb_idx the caller frees with nb_idx_free, or NULL (nb_errmsg names the file). */
NB_API nb_idx *nb_idx_read(const char *path, const nb_idx_opts *opts);
/* The same from memory (plain or gzipped bytes); `name` is used in messages. */
NB_API nb_idx *nb_idx_parse(const void *buf, size_t len, const char *name, const nb_idx_opts *opts);
/* Write x (validated first) as IDX; gzip != 0 compresses.  0 on success. */
NB_API int nb_idx_write(const char *path, const nb_idx *x, int gzip);
NB_API void nb_idx_free(nb_idx *x); /* NULL is fine */

/* --------------------------------------------------------------- datasets */
/* N samples of D features with int32 class labels.  Image data stays uint8
 * (kind NB_DATA_U8, 1 byte per pixel); CSV data is float64 (NB_DATA_F64). */
typedef enum { NB_DATA_U8 = 0, NB_DATA_F64 = 1 } nb_data_kind;

#define NB_DATA_MAX_CLASSES 65536

typedef struct nb_dataset {
    nb_data_kind kind;
    size_t n; /* samples, >= 1 */
    size_t d; /* features per sample = prod(shape) */
    int ndim; /* one sample's shape, e.g. 2: {28, 28}; CSV: 1: {D} */
    size_t shape[NB_MAX_DIMS];
    int n_classes; /* labels lie in [0, n_classes) */
    uint8_t *x8;   /* [n, d] when kind == NB_DATA_U8, else NULL */
    double *xf;    /* [n, d] when kind == NB_DATA_F64, else NULL */
    int32_t *y;    /* [n], or [n, y_per] (below) */
    /* Labels per sample: 0 or 1, one class label; L > 1, one per step of a
     * sequence (text windows: each input id's next id), y holding n * L.
     * nb_dataset_labels_per_sample reads it. */
    size_t y_per;
    /* The loader's default normalisation, x' = (x*scale - mean)/std where
     * scale is 1/255 for uint8 data and 1 for float data.  0 and 1 unless a
     * loader knows better (Fashion-MNIST: 0.2860, 0.3530). */
    double mean, std;
    char name[64]; /* for messages, e.g. "fashion-mnist train" */
} nb_dataset;

/* A zero-filled dataset of n samples of the given shape; fill x8/xf and y,
 * then call nb_dataset_validate.  n_classes in 1..NB_DATA_MAX_CLASSES.
 * The dataset owns its buffers; free with nb_dataset_free (NULL is fine). */
NB_API nb_dataset *nb_dataset_new(nb_data_kind kind, size_t n, int ndim, const size_t *shape, int n_classes);
NB_API void nb_dataset_free(nb_dataset *ds);
/* Labels per sample: 1, or ds->y_per when that is above 1. */
NB_API size_t nb_dataset_labels_per_sample(const nb_dataset *ds);
/* Shape, labels in [0, n_classes), float values finite.  0 or -1. */
NB_API int nb_dataset_validate(const nb_dataset *ds);

/* A dataset from an image IDX (first dim = samples; the rest is one sample's
 * shape) and a 1-D label IDX of an integer type.  The counts must match and
 * the labels lie in [0, n_classes); n_classes 0 = (largest label) + 1.
 * uint8 images give an NB_DATA_U8 dataset, other types NB_DATA_F64.
 * The IDX structs are only read (copied). */
NB_API nb_dataset *nb_dataset_from_idx(const nb_idx *images, const nb_idx *labels, int n_classes,
                                       const char *images_name, const char *labels_name);
/* nb_idx_read both files, then nb_dataset_from_idx. */
NB_API nb_dataset *nb_dataset_load_idx(const char *images_path, const char *labels_path, int n_classes,
                                       const nb_idx_opts *opts);

/* A new dataset holding rows[0..n) of ds (copies; rows may repeat). */
NB_API nb_dataset *nb_dataset_subset(const nb_dataset *ds, const size_t *rows, size_t n);
/* Split ds into *train (n - n_val samples) and *val (n_val), 0 < n_val < n.
 * shuffle 0: val is the last n_val rows.  shuffle 1: val is a random subset
 * drawn with `seed`.  Both keep ds's order, normalisation and name suffixes.
 * Returns 0, or -1 with both outputs NULL. */
NB_API int nb_dataset_split(const nb_dataset *ds, size_t n_val, int shuffle, uint64_t seed, nb_dataset **train,
                            nb_dataset **val);

/* Copy rows[0..n) of ds into x (n*d elements of dtype NB_F32 or NB_F64,
 * normalised as x' = (x*scale - mean)/std; x may be NULL) and y (n labels,
 * n * y_per for a sequence dataset; may be NULL).  scale 0 = 1/255 for uint8 data, 1 for float data. */
NB_API int nb_dataset_gather(const nb_dataset *ds, const size_t *rows, size_t n, double scale, double mean, double std,
                             nb_dtype dtype, void *x, int32_t *y);

/* ------------------------------------------------------------------- CSV */
enum { NB_CSV_HEADER_AUTO = 0, NB_CSV_HEADER_YES = 1, NB_CSV_HEADER_NO = 2 };

/* Zero-initialised options are the defaults. */
typedef struct nb_csv_opts {
    int header;             /* NB_CSV_HEADER_*; AUTO: a first line with any
                               non-numeric field is a header */
    int label_col;          /* label column; negative counts from the end
                               (-1 = last); default 0 = first */
    const char *label_name; /* if set, the label column is the header field of
                               this name (needs a header) */
    char delim;             /* field separator; 0 = ',' */
    size_t max_line;        /* longest line accepted in bytes; 0 = 1 MiB */
    int n_classes;          /* 0 = (largest label) + 1 */
} nb_csv_opts;

/* Read a numeric CSV: one row per sample, the label column holds integer
 * class labels >= 0, every other column is a finite number.  Rejects ragged
 * rows, empty fields, non-numbers, NaN/Inf, over-long lines and files with no
 * data rows; messages say "file:line: ...".  Blank lines are skipped.
 * Returns an NB_DATA_F64 dataset (mean 0, std 1) or NULL. */
NB_API nb_dataset *nb_csv_load(const char *path, const nb_csv_opts *opts);
/* The same from memory (len bytes of text, no NUL needed); `name` is used in
 * messages in place of the path. */
NB_API nb_dataset *nb_csv_parse(const void *buf, size_t len, const char *name, const nb_csv_opts *opts);

/* ------------------------------------------------------------------ text */
/* Plain text for character-level models (nabla train --text).  Bytes map
 * to a fixed alphabet of NB_TEXT_VOCAB ids: '\n' is 0, the printable ASCII
 * characters 32..126 are 1..95, a tab reads as a space and any other byte
 * (control characters, UTF-8 sequences) as '?'. */
#define NB_TEXT_VOCAB 96
#define NB_TEXT_DEFAULT_MAX_BYTES ((size_t)1 << 30)
/* nb_text_split: chunks of NB_TEXT_CHUNK ids in order; every
 * NB_TEXT_VAL_EVERY-th chunk (the 20th, 40th, ...) is validation. */
#define NB_TEXT_CHUNK ((size_t)8192)
#define NB_TEXT_VAL_EVERY 20
typedef struct nb_text {
    uint8_t *ids; /* n ids in [0, NB_TEXT_VOCAB) */
    size_t n, cap;
    int n_files; /* files read */
} nb_text;
NB_API int nb_text_encode(int byte); /* a byte's id */
NB_API int nb_text_decode(int id);   /* an id's byte ('?' outside the alphabet) */
/* Read files and folders in order (a folder: its regular files that are not
 * links, hidden or binary — fortune's .dat indexes are skipped — sorted by
 * name) into one stream.  A file with a NUL byte is refused.  max_bytes 0 =
 * 1 GiB.  NULL with nb_errmsg() naming the file on error. */
NB_API nb_text *nb_text_load(const char *const *paths, int n_paths, size_t max_bytes);
/* A text of ids (each < NB_TEXT_VOCAB), copied. */
NB_API nb_text *nb_text_from_ids(const uint8_t *ids, size_t n);
NB_API void nb_text_free(nb_text *t);
/* Training and validation streams (see NB_TEXT_CHUNK); -1 when the text is
 * too short to give both. */
NB_API int nb_text_split(const nb_text *t, nb_text **train, nb_text **val);
/* Windows of seq_len ids starting every seq_len ids, each with its next
 * ids as labels: sample i has inputs ids[i*L .. i*L + L) (as float64 values,
 * mean 0, std 1: the loader hands the ids over unchanged) and labels
 * ids[i*L + 1 .. i*L + L] (y_per = L), for a model whose output is one row of
 * NB_TEXT_VOCAB logits per step. */
NB_API nb_dataset *nb_text_windows(const nb_text *t, size_t seq_len, const char *name);
/* Windows for truncated backpropagation through time (nabla train --tbptt):
 * the text cut into `batch` contiguous streams of S = (n - 1) / batch / L
 * windows each, laid out so that sample j*batch + r is stream r's window j.
 * Read in order by batches of `batch` (no shuffle), row r of batch j + 1
 * continues row r of batch j.  Labels as nb_text_windows. */
NB_API nb_dataset *nb_text_streams(const nb_text *t, size_t seq_len, size_t batch, const char *name);

/* ----------------------------------------------------------- Fashion-MNIST */
#define NB_FASHION_MNIST_DEBIAN_DIR "/usr/share/datasets/fashion-mnist"
/* Pixel mean and std over the 60000 training images, pixels scaled to [0,1]:
 * measured 0.286041 and 0.353024 (population std); the test
 * data.fashion_mnist_real checks them to 5e-5. */
#define NB_FASHION_MNIST_MEAN 0.2860
#define NB_FASHION_MNIST_STD 0.3530

/* Find the directory holding the four Fashion-MNIST files
 * (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
 * t10k-labels-idx1-ubyte, each plain or .gz): `dir` if not NULL (the CLI's
 * --data DIR; DIR/fashion-mnist is also tried), else $NABLA_DATA (likewise),
 * else NB_FASHION_MNIST_DEBIAN_DIR.  Writes the directory into out[size].
 * 0 on success; -1 with a message saying how to get the data. */
NB_API int nb_fashion_mnist_find(const char *dir, char *out, size_t size);
/* Find (as above) and load; train or test may be NULL to skip that part.
 * The datasets are uint8 28x28, 10 classes, normalisation 0.2860 / 0.3530.
 * 0 on success; -1 with both outputs NULL. */
NB_API int nb_fashion_mnist_load(const char *dir, nb_dataset **train, nb_dataset **test);
/* "T-shirt/top", "Trouser", ... for labels 0..9; "?" otherwise. */
NB_API const char *nb_fashion_mnist_class_name(int label);

/* ----------------------------------------------------------------- loader */
/* Zero-initialised fields are the defaults (batch_size is required). */
typedef struct nb_loader_opts {
    size_t batch_size; /* >= 1 */
    int shuffle;       /* reshuffle at the start of every epoch */
    int drop_last;     /* skip an epoch's last partial batch */
    uint64_t seed;     /* the shuffling generator's seed */
    double scale;      /* 0 = 1/255 for uint8 data, 1 for float data */
    double mean, std;  /* x' = (x*scale - mean)/std; std 0 = the dataset's
                          own mean and std (ds->mean, ds->std) */
    int prefetch;      /* 1: the next batch of the epoch is gathered while
                          the caller works on this one (same batches, same
                          order, copied in on the next nb_loader_next;
                          buffers made on the first): by a thread of the
                          loader's own while the pool has fewer threads
                          than CPUs, else in chunks by pool threads that
                          would otherwise wait (so no thread preempts the
                          step's) */
} nb_loader_opts;

typedef struct nb_loader nb_loader;

/* Everything needed to resume a loader exactly where it was (plain integers,
 * so a checkpoint can store them as they are). */
typedef struct nb_loader_state {
    uint64_t n;      /* dataset size (checked on restore) */
    uint64_t epoch;  /* epochs completed */
    uint64_t pos;    /* samples already served in the current epoch */
    uint64_t rng[4]; /* the shuffling generator as it was when this epoch began */
} nb_loader_state;

/* One batch, in the caller's buffers (no allocation per batch). */
typedef struct nb_batch {
    void *x;        /* batch_size*d elements of `dtype`, or NULL */
    nb_dtype dtype; /* NB_F32 or NB_F64 */
    int32_t *y;     /* batch_size labels, or NULL */
    size_t *index;  /* batch_size dataset rows, or NULL */
    size_t n;       /* out: samples in this batch */
} nb_batch;

/* ds is borrowed and must outlive the loader.  NULL on bad options
 * (batch_size 0, std <= 0, drop_last with batch_size > n...). */
NB_API nb_loader *nb_loader_new(const nb_dataset *ds, const nb_loader_opts *opts);
NB_API void nb_loader_free(nb_loader *l); /* NULL is fine */
/* Fill b with the next batch: returns 1 (b->n samples, 1..batch_size), or 0
 * at the end of an epoch (nothing filled; the next call starts the next
 * epoch, reshuffled), or -1 on error (bad dtype). */
NB_API int nb_loader_next(nb_loader *l, nb_batch *b);
NB_API size_t nb_loader_batches_per_epoch(const nb_loader *l);
NB_API uint64_t nb_loader_epoch(const nb_loader *l); /* epochs completed */
NB_API void nb_loader_get_state(const nb_loader *l, nb_loader_state *st);
/* Resume from a saved state (same dataset size; pos <= n).  0 or -1. */
NB_API int nb_loader_set_state(nb_loader *l, const nb_loader_state *st);

/* ------------------------------------------------------------- statistics */
/* Values are in scaled units (x*scale: [0,1] for uint8 data). */
typedef struct nb_data_stats {
    size_t n, d;
    int n_classes;
    double scale;                 /* 1/255 for uint8 data, 1 for float data */
    double min, max, mean, std;   /* over all n*d values (std: population) */
    double *feat_min, *feat_max;  /* [d] per feature */
    double *feat_mean, *feat_std; /* [d] per feature */
    size_t n_constant;            /* features with min == max */
    size_t *class_count;          /* [n_classes] */
    size_t min_class_count, max_class_count;
    int n_empty_classes; /* classes with no sample */
} nb_data_stats;

/* Compute the statistics (exact integer sums for uint8 data).  Free with
 * nb_data_stats_free (NULL is fine).  NULL on error. */
NB_API nb_data_stats *nb_dataset_stats(const nb_dataset *ds);
NB_API void nb_data_stats_free(nb_data_stats *s);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_DATA_H */
