/* The malformed-file catalogue, continued (IDX: tests/test_data.c,
 * safetensors: tests/test_io.c): CSV read from a file and from memory, and
 * checkpoints that are valid safetensors but wrong as nabla checkpoints.
 * One named case per defect; each checks that the reader fails with a
 * message naming the file and the reason.  Also the regressions found by
 * the fuzzers (tests/fuzz/). */
#include "t.h"

#include "nabla/io.h"
#include "nabla/train.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------- CSV */
/* text must fail from a file and from memory, with "name:line: " (line > 0)
 * or the name (line 0), and want, in the message. */
static void h_csv_bad(const char *text, size_t n, const nb_csv_opts *o, int line, const char *want, int at)
{
    char path[64], where[96];
    snprintf(path, sizeof path, "/tmp/nb_hostile_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0 || (n && write(fd, text, n) != (ssize_t)n)) t_fail(__FILE__, at, "cannot write %s", path);
    if (fd >= 0) close(fd);
    for (int mem = 0; mem < 2; mem++) {
        const char *name = mem ? "mem.csv" : path;
        nb_clear_error();
        nb_dataset *ds = mem ? nb_csv_parse(text, n, name, o) : nb_csv_load(path, o);
        if (line) snprintf(where, sizeof where, "%s:%d: ", name, line);
        else snprintf(where, sizeof where, "%s: ", name);
        if (ds) t_fail(__FILE__, at, "%s: malformed CSV loaded (expected \"%s\")", mem ? "memory" : "file", want);
        else if (!strstr(nb_errmsg(), where) || !strstr(nb_errmsg(), want))
            t_fail(__FILE__, at, "message \"%s\" lacks \"%s\" or \"%s\"", nb_errmsg(), where, want);
        nb_dataset_free(ds);
    }
    remove(path);
}
#define CSV_BAD(text, o, line, want) h_csv_bad(text, strlen(text), o, line, want, __LINE__)
#define NO_OPTS ((const nb_csv_opts *)NULL)

TEST(csv_bad, too_many_empty_fields)
{
    CSV_BAD(",,,,,,,,,,,,,,\n", &(nb_csv_opts){.max_line = 16}, 1, "15 fields, most of them empty");
}
TEST(csv_bad, label_too_large) { CSV_BAD("0,1\n65536,2\n", NO_OPTS, 2, "label 65536 is not a class index"); }
TEST(csv_bad, label_nan) { CSV_BAD("0,1\nnan,2\n", NO_OPTS, 2, "column 1: nan (NaN and Inf are not accepted)"); }
TEST(csv_bad, quoted_number) { CSV_BAD("0,1\n1,\"2\"\n", NO_OPTS, 2, "column 2: \"\"2\"\" is not a number"); }
TEST(csv_bad, blank_lines_still_count) { CSV_BAD("0,1\n\n\n1,2,3\n", NO_OPTS, 4, "3 fields but the first row has 2"); }
TEST(csv_bad, blank_field) { CSV_BAD("0,1,2\n1, ,3\n", NO_OPTS, 2, "column 2: empty field is not a number"); }
TEST(csv_bad, quoted_numeric_first_row)
{
    CSV_BAD("\"0\",\"1\"\n1,2\n", NO_OPTS, 1, "the first line is quoted numbers: a header or data?");
}
TEST(csv_bad, delimiter_that_cannot_separate)
{
    CSV_BAD("0.1.2\n", &(nb_csv_opts){.delim = '.'}, 0, "delimiter '.' cannot separate numbers");
}
TEST(csv_bad, bad_header_option) { CSV_BAD("0,1\n", &(nb_csv_opts){.header = 7}, 0, "bad header option 7"); }
TEST(csv_bad, bad_n_classes_option)
{
    CSV_BAD("0,1\n", &(nb_csv_opts){.n_classes = -2}, 0, "n_classes -2 (must be 0..65536)");
}
TEST(csv_bad, max_line_too_large) { CSV_BAD("0,1\n", &(nb_csv_opts){.max_line = SIZE_MAX}, 0, "max_line too large"); }
TEST(csv_bad, nul_byte)
{
    h_csv_bad("0,1\n1,\0"
              "2\n",
              9, NULL, 2, "NUL byte in a text file", __LINE__);
}
TEST(csv_bad, line_over_the_cap)
{
    CSV_BAD("0,1\n1,23456789\n", &(nb_csv_opts){.max_line = 9}, 2, "line longer than 9 bytes");
}

/* The line buffers grow on demand now: a line of exactly max_line bytes is
 * read whole, from a file and from memory, and one more byte is refused. */
/* issue 13: what spreadsheets write is read as they meant it */
TEST(csv_ok, byte_order_mark_then_header)
{
    const char *text = "\xef\xbb\xbf"
                       "label,a\n1,2\n0,3\n";
    nb_dataset *ds = nb_csv_parse(text, strlen(text), "mem.csv", &(nb_csv_opts){.label_name = "label"});
    CHECK_OK(ds);
    if (ds) CHECK(ds->n == 2 && ds->d == 1 && ds->y[0] == 1 && ds->xf[1] == 3);
    nb_dataset_free(ds);
}
TEST(csv_ok, cr_only_line_ends)
{
    const char *text = "0,1\r1,2\r0,5\r";
    nb_dataset *ds = nb_csv_parse(text, strlen(text), "mem.csv", NULL);
    CHECK_OK(ds);
    if (ds) CHECK(ds->n == 3 && ds->d == 1 && ds->y[1] == 1 && ds->xf[2] == 5);
    nb_dataset_free(ds);
}
TEST(csv_bad, line_at_the_cap_is_accepted)
{
    char text[8 + 4092 + 2];
    memcpy(text, "0,1\n1,0.", 8);
    memset(text + 8, '7', 4092);
    memcpy(text + 8 + 4092, "\n", 2); /* line 2 is 4096 bytes */
    nb_dataset *ds = nb_csv_parse(text, strlen(text), "mem.csv", &(nb_csv_opts){.max_line = 4096});
    CHECK_OK(ds);
    if (ds) CHECK(ds->n == 2 && ds->d == 1 && ds->y[1] == 1 && fabs(ds->xf[1] - 7.0 / 9.0) < 1e-15);
    nb_dataset_free(ds);
    CSV_BAD(text, &(nb_csv_opts){.max_line = 4095}, 2, "line longer than 4095 bytes");
}

/* ----------------------------------------------------------- checkpoints */
static char h_dir[64];

static const char *h_path(const char *name)
{
    static char p[4][160];
    static int k;
    k = (k + 1) % 4;
    if (!h_dir[0]) {
        snprintf(h_dir, sizeof h_dir, "/tmp/nb_hostile_ck_XXXXXX");
        if (!mkdtemp(h_dir)) t_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
    }
    snprintf(p[k], sizeof p[k], "%s/%s", h_dir, name);
    return p[k];
}

/* Remove path, and the folder once it is empty. */
static void h_done(const char *path)
{
    remove(path);
    if (h_dir[0] && rmdir(h_dir) == 0) h_dir[0] = '\0';
}

/* A real training checkpoint: 4-3-2 ReLU with BatchNorm, Adam (two steps),
 * StepLR, progress; with_optim 0 leaves the optimizer and schedule out. */
static const char *h_good(int with_optim)
{
    const char *path = h_path(with_optim ? "good.safetensors" : "model_only.safetensors");
    nb_mlp_config cfg = {.act = NB_ACT_RELU, .batchnorm = 1};
    nb_mlp_parse_widths(&cfg, "4-3-2");
    nb_model *m = nb_mlp_new(NB_F32, &cfg);
    nb_rng r;
    nb_rng_seed(&r, 8);
    nb_model_init(m, NB_INIT_TORCH, 0, &r);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    nb_optim_step(o, nb_model_params(m), nb_model_grads(m));
    nb_optim_step(o, nb_model_params(m), nb_model_grads(m));
    nb_sched_config sc = nb_sched_defaults(NB_SCHED_STEP);
    sc.step_size = 2;
    nb_sched s;
    nb_sched_init(&s, &sc, oc.lr);
    nb_sched_step(&s);
    nb_progress p = {.step = 2, .epoch = 0, .loader = {.n = 6, .epoch = 0, .pos = 4, .rng = {5, 6, 7, 8}}, .rng = r};
    nb_kv kv[] = {{"model", "4-3-2"}, {"act", "relu"}, {"batchnorm", "1"}};
    if (nb_checkpoint_save(path, m, with_optim ? o : NULL, with_optim ? &s : NULL, &p, kv, 3) != 0)
        t_fail(__FILE__, __LINE__, "%s", nb_errmsg());
    nb_optim_free(o);
    nb_model_free(m);
    return path;
}

/* A copy of src with edits: a tensor dropped, reshaped (its dims reversed)
 * or shortened by one element; a metadata key dropped or set. */
typedef struct {
    const char *drop, *reverse, *shorten; /* tensor names */
    const char *unset, *key, *value;      /* metadata */
    const char *poison;                   /* a tensor whose element 1 becomes `bad` */
    double bad;
} h_edit;

static const char *h_edited(const char *src, const char *name, h_edit e)
{
    const char *dst = h_path(name);
    nb_st_file *f = nb_st_load(src);
    if (!f) {
        t_fail(__FILE__, __LINE__, "%s", nb_errmsg());
        return dst;
    }
    size_t n = nb_st_count(f), nm = nb_st_meta_count(f), k = 0, km = 0;
    nb_st_tensor *ts = calloc(n + 1, sizeof *ts);
    float *poisoned = NULL;
    nb_st_meta *ms = calloc(nm + 1, sizeof *ms);
    for (size_t i = 0; i < n; i++) {
        nb_st_tensor t = *nb_st_at(f, i);
        if (e.drop && !strcmp(t.name, e.drop)) continue;
        if (e.reverse && !strcmp(t.name, e.reverse))
            for (int a = 0, b = t.ndim - 1; a < b; a++, b--) {
                size_t x = t.shape[a];
                t.shape[a] = t.shape[b];
                t.shape[b] = x;
            }
        if (e.shorten && !strcmp(t.name, e.shorten)) t.shape[0]--;
        if (e.poison && !strcmp(t.name, e.poison) && t.dtype == NB_ST_F32) {
            size_t numel = 1;
            for (int d = 0; d < t.ndim; d++) numel *= t.shape[d];
            poisoned = malloc(numel * sizeof *poisoned);
            memcpy(poisoned, t.data, numel * sizeof *poisoned);
            poisoned[1] = (float)e.bad;
            t.data = poisoned;
        }
        ts[k++] = t;
    }
    int set = 0;
    for (size_t i = 0; i < nm; i++) {
        nb_st_meta m = *nb_st_meta_at(f, i);
        if (e.unset && !strcmp(m.key, e.unset)) continue;
        if (e.key && !strcmp(m.key, e.key)) m.value = e.value, set = 1;
        ms[km++] = m;
    }
    if (e.key && !set) ms[km++] = (nb_st_meta){e.key, e.value};
    if (nb_st_save(dst, ts, k, ms, km) != 0) t_fail(__FILE__, __LINE__, "%s", nb_errmsg());
    free(poisoned);
    free(ts);
    free(ms);
    nb_st_free(f);
    remove(src);
    return dst;
}

/* Resume from path as `nabla train --resume` does: open, rebuild the model
 * its metadata describes, load the weights, then an optimizer of `kind`, the
 * schedule and the progress.  Must fail with the path and `want`. */
static void h_ck_bad_kind(const char *path, nb_optim_kind kind, const char *want, int at)
{
    nb_clear_error();
    nb_checkpoint *ck = nb_checkpoint_open(path);
    nb_model *m = NULL;
    nb_optim *o = NULL;
    int failed = !ck;
    if (ck) {
        nb_mlp_config cfg = {.act = NB_ACT_RELU};
        const char *spec = nb_checkpoint_get(ck, "model"), *bn = nb_checkpoint_get(ck, "batchnorm");
        const char *dt = nb_checkpoint_get(ck, "dtype");
        cfg.batchnorm = bn && !strcmp(bn, "1");
        if (!spec || nb_mlp_parse_widths(&cfg, spec) != 0) {
            t_fail(__FILE__, at, "test setup: no usable model metadata");
            nb_checkpoint_close(ck);
            return;
        }
        m = nb_mlp_new(dt && !strcmp(dt, "float64") ? NB_F64 : NB_F32, &cfg);
        nb_optim_config oc = nb_optim_defaults(kind);
        o = nb_optim_new(&oc, nb_model_dtype(m), nb_model_n_params(m));
        nb_sched_config sc = nb_sched_defaults(NB_SCHED_STEP);
        sc.step_size = 2;
        nb_sched s;
        nb_sched_init(&s, &sc, oc.lr);
        nb_progress p;
        failed = nb_checkpoint_load_model(ck, m) != 0 || nb_checkpoint_load_state(ck, o, &s, &p) != 0;
    }
    if (!failed) t_fail(__FILE__, at, "a bad checkpoint resumed (expected \"%s\")", want);
    else if (!strstr(nb_errmsg(), path) || !strstr(nb_errmsg(), want))
        t_fail(__FILE__, at, "message \"%s\" lacks the file or \"%s\"", nb_errmsg(), want);
    nb_optim_free(o);
    nb_model_free(m);
    nb_checkpoint_close(ck);
    h_done(path);
}
#define CK_BAD(path, want) h_ck_bad_kind(path, NB_OPT_ADAM, want, __LINE__)
#define EDIT(name, ...) h_edited(h_good(1), name, (h_edit){__VA_ARGS__})

TEST(ckpt_bad, control_the_unedited_checkpoint_resumes)
{
    const char *path = h_good(1);
    nb_checkpoint *ck = nb_checkpoint_open(path);
    CHECK_OK(ck);
    nb_mlp_config cfg = {.act = NB_ACT_RELU, .batchnorm = 1};
    nb_mlp_parse_widths(&cfg, "4-3-2");
    nb_model *m = nb_mlp_new(NB_F32, &cfg);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    nb_sched_config sc = nb_sched_defaults(NB_SCHED_STEP);
    sc.step_size = 2;
    nb_sched s;
    nb_sched_init(&s, &sc, oc.lr);
    nb_progress p;
    CHECK_OK(ck && nb_checkpoint_load_model(ck, m) == 0 && nb_checkpoint_load_state(ck, o, &s, &p) == 0);
    CHECK(p.step == 2 && p.loader.pos == 4 && s.epoch == 1 && nb_optim_steps(o) == 2);
    nb_optim_free(o);
    nb_model_free(m);
    nb_checkpoint_close(ck);
    h_done(path);
}

TEST(ckpt_bad, plain_safetensors_not_a_checkpoint)
{
    const char *path = h_path("plain.safetensors");
    float x[2] = {1, 2};
    nb_st_tensor t = {"layers.0.weight", NB_ST_F32, 1, {2}, x};
    CHECK_OK(nb_st_save(path, &t, 1, NULL, 0) == 0);
    CK_BAD(path, "not a nabla checkpoint (metadata 'format' is missing, expected nabla-checkpoint-1)");
}
/* a Hugging Face file says "format": "pt" (this case read freed memory once) */
TEST(ckpt_bad, foreign_format)
{
    CK_BAD(EDIT("pt.safetensors", .key = "format", .value = "pt"), "metadata 'format' is 'pt'");
}
TEST(ckpt_bad, newer_format)
{
    CK_BAD(EDIT("v2.safetensors", .key = "format", .value = "nabla-checkpoint-2"),
           "is 'nabla-checkpoint-2', expected nabla-checkpoint-1");
}
TEST(ckpt_bad, model_metadata_disagrees_with_tensors)
{
    CK_BAD(EDIT("wide.safetensors", .key = "model", .value = "4-5-2"),
           "tensor 'layers.0.weight': the file has shape [3, 4] but the destination has [5, 4]");
}
TEST(ckpt_bad, transposed_weight)
{
    CK_BAD(EDIT("t.safetensors", .reverse = "layers.0.weight"),
           "the file has shape [4, 3] but the destination has [3, 4]");
}
TEST(ckpt_bad, missing_weight)
{
    CK_BAD(EDIT("nw.safetensors", .drop = "layers.3.weight"),
           "the model's 'layers.3.weight' is missing from the checkpoint");
}
TEST(ckpt_bad, missing_batchnorm_buffer)
{
    CK_BAD(EDIT("nb.safetensors", .drop = "layers.1.running_var"), "'layers.1.running_var' is missing");
}
TEST(ckpt_bad, dtype_disagrees_with_metadata)
{
    CK_BAD(EDIT("f64.safetensors", .key = "dtype", .value = "float64"),
           "the file has dtype F32 but the destination is float64");
}
TEST(ckpt_bad, missing_optimizer_buffer)
{
    CK_BAD(EDIT("no_avg.safetensors", .drop = "optim.exp_avg"),
           "the checkpoint holds 1 optimizer buffers, this optimizer needs 2");
}
TEST(ckpt_bad, no_optimizer_saved) { CK_BAD(h_good(0), "metadata 'optim.steps' is missing"); }
TEST(ckpt_bad, optimizer_of_another_kind)
{
    h_ck_bad_kind(h_good(1), NB_OPT_RMSPROP, "optimizer state 'optim.exp_avg' does not belong to this optimizer",
                  __LINE__);
}
TEST(ckpt_bad, optimizer_buffer_wrong_size)
{
    CK_BAD(EDIT("short.safetensors", .shorten = "optim.exp_avg_sq"),
           "optimizer state 'optim.exp_avg_sq' does not match this optimizer");
}
TEST(ckpt_bad, optimizer_steps_too_large)
{
    CK_BAD(EDIT("steps.safetensors", .key = "optim.steps", .value = "18446744073709551615"),
           "'optim.steps' = 18446744073709551615 is too large");
}
TEST(ckpt_bad, lr_not_finite)
{
    CK_BAD(EDIT("inf.safetensors", .key = "optim.lr", .value = "inf"),
           "metadata 'optim.lr' = 'inf' is not a finite number");
}
TEST(ckpt_bad, lr_negative) { CK_BAD(EDIT("neg.safetensors", .key = "optim.lr", .value = "-0.5"), "invalid lr -0.5"); }
TEST(ckpt_bad, beta1_out_of_range)
{
    CK_BAD(EDIT("beta.safetensors", .key = "optim.momentum", .value = "1.5"), "invalid beta1 1.5");
}
TEST(ckpt_bad, schedule_step_missing)
{
    CK_BAD(EDIT("nosched.safetensors", .unset = "sched.epoch"), "metadata 'sched.epoch' is missing");
}
TEST(ckpt_bad, schedule_step_huge)
{
    /* resuming replays the schedule step by step: a hostile count is refused, not replayed for hours */
    CK_BAD(EDIT("sched.safetensors", .key = "sched.epoch", .value = "99999999999"),
           "'sched.epoch' = 99999999999 is more than the 134217728 schedule steps a checkpoint may replay");
}
TEST(ckpt_bad, progress_missing)
{
    CK_BAD(EDIT("nopos.safetensors", .unset = "loader.pos"), "metadata 'loader.pos' is missing");
}
TEST(ckpt_bad, progress_not_a_number)
{
    CK_BAD(EDIT("x.safetensors", .key = "step", .value = "12x"), "metadata 'step' = '12x' is not an unsigned integer");
}
TEST(ckpt_bad, progress_negative)
{
    CK_BAD(EDIT("m1.safetensors", .key = "epoch", .value = "-1"), "metadata 'epoch' = '-1' is not an unsigned integer");
}
/* issue 13: what the values mean, not only their bytes */
TEST(ckpt_bad, epoch_beyond_range)
{
    CK_BAD(EDIT("e63.safetensors", .key = "epoch", .value = "9223372036854775808"),
           "metadata 'epoch' = 9223372036854775808 is out of range");
}
TEST(ckpt_bad, step_beyond_range)
{
    CK_BAD(EDIT("s63.safetensors", .key = "step", .value = "9223372036854775807"),
           "metadata 'step' = 9223372036854775807 is out of range");
}
TEST(ckpt_bad, optimizer_steps_beyond_range)
{
    CK_BAD(EDIT("o62.safetensors", .key = "optim.steps", .value = "4611686018427387904"),
           "'optim.steps' = 4611686018427387904 is too large");
}
TEST(ckpt_bad, loader_position_past_its_size)
{
    CK_BAD(EDIT("pos.safetensors", .key = "loader.pos", .value = "7"),
           "metadata 'loader.pos' = 7 is out of range (at most 6, loader.n)");
}
TEST(ckpt_bad, nan_weight)
{
    CK_BAD(EDIT("nan.safetensors", .poison = "layers.0.weight", .bad = NAN),
           "tensor 'layers.0.weight' holds NaN at element 1");
}
TEST(ckpt_bad, inf_bias)
{
    CK_BAD(EDIT("inf_b.safetensors", .poison = "layers.3.bias", .bad = -INFINITY),
           "tensor 'layers.3.bias' holds -Inf at element 1");
}
TEST(ckpt_bad, nan_optimizer_state)
{
    CK_BAD(EDIT("nan_m.safetensors", .poison = "optim.exp_avg", .bad = NAN),
           "tensor 'optim.exp_avg' holds NaN at element 1");
}
TEST(ckpt_bad, negative_adam_second_moment)
{
    CK_BAD(EDIT("neg_v.safetensors", .poison = "optim.exp_avg_sq", .bad = -1),
           "tensor 'optim.exp_avg_sq' holds -1 at element 1: a second moment is never negative");
}
TEST(ckpt_bad, negative_running_variance)
{
    CK_BAD(EDIT("neg_var.safetensors", .poison = "layers.1.running_var", .bad = -2),
           "tensor 'layers.1.running_var' holds -2 at element 1");
}
TEST(ckpt_bad, act_param_not_a_number)
{
    CK_BAD(EDIT("ap.safetensors", .key = "act_param", .value = "xyz"),
           "metadata 'act_param' = 'xyz' is not a finite number");
}
TEST(ckpt_bad, dropout_nan)
{
    CK_BAD(EDIT("dn.safetensors", .key = "dropout", .value = "nan"),
           "metadata 'dropout' = 'nan' is not a probability in [0, 1)");
}
TEST(ckpt_bad, dtype_int8)
{
    CK_BAD(EDIT("i8.safetensors", .key = "dtype", .value = "int8"),
           "metadata 'dtype' = 'int8' is not float32 or float64");
}
TEST(ckpt_bad, batchnorm_flag_not_boolean)
{
    CK_BAD(EDIT("bn2.safetensors", .key = "batchnorm", .value = "yes"), "metadata 'batchnorm' = 'yes' is not 0 or 1");
}
TEST(ckpt_bad, rebuilt_model_refuses_nan_weight)
{
    /* the path of eval/predict/summary: nb_model_load (description + weights) */
    const char *path = EDIT("nan_load.safetensors", .poison = "layers.3.weight", .bad = NAN);
    nb_clear_error();
    nb_model *m = nb_model_load(path);
    CHECK(m == NULL);
    CHECK_MSG(strstr(nb_errmsg(), path) && strstr(nb_errmsg(), "tensor 'layers.3.weight' holds NaN"), "%s",
              nb_errmsg());
    nb_model_free(m);
    h_done(path);
}
TEST(ckpt_bad, truncated_file)
{
    const char *good = h_good(1), *cut = h_path("cut.safetensors");
    struct stat st;
    CHECK(stat(good, &st) == 0 && truncate(good, st.st_size / 2) == 0 && rename(good, cut) == 0);
    CK_BAD(cut, "runs past the end");
}
TEST(ckpt_bad, missing_file) { CK_BAD(h_path("nowhere.safetensors"), "cannot open"); }
TEST(ckpt_bad, directory)
{
    const char *d = h_path("adir.safetensors");
    CHECK(mkdir(d, 0755) == 0);
    CK_BAD(d, "not a regular file"); /* and removes it */
}

/* ---------------------------------------------------- fuzzer regressions */
/* fuzz_model_spec: "4-4-999" with residual blocks did not build ("residual_end:
 * no residual block is open"): the first hidden layer could not open a block
 * because the model's width was not known yet. */
TEST(hostile, residual_block_around_the_first_layer)
{
    nb_mlp_config cfg = {.act = NB_ACT_RELU, .residual = 1};
    CHECK_OK(nb_mlp_parse_widths(&cfg, "4-4-3") == 0);
    nb_model *m = nb_mlp_new(NB_F64, &cfg);
    CHECK_OK(m);
    if (!m) return;
    CHECK(nb_model_in_width(m) == 4 && nb_model_out_width(m) == 3);
    CHECK(nb_model_find(m, "layers.0.block.0.weight") && !nb_model_find(m, "layers.0.proj.weight"));
    nb_rng r;
    nb_rng_seed(&r, 1);
    CHECK_OK(nb_model_init(m, NB_INIT_TORCH, 0, &r) == 0);
    /* zero the block's weight and bias: the block is then the identity, y = W2 x + b2 */
    nb_fill(nb_model_find(m, "layers.0.block.0.weight")->t, 0);
    nb_fill(nb_model_find(m, "layers.0.block.0.bias")->t, 0);
    nb_ctx *c = nb_ctx_new(NULL);
    double xv[4] = {1, -2, 3, 0.5};
    nb_tensor *x = nb_from_data(c, NB_F64, 2, (size_t[]){1, 4}, xv, NB_BORROW);
    nb_tensor *y = nb_model_forward(m, c, x, &r);
    CHECK_OK(y);
    const nb_tensor *w = nb_model_find(m, "layers.1.weight")->t, *b = nb_model_find(m, "layers.1.bias")->t;
    for (size_t o = 0; y && o < 3; o++) {
        double want = nb_get(b, o);
        for (size_t i = 0; i < 4; i++) want += nb_get(w, o * 4 + i) * xv[i];
        CHECK_NEAR(nb_get(y, o), want, 1e-12);
    }
    nb_ctx_free(c);
    nb_model_free(m);
}
