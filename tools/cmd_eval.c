/* nabla eval CKPT: test loss, accuracy and the confusion matrix.
 * nabla predict CKPT: class probabilities for given images. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model_cli.h"
#include "run.h"

static int nb__eval(int argc, char **argv)
{
    const char *cmd = "eval", *path = NULL, *data = NULL, *torch_desc = NULL, *torch_file = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--from-torch")) {
            if (i + 2 >= argc) return nb_cli_usage_error(cmd, "--from-torch needs a description and a file");
            torch_desc = argv[++i];
            torch_file = argv[++i];
        }
        else if (!strcmp(argv[i], "--data")) {
            if (++i >= argc) return nb_cli_usage_error(cmd, "--data needs a value");
            data = argv[i];
        } else if (argv[i][0] == '-') return nb_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (!path) path = argv[i];
        else return nb_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (!path == !torch_desc)
        return nb_cli_usage_error(cmd, "needs a checkpoint (nabla eval CKPT | --from-torch DESC FILE [--data DIR] [--json])");
    nb_model *m = nb_cli_load_model(cmd, path, torch_desc, torch_file);
    if (!path) path = torch_file;
    if (!m) return 2;
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
    if (!conf || !c || nb_evaluate(m, c, test, 1000, &ev, conf)) {
        fprintf(stderr, "nabla eval: %s\n", nb_errmsg());
        goto out;
    }
    if (json) {
        printf("{\"checkpoint\":");
        nb_json_str(stdout, path);
        printf(",\"n\":%zu,\"test_loss\":", ev.n);
        nb_json_num(stdout, ev.loss);
        printf(",\"test_acc\":");
        nb_json_num(stdout, ev.accuracy);
        printf(",\"confusion\":[");
        for (int i = 0; i < C; i++) {
            printf(i ? ",[" : "[");
            for (int j = 0; j < C; j++) printf(j ? ",%zu" : "%zu", conf[i * C + j]);
            printf("]");
        }
        printf("]}\n");
    } else {
        printf("%s: %zu test images, loss %.4f, accuracy %.4f\n\nconfusion (rows: label, columns: prediction)\n",
               path, ev.n, ev.loss, ev.accuracy);
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

const nb_cli_cmd nb_cmd_eval = {
    "eval", "test loss, accuracy and confusion matrix of a checkpoint",
    "usage: nabla eval CKPT [--data DIR] [--json]\n"
    "       nabla eval --from-torch DESC FILE [--data DIR] [--json]\n"
    "\n"
    "Evaluates the checkpoint's model (rebuilt from the checkpoint alone) on the\n"
    "Fashion-MNIST test set: loss, accuracy and the confusion matrix (rows:\n"
    "label, columns: prediction).  --from-torch: the model DESC (a layer\n"
    "description) with the weights of FILE, saved from the equivalent torch\n"
    "nn.Sequential by safetensors.torch.save_file(model.state_dict(), FILE).\n",
    nb__eval};

/* Read a binary PGM (P5, 8-bit) of exactly w*h pixels into px. */
static int nb__read_pgm(const char *path, unsigned char *px, size_t want, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) return snprintf(err, errsz, "%s: %s", path, strerror(errno)), -1;
    char magic[3] = {0};
    unsigned w = 0, h = 0, maxv = 0;
    int ok = fscanf(f, "%2s %u %u %u", magic, &w, &h, &maxv) == 4 && !strcmp(magic, "P5") && maxv > 0 && maxv < 256;
    if (!ok) {
        fclose(f);
        return snprintf(err, errsz, "%s: not an 8-bit binary PGM (P5) image", path), -1;
    }
    fgetc(f); /* the single whitespace after maxval */
    if ((size_t)w * h != want) {
        fclose(f);
        return snprintf(err, errsz, "%s: image is %ux%u, the model takes %zu pixels", path, w, h, want), -1;
    }
    size_t got = fread(px, 1, want, f);
    fclose(f);
    if (got != want) return snprintf(err, errsz, "%s: truncated (%zu of %zu pixels)", path, got, want), -1;
    if (maxv != 255)
        for (size_t i = 0; i < want; i++) px[i] = (unsigned char)(px[i] * 255u / maxv);
    return 0;
}

static int nb__predict(int argc, char **argv)
{
    const char *cmd = "predict", *path = NULL, *idx_path = NULL, *index_list = "0", *torch_desc = NULL, *torch_file = NULL;
    const char *pgms[64];
    int n_pgm = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--from-torch")) {
            if (i + 2 >= argc) return nb_cli_usage_error(cmd, "--from-torch needs a description and a file");
            torch_desc = argv[++i];
            torch_file = argv[++i];
        }
        else if (!strcmp(argv[i], "--images") || !strcmp(argv[i], "--index")) {
            if (i + 1 >= argc) return nb_cli_usage_error(cmd, "%s needs a value", argv[i]);
            if (!strcmp(argv[i], "--images")) idx_path = argv[++i];
            else index_list = argv[++i];
        } else if (argv[i][0] == '-') return nb_cli_usage_error(cmd, "unknown option '%s'", argv[i]);
        else if (!path && !torch_desc) path = argv[i];
        else if (n_pgm < 64) pgms[n_pgm++] = argv[i];
        else return nb_cli_usage_error(cmd, "at most 64 images");
    }
    if (torch_desc && path) { /* the first image was taken for a checkpoint */
        if (n_pgm == 64) return nb_cli_usage_error(cmd, "at most 64 images");
        memmove(pgms + 1, pgms, (size_t)n_pgm++ * sizeof *pgms);
        pgms[0] = path;
        path = NULL;
    }
    if ((!path && !torch_desc) || (!idx_path && !n_pgm))
        return nb_cli_usage_error(cmd, "needs a checkpoint and images (nabla predict CKPT IMAGE.pgm... | --images IDX [--index I,J])");
    nb_model *m = nb_cli_load_model(cmd, path, torch_desc, torch_file);
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
        for (const char *p = index_list; *p && n < 64;) {
            char *end;
            errno = 0;
            long k = strtol(p, &end, 10);
            if (end == p || errno || k < 0 || (size_t)k >= idx->dims[0]) {
                fprintf(stderr, "nabla predict: --index '%s': not an image number in [0, %zu)\n", index_list, idx->dims[0]);
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
    for (size_t i = 0; x && i < n * d; i++) nb_set(x, i, (px[i] / 255.0 - NB_FASHION_MNIST_MEAN) / NB_FASHION_MNIST_STD);
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
            nb_json_str(stdout, names[i]);
            printf(",\"class\":%zu,\"name\":", best);
            nb_json_str(stdout, nb_fashion_mnist_class_name((int)best));
            printf(",\"probs\":[");
            for (size_t k = 0; k < C; k++) {
                if (k) putchar(',');
                nb_json_num(stdout, nb_get(p, i * C + k));
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
    "       nabla predict CKPT --images IDX [--index I,J,...] [--json]\n"
    "       nabla predict --from-torch DESC FILE (IMAGE.pgm... | --images IDX ...)\n"
    "\n"
    "Prints each image's most likely class and all class probabilities,\n"
    "normalised as in training.\n",
    nb__predict};
