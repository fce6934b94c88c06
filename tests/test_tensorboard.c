/* nabla train's validation split, best checkpoint, early stopping, output
 * streams and TensorBoard event files, as a user runs them (Fashion-MNIST;
 * skipped without it).  The event files are read by TensorBoard's own
 * reader (skipped without the tensorboard package unless NB_REQUIRE_PYTHON). */
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../tools/tensorboard.c" /* the writer: tools/ is not in the test binary */
#include "nabla/train.h"
#include "t.h"
#include "t_cli.h"

/* 800 training samples and 200 for validation, Adam at 1e-2: the validation
 * loss stops falling after a few epochs, so --early-stop 2 ends the run. */
#define TB_RUN "train --limit-train 1000 --lr 0.01 --epochs 20 --val 0.2 --early-stop 2 --log-every 5 --quiet"

static const char *tb_tmpdir(char *buf, size_t size)
{
    snprintf(buf, size, "/tmp/nb_tb_XXXXXX");
    return mkdtemp(buf);
}

/* The last line of path that contains key, in a malloc'd string (NULL: none). */
static char *tb_last_line(const char *path, const char *key)
{
    FILE *f = fopen(path, "r");
    char line[4096], *last = NULL;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, key)) {
            free(last);
            last = strdup(line);
        }
    if (f) fclose(f);
    return last;
}

/* The text after "key": up to the next ',' or '}'. */
static void tb_field(const char *line, const char *key, char *out, size_t size)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = line ? strstr(line, k) : NULL;
    size_t n = 0;
    if (p)
        for (p += strlen(k); *p && *p != ',' && *p != '}' && n + 1 < size; p++) out[n++] = *p;
    out[n] = '\0';
}

static int tb_exists(const char *dir, const char *file)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return stat(p, &st) == 0;
}

TEST(train, val_early_stop_tensorboard)
{
    if (!t_have_data()) return;
    char dir[64], args[1200], *out;
    CHECK(tb_tmpdir(dir, sizeof dir));
    snprintf(args, sizeof args, TB_RUN " --monitor 10 --tensorboard %s/tb --out %s/run", dir, dir);
    CHECK_MSG(t_cli_run(args, &out) == 0, "%s", out ? out : "");
    CHECK_MSG(out && strstr(out, "stopped early") && strstr(out, "val loss") && strstr(out, "train acc") &&
                  strstr(out, "best.safetensors"),
              "%s", out ? out : "");
    free(out);
    char run[128], metrics[160];
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", run);
    char *done = tb_last_line(metrics, "\"event\":\"done\""), *ep = tb_last_line(metrics, "\"event\":\"epoch\"");
    char v[64];
    tb_field(done, "stopped", v, sizeof v);
    CHECK_MSG(!strcmp(v, "\"early_stop\""), "done: %s", done ? done : "(none)");
    tb_field(done, "best_epoch", v, sizeof v);
    CHECK_MSG(atoi(v) >= 1, "done: %s", done ? done : "(none)");
    tb_field(ep, "train_acc", v, sizeof v);
    CHECK_MSG(atof(v) > 0.5 && atof(v) <= 1, "epoch: %s", ep ? ep : "(none)");
    tb_field(ep, "val_acc", v, sizeof v);
    CHECK_MSG(atof(v) > 0.5 && atof(v) <= 1, "epoch: %s", ep ? ep : "(none)");
    CHECK(tb_exists(run, "best.safetensors"));
    /* best.safetensors is a checkpoint of the best epoch */
    char best[160];
    snprintf(best, sizeof best, "%s/best.safetensors", run);
    nb_checkpoint *ck = nb_checkpoint_open(best);
    CHECK_MSG(ck != NULL, "%s", nb_errmsg());
    tb_field(done, "best_epoch", v, sizeof v);
    const char *ck_epoch = ck ? nb_checkpoint_get(ck, "epoch") : NULL;
    CHECK_MSG(ck_epoch && !strcmp(ck_epoch, v), "best.safetensors epoch %s, best_epoch %s", ck_epoch ? ck_epoch : "-",
              v);
    nb_checkpoint_close(ck);
    free(done);
    free(ep);
    if (system("python3 -c 'import tensorboard.backend.event_processing.event_accumulator' >/dev/null 2>&1") != 0) {
        T_SKIP_UNLESS_REQUIRED("NB_REQUIRE_PYTHON", "python3 without tensorboard (python3 -m pip install tensorboard)");
    } else {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "python3 tests/ref/check_tensorboard.py %s/tb %s 2>/dev/null", dir, run);
        CHECK_MSG(system(cmd) == 0, "TensorBoard's reader disagrees with metrics.jsonl: %s", cmd);
    }
    t_rmrf(dir);
}

/* A run stopped mid-epoch and resumed ends like the uninterrupted one: the
 * same epochs, best epoch, patience and final model. */
TEST(train, early_stop_resumes_like_an_uninterrupted_run)
{
    if (!t_have_data()) return;
    char dir[64], args[1200], *out;
    CHECK(tb_tmpdir(dir, sizeof dir));
    snprintf(args, sizeof args, TB_RUN " --out %s/straight", dir);
    CHECK_MSG(t_cli_run(args, &out) == 0, "%s", out ? out : "");
    free(out);
    snprintf(args, sizeof args, TB_RUN " --max-steps 50 --out %s/split", dir);
    CHECK_MSG(t_cli_run(args, &out) == 0, "%s", out ? out : "");
    free(out);
    snprintf(args, sizeof args, TB_RUN " --resume --out %s/split", dir);
    CHECK_MSG(t_cli_run(args, &out) == 0, "%s", out ? out : "");
    free(out);
    char a[160], b[160];
    snprintf(a, sizeof a, "%s/straight/metrics.jsonl", dir);
    snprintf(b, sizeof b, "%s/split/metrics.jsonl", dir);
    char *da = tb_last_line(a, "\"event\":\"done\""), *db = tb_last_line(b, "\"event\":\"done\"");
    const char *keys[] = {"stopped", "steps", "epochs", "best_epoch", "best_val_loss", "test_acc", "test_loss"};
    for (int i = 0; i < 7; i++) {
        char va[64], vb[64];
        tb_field(da, keys[i], va, sizeof va);
        tb_field(db, keys[i], vb, sizeof vb);
        CHECK_MSG(va[0] && !strcmp(va, vb), "%s: %s straight, %s resumed", keys[i], va, vb);
    }
    free(da);
    free(db);
    /* resuming with another --val is refused */
    snprintf(args, sizeof args, "train --quiet --limit-train 1000 --val 0.3 --resume --out %s/split", dir);
    CHECK(t_cli_run(args, &out) == 2 && out && strstr(out, "--val 0.2"));
    free(out);
    t_rmrf(dir);
}

TEST(train, early_stop_needs_val)
{
    char *out;
    CHECK(t_cli_run("train --early-stop 2", &out) == 2 && out && strstr(out, "--early-stop") && strstr(out, "--val"));
    free(out);
    CHECK(t_cli_run("train --val 1.5", &out) == 2 && out && strstr(out, "--val"));
    free(out);
    CHECK(t_cli_run("help train", &out) == 0 && out && strstr(out, "--tensorboard") && strstr(out, "--early-stop"));
    free(out);
}

/* Results on stdout (the epoch and done lines), progress and diagnostics on
 * stderr; --json: only JSON Lines on stdout. */
TEST(train, results_on_stdout_progress_on_stderr)
{
    if (!t_have_data()) return;
    char dir[64], cmd[1200];
    CHECK(tb_tmpdir(dir, sizeof dir));
    snprintf(cmd, sizeof cmd, "%s/nabla train --limit-train 640 --epochs 2 --log-every 3 --out %s/run >%s/out 2>%s/err",
             t_build_dir(), dir, dir, dir);
    CHECK(system(cmd) == 0);
    char o[160], e[160];
    snprintf(o, sizeof o, "%s/out", dir);
    snprintf(e, sizeof e, "%s/err", dir);
    char *ep = tb_last_line(o, "epoch 2/2  train loss"), *done = tb_last_line(o, "done: test acc");
    char *bar = tb_last_line(e, "batch 10/10"), *err_done = tb_last_line(e, "done:"),
         *out_bar = tb_last_line(o, "batch ");
    CHECK_MSG(ep && strstr(ep, "train acc") && strstr(ep, "test acc"), "stdout: %s", ep ? ep : "(no epoch line)");
    CHECK(done != NULL);
    CHECK_MSG(bar && strstr(bar, "samples/s") && strstr(bar, "ETA") && strstr(bar, "elapsed"),
              "stderr: no progress line ending at the last batch");
    CHECK(!err_done && !out_bar);
    free(ep), free(done), free(bar), free(err_done), free(out_bar);
    snprintf(cmd, sizeof cmd, "%s/nabla train --json --limit-train 640 --epochs 1 --out %s/run2 >%s/out 2>%s/err",
             t_build_dir(), dir, dir, dir);
    CHECK(system(cmd) == 0);
    FILE *f = fopen(o, "r");
    char line[8192];
    int lines = 0, json = 1;
    while (f && fgets(line, sizeof line, f)) lines++, json &= line[0] == '{';
    if (f) fclose(f);
    CHECK_MSG(lines >= 4 && json, "--json: %d lines on stdout, all JSON: %d", lines, json);
    t_rmrf(dir);
}

/* The event-file writer itself (tools/tensorboard.c, built into this test
 * above): CRC32C's check value, and every record's framing read back. */
static uint32_t tb_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

TEST(train, tensorboard_records_are_framed_and_checksummed)
{
    CHECK(nb_crc32c(0, "123456789", 9) == 0xE3069283u); /* CRC-32C's check value */
    CHECK(nb_crc32c(nb_crc32c(0, "1234", 4), "56789", 5) == 0xE3069283u);
    char dir[64];
    CHECK(tb_tmpdir(dir, sizeof dir));
    nb_tb *tb = nb_tb_open(dir);
    CHECK(tb != NULL);
    if (!tb) return;
    char path[1200];
    snprintf(path, sizeof path, "%s", nb_tb_path(tb));
    CHECK(strstr(path, "/events.out.tfevents.") != NULL);
    CHECK(nb_tb_scalar(tb, "epoch_loss", 7, 0.25) == 0 && nb_tb_restart(tb, 8) == 0);
    char tag[300];
    memset(tag, 'x', sizeof tag - 1);
    tag[sizeof tag - 1] = '\0';
    CHECK(nb_tb_scalar(tb, tag, 1, 1.0) == -1); /* a tag too long is refused, nothing written */
    CHECK(nb_tb_close(tb) == 0);
    FILE *f = fopen(path, "rb");
    unsigned char buf[4096];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    size_t at = 0;
    int records = 0, crc_ok = 1;
    while (at + 12 <= n) {
        uint64_t len = tb_le32(buf + at) | (uint64_t)tb_le32(buf + at + 4) << 32;
        crc_ok &= tb_le32(buf + at + 8) == nb_crc32c_mask(nb_crc32c(0, buf + at, 8));
        if (at + 12 + len + 4 > n) break;
        crc_ok &= tb_le32(buf + at + 12 + len) == nb_crc32c_mask(nb_crc32c(0, buf + at + 12, len));
        if (records == 0) crc_ok &= len > 13 && !memcmp(buf + at + 12 + len - 13, "brain.Event:2", 13);
        at += 12 + len + 4;
        records++;
    }
    CHECK_MSG(records == 3 && at == n && crc_ok, "%d records, %zu of %zu bytes, checksums %s", records, at, n,
              crc_ok ? "right" : "wrong");
    /* the scalar: float32 0.25 after the tag */
    unsigned char want[] = {0x0a, 10, 'e', 'p', 'o', 'c', 'h', '_', 'l', 'o', 's', 's', 0x15, 0, 0, 0x80, 0x3e};
    int found = 0;
    for (size_t i = 0; i + sizeof want <= n; i++) found |= !memcmp(buf + i, want, sizeof want);
    CHECK(found);
    t_rmrf(dir);
}
