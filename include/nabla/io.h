/* nabla checkpoint I/O — the safetensors format, read and written in C.
 *
 *   nb_st_tensor ts[2];
 *   nb_st_describe(&ts[0], "fc.weight", w);           // borrows w's data
 *   nb_st_describe(&ts[1], "fc.bias", b);
 *   nb_st_meta meta[] = {{"step", "1200"}};
 *   if (nb_st_save("ckpt.safetensors", ts, 2, meta, 1) != 0) puts(nb_errmsg());
 *
 *   nb_st_file *f = nb_st_load("ckpt.safetensors");
 *   if (!f) { puts(nb_errmsg()); return 1; }
 *   const nb_st_tensor *t = nb_st_find(f, "fc.weight");
 *   if (!t || nb_st_read_into(w, t) != 0) puts(nb_errmsg());
 *   printf("step %s\n", nb_st_meta_get(f, "step"));
 *   nb_st_free(f);
 *
 * FORMAT (the Hugging Face safetensors layout, readable by its Python and Rust
 * libraries): an 8-byte little-endian u64 N, then N bytes of UTF-8 JSON
 *   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [2, 3],
 *    "data_offsets": [begin, end]}, ...}
 * padded with spaces, then the byte buffer; offsets are relative to the
 * buffer, element data is little-endian and row-major.
 *
 * SAVING is atomic: the file is written to PATH.tmp.XXXXXX in the same
 * directory, flushed with fsync, renamed over PATH, and the directory is
 * synced.  On any failure (a full disk included) the temporary file is
 * removed and PATH is left exactly as it was.  PATH itself is replaced: a
 * symbolic link there is replaced by the file, not followed.  New files get
 * the usual 0666 & ~umask permissions.  A save killed outright (SIGKILL,
 * power loss) leaves PATH as it was -- the old file or, if the rename was
 * reached, the new one, never a mix -- plus its PATH.tmp.XXXXXX, which a
 * reader never mistakes for PATH; the next successful save to PATH deletes
 * such leftovers (never the temporary file of a save still running).
 *
 * LOADING trusts nothing: the header length, UTF-8, the JSON grammar
 * (duplicate keys rejected), every entry's fields, dtype, shape and offsets,
 * and that the tensors tile the byte buffer exactly, with no gap, overlap or
 * trailing byte.  Headers are capped at NB_ST_MAX_HEADER_BYTES, 64 levels of
 * nesting and 4M JSON values.  A bad file gives NULL and nb_errmsg() names
 * the file, the tensor and the reason.  Nothing here prints, exits or keeps
 * global state.
 */
#ifndef NABLA_IO_H
#define NABLA_IO_H

#include "nabla.h"

#ifdef __cplusplus
extern "C" {
#endif

/* On-disk element types: every fixed-size safetensors dtype.  Only F32, F64
 * and I32 convert to nb_tensor; the others load as raw bytes. */
typedef enum {
    NB_ST_BOOL = 0, /* 1 byte, 0 or 1 */
    NB_ST_U8,
    NB_ST_I8,
    NB_ST_F8_E5M2,
    NB_ST_F8_E4M3,
    NB_ST_I16,
    NB_ST_U16,
    NB_ST_F16,
    NB_ST_BF16,
    NB_ST_I32,
    NB_ST_U32,
    NB_ST_F32,
    NB_ST_F64,
    NB_ST_I64,
    NB_ST_U64,
    NB_ST_DTYPE_COUNT
} nb_st_dtype;

#define NB_ST_MAX_HEADER_BYTES ((size_t)100000000) /* as the reference reader */
#define NB_ST_MAX_FILE_BYTES ((uint64_t)4 << 30)   /* nb_st_load refuses larger files */

NB_API size_t nb_st_dtype_size(nb_st_dtype dt);      /* bytes per element; 0 if unknown */
NB_API const char *nb_st_dtype_name(nb_st_dtype dt); /* "F32", ...; "?" if unknown */
/* The on-disk dtype of an nb_dtype (F32, F64, I32); -1 if none. */
NB_API int nb_st_dtype_of(nb_dtype dt);

/* One tensor: what nb_st_save writes, and what a loaded file describes.
 * data holds prod(shape) elements (1 for ndim 0) in host byte order. */
typedef struct nb_st_tensor {
    const char *name; /* UTF-8; unique in a file; not "__metadata__" */
    nb_st_dtype dtype;
    int ndim; /* 0..NB_MAX_DIMS */
    size_t shape[NB_MAX_DIMS];
    const void *data; /* may be NULL only when there are 0 elements */
} nb_st_tensor;

/* One __metadata__ entry: both strings UTF-8, keys unique. */
typedef struct nb_st_meta {
    const char *key;
    const char *value;
} nb_st_meta;

/* Describe an nb_tensor (F32/F64/I32) for saving; out borrows t's data and
 * the name, which must outlive the save.  0 on success. */
NB_API int nb_st_describe(nb_st_tensor *out, const char *name, const nb_tensor *t);

/* Write n tensors and n_meta metadata entries to path, atomically (above).
 * Tensors are laid out by dtype size, then name, as the reference writer
 * does, so every tensor's data is aligned to its element size.  Duplicate
 * names or keys, bad shapes, NULL data and non-UTF-8 strings are rejected
 * before anything is written.  0 on success; -1 and nb_errmsg() otherwise
 * (naming the path and the system's reason). */
NB_API int nb_st_save(const char *path, const nb_st_tensor *tensors, size_t n, const nb_st_meta *meta, size_t n_meta);

typedef struct nb_st_file nb_st_file;

/* Read and validate a whole file (at most NB_ST_MAX_FILE_BYTES).  Returns a
 * new nb_st_file the caller releases with nb_st_free, or NULL. */
NB_API nb_st_file *nb_st_load(const char *path);
/* The same for a file image in memory (copied); `label` names it in errors. */
NB_API nb_st_file *nb_st_load_mem(const void *bytes, size_t len, const char *label);
NB_API void nb_st_free(nb_st_file *f); /* NULL is fine */

/* Tensors, in the order the header lists them.  Every pointer returned below
 * (names, data, metadata strings) is owned by f and lives until nb_st_free.
 * Data is aligned to at least its element size (a tensor at an unaligned
 * offset in a foreign file is copied to aligned memory). */
NB_API size_t nb_st_count(const nb_st_file *f);
NB_API const nb_st_tensor *nb_st_at(const nb_st_file *f, size_t i); /* NULL if i >= count */
/* By name (binary search); NULL and an error naming the file if absent. */
NB_API const nb_st_tensor *nb_st_find(const nb_st_file *f, const char *name);

/* __metadata__, in header order; nb_st_meta_get is NULL (no error) if absent. */
NB_API size_t nb_st_meta_count(const nb_st_file *f);
NB_API const nb_st_meta *nb_st_meta_at(const nb_st_file *f, size_t i);
NB_API const char *nb_st_meta_get(const nb_st_file *f, const char *key);

/* A new long-lived tensor holding a copy of st (F32/F64/I32 only); the caller
 * frees it with nb_tensor_free.  NULL on error. */
NB_API nb_tensor *nb_st_to_tensor(const nb_st_tensor *st);
/* Copy st into dst, which must have exactly st's dtype and shape (the error
 * names the tensor and both shapes).  0 on success. */
NB_API int nb_st_read_into(nb_tensor *dst, const nb_st_tensor *st);

#ifdef __cplusplus
}
#endif
#endif /* NABLA_IO_H */
