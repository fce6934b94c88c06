/* nabla train / eval / predict as a user runs them, on the real Fashion-MNIST
 * (Debian's dataset-fashion-mnist; the cases say "skipped" without it). */
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nabla/io.h"
#include "nabla/train.h"
#include "t.h"
#include "t_cli.h"

static void t_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A fresh empty folder under /tmp; returns its path in buf. */
static const char *tmpdir(char *buf, size_t size)
{
    snprintf(buf, size, "/tmp/nb_train_XXXXXX");
    return mkdtemp(buf);
}

TEST(train, bad_flags_exit_2_naming_the_flag)
{
    const char *cases[][2] = {
        {"--lr abc", "--lr"},
        {"--opt lbfgs", "lbfgs"},
        {"--batch 0", "--batch"},
        {"--model 784-x-10", "784-x-10"},
        {"--act swish", "swish"},
        {"--epochs", "--epochs"},
        {"--bogus", "--bogus"},
        {"--dropout 1.5", "--dropout"},
        {"--sched warp", "warp"},
        {"--init magic", "magic"},
        {"--dtype f16", "f16"},
        {"--out /proc/nabla-no", "/proc/nabla-no"},
        {"--opt sgd --nesterov", "nesterov"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[256], *out;
        snprintf(args, sizeof args, "train --quiet %s", cases[i][0]);
        int rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 2, "nabla %s: exit %d, output: %s", args, rc, out ? out : "");
        CHECK_MSG(out && strstr(out, cases[i][1]), "nabla %s: message does not name %s: %s", args, cases[i][1],
                  out ? out : "");
        free(out);
    }
}

TEST(train, data_errors)
{
    char dir[64], args[256], *out;
    CHECK(tmpdir(dir, sizeof dir));
    snprintf(args, sizeof args, "train --quiet --data %s --out %s/run", dir, dir);
    CHECK(t_cli_run(args, &out) == 2);
    CHECK_MSG(out && strstr(out, "apt-get install dataset-fashion-mnist"), "%s", out ? out : "");
    free(out);
    /* a corrupt images file: the message names it */
    const char *files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                           "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        FILE *f = fopen(p, "wb");
        fputs("not an idx file", f);
        fclose(f);
    }
    CHECK(t_cli_run(args, &out) == 2);
    CHECK_MSG(out && strstr(out, "idx"), "%s", out ? out : "");
    free(out);
    if (t_have_data()) {
        CHECK(t_cli_run("train --quiet --model 100-10", &out) == 2);
        CHECK_MSG(out && strstr(out, "784"), "%s", out ? out : "");
        free(out);
        CHECK(t_cli_run("train --quiet --model 784-5", &out) == 2);
        CHECK_MSG(out && strstr(out, "10 classes"), "%s", out ? out : "");
        free(out);
    }
    t_rmrf(dir);
}

static int same_entries(const char *a, const char *b, int *n_compared)
{
    nb_checkpoint *ca = nb_checkpoint_open(a), *cb = nb_checkpoint_open(b);
    int same = ca && cb;
    *n_compared = 0;
    nb_mlp_config cfg = {.act = NB_ACT_RELU, .batchnorm = 1, .dropout = 0.1};
    nb_mlp_parse_widths(&cfg, "784-32-32-10");
    nb_model *ma = nb_mlp_new(NB_F32, &cfg), *mb = nb_mlp_new(NB_F32, &cfg);
    if (same && (nb_checkpoint_load_model(ca, ma) || nb_checkpoint_load_model(cb, mb))) same = 0;
    if (same) {
        same = !memcmp(nb_model_params(ma), nb_model_params(mb), nb_model_n_params(ma) * sizeof(float)) &&
               !memcmp(nb_model_buffers(ma), nb_model_buffers(mb), nb_model_n_buffer_values(ma) * sizeof(float));
        *n_compared = (int)nb_model_n_params(ma);
    }
    const char *keys[] = {"step", "epoch", "optim.steps", "loader.pos", "rng0", "loader.rng0"};
    for (int i = 0; same && i < 6; i++) {
        const char *va = nb_checkpoint_get(ca, keys[i]), *vb = nb_checkpoint_get(cb, keys[i]);
        same = va && vb && !strcmp(va, vb);
    }
    nb_model_free(ma);
    nb_model_free(mb);
    nb_checkpoint_close(ca);
    nb_checkpoint_close(cb);
    return same;
}

TEST(train, resume_is_bitwise_identical)
{
    if (!t_have_data()) return;
    char dir[64], args[1200], *out;
    CHECK(tmpdir(dir, sizeof dir));
    /* 2000 samples, batch 64: 32 batches an epoch, so 50 steps cross an epoch
     * boundary; BatchNorm buffers, dropout RNG and Adam moments all resume. */
    const char *common =
        "train --quiet --model 784-32-32-10 --batchnorm --dropout 0.1 --limit-train 2000 --epochs 3 --sched cosine";
    snprintf(args, sizeof args, "%s --max-steps 50 --out %s/straight", common, dir);
    CHECK_MSG(t_cli_run(args, &out) == 0, "%s", out ? out : "");
    free(out);
    snprintf(args, sizeof args, "%s --max-steps 25 --out %s/split", common, dir);
    CHECK_MSG(t_cli_run(args, &out) == 0, "%s", out ? out : "");
    free(out);
    snprintf(args, sizeof args, "%s --max-steps 50 --resume --out %s/split", common, dir);
    CHECK_MSG(t_cli_run(args, &out) == 0, "%s", out ? out : "");
    free(out);
    char a[128], b[128];
    snprintf(a, sizeof a, "%s/straight/checkpoint.safetensors", dir);
    snprintf(b, sizeof b, "%s/split/checkpoint.safetensors", dir);
    int n = 0;
    CHECK_MSG(same_entries(a, b, &n), "25 + resume + 25 steps differ from 50 straight steps");
    CHECK(n > 25000);
    /* resuming with another model is refused */
    snprintf(args, sizeof args, "train --quiet --model 784-16-10 --resume --out %s/split", dir);
    CHECK(t_cli_run(args, &out) == 2 && out && strstr(out, "784-32-32-10"));
    free(out);
    t_rmrf(dir);
}

TEST(train, json_events_eval_and_predict)
{
    if (!t_have_data()) return;
    char dir[64], args[1200], *out;
    CHECK(tmpdir(dir, sizeof dir));
    snprintf(args, sizeof args, "train --json --limit-train 3000 --epochs 2 --log-every 10 --out %s", dir);
    CHECK_MSG(t_cli_run(args, &out) == 0, "%s", out ? out : "");
    CHECK(out && strstr(out, "{\"event\":\"start\""));
    CHECK(out && strstr(out, "{\"event\":\"log\""));
    const char *ep = out ? strstr(out, "{\"event\":\"epoch\",\"epoch\":2") : NULL;
    CHECK_MSG(ep && strstr(ep, "\"test_acc\":"), "%s", out ? out : "");
    const char *done = out ? strstr(out, "{\"event\":\"done\"") : NULL;
    CHECK(done && strstr(done, "\"test_acc\":0.") && strstr(done, "\"train_samples_per_s\":") &&
          strstr(done, "\"test_loss\":"));
    double acc = done ? atof(strstr(done, "\"test_acc\":") + 11) : 0;
    CHECK_MSG(acc > 0.6, "test accuracy %g after 2 epochs on 3000 samples", acc);
    free(out);
    char path[128];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    char line[1024];
    int lines = 0, json_ok = 1;
    while (f && fgets(line, sizeof line, f)) {
        lines++;
        json_ok &= line[0] == '{' && strstr(line, "}\n") != NULL;
    }
    if (f) fclose(f);
    CHECK(lines >= 4 && json_ok);
    snprintf(args, sizeof args, "eval %s/checkpoint.safetensors --json", dir);
    CHECK(t_cli_run(args, &out) == 0);
    CHECK_MSG(out && strstr(out, "\"confusion\":[[") && strstr(out, "\"n\":10000"), "%s", out ? out : "");
    free(out);
    char dd[512];
    if (nb_fashion_mnist_find(NULL, dd, sizeof dd) == 0) {
        snprintf(args, sizeof args,
                 "predict %s/checkpoint.safetensors --json --images %s/t10k-images-idx3-ubyte.gz --index 0,1", dir, dd);
        int rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 0 && out && strstr(out, "\"probs\":["), "%s", out ? out : "");
        free(out);
    }
    /* a PGM of the wrong size, and a broken checkpoint */
    snprintf(path, sizeof path, "%s/small.pgm", dir);
    f = fopen(path, "wb");
    fprintf(f, "P5 4 4 255\n");
    for (int i = 0; i < 16; i++) fputc(i, f);
    fclose(f);
    snprintf(args, sizeof args, "predict %s/checkpoint.safetensors %s", dir, path);
    CHECK(t_cli_run(args, &out) == 2 && out && strstr(out, "4x4"));
    free(out);
    snprintf(args, sizeof args, "eval %s", path);
    CHECK(t_cli_run(args, &out) == 2 && out && strstr(out, "small.pgm"));
    free(out);
    t_rmrf(dir);
}

TEST(train, nan_loss_stops_and_keeps_checkpoint)
{
    if (!t_have_data()) return;
    char dir[64], args[1200], *out;
    CHECK(tmpdir(dir, sizeof dir));
    snprintf(args, sizeof args, "train --quiet --limit-train 640 --epochs 1 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    char ck[128];
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
    struct stat before, after;
    CHECK(stat(ck, &before) == 0);
    snprintf(args, sizeof args,
             "train --opt sgd --lr 1e5 --clip-norm 0 --limit-train 6400 --epochs 1 --overwrite --out %s", dir);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 1, "exit %d: %s", rc, out ? out : "");
    CHECK_MSG(out && strstr(out, "loss became") && strstr(out, "--lr"), "%s", out ? out : "");
    free(out);
    CHECK(stat(ck, &after) == 0 && after.st_mtime == before.st_mtime && after.st_size == before.st_size);
    nb_checkpoint *c = nb_checkpoint_open(ck);
    CHECK_OK(c);
    nb_checkpoint_close(c);
    t_rmrf(dir);
}

TEST(train, ctrl_c_saves_and_exits)
{
    if (!t_have_data()) return;
    char dir[64], outdir[128], exe[256];
    CHECK(tmpdir(dir, sizeof dir));
    snprintf(outdir, sizeof outdir, "%s/run", dir);
    snprintf(exe, sizeof exe, "%s/nabla", t_build_dir());
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        freopen("/dev/null", "w", stdout); /* the results */
        execl(exe, exe, "train", "--quiet", "--epochs", "1000", "--out", outdir, (char *)NULL);
        _exit(127);
    }
    char ck[200];
    snprintf(ck, sizeof ck, "%s/metrics.jsonl", outdir);
    struct stat st;
    for (int i = 0; i < 300 && stat(ck, &st) != 0; i++) t_sleep_ms(20); /* started training */
    t_sleep_ms(300);
    kill(pid, SIGINT);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 130, "status %d", status);
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", outdir);
    nb_checkpoint *c = nb_checkpoint_open(ck);
    CHECK_OK(c);
    CHECK(c && nb_checkpoint_get(c, "step") && atol(nb_checkpoint_get(c, "step")) > 0);
    nb_checkpoint_close(c);
    t_rmrf(dir);
}

TEST(train, checkpoint_reads_in_python_safetensors)
{
    if (!t_have_data()) return;
    if (system("python3 -c \"import safetensors, numpy\" >/dev/null 2>&1") != 0) {
        T_SKIP_UNLESS_REQUIRED("NB_REQUIRE_PYTHON", "python3 lacks safetensors/numpy "
                                                    "(python3 -m pip install safetensors numpy)");
        return;
    }
    char dir[64], args[512], *out;
    CHECK(tmpdir(dir, sizeof dir));
    snprintf(args, sizeof args, "train --quiet --batchnorm --model 784-64-10 --limit-train 640 --epochs 1 --out %s",
             dir);
    CHECK(t_cli_run(args, &out) == 0);
    free(out);
    char cmd[600], ck[128];
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", dir);
    snprintf(cmd, sizeof cmd, "python3 tests/ref/check_safetensors.py summary %s", ck);
    FILE *p = popen(cmd, "r");
    nb_checkpoint *c = nb_checkpoint_open(ck);
    nb_st_file *f = nb_st_load(ck);
    CHECK_OK(c && f);
    char line[1024];
    int tensors = 0, found_w = 0;
    while (p && f && fgets(line, sizeof line, p)) {
        char name[256], dtype[32], shape[64];
        double sum, sumsq;
        if (!strncmp(line, "meta ", 5)) {
            char key[128], val[512] = "";
            if (sscanf(line, "meta %127s %511[^\n]", key, val) >= 1) {
                const char *mine = nb_checkpoint_get(c, key);
                CHECK_MSG(mine && !strcmp(mine, val), "metadata %s: python %s, nabla %s", key, val,
                          mine ? mine : "(none)");
            }
            continue;
        }
        if (sscanf(line, "tensor %255s %31s %63s %lf %lf", name, dtype, shape, &sum, &sumsq) != 5) continue;
        tensors++;
        const nb_st_tensor *t = nb_st_find(f, name);
        CHECK_MSG(t != NULL, "python sees '%s', nabla does not", name);
        if (!t) continue;
        char myshape[64] = "";
        size_t at = 0, n = 1;
        for (int d = 0; d < t->ndim; d++) {
            at += (size_t)snprintf(myshape + at, sizeof myshape - at, d ? "x%zu" : "%zu", t->shape[d]);
            n *= t->shape[d];
        }
        if (!t->ndim) snprintf(myshape, sizeof myshape, "scalar");
        CHECK_MSG(!strcmp(myshape, shape), "%s: python shape %s, nabla %s", name, shape, myshape);
        CHECK_MSG(!strcmp(dtype, t->dtype == NB_ST_F32 ? "float32" : "float64"), "%s: python dtype %s", name, dtype);
        double s = 0, s2 = 0;
        for (size_t i = 0; i < n; i++) {
            double v = t->dtype == NB_ST_F32 ? ((const float *)t->data)[i] : ((const double *)t->data)[i];
            s += v;
            s2 += v * v;
        }
        CHECK_MSG(t_close(s, sum, 1e-9, 1e-9) && t_close(s2, sumsq, 1e-9, 1e-9), "%s: sums differ", name);
        found_w |= !strcmp(name, "layers.0.weight") && !strcmp(shape, "64x784");
    }
    if (p) CHECK(pclose(p) == 0);
    CHECK(found_w);
    CHECK_MSG(f && tensors == (int)nb_st_count(f) && tensors >= 9, "python saw %d tensors", tensors);
    nb_st_free(f);
    nb_checkpoint_close(c);
    t_rmrf(dir);
}
