/* nabla eval CKPT: test loss, accuracy and the confusion matrix.
 * nabla predict CKPT: class probabilities for given images. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "flags.h"
#include "model_cli.h"
#include "run.h"

/* The flags of eval and predict (their usage lines say them all). */
typedef struct {
    const char *data, *images, *index;
    const char *text;       /* eval --text PATH[,PATH]: a character model's held-out text */
    const char *from_torch; /* --from-torch DESC: FILE is the first argument */
    int json;
    int allow_nonfinite; /* load NaN/Inf weights (to inspect a diverged run) */
} nb__eval_args;

static const nb_flag nb__eval_flags[] = {
    NB_FLAG_STRING("--data", nb__eval_args, data, "DIR", NULL),
    NB_FLAG_STRING("--text", nb__eval_args, text, "PATH[,PATH]", NULL),
    NB_FLAG_STRING("--from-torch", nb__eval_args, from_torch, "DESC", NULL),
    NB_FLAG_BOOL("--json", nb__eval_args, json, NULL),
    NB_FLAG_BOOL("--allow-nonfinite", nb__eval_args, allow_nonfinite, NULL),
};

static const nb_flag nb__predict_flags[] = {
    NB_FLAG_STRING("--images", nb__eval_args, images, "IDX", NULL),
    NB_FLAG_STRING("--index", nb__eval_args, index, "I,J,...", NULL),
    NB_FLAG_STRING("--from-torch", nb__eval_args, from_torch, "DESC", NULL),
    NB_FLAG_BOOL("--json", nb__eval_args, json, NULL),
    NB_FLAG_BOOL("--allow-nonfinite", nb__eval_args, allow_nonfinite, NULL),
};

static int nb__eval(int argc, char **argv);
static int nb__predict(int argc, char **argv);
extern const nb_cli_cmd nb_cmd_eval, nb_cmd_predict;

/* A character model (nabla train --text): bits per character on the held-out
 * part of `text` (split and windowed as nabla train does; --tbptt runs: the
 * held-out streams with the states carried, in batches of the run's size).
 * The exit status. */
static int nb__eval_text(const char *cmd, const char *path, nb_model *m, const char *text, const nb_checkpoint *ck,
                         int json)
{
    nb_run_cfg r;
    nb_run_defaults(&r);
    const char *tb = ck ? nb_checkpoint_get(ck, "tbptt") : NULL, *bs = ck ? nb_checkpoint_get(ck, "batch") : NULL;
    r.text = text;
    r.seq_len = nb_model_in_width(m);
    r.tbptt = tb && !strcmp(tb, "1");
    if (r.tbptt && bs) r.batch = (size_t)strtoull(bs, NULL, 10);
    if (!r.batch) r.batch = 1;
    nb_dataset *train = NULL, *val = NULL;
    if (nb_run_text_data(cmd, &r, &train, &val)) return 2;
    nb_dataset_free(train);
    nb_ctx *c = nb_ctx_new(NULL);
    nb_eval ev;
    int rc = 0;
    if (!c || (r.tbptt && nb_model_carry_states(m, r.batch)) ||
        nb_evaluate(m, c, val, r.tbptt ? r.batch : nb_evaluate_batch(m), &ev, NULL)) {
        fprintf(stderr, "nabla %s: %s\n", cmd, nb_errmsg());
        rc = 1;
    } else if (json) {
        printf("{\"checkpoint\":");
        nb_json_write_string(stdout, path);
        printf(",\"text\":");
        nb_json_write_string(stdout, text);
        printf(",\"n\":%zu,\"characters\":%zu,\"test_loss\":", ev.n, ev.n * r.seq_len);
        nb_json_write_number(stdout, ev.loss);
        nb_json_write_key_number(stdout, "test_acc", ev.accuracy);
        nb_json_write_key_number(stdout, "val_bpc", ev.loss / log(2.0));
        printf("}\n");
    } else
        printf("%s: %zu held-out characters of %s: %.4f bits per character (loss %.4f nats), next-character "
               "accuracy %.4f\n",
               path, ev.n * r.seq_len, text, ev.loss / log(2.0), ev.loss, ev.accuracy);
    nb_ctx_free(c);
    nb_dataset_free(val);
    return rc;
}

static int nb__eval(int argc, char **argv)
{
    const char *cmd = "eval";
    nb__eval_args ea = {0};
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__eval_flags, &ea)};
    int n_pos, pk = nb_flags_parse(cmd, nb_cmd_eval.usage, tabs, 1, argc, argv, &n_pos);
    if (pk != NB_FLAGS_OK) return pk == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos > 1) return nb_flags_unexpected(cmd, argv[2]);
    if (!n_pos)
        return nb_cli_usage_error(
            cmd, "needs a checkpoint (nabla eval CKPT | --from-torch DESC FILE [--data DIR] [--json])");
    const char *path = argv[1], *data = ea.data;
    int json = ea.json;
    nb_model *m = ea.from_torch ? nb_cli_load_model(cmd, NULL, ea.from_torch, path)
                                : nb_cli_load_checkpoint(cmd, path, ea.allow_nonfinite);
    if (!m) return 2;
    /* a character model: the checkpoint's text (or --text's) */
    nb_checkpoint *ck = ea.from_torch ? NULL : nb_checkpoint_open(path);
    const char *ds = ck ? nb_checkpoint_get(ck, "dataset") : NULL;
    const char *text = ea.text ? ea.text : ds && !strcmp(ds, "text") ? nb_checkpoint_get(ck, "text") : NULL;
    if (text) {
        int trc = nb__eval_text(cmd, path, m, text, ck, json);
        nb_checkpoint_close(ck);
        nb_model_free(m);
        return trc;
    }
    nb_checkpoint_close(ck);
    nb_dataset *train = NULL, *test = NULL;
    if (nb_fashion_mnist_load(data, &train, &test)) {
        fprintf(stderr, "nabla eval: %s\n", nb_errmsg());
        nb_model_free(m);
        return 2;
    }
    int C = test->n_classes, rc = 1;
    size_t *conf = calloc((size_t)C * (size_t)C, sizeof *conf);
    nb_ctx *c = nb_ctx_new(NULL);
    nb_eval ev;
    if (!conf || !c || nb_evaluate(m, c, test, nb_evaluate_batch(m), &ev, conf)) {
        fprintf(stderr, "nabla eval: %s\n", nb_errmsg());
        goto out;
    }
    if (json) {
        printf("{\"checkpoint\":");
        nb_json_write_string(stdout, path);
        printf(",\"n\":%zu,\"test_loss\":", ev.n);
        nb_json_write_number(stdout, ev.loss);
        nb_json_write_key_number(stdout, "test_acc", ev.accuracy);
        printf(",\"confusion\":[");
        for (int i = 0; i < C; i++) {
            printf(i ? ",[" : "[");
            for (int j = 0; j < C; j++) printf(j ? ",%zu" : "%zu", conf[i * C + j]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("%s: %zu test images, loss %.4f, accuracy %.4f\n\nconfusion (rows: label, columns: prediction)\n", path,
               ev.n, ev.loss, ev.accuracy);
        printf("%12s", "");
        for (int j = 0; j < C; j++) printf(" %5d", j);
        printf("   recall\n");
        for (int i = 0; i < C; i++) {
            size_t row = 0;
            for (int j = 0; j < C; j++) row += conf[i * C + j];
            printf("%d %-11.11s", i, nb_fashion_mnist_class_name(i));
            for (int j = 0; j < C; j++) printf(" %5zu", conf[i * C + j]);
            printf("   %.3f\n", row ? (double)conf[i * C + i] / (double)row : 0.0);
        }
    }
    rc = 0;
out:
    free(conf);
    nb_ctx_free(c);
    nb_model_free(m);
    nb_dataset_free(train);
    nb_dataset_free(test);
    return rc;
}

const nb_cli_cmd nb_cmd_eval = {"eval", "test loss, accuracy and confusion matrix of a checkpoint",
                                "usage: nabla eval CKPT [--data DIR | --text PATH] [--json] [--allow-nonfinite]\n"
                                "       nabla eval --from-torch DESC FILE [--data DIR] [--json]\n"
                                "\n"
                                "Evaluates the checkpoint's model (rebuilt from the checkpoint alone) on the\n"
                                "Fashion-MNIST test set: loss, accuracy and the confusion matrix (rows:\n"
                                "label, columns: prediction).  A character model (nabla train --text) is\n"
                                "evaluated on the held-out part of its text (or of --text PATH): bits per\n"
                                "character and next-character accuracy.  --from-torch: the model DESC (a layer\n"
                                "description) with the weights of FILE, saved from the equivalent torch\n"
                                "nn.Sequential by safetensors.torch.save_file(model.state_dict(), FILE).\n"
                                "--allow-nonfinite loads a checkpoint whose weights hold NaN or Inf (a\n"
                                "diverged run; refused otherwise, naming the tensor).\n",
                                nb__eval};

/* One number of a PGM header, after whitespace and '#' comment lines (GIMP
 * writes one); -1 when there is none. */
static long nb__pgm_number(FILE *f)
{
    int ch;
    while ((ch = fgetc(f)) != EOF) {
        if (ch == '#')
            while ((ch = fgetc(f)) != EOF && ch != '\n') {
            }
        else if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') break;
    }
    long v = 0;
    int digits = 0;
    for (; ch >= '0' && ch <= '9' && v < 1000000; ch = fgetc(f), digits++) v = v * 10 + (ch - '0');
    /* the one whitespace after the number (after maxval: the pixels follow) */
    if (!digits || (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r')) return -1;
    return v;
}

/* Read a binary PGM (P5, 8-bit) of 28x28 pixels (want pixels for a model
 * that does not take 28x28 images) into px. */
static int nb__read_pgm(const char *path, unsigned char *px, size_t want, char *err, size_t errsz)
{
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return snprintf(err, errsz, "%s: not a regular file", path), -1;
    FILE *f = fopen(path, "rb");
    if (!f) return snprintf(err, errsz, "%s: %s", path, strerror(errno)), -1;
    int ok = fgetc(f) == 'P' && fgetc(f) == '5';
    long w = ok ? nb__pgm_number(f) : -1, h = w >= 0 ? nb__pgm_number(f) : -1, maxv = h >= 0 ? nb__pgm_number(f) : -1;
    if (!ok || w < 0 || h < 0 || maxv <= 0 || maxv > 255) {
        fclose(f);
        return snprintf(err, errsz, "%s: not an 8-bit binary PGM (P5) image", path), -1;
    }
    int square = want == 784 ? w == 28 && h == 28 : (size_t)w * (size_t)h == want;
    if (!square) {
        fclose(f);
        if (want == 784) return snprintf(err, errsz, "%s: image is %ldx%ld, the model takes 28x28", path, w, h), -1;
        return snprintf(err, errsz, "%s: image is %ldx%ld, the model takes %zu pixels", path, w, h, want), -1;
    }
    size_t got = fread(px, 1, want, f);
    fclose(f);
    if (got != want) return snprintf(err, errsz, "%s: truncated (%zu of %zu pixels)", path, got, want), -1;
    for (size_t i = 0; i < want; i++)
        if (px[i] > maxv)
            return snprintf(err, errsz, "%s: pixel %zu is %u, above the image's maxval %ld", path, i, px[i], maxv), -1;
    if (maxv != 255)
        for (size_t i = 0; i < want; i++) px[i] = (unsigned char)(px[i] * 255u / maxv);
    return 0;
}

static int nb__predict(int argc, char **argv)
{
    const char *cmd = "predict";
    nb__eval_args ea = {.index = "0"};
    nb_flag_table tabs[] = {NB_FLAG_TABLE(nb__predict_flags, &ea)};
    int n_pos, pk = nb_flags_parse(cmd, nb_cmd_predict.usage, tabs, 1, argc, argv, &n_pos);
    if (pk != NB_FLAGS_OK) return pk == NB_FLAGS_HELP ? 0 : 2;
    if (n_pos > 65) return nb_cli_usage_error(cmd, "at most 64 images");
    const char *path = n_pos ? argv[1] : NULL, *idx_path = ea.images, *index_list = ea.index;
    char **pgms = argv + 2;
    int n_pgm = n_pos > 1 ? n_pos - 1 : 0, json = ea.json;
    if (!path || (!idx_path && !n_pgm))
        return nb_cli_usage_error(
            cmd, "needs a checkpoint and images (nabla predict CKPT IMAGE.pgm... | --images IDX [--index I,J])");
    nb_model *m = ea.from_torch ? nb_cli_load_model(cmd, NULL, ea.from_torch, path)
                                : nb_cli_load_checkpoint(cmd, path, ea.allow_nonfinite);
    if (!m) return 2;
    size_t d = nb_model_in_width(m), C = nb_model_out_width(m), n = 0;
    unsigned char *px = calloc(64 * d, 1);
    const char *names[64];
    char labels[64][300];
    int rc = 2;
    nb_idx *idx = NULL;
    if (!px) goto out;
    for (int i = 0; i < n_pgm; i++) {
        char err[512];
        if (nb__read_pgm(pgms[i], px + n * d, d, err, sizeof err)) {
            fprintf(stderr, "nabla predict: %s\n", err);
            goto out;
        }
        names[n++] = pgms[i];
    }
    if (idx_path) {
        if (!(idx = nb_idx_read(idx_path, NULL))) {
            fprintf(stderr, "nabla predict: %s\n", nb_errmsg());
            goto out;
        }
        size_t per = idx->count / (idx->ndim ? idx->dims[0] : 1);
        if (idx->type != NB_IDX_U8 || idx->ndim < 2 || per != d) {
            fprintf(stderr, "nabla predict: %s: expected unsigned-byte images of %zu pixels\n", idx_path, d);
            goto out;
        }
        if (!*index_list) {
            fprintf(stderr, "nabla predict: --index '': expected image numbers, e.g. --index 0,5\n");
            goto out;
        }
        for (const char *p = index_list; *p && n < 64;) {
            char *end;
            errno = 0;
            long k = strtol(p, &end, 10);
            if (end == p || errno || k < 0 || (size_t)k >= idx->dims[0]) {
                fprintf(stderr, "nabla predict: --index '%s': not an image number in [0, %zu)\n", index_list,
                        idx->dims[0]);
                goto out;
            }
            memcpy(px + n * d, (const unsigned char *)idx->data + (size_t)k * d, d);
            snprintf(labels[n], sizeof labels[n], "%s[%ld]", idx_path, k);
            names[n] = labels[n];
            n++;
            p = *end == ',' ? end + 1 : end;
            if (*end && *end != ',') {
                fprintf(stderr, "nabla predict: --index '%s': expected numbers separated by commas\n", index_list);
                goto out;
            }
        }
    }
    nb_ctx *c = nb_ctx_new(NULL);
    nb_set_grad_enabled(c, 0);
    nb_set_training(c, 0);
    nb_tensor *x = nb_empty(c, nb_model_dtype(m), 2, (size_t[]){n, d});
    for (size_t i = 0; x && i < n * d; i++)
        nb_set(x, i, (px[i] / 255.0 - NB_FASHION_MNIST_MEAN) / NB_FASHION_MNIST_STD);
    nb_tensor *p = nb_softmax(c, nb_model_forward(m, c, x, NULL), -1);
    if (!p) {
        fprintf(stderr, "nabla predict: %s\n", nb_errmsg());
        nb_ctx_free(c);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        size_t best = 0;
        for (size_t k = 1; k < C; k++)
            if (nb_get(p, i * C + k) > nb_get(p, i * C + best)) best = k;
        if (json) {
            printf("{\"image\":");
            nb_json_write_string(stdout, names[i]);
            printf(",\"class\":%zu,\"name\":", best);
            nb_json_write_string(stdout, nb_fashion_mnist_class_name((int)best));
            printf(",\"probs\":[");
            for (size_t k = 0; k < C; k++) {
                if (k) putchar(',');
                nb_json_write_number(stdout, nb_get(p, i * C + k));
            }
            printf("]}\n");
        } else {
            printf("%s: %s (%.3f)\n ", names[i], nb_fashion_mnist_class_name((int)best), nb_get(p, i * C + best));
            for (size_t k = 0; k < C; k++) printf(" %zu:%.3f", k, nb_get(p, i * C + k));
            putchar('\n');
        }
    }
    nb_ctx_free(c);
    rc = 0;
out:
    nb_idx_free(idx);
    free(px);
    nb_model_free(m);
    return rc;
}

const nb_cli_cmd nb_cmd_predict = {
    "predict", "class probabilities for images (PGM files or an IDX file)",
    "usage: nabla predict CKPT IMAGE.pgm...           8-bit binary PGM, 28x28\n"
    "       nabla predict CKPT --images IDX [--index I,J,...] [--json] [--allow-nonfinite]\n"
    "       nabla predict --from-torch DESC FILE (IMAGE.pgm... | --images IDX ...)\n"
    "\n"
    "Prints each image's most likely class and all class probabilities,\n"
    "normalised as in training.  --allow-nonfinite loads a checkpoint whose\n"
    "weights hold NaN or Inf (refused otherwise).\n",
    nb__predict};
