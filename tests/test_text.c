/* Text for character-level models: the alphabet, files and folders (binary
 * and linked files skipped), the validation split and the windows. */
#include "t.h"

#include "../src/nn/nn_internal.h"
#include "nabla/data.h"
#include "nabla/optim.h"
#include "nabla/train.h"
#include "t_cli.h"

#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void t_put(const char *dir, const char *name, const void *buf, size_t n)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) return;
    fwrite(buf, 1, n, f);
    fclose(f);
}

TEST(text, alphabet_round_trip)
{
    for (int b = 32; b <= 126; b++) CHECK(nb_text_decode(nb_text_encode(b)) == b);
    CHECK(nb_text_encode('\n') == 0 && nb_text_decode(0) == '\n');
    CHECK(nb_text_encode('\t') == nb_text_encode(' '));
    CHECK(nb_text_encode(0xC3) == nb_text_encode('?') && nb_text_encode(7) == nb_text_encode('?'));
    for (int b = 0; b < 256; b++) CHECK(nb_text_encode(b) >= 0 && nb_text_encode(b) < NB_TEXT_VOCAB);
    CHECK(nb_text_decode(NB_TEXT_VOCAB) == '?' && nb_text_decode(-1) == '?');
}

TEST(text, folder_reads_text_files_by_name_only)
{
    char dir[] = "/tmp/nabla_text_XXXXXX";
    CHECK_OK(mkdtemp(dir));
    t_put(dir, "b", "world\n", 6);
    t_put(dir, "a", "hello\t", 6);
    t_put(dir, "a.dat", "\0\0\1\2", 4); /* binary: skipped */
    t_put(dir, ".hidden", "zzz", 3);
    char a[256], link[256], sub[256];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(link, sizeof link, "%s/a.u8", dir); /* fortune's links: skipped, no double count */
    CHECK_OK(symlink(a, link) == 0);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    CHECK_OK(mkdir(sub, 0700) == 0);
    const char *paths[] = {dir};
    nb_text *t = nb_text_load(paths, 1, 0);
    CHECK_OK(t);
    char s[32] = {0};
    for (size_t i = 0; i < t->n && i < 31; i++) s[i] = (char)nb_text_decode(t->ids[i]);
    CHECK(t->n == 12 && !strcmp(s, "hello world\n") && t->n_files == 2);
    nb_text_free(t);

    /* a binary file named explicitly is refused, naming it */
    char bin[256];
    snprintf(bin, sizeof bin, "%s/a.dat", dir);
    const char *pb[] = {a, bin};
    CHECK(nb_text_load(pb, 2, 0) == NULL && strstr(nb_errmsg(), "a.dat") && strstr(nb_errmsg(), "NUL"));
    CHECK(nb_text_load(pb, 1, 3) == NULL && strstr(nb_errmsg(), "limit"));
    const char *pm[] = {"/nonexistent/x"};
    CHECK(nb_text_load(pm, 1, 0) == NULL && strstr(nb_errmsg(), "/nonexistent/x"));
    const char *pe[] = {sub};
    CHECK(nb_text_load(pe, 1, 0) == NULL && strstr(nb_errmsg(), "no text files"));
    CHECK(nb_text_load(NULL, 0, 0) == NULL);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

TEST(text, split_and_windows)
{
    size_t n = 20 * NB_TEXT_CHUNK + 100;
    uint8_t *ids = malloc(n);
    CHECK_OK(ids);
    for (size_t i = 0; i < n; i++) ids[i] = (uint8_t)((i / NB_TEXT_CHUNK) % NB_TEXT_VOCAB);
    nb_text *t = nb_text_from_ids(ids, n), *tr = NULL, *va = NULL;
    CHECK_OK(t && nb_text_split(t, &tr, &va) == 0);
    CHECK(va->n == NB_TEXT_CHUNK && tr->n == n - NB_TEXT_CHUNK);
    CHECK(va->ids[0] == 19 && va->ids[NB_TEXT_CHUNK - 1] == 19); /* the 20th chunk */
    CHECK(tr->ids[19 * NB_TEXT_CHUNK] == 20);                    /* then the 21st */

    nb_dataset *w = nb_text_windows(va, 100, "val");
    CHECK_OK(w);
    CHECK(w->n == (NB_TEXT_CHUNK - 1) / 100 && w->d == 100 && w->n_classes == NB_TEXT_VOCAB);
    CHECK(w->mean == 0 && w->std == 1 && nb_dataset_validate(w) == 0 && nb_dataset_labels_per_sample(w) == 100);
    CHECK(w->xf[100] == va->ids[100] && w->y[99] == va->ids[100] && w->y[100] == va->ids[101]);
    /* the loader hands over the ids unchanged, and one label per step */
    double xb[2 * 100];
    int32_t yb[2 * 100];
    CHECK_OK(nb_dataset_gather(w, (size_t[]){3, 0}, 2, 0, w->mean, w->std, NB_F64, xb, yb) == 0);
    CHECK(xb[0] == va->ids[300] && xb[100] == va->ids[0] && yb[0] == va->ids[301] && yb[199] == va->ids[100]);
    nb_dataset *sub = nb_dataset_subset(w, (size_t[]){1}, 1);
    CHECK(sub && sub->y_per == 100 && sub->y[0] == va->ids[101] && nb_dataset_validate(sub) == 0);
    nb_dataset_free(sub);
    w->y[250] = NB_TEXT_VOCAB;
    CHECK(nb_dataset_validate(w) != 0 && strstr(nb_errmsg(), "sample 2"));
    nb_dataset_free(w);
    CHECK(nb_text_windows(va, NB_TEXT_CHUNK, "val") == NULL && strstr(nb_errmsg(), "val"));

    nb_text *small = nb_text_from_ids(ids, 100), *a = NULL, *b = NULL;
    CHECK(nb_text_split(small, &a, &b) != 0 && strstr(nb_errmsg(), "too few") && !a && !b);
    ids[5] = NB_TEXT_VOCAB;
    CHECK(nb_text_from_ids(ids, 10) == NULL && strstr(nb_errmsg(), "outside"));
    nb_text_free(small);
    nb_text_free(t);
    nb_text_free(tr);
    nb_text_free(va);
    free(ids);
}

TEST(text, fortunes_real)
{
    struct stat st;
    if (stat("/usr/share/games/fortunes", &st) != 0) {
        T_SKIP_UNLESS_REQUIRED("NB_REQUIRE_FORTUNES", "Debian's fortunes is not installed");
        return;
    }
    const char *p[] = {"/usr/share/games/fortunes"};
    nb_text *t = nb_text_load(p, 1, 0), *tr = NULL, *va = NULL;
    CHECK_OK(t);
    CHECK(t->n > 1000000 && t->n_files >= 10);
    CHECK_OK(nb_text_split(t, &tr, &va) == 0);
    CHECK(va->n * 25 > t->n && va->n * 15 < t->n); /* about 1/20 */
    nb_text_free(t);
    nb_text_free(tr);
    nb_text_free(va);
}

/* A sequence model (out [n, T, classes]) trains and evaluates with one label
 * per step.  The model: a per-step table, logits[t] = w[x_t] (an extension
 * layer of this test), so the best it can learn is the bigram statistics. */
static nb_tensor *t_bigram_fwd(nb__ext *e, nb_ctx *c, nb_tensor *x, nb_rng *r)
{
    (void)r;
    const size_t n = x->shape[0], T = e->in.d[0];
    nb_tensor *idx = nb_zeros(c, NB_I32, 1, (size_t[]){n * T});
    if (!idx) return NULL;
    for (size_t i = 0; i < n * T; i++) ((int32_t *)idx->data)[i] = (int32_t)nb_get(x, i);
    return nb_reshape(c, nb_index_select(c, nb__ext_entry(e, 0), 0, idx), 3, (long[]){(long)n, (long)T, -1});
}

static const nb__ext_kind t_bigram = {"bigram", t_bigram_fwd, NULL, NULL, NULL, NULL};

TEST(text, sequence_model_trains_and_evaluates_per_step)
{
    /* "abcabc...": every next id is determined by the current one */
    const size_t n_ids = 20 * NB_TEXT_CHUNK + 17;
    uint8_t *ids = malloc(n_ids);
    CHECK_OK(ids);
    for (size_t i = 0; i < n_ids; i++) ids[i] = (uint8_t)(1 + i % 3);
    nb_text *t = nb_text_from_ids(ids, n_ids), *tr = NULL, *va = NULL;
    free(ids);
    CHECK_OK(t && nb_text_split(t, &tr, &va) == 0);
    nb_dataset *dtr = nb_text_windows(tr, 16, "train"), *dva = nb_text_windows(va, 16, "val");
    CHECK_OK(dtr && dva);

    nb_model *m = nb_model_new(NB_F32);
    nb__shape in = {1, {16}}, out = {2, {16, NB_TEXT_VOCAB}};
    CHECK_OK(nb__ext_add(m, &t_bigram, NULL, 0, &in, &out) == 0);
    CHECK_OK(nb__ext_declare(m, "weight", 2, (size_t[]){NB_TEXT_VOCAB, NB_TEXT_VOCAB}, 1) == 0);
    CHECK_OK(nb_model_finalize(m) == 0);
    nb_optim *o = nb_optim_new(&(nb_optim_config){.kind = NB_OPT_SGD, .lr = 1.0}, NB_F32, nb_model_n_params(m));
    nb_ctx *c = nb_ctx_new(NULL);
    float xb[8 * 16];
    int32_t yb[8 * 16];
    nb_eval e0, e1;
    CHECK_OK(nb_evaluate(m, c, dva, 4, &e0, NULL) == 0);
    CHECK(fabs(e0.loss - log(NB_TEXT_VOCAB)) < 1e-5 && e0.n == dva->n); /* zero logits: uniform */
    for (int step = 0; step < 30; step++) {
        size_t rows[8];
        for (size_t i = 0; i < 8; i++) rows[i] = (size_t)(step * 8 + (int)i) % dtr->n;
        CHECK_OK(nb_dataset_gather(dtr, rows, 8, 0, 0, 1, NB_F32, xb, yb) == 0);
        nb_step_result res;
        CHECK_OK(nb_train_step(m, o, c, xb, yb, 8, NULL, &res) == 0);
        CHECK(res.n_labels == 8 * 16 && res.correct <= res.n_labels);
    }
    size_t conf[NB_TEXT_VOCAB * NB_TEXT_VOCAB];
    CHECK_OK(nb_evaluate(m, c, dva, 4, &e1, conf) == 0);
    CHECK(e1.loss < 0.3 && e1.loss < e0.loss / 10 && e1.accuracy == 1.0);
    /* one row per step: each true id is predicted (the diagonal), never another */
    CHECK(conf[2 * NB_TEXT_VOCAB + 2] > 0 && conf[2 * NB_TEXT_VOCAB + 1] == 0);
    nb_ctx_free(c);
    nb_optim_free(o);
    nb_model_free(m);
    nb_dataset_free(dtr);
    nb_dataset_free(dva);
    nb_text_free(t);
    nb_text_free(tr);
    nb_text_free(va);
}

/* nabla train --text and nabla sample, end to end: a GRU learns a repeated
 * line (held-out bits per character near 0), is refused with a model of
 * the wrong shape, and samples the line back greedily. */
TEST(text, cli_train_text_then_sample)
{
    char dir[] = "/tmp/nabla_textcli_XXXXXX";
    CHECK_OK(mkdtemp(dir));
    char txt[128], out[128], args[1024], *o = NULL;
    snprintf(txt, sizeof txt, "%s/cat.txt", dir);
    snprintf(out, sizeof out, "%s/run", dir);
    FILE *f = fopen(txt, "w");
    CHECK_OK(f);
    for (int i = 0; f && i < 7000; i++) fputs("the cat sat on the mat.\n", f);
    if (f) fclose(f);

    snprintf(args, sizeof args, "train --text %s --model \"linear(96)\" --out %s", txt, out);
    CHECK(t_cli_run(args, &o) == 2 && strstr(o, "[128, 96]") && strstr(o, "seq=1"));
    free(o);
    snprintf(args, sizeof args,
             "train --text %s --model \"embedding(96,8) gru(32,seq=1) linear(96)\" --seq-len 24 --lr 0.01 "
             "--max-steps 150 --quiet --json --threads 1 --out %s",
             txt, out);
    CHECK(t_cli_run(args, &o) == 0 && strstr(o, "\"val_bpc\":"));
    const char *v = o ? strstr(o, "{\"event\":\"done\"") : NULL;
    v = v ? strstr(v, "\"val_bpc\":") : NULL;
    CHECK(v && strtod(v + 10, NULL) < 0.2); /* log2(96) = 6.6 for a model that knows nothing */
    free(o);

    snprintf(args, sizeof args, "sample %s/checkpoint.safetensors --prompt \"the c\" --length 60 --temperature 0", out);
    /* greedy: the prompt, then (once the window holds a whole line) the line itself */
    CHECK(t_cli_run(args, &o) == 0 && o && !strncmp(o, "the c", 5) && strstr(o, "\nthe cat sat on the mat.\n"));
    free(o);
    snprintf(args, sizeof args, "sample %s/checkpoint.safetensors --length 50 --seed 7", out);
    char *o2 = NULL;
    CHECK(t_cli_run(args, &o) == 0 && t_cli_run(args, &o2) == 0 && o && o2 && !strcmp(o, o2)); /* seeded */
    free(o);
    free(o2);
    CHECK(t_cli_run("sample", &o) == 2 && strstr(o, "which checkpoint"));
    free(o);
    t_rmrf(dir);
}

/* --tbptt's layout: batch j's row r is stream r's window j, so row r of
 * batch j + 1 starts where row r of batch j ended. */
TEST(text, streams_continue_across_batches)
{
    uint8_t ids[1000];
    for (size_t i = 0; i < sizeof ids; i++) ids[i] = (uint8_t)(i % NB_TEXT_VOCAB);
    nb_text *t = nb_text_from_ids(ids, sizeof ids);
    CHECK_OK(t);
    const size_t B = 3, L = 10, S = (sizeof ids - 1) / B / L; /* 33 windows per stream */
    nb_dataset *ds = nb_text_streams(t, L, B, "streams");
    CHECK_OK(ds);
    CHECK(ds->n == B * S && ds->y_per == L && nb_dataset_validate(ds) == 0);
    for (size_t j = 0; j < S; j++)
        for (size_t r = 0; r < B; r++) {
            const size_t s = j * B + r, at = (r * S + j) * L;
            CHECK(ds->xf[s * L] == ids[at] && ds->y[s * L + L - 1] == ids[at + L]);
            if (j + 1 < S) CHECK(ds->xf[(s + B) * L] == ds->y[s * L + L - 1]); /* the next batch goes on */
        }
    CHECK(nb_text_streams(t, 400, 3, "few") == NULL && strstr(nb_errmsg(), "few"));
    nb_dataset_free(ds);
    nb_text_free(t);
}

/* nb_model_carry_states: two forwards of T steps, the second starting from
 * the first's final states, give what one forward of 2T steps gives (rnn,
 * lstm and gru, two stacked layers); another batch size starts
 * from zeros; nb_model_reset_states starts over; the carried input is no
 * graph input (no gradient crosses the boundary). */
TEST(text, carried_states_continue_one_long_sequence)
{
    const char *specs[] = {"rnn(5,layers=2,seq=1)", "lstm(5,layers=2,seq=1)", "gru(5,layers=2,seq=1)"};
    enum { N = 3, T = 4, F = 2, H = 5 };
    double x[N * 2 * T * F], xa[N * T * F], xb[N * T * F];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = sin(0.7 * (double)i + 0.3);
    for (int n = 0; n < N; n++)
        for (int t = 0; t < T * F; t++) {
            xa[n * T * F + t] = x[n * 2 * T * F + t];
            xb[n * T * F + t] = x[n * 2 * T * F + T * F + t];
        }
    for (int k = 0; k < 3; k++) {
        nb_model *lm = nb_model_from_spec(specs[k], NB_F64, 2, (size_t[]){2 * T, F});
        nb_model *sm = nb_model_from_spec(specs[k], NB_F64, 2, (size_t[]){T, F});
        CHECK_OK(lm && sm);
        nb_rng r1, r2;
        nb_rng_seed(&r1, 3);
        nb_rng_seed(&r2, 3);
        CHECK_OK(nb_model_init(lm, NB_INIT_TORCH, 0, &r1) == 0 && nb_model_init(sm, NB_INIT_TORCH, 0, &r2) == 0);
        nb_ctx *c = nb_ctx_new(NULL);
        nb_set_training(c, 1);
        nb_tensor *yl = nb_model_forward(lm, c, nb_from_data(c, NB_F64, 2, (size_t[]){N, 2 * T * F}, x, NB_BORROW),
                                         NULL);
        CHECK_OK(yl && yl->numel == N * 2 * T * H);
        CHECK_OK(nb_model_carry_states(sm, N) == 0);
        for (int pass = 0; pass < 2; pass++) { /* the second pass after a reset: the same again */
            nb_tensor *ya = nb_model_forward(sm, c, nb_from_data(c, NB_F64, 2, (size_t[]){N, T * F}, xa, NB_BORROW),
                                             NULL);
            nb_tensor *yb = nb_model_forward(sm, c, nb_from_data(c, NB_F64, 2, (size_t[]){N, T * F}, xb, NB_BORROW),
                                             NULL);
            CHECK_OK(ya && yb);
            double err = 0;
            for (int n = 0; n < N; n++)
                for (int i = 0; i < T * H; i++) {
                    err = fmax(err,
                               fabs(nb_get(ya, (size_t)(n * T * H + i)) - nb_get(yl, (size_t)(n * 2 * T * H + i))));
                    err = fmax(err, fabs(nb_get(yb, (size_t)(n * T * H + i)) -
                                         nb_get(yl, (size_t)(n * 2 * T * H + T * H + i))));
                }
            CHECK_MSG(err < 1e-12, "%s pass %d: %g", specs[k], pass, err);
            /* detached: the second forward's graph reaches the parameters only */
            nb_tensor *loss = nb_sum(c, yb, NULL, 0, 0);
            CHECK_OK(loss && nb_backward(c, loss, NULL) == 0);
            nb_model_reset_states(sm);
        }
        /* between two forwards of N rows, one of another size: from zeros (its row 0 is
         * the long sequence's first steps), the states untouched (the next one goes on) */
        nb_tensor *ya = nb_model_forward(sm, c, nb_from_data(c, NB_F64, 2, (size_t[]){N, T * F}, xa, NB_BORROW), NULL);
        nb_tensor *y1 = nb_model_forward(sm, c, nb_from_data(c, NB_F64, 2, (size_t[]){1, T * F}, xa, NB_BORROW), NULL);
        nb_tensor *yb = nb_model_forward(sm, c, nb_from_data(c, NB_F64, 2, (size_t[]){N, T * F}, xb, NB_BORROW), NULL);
        CHECK_OK(ya && y1 && yb);
        CHECK(fabs(nb_get(y1, T * H - 1) - nb_get(yl, T * H - 1)) < 1e-12);
        CHECK(fabs(nb_get(yb, T * H - 1) - nb_get(yl, 2 * T * H - 1)) < 1e-12);
        CHECK(nb_model_carry_states(sm, 0) == 0);
        nb_ctx_free(c);
        nb_model_free(lm);
        nb_model_free(sm);
    }
}

/* nabla train --tbptt on a text whose dependency spans windows: lines
 * "a...a" / "b...b" (the letter drawn at random), windows of 4.  The closing
 * letter repeats the opening one, 4 characters back: a window that starts
 * after the opening letter cannot know it, the carried state can.  At best
 * 1 bit per 6-character line is left (0.17 bits per character). */
TEST(text, cli_tbptt_learns_across_windows)
{
    char dir[] = "/tmp/nabla_tbptt_XXXXXX";
    CHECK_OK(mkdtemp(dir));
    char txt[128], args[1024], *o = NULL;
    snprintf(txt, sizeof txt, "%s/ab.txt", dir);
    FILE *f = fopen(txt, "w");
    CHECK_OK(f);
    nb_rng r;
    nb_rng_seed(&r, 1);
    for (int i = 0; f && i < 30000; i++) {
        const char ch = nb_rng_below(&r, 2) ? 'a' : 'b';
        fprintf(f, "%c...%c\n", ch, ch);
    }
    if (f) fclose(f);
    double bpc[2] = {NAN, NAN};
    for (int tb = 0; tb < 2; tb++) {
        snprintf(args, sizeof args,
                 "train --text %s --model \"embedding(96,8) gru(32,seq=1) linear(96)\" --seq-len 4 --batch 16 "
                 "--lr 0.01 --max-steps 600 --quiet --json --threads 1 --out %s/run%d%s",
                 txt, dir, tb, tb ? " --tbptt" : "");
        CHECK(t_cli_run(args, &o) == 0);
        const char *v = o ? strstr(o, "{\"event\":\"done\"") : NULL;
        v = v ? strstr(v, "\"val_bpc\":") : NULL;
        if (v) bpc[tb] = strtod(v + 10, NULL);
        free(o);
    }
    CHECK_MSG(bpc[0] > 0.35 && bpc[1] < 0.25, "val bpc %g without, %g with --tbptt", bpc[0], bpc[1]);
    CHECK(t_cli_run("train --tbptt --max-steps 1", &o) == 2 && o && strstr(o, "--tbptt needs --text"));
    free(o);
    snprintf(args, sizeof args,
             "train --text %s --model \"embedding(96,8) gru(8,seq=1) linear(96)\" --tbptt --val 0.1 --out %s/r", txt,
             dir);
    CHECK(t_cli_run(args, &o) == 2 && o && strstr(o, "not with --ddp, --val"));
    free(o);
    t_rmrf(dir);
}

/* The parameters of two checkpoints are the same bits (1), or not (0). */
static int tx_same_params(const char *a, const char *b)
{
    nb_checkpoint *ca = nb_checkpoint_open(a), *cb = nb_checkpoint_open(b);
    nb_model *ma = ca ? nb_model_from_checkpoint(ca, a) : NULL, *mb = cb ? nb_model_from_checkpoint(cb, b) : NULL;
    int same = ma && mb && nb_model_n_params(ma) == nb_model_n_params(mb) &&
               !memcmp(nb_model_params(ma), nb_model_params(mb), nb_model_n_params(ma) * sizeof(float));
    nb_model_free(ma);
    nb_model_free(mb);
    nb_checkpoint_close(ca);
    nb_checkpoint_close(cb);
    return same;
}

/* --tbptt stopped mid-epoch and resumed goes on from the carried states
 * saved beside the checkpoint: 30 + 30 steps are bitwise 60 straight ones.
 * Without the states file the streams restart from zeros, said on stderr,
 * and the weights differ. */
TEST(text, cli_tbptt_resume_keeps_the_streams_states)
{
    char dir[] = "/tmp/nabla_tbptt_resume_XXXXXX";
    CHECK_OK(mkdtemp(dir));
    char txt[128], args[1024], a[160], b[160], *o = NULL;
    snprintf(txt, sizeof txt, "%s/ab.txt", dir);
    FILE *f = fopen(txt, "w");
    CHECK_OK(f);
    nb_rng r;
    nb_rng_seed(&r, 2);
    for (int i = 0; f && i < 30000; i++) { /* 180k characters: the validation split needs 20 chunks of 8k */
        const char ch = nb_rng_below(&r, 2) ? 'a' : 'b';
        fprintf(f, "%c...%c\n", ch, ch);
    }
    if (f) fclose(f);
    const char *common = "--model \"embedding(96,8) lstm(16,seq=1) linear(96)\" --seq-len 4 --batch 8 --lr 0.01 "
                         "--tbptt --quiet --threads 1";
    const char *runs[][2] = {{"straight", "--max-steps 60"},
                             {"split", "--max-steps 30"},
                             {"split", "--max-steps 60 --resume"},
                             {"cold", "--max-steps 30"},
                             {"cold", "--max-steps 60 --resume"}};
    for (int i = 0; i < 5; i++) {
        if (i == 4) { /* the cold run loses its states file */
            snprintf(a, sizeof a, "%s/cold/tbptt_states.safetensors", dir);
            CHECK(remove(a) == 0);
        }
        snprintf(args, sizeof args, "train --text %s %s %s --out %s/%s", txt, common, runs[i][1], dir, runs[i][0]);
        CHECK_MSG(t_cli_run(args, &o) == 0, "%s", o ? o : "");
        if (i == 4) CHECK_MSG(o && strstr(o, "the streams restart from zero states"), "%s", o ? o : "");
        free(o);
    }
    snprintf(a, sizeof a, "%s/straight/checkpoint.safetensors", dir);
    snprintf(b, sizeof b, "%s/split/checkpoint.safetensors", dir);
    CHECK_MSG(tx_same_params(a, b), "30 + resume + 30 steps differ from 60 straight steps");
    snprintf(b, sizeof b, "%s/cold/checkpoint.safetensors", dir);
    CHECK_MSG(!tx_same_params(a, b), "resuming from zero states gave the same weights");
    /* a states file that is not one: named, with the reason, once */
    snprintf(a, sizeof a, "%s/cold/tbptt_states.safetensors", dir);
    f = fopen(a, "w");
    if (f) fputs("not a safetensors file", f), fclose(f);
    snprintf(args, sizeof args, "train --text %s %s --max-steps 70 --resume --out %s/cold", txt, common, dir);
    CHECK(t_cli_run(args, &o) == 0);
    const char *msg = o ? strstr(o, "--resume --tbptt: ") : NULL;
    CHECK_MSG(msg && strstr(msg, "tbptt_states.safetensors: ") && strstr(msg, "restart from zero states") &&
                  !strstr(strstr(msg, "tbptt_states.safetensors") + 1, "tbptt_states.safetensors"),
              "%s", o ? o : "");
    free(o);
    t_rmrf(dir);
}

/* eval, lr-find and diagnose on a --text model: eval reads the checkpoint's
 * text and gives the run's held-out bits per character; lr-find sweeps the
 * training windows; diagnose runs its checks on them (one row per step). */
TEST(text, cli_eval_lrfind_diagnose_understand_text)
{
    char dir[] = "/tmp/nabla_texttools_XXXXXX";
    CHECK_OK(mkdtemp(dir));
    char txt[128], args[1024], *o = NULL;
    snprintf(txt, sizeof txt, "%s/cat.txt", dir);
    FILE *f = fopen(txt, "w");
    CHECK_OK(f);
    for (int i = 0; f && i < 9000; i++) fputs(i % 3 ? "the cat sat on the mat.\n" : "a dog ran.\n", f);
    if (f) fclose(f);
    const char *model = "embedding(96,8) gru(16,seq=1) linear(96)";
    snprintf(args, sizeof args,
             "train --text %s --model \"%s\" --seq-len 16 --lr 0.01 --max-steps 40 --quiet --json --threads 1 --out "
             "%s/run",
             txt, model, dir);
    CHECK(t_cli_run(args, &o) == 0);
    const char *v = o ? strstr(o, "{\"event\":\"done\"") : NULL;
    v = v ? strstr(v, "\"val_bpc\":") : NULL;
    double bpc = v ? strtod(v + 10, NULL) : NAN;
    free(o);
    snprintf(args, sizeof args, "eval %s/run/checkpoint.safetensors --json", dir);
    CHECK(t_cli_run(args, &o) == 0 && o && (v = strstr(o, "\"val_bpc\":")));
    CHECK_MSG(o && v && fabs(strtod(v + 10, NULL) - bpc) < 1e-6 * bpc, "eval %s, train %g", o ? o : "", bpc);
    free(o);
    snprintf(args, sizeof args, "eval %s/run/checkpoint.safetensors", dir);
    CHECK(t_cli_run(args, &o) == 0 && o && strstr(o, "bits per character"));
    free(o);
    snprintf(args, sizeof args,
             "lr-find --text %s --model \"%s\" --seq-len 16 --steps 30 --threads 1 --quiet --out %s/lrf", txt, model,
             dir);
    CHECK(t_cli_run(args, &o) == 0);
    free(o);
    snprintf(args, sizeof args, "%s/lrf/lr_find.csv", dir);
    struct stat st;
    CHECK(stat(args, &st) == 0 && st.st_size > 100);
    snprintf(args, sizeof args, "diagnose --text %s --model \"%s\" --seq-len 16 --threads 1 --json --limit-train 2000",
             txt, model);
    int rc = t_cli_run(args, &o);
    CHECK_MSG((rc == 0 || rc == 1) && o && strstr(o, "\"loss_finite\"") && !strstr(o, "cross_entropy"), "rc %d: %s", rc,
              o ? o : "");
    free(o);
    snprintf(args, sizeof args, "lr-find --text %s --model \"%s\" --tbptt --out %s/lrf", txt, model, dir);
    CHECK(t_cli_run(args, &o) == 2 && o && strstr(o, "only nabla train"));
    free(o);
    t_rmrf(dir);
}
