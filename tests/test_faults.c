/* Faults from outside: a save killed at random points, checkpoints truncated
 * or corrupted on disk, a full disk, allocations that fail, and two
 * trainings running at once in one process.
 *
 *   faults.sigkill_*      a child saves a ~6 MB checkpoint in a loop and is
 *                         SIGKILLed after a random delay, 30 times: PATH is
 *                         always absent (before the first save) or a whole
 *                         file that loads -- the previous save or the new one.
 *   faults.ckpt_truncated / ckpt_corrupted   every truncation, and random byte
 *                         changes, of a real checkpoint: rejected with a
 *                         message naming the file, or (only for changes inside
 *                         tensor data or metadata values, which safetensors
 *                         has no checksum to detect) loaded.
 *   faults.ckpt_disk_full RLIMIT_FSIZE in a child: the checkpoint save fails,
 *                         names the file and the reason, keeps the old file.
 *   faults.oom_*          tests/t_alloc.c makes allocation N fail, for N = 1,
 *                         2, ... until the call no longer allocates that many
 *                         times: every call returns NULL/-1 with a message,
 *                         never crashes (each sweep runs in a child, so a
 *                         crash is reported with its N) and leaks nothing.
 *                         A few failures are absorbed, not errors: stdio
 *                         falls back to an unbuffered stream, and the save's
 *                         sweep of stale temporaries is best effort.
 *                         Skipped under ASan and valgrind (t_alloc.h).
 *   faults.threads_*      models trained in parallel threads end bitwise equal
 *                         to the same models trained alone. */
#define _DEFAULT_SOURCE 1 /* MAP_ANONYMOUS, flock */
#include "t.h"
#include "t_alloc.h"
#include "t_cli.h"

#include "nabla/io.h"
#include "nabla/train.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

/* ------------------------------------------------------------- helpers */
static int f_mkdtemp(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/nb_faults_XXXXXX");
    if (mkdtemp(dir)) return 0;
    t_fail(__FILE__, __LINE__, "mkdtemp: %s", strerror(errno));
    return -1;
}

/* Remove dir and the plain files in it. */
static void f_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
}

/* Entries in dir whose names start with prefix (all entries if NULL). */
static int f_count(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            (!prefix || !strncmp(e->d_name, prefix, strlen(prefix))))
            n++;
    closedir(d);
    return n;
}

/* Temporaries with data in them (empty ones younger than a minute are
 * spared by the sweep: a save may be between its open and its lock). */
static int f_count_tmp_data(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    char p[512];
    struct stat st;
    while ((e = readdir(d))) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (!strncmp(e->d_name, prefix, strlen(prefix)) && stat(p, &st) == 0 && st.st_size > 0) n++;
    }
    closedir(d);
    return n;
}

static void f_sleep_us(long us)
{
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static unsigned char *f_slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    rewind(f);
    unsigned char *b = malloc(sz > 0 ? (size_t)sz : 1);
    *n = b && sz > 0 ? fread(b, 1, (size_t)sz, f) : 0;
    fclose(f);
    return b;
}

static int f_spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    return fclose(f) == 0 && w == n ? 0 : -1;
}

/* An MLP from a spec, initialised from seed. */
static nb_model *f_mlp(const char *spec, nb_dtype dt, int batchnorm, int dropout, uint64_t seed)
{
    nb_mlp_config cfg = {.act = NB_ACT_RELU, .batchnorm = batchnorm, .dropout = dropout ? 0.2 : 0};
    if (nb_mlp_parse_widths(&cfg, spec) != 0) return NULL;
    nb_model *m = nb_mlp_new(dt, &cfg);
    nb_rng r;
    nb_rng_seed(&r, seed);
    if (m && nb_model_init(m, NB_INIT_TORCH, 0, &r) != 0) {
        nb_model_free(m);
        return NULL;
    }
    return m;
}

/* ------------------------------------------------ killed in mid-save */
/* Generation g's parameters: every value says g, and where it sits. */
static float f_gen_value(long g, size_t i) { return (float)(g * 1000 + (long)(i % 1000)); }

/* 0 if the checkpoint at path is whole and holds generation g exactly. */
static int f_check_generation(const char *path, nb_model *m, nb_optim *o, long *g_out)
{
    nb_checkpoint *ck = nb_checkpoint_open(path);
    if (!ck) return t_fail(__FILE__, __LINE__, "the checkpoint does not load: %s", nb_errmsg()), -1;
    const char *gs = nb_checkpoint_get(ck, "gen");
    long g = gs ? atol(gs) : -1;
    *g_out = g;
    int rc = 0;
    if (g < 0 || nb_checkpoint_load_model(ck, m) != 0 || nb_checkpoint_load_state(ck, o, NULL, NULL) != 0) {
        t_fail(__FILE__, __LINE__, "checkpoint of generation %s does not load: %s", gs ? gs : "?", nb_errmsg());
        rc = -1;
    } else {
        const float *p = nb_model_params(m);
        for (size_t i = 0; i < nb_model_n_params(m); i++)
            if (p[i] != f_gen_value(g, i)) {
                t_fail(__FILE__, __LINE__, "generation %ld: parameter %zu is %g, expected %g (a torn file)", g, i,
                       (double)p[i], (double)f_gen_value(g, i));
                rc = -1;
                break;
            }
    }
    nb_checkpoint_close(ck);
    return rc;
}

TEST(faults, sigkill_during_checkpoint_save_never_tears_the_file)
{
    char dir[64], path[128], tmpfx[64];
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    snprintf(tmpfx, sizeof tmpfx, "ck.safetensors.tmp.");
    /* 512-512-512-10 float32 with Adam: 0.53 M parameters, 6.3 MB a save */
    nb_model *m = f_mlp("512-512-512-10", NB_F32, 0, 0, 1);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = m ? nb_optim_new(&oc, NB_F32, nb_model_n_params(m)) : NULL;
    int pfd[2];
    if (!m || !o || pipe(pfd) != 0) {
        t_fail(__FILE__, __LINE__, "setup: %s", nb_errmsg());
        nb_optim_free(o);
        nb_model_free(m);
        return;
    }
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    nb_rng r;
    nb_rng_seed(&r, 2024);
    long reported = -1, next = 0;
    int kills = 0, torn = 0, left_tmp = 0, absent = 0, saves = 0, prev_tmps = 0;
    const int rounds = 30;
    for (int it = 0; it < rounds && !torn; it++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) { /* the child saves generation after generation until killed */
            close(pfd[0]);
            char gs[32];
            nb_kv kv[] = {{"gen", gs}, {"model", "512-512-512-10"}, {"act", "relu"}};
            float *p = nb_model_params(m);
            for (long g = next;; g++) {
                for (size_t i = 0; i < nb_model_n_params(m); i++) p[i] = f_gen_value(g, i);
                snprintf(gs, sizeof gs, "%ld", g);
                if (nb_checkpoint_save(path, m, o, NULL, NULL, kv, 3) != 0) {
                    fprintf(stderr, "  child: save %ld failed: %s\n", g, nb_errmsg());
                    _exit(1);
                }
                if (write(pfd[1], &g, sizeof g) != (ssize_t)sizeof g) _exit(1);
            }
        }
        CHECK(pid > 0);
        if (pid <= 0) break;
        /* kill after 0..250 ms: sometimes before the first write, often mid-save */
        f_sleep_us((long)nb_rng_below(&r, 250000));
        kill(pid, SIGKILL);
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "the saving child ended on its own (status %d)", st);
        kills++;
        long g;
        while (read(pfd[0], &g, sizeof g) == (ssize_t)sizeof g) {
            reported = g;
            saves++;
        }
        struct stat sb;
        if (stat(path, &sb) != 0) {
            /* no file: only possible while no save has ever completed */
            CHECK_MSG(reported < 0, "after generation %ld was saved, %s is gone", reported, path);
            absent++;
        } else {
            long have = -1;
            if (f_check_generation(path, m, o, &have) != 0) torn++;
            /* the last reported save, or the one after it (renamed, then killed before reporting) */
            CHECK_MSG(have == reported || have == reported + 1, "the file holds generation %ld, last reported %ld",
                      have, reported);
            if (have > reported) reported = have;
        }
        int tmps = f_count(dir, tmpfx);
        left_tmp += tmps > prev_tmps;
        /* a kill leaves at most one more temporary (slow saves, as under
         * valgrind, may never finish); a completed save sweeps them */
        CHECK_MSG(tmps <= prev_tmps + 1, "%d temporary files after %d before this kill", tmps, prev_tmps);
        prev_tmps = tmps;
        next = reported + 1;
    }
    close(pfd[0]);
    close(pfd[1]);
    /* One more save: the leftovers of killed saves are swept away. */
    char gs[32];
    snprintf(gs, sizeof gs, "%ld", next);
    nb_kv kv[] = {{"gen", gs}};
    float *p = nb_model_params(m);
    for (size_t i = 0; i < nb_model_n_params(m); i++) p[i] = f_gen_value(next, i);
    CHECK_OK(nb_checkpoint_save(path, m, o, NULL, NULL, kv, 1) == 0);
    int kept = f_count_tmp_data(dir, tmpfx);
    CHECK_MSG(kept == 0, "%d temporary files with data left in %s after a clean save (not swept)", kept, dir);
    long have;
    CHECK(f_check_generation(path, m, o, &have) == 0 && have == next);
    printf("     %d kills: %d saves completed, %d kills left a temporary file (swept by a later save), %d before "
           "any file existed; never a torn checkpoint\n",
           kills, saves, left_tmp, absent);
    nb_optim_free(o);
    nb_model_free(m);
    f_rmdir(dir);
}

/* A live save's temporary file is never swept by another saver. */
TEST(faults, sweep_spares_a_running_save)
{
    char dir[64], path[128], tmp[160];
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    /* a stale temporary (no lock), a locked one standing for a save in progress,
     * an empty fresh one (a saver between open and flock) and a look-alike */
    snprintf(tmp, sizeof tmp, "%s/ck.safetensors.tmp.Stale1", dir);
    CHECK(f_spit(tmp, "partial", 7) == 0);
    snprintf(tmp, sizeof tmp, "%s/ck.safetensors.tmp.Live22", dir);
    CHECK(f_spit(tmp, "partial", 7) == 0);
    int lfd = open(tmp, O_RDONLY);
    CHECK(lfd >= 0 && flock(lfd, LOCK_EX) == 0);
    snprintf(tmp, sizeof tmp, "%s/ck.safetensors.tmp.Fresh3", dir);
    CHECK(f_spit(tmp, "", 0) == 0);
    snprintf(tmp, sizeof tmp, "%s/ck.safetensors.tmp.notours", dir);
    CHECK(f_spit(tmp, "x", 1) == 0);
    float x[2] = {1, 2};
    nb_st_tensor t = {"x", NB_ST_F32, 1, {2}, x};
    CHECK_OK(nb_st_save(path, &t, 1, NULL, 0) == 0);
    snprintf(tmp, sizeof tmp, "%s/ck.safetensors.tmp.Stale1", dir);
    CHECK_MSG(access(tmp, F_OK) != 0, "the stale temporary was not swept");
    snprintf(tmp, sizeof tmp, "%s/ck.safetensors.tmp.Live22", dir);
    CHECK_MSG(access(tmp, F_OK) == 0, "the temporary of a running save was swept");
    snprintf(tmp, sizeof tmp, "%s/ck.safetensors.tmp.Fresh3", dir);
    CHECK_MSG(access(tmp, F_OK) == 0, "a just-created empty temporary was swept");
    snprintf(tmp, sizeof tmp, "%s/ck.safetensors.tmp.notours", dir);
    CHECK_MSG(access(tmp, F_OK) == 0, "a file not named like a temporary was swept");
    if (lfd >= 0) close(lfd);
    f_rmdir(dir);
}

/* -------------------------------------------- damaged checkpoint files */
/* A small real checkpoint: 4-3-2 with BatchNorm, Adam state, progress. */
static int f_small_ckpt(const char *path)
{
    nb_model *m = f_mlp("4-3-2", NB_F32, 1, 0, 5);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = m ? nb_optim_new(&oc, NB_F32, nb_model_n_params(m)) : NULL;
    nb_sched_config sc = nb_sched_defaults(NB_SCHED_STEP);
    sc.step_size = 2;
    nb_sched s;
    nb_progress p = {.step = 3, .epoch = 1, .loader = {.n = 8, .epoch = 1, .pos = 2, .rng = {1, 2, 3, 4}}};
    nb_rng_seed(&p.rng, 9);
    nb_kv kv[] = {{"model", "4-3-2"}, {"act", "relu"}, {"batchnorm", "1"}};
    int rc = -1;
    if (o && nb_sched_init(&s, &sc, oc.lr) == 0 && nb_optim_step(o, nb_model_params(m), nb_model_grads(m)) == 0)
        rc = nb_checkpoint_save(path, m, o, &s, &p, kv, 3);
    nb_optim_free(o);
    nb_model_free(m);
    return rc;
}

/* Open path and restore everything the way `nabla train --resume` does:
 * 0 loaded, 1 rejected at open, 2 rejected at load; the message must name
 * the file.  -1 when a rejection does not. */
static int f_resume(const char *path)
{
    nb_clear_error();
    nb_checkpoint *ck = nb_checkpoint_open(path);
    if (!ck) return strstr(nb_errmsg(), path) ? 1 : -1;
    nb_model *m = f_mlp("4-3-2", NB_F32, 1, 0, 5);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    nb_sched_config sc = nb_sched_defaults(NB_SCHED_STEP);
    sc.step_size = 2;
    nb_sched s;
    nb_progress p;
    nb_sched_init(&s, &sc, oc.lr);
    int rc = 0;
    if (nb_checkpoint_load_model(ck, m) != 0 || nb_checkpoint_load_state(ck, o, &s, &p) != 0)
        rc = strstr(nb_errmsg(), path) ? 2 : -1;
    nb_optim_free(o);
    nb_model_free(m);
    nb_checkpoint_close(ck);
    return rc;
}

TEST(faults, ckpt_truncated_at_every_length_is_rejected)
{
    char dir[64], path[128], bad[160];
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(path, sizeof path, "%s/good.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/cut.safetensors", dir);
    CHECK_OK(f_small_ckpt(path) == 0);
    CHECK_MSG(f_resume(path) == 0, "the intact checkpoint does not resume: %s", nb_errmsg());
    size_t n;
    unsigned char *img = f_slurp(path, &n);
    CHECK(img && n > 100);
    for (size_t len = 0; img && len < n; len++) {
        f_spit(bad, img, len);
        int r = f_resume(bad);
        CHECK_MSG(r == 1 || r == 2, "cut to %zu of %zu bytes: %s (%s)", len, n,
                  r == 0 ? "loaded" : "message lacks the file", nb_errmsg());
    }
    free(img);
    f_rmdir(dir);
}

TEST(faults, ckpt_corrupted_bytes_rejected_or_undetectable)
{
    char dir[64], path[128], bad[160];
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(path, sizeof path, "%s/good.safetensors", dir);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    CHECK_OK(f_small_ckpt(path) == 0);
    size_t n;
    unsigned char *img = f_slurp(path, &n), *cp = malloc(n ? n : 1);
    uint64_t hl = 0;
    for (int i = 7; img && i >= 0; i--) hl = hl << 8 | img[i];
    nb_rng r;
    nb_rng_seed(&r, 31337);
    int open_rej = 0, load_rej = 0, in_data = 0, in_header = 0;
    const int tries = 1500;
    for (int t = 0; img && cp && t < tries; t++) {
        memcpy(cp, img, n);
        int k = 1 + (int)nb_rng_below(&r, 3), header = 0;
        for (int j = 0; j < k; j++) {
            size_t at = (size_t)nb_rng_below(&r, n);
            cp[at] = (unsigned char)(nb_rng_below(&r, 2) ? nb_rng_below(&r, 256)
                                                         : cp[at] ^ (1u << nb_rng_below(&r, 8)));
            header |= at < 8 + hl;
        }
        f_spit(bad, cp, n);
        int res = f_resume(bad);
        CHECK_MSG(res >= 0, "corruption %d: a rejection that does not name the file: %s", t, nb_errmsg());
        if (res == 1) open_rej++;
        else if (res == 2) load_rej++;
        else if (header) in_header++; /* e.g. a digit of a metadata value, or padding */
        else in_data++;               /* tensor bytes: no checksum in safetensors */
    }
    /* Most header damage must be caught; tensor data cannot be checked. */
    CHECK_MSG(open_rej + load_rej > tries / 4, "only %d of %d corruptions rejected", open_rej + load_rej, tries);
    printf("     %d corruptions: %d rejected when opened, %d when restored, %d loaded (%d changed only tensor "
           "data, %d header bytes such as metadata digits or padding; safetensors has no checksum)\n",
           tries, open_rej, load_rej, in_data + in_header, in_data, in_header);
    free(img);
    free(cp);
    f_rmdir(dir);
}

/* A full disk while saving a whole training checkpoint: the save fails with
 * the file and the reason, the previous checkpoint still resumes, and no
 * temporary file is left. */
TEST(faults, ckpt_disk_full_keeps_the_old_checkpoint)
{
    char dir[64], path[128];
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    CHECK_OK(f_small_ckpt(path) == 0);
    size_t n0;
    unsigned char *before = f_slurp(path, &n0);
    int fds[2];
    CHECK(pipe(fds) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {65536, 65536};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0) {
            fprintf(stderr, "  child: setrlimit(RLIMIT_FSIZE): %s\n", strerror(errno));
            _exit(5);
        }
        nb_model *m = f_mlp("64-256-10", NB_F32, 0, 0, 7); /* 19 K params: 3 x 78 KB with Adam */
        nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
        nb_optim *o = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
        nb_kv kv[] = {{"model", "64-256-10"}, {"act", "relu"}};
        int rc = nb_checkpoint_save(path, m, o, NULL, NULL, kv, 2);
        const char *e = nb_errmsg();
        int ok = rc == -1 && strstr(e, path) && strstr(e, "write failed") && strstr(e, strerror(EFBIG)) &&
                 strstr(e, "previous file is unchanged");
        if (!ok) fprintf(stderr, "  child: rc %d, \"%s\"\n", rc, e);
        nb_optim_free(o); /* valgrind checks the child too */
        nb_model_free(m);
        free(before);
        if (ok && write(fds[1], "k", 1) != 1) ok = 0;
        _exit(ok ? 0 : 1);
    }
    close(fds[1]);
    char why[128] = "fork failed";
    CHECK_MSG(pid > 0 && t_child_passed(pid, fds[0], why, sizeof why), "%s", why);
    close(fds[0]);
    size_t n1;
    unsigned char *after = f_slurp(path, &n1);
    CHECK_MSG(before && after && n0 == n1 && memcmp(before, after, n0) == 0, "the old checkpoint changed");
    CHECK(f_resume(path) == 0);
    CHECK_MSG(f_count(dir, NULL) == 1, "a temporary file was left behind");
    free(before);
    free(after);
    f_rmdir(dir);
}

/* ---------------------------------------------------- out of memory */
/* A call under test: 0 when it worked, -1 when it failed (cleaning up after
 * itself either way); -2 when it broke an invariant of its own. */
typedef int (*f_op)(void *user);

typedef struct {
    volatile long n;        /* the allocation being failed */
    volatile long sites;    /* allocations the call makes */
    volatile long absorbed; /* failures after which the call still succeeded */
    volatile int done;
} f_oom_state;

/* Fail allocation 1, 2, ... of op until op makes fewer allocations than
 * that; op runs once first without failures (warm-up: lazily built caches
 * are made then).  The sweep runs in a child so a crash names its N. */
static void f_oom_sweep(const char *what, f_op op, void *user, long max_n, int line)
{
    const char *why;
    if (!t_alloc_usable(&why)) {
        T_SKIP("out-of-memory sweeps: %s", why);
        return;
    }
    f_oom_state *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        t_fail(__FILE__, line, "mmap: %s", strerror(errno));
        return;
    }
    memset((void *)sh, 0, sizeof *sh);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int bad = 0;
        if (op(user) != 0) {
            fprintf(stderr, "  %s: fails even without injected failures: %s\n", what, nb_errmsg());
            _exit(1);
        }
        for (long n = 1; n <= max_n && bad < 5; n++) {
            sh->n = n;
            long live0 = t_alloc_live();
            nb_clear_error();
            t_alloc_fail_nth(n);
            int rc = op(user);
            long calls = t_alloc_fail_stop();
            long leaked = t_alloc_live() - live0;
            if (calls < n) { /* no failure was injected: every allocation site was tried */
                if (rc != 0) fprintf(stderr, "  %s: fails with nothing failing: %s\n", what, nb_errmsg()), bad++;
                sh->sites = n - 1;
                sh->done = 1;
                break;
            }
            if (rc == -2) fprintf(stderr, "  %s: allocation %ld failed: %s\n", what, n, nb_errmsg()), bad++;
            else if (rc != 0 && !nb_errmsg()[0])
                fprintf(stderr, "  %s: allocation %ld failed: an error without a message\n", what, n), bad++;
            else if (rc == 0) sh->absorbed++;
            if (leaked != 0)
                fprintf(stderr, "  %s: allocation %ld failed: %ld block(s) leaked\n", what, n, leaked), bad++;
        }
        _exit(bad ? 1 : 0);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) t_fail(__FILE__, line, "%s: fork/wait: %s", what, strerror(errno));
    else if (WIFSIGNALED(st))
        t_fail(__FILE__, line, "%s: crashed (signal %d) when allocation %ld failed", what, WTERMSIG(st), sh->n);
    else if (WEXITSTATUS(st) != 0) t_fail(__FILE__, line, "%s: mishandled allocation failures (above)", what);
    else if (!sh->done) t_fail(__FILE__, line, "%s: still allocating after %ld allocations", what, max_n);
    else
        printf("     %s: %ld allocations, each failure returned an error%s\n", what, sh->sites,
               sh->absorbed ? " or was absorbed" : "");
    munmap((void *)sh, sizeof *sh);
}
#define OOM_SWEEP(what, op, user) f_oom_sweep(what, op, user, 20000, __LINE__)

static int op_tensors(void *u)
{
    (void)u;
    double buf[5] = {1, 2, 3, 4, 5};
    nb_tensor *a = nb_tensor_new(NB_F32, 2, (size_t[]){3, 4});
    nb_tensor *b = a ? nb_tensor_from(NB_F64, 1, (size_t[]){5}, buf, NB_COPY) : NULL;
    nb_tensor *c = b ? nb_tensor_clone(b) : NULL;
    int rc = c && nb_tensor_set_requires_grad(c, 1) == 0 ? 0 : -1;
    nb_tensor_free(a);
    nb_tensor_free(b);
    nb_tensor_free(c);
    return rc;
}

static int op_arena(void *u)
{
    (void)u;
    nb_ctx *c = nb_ctx_new(&(nb_ctx_opts){.chunk_bytes = 4096});
    if (!c) return -1;
    int rc = 0;
    for (int round = 0; round < 2 && !rc; round++) { /* grow, reset, grow again */
        for (size_t k = 1; k <= 12 && !rc; k++)
            if (!nb_zeros(c, NB_F32, 1, (size_t[]){k * 700})) rc = -1;
        nb_ctx_reset(c);
    }
    if (!rc && !nb_ctx_alloc(c, (size_t)1 << 20)) rc = -1;
    nb_ctx_free(c);
    return rc;
}

static int op_models(void *u)
{
    (void)u;
    nb_mlp_config cfg = {.act = NB_ACT_GELU, .batchnorm = 1, .residual = 1, .dropout = 0.1};
    nb_mlp_parse_widths(&cfg, "6-6-5-3");
    nb_model *m = nb_mlp_new(NB_F32, &cfg);
    nb_rng r;
    nb_rng_seed(&r, 1);
    int rc = m && nb_model_init(m, NB_INIT_HE_NORMAL, 0, &r) == 0 ? 0 : -1;
    nb_model_free(m);
    if (rc) return rc;
    m = nb_model_new(NB_F64);
    rc = m && nb_model_flatten(m) == 0 && nb_model_linear(m, 4, 5, 1) == 0 && nb_model_layernorm(m, 5, 1e-5) == 0 &&
                 nb_model_residual_begin(m) == 0 && nb_model_linear(m, 5, 7, 0) == 0 &&
                 nb_model_act(m, NB_ACT_TANH, 0) == 0 && nb_model_residual_end(m) == 0 &&
                 nb_model_linear(m, 7, 2, 1) == 0 && nb_model_finalize(m) == 0
             ? 0
             : -1;
    nb_model_free(m);
    return rc;
}

static int op_optims(void *u)
{
    (void)u;
    double p[10] = {0}, g[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    for (int k = 0; k < NB_OPT_COUNT; k++) {
        nb_optim_config oc = nb_optim_defaults((nb_optim_kind)k);
        oc.momentum = k == NB_OPT_ADAM ? 0 : 0.9;
        oc.amsgrad = k == NB_OPT_ADAMW;
        oc.centered = k == NB_OPT_RMSPROP;
        nb_optim *o = nb_optim_new(&oc, NB_F64, 10);
        int rc = o && nb_optim_step(o, p, g) == 0 && nb_optim_step(o, p, g) == 0 ? 0 : -1;
        nb_optim_free(o);
        if (rc) return rc;
    }
    return 0;
}

typedef struct {
    const void *plain, *gz;
    size_t n_plain, n_gz;
    const char *f_plain, *f_gz, *f_labels;
} f_idx_in;

static int op_idx(void *u)
{
    const f_idx_in *in = u;
    nb_idx *a = nb_idx_parse(in->plain, in->n_plain, "mem.idx", NULL);
    nb_idx *b = a ? nb_idx_parse(in->gz, in->n_gz, "mem.idx.gz", NULL) : NULL;
    nb_idx *c = b ? nb_idx_read(in->f_plain, NULL) : NULL;
    nb_idx *d = c ? nb_idx_read(in->f_gz, NULL) : NULL;
    nb_dataset *ds = d ? nb_dataset_load_idx(in->f_gz, in->f_labels, 0, NULL) : NULL;
    int rc = ds ? 0 : -1;
    if (b && memcmp(a->data, b->data, a->count) != 0) rc = -2;
    nb_dataset_free(ds);
    nb_idx_free(a);
    nb_idx_free(b);
    nb_idx_free(c);
    nb_idx_free(d);
    return rc;
}

typedef struct {
    const char *path, *dir;
    const void *img;
    size_t n;
} f_file_in;

static int op_st_load(void *u)
{
    const f_file_in *in = u;
    nb_st_file *f = nb_st_load(in->path);
    nb_st_file *g = f ? nb_st_load_mem(in->img, in->n, "mem.safetensors") : NULL;
    const nb_st_tensor *t = g ? nb_st_find(g, "w") : NULL;
    nb_tensor *x = t ? nb_st_to_tensor(t) : NULL;
    int rc = x ? 0 : -1;
    nb_tensor_free(x);
    nb_st_free(f);
    nb_st_free(g);
    return rc;
}

static int op_st_save(void *u)
{
    const f_file_in *in = u;
    float w[6] = {1, 2, 3, 4, 5, 6};
    nb_st_tensor ts[] = {{"w", NB_ST_F32, 2, {2, 3}, w}, {"b", NB_ST_U8, 1, {3}, "abc"}};
    nb_st_meta meta[] = {{"k", "v"}, {"note", "x\ty"}};
    int rc = nb_st_save(in->path, ts, 2, meta, 2);
    if (rc != 0 && f_count(in->dir, NULL) != 1) {
        fprintf(stderr, "  a failed save left %d entries\n", f_count(in->dir, NULL));
        return -2;
    }
    return rc;
}

static int op_csv(void *u)
{
    const f_file_in *in = u;
    nb_dataset *a = nb_csv_load(in->path, &(nb_csv_opts){.label_name = "y"});
    nb_dataset *b = a ? nb_csv_parse(in->img, in->n, "mem.csv", &(nb_csv_opts){.label_name = "y"}) : NULL;
    int rc = b ? 0 : -1;
    nb_dataset_free(a);
    nb_dataset_free(b);
    return rc;
}

typedef struct {
    const char *path, *dir;
    nb_model *m;
    nb_optim *o;
} f_ck_in;

static int op_ck_save(void *u)
{
    const f_ck_in *in = u;
    nb_sched_config sc = nb_sched_defaults(NB_SCHED_COSINE);
    sc.t_max = 10;
    nb_sched s;
    nb_sched_init(&s, &sc, 0.1);
    nb_progress p = {.step = 1};
    nb_kv kv[] = {{"model", "5-4-3"}, {"act", "relu"}};
    int rc = nb_checkpoint_save(in->path, in->m, in->o, &s, &p, kv, 2);
    if (rc != 0 && f_count(in->dir, NULL) != 1) return -2;
    return rc;
}

static int op_ck_load(void *u)
{
    const f_ck_in *in = u;
    nb_checkpoint *ck = nb_checkpoint_open(in->path);
    if (!ck) return -1;
    nb_sched_config sc = nb_sched_defaults(NB_SCHED_COSINE);
    sc.t_max = 10;
    nb_sched s;
    nb_sched_init(&s, &sc, 0.1);
    nb_progress p;
    int rc = nb_checkpoint_load_model(ck, in->m) == 0 && nb_checkpoint_load_state(ck, in->o, &s, &p) == 0 ? 0 : -1;
    nb_checkpoint_close(ck);
    return rc;
}

typedef struct {
    nb_model *m;
    nb_optim *o;
    const float *x;
    const int32_t *y;
    size_t n;
    nb_dataset *ds;
} f_train_in;

/* forward, loss and backward by hand, in a fresh context */
static int op_fwd_bwd(void *u)
{
    f_train_in *in = u;
    nb_ctx *c = nb_ctx_new(&(nb_ctx_opts){.chunk_bytes = 2048});
    if (!c) return -1;
    nb_rng r;
    nb_rng_seed(&r, 4);
    nb_model_zero_grad(in->m);
    nb_tensor *x = nb_from_data(c, NB_F32, 2, (size_t[]){in->n, nb_model_in_width(in->m)}, (void *)in->x, NB_BORROW);
    nb_tensor *y = x ? nb_from_data(c, NB_I32, 1, (size_t[]){in->n}, (void *)in->y, NB_BORROW) : NULL;
    nb_tensor *out = y ? nb_model_forward(in->m, c, x, &r) : NULL;
    nb_tensor *loss = out ? nb_cross_entropy(c, out, y, NB_MEAN, 0.1) : NULL;
    int rc = loss && nb_backward(c, loss, NULL) == 0 ? 0 : -1;
    nb_ctx_free(c);
    return rc;
}

/* the library's own step and evaluation, in a fresh context */
static int op_step_eval(void *u)
{
    f_train_in *in = u;
    nb_ctx *c = nb_ctx_new(&(nb_ctx_opts){.chunk_bytes = 2048});
    if (!c) return -1;
    nb_rng r;
    nb_rng_seed(&r, 4);
    nb_step_opts so = {.clip_norm = 1.0, .rng = &r};
    nb_step_result res;
    nb_eval ev;
    size_t conf[9];
    int rc = nb_train_step(in->m, in->o, c, in->x, in->y, in->n, &so, &res) == 0 &&
                     nb_evaluate(in->m, c, in->ds, 3, &ev, conf) == 0
                 ? 0
                 : -1;
    nb_ctx_free(c);
    nb_loader *l = rc ? NULL : nb_loader_new(in->ds, &(nb_loader_opts){.batch_size = 2, .shuffle = 1});
    nb_data_stats *st = l ? nb_dataset_stats(in->ds) : NULL;
    if (!rc && !st) rc = -1;
    nb_data_stats_free(st);
    nb_loader_free(l);
    return rc;
}

TEST(faults, oom_tensors_arena_models_optimizers)
{
    OOM_SWEEP("tensor creation", op_tensors, NULL);
    OOM_SWEEP("context arena growth", op_arena, NULL);
    OOM_SWEEP("model building", op_models, NULL);
    OOM_SWEEP("optimizer creation and steps", op_optims, NULL);
}

TEST(faults, oom_loading_idx_safetensors_csv)
{
    char dir[64], p1[128], p2[128], p3[128];
    if (f_mkdtemp(dir, sizeof dir)) return;
    /* IDX: 3 images 4x4 and 3 labels, plain and gzipped, in memory and on disk */
    unsigned char img[4 + 12 + 48], lab[4 + 4 + 3] = {0, 0, 8, 1, 0, 0, 0, 3, 0, 2, 1};
    memcpy(img, (unsigned char[]){0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 4}, 16);
    for (int i = 0; i < 48; i++) img[16 + i] = (unsigned char)(i * 5);
    uLongf gzn = 256;
    unsigned char gz[256];
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY);
    z.next_in = img;
    z.avail_in = sizeof img;
    z.next_out = gz;
    z.avail_out = (uInt)gzn;
    CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
    gzn -= z.avail_out;
    deflateEnd(&z);
    snprintf(p1, sizeof p1, "%s/img.idx", dir);
    snprintf(p2, sizeof p2, "%s/img.idx.gz", dir);
    snprintf(p3, sizeof p3, "%s/lab.idx", dir);
    CHECK(f_spit(p1, img, sizeof img) == 0 && f_spit(p2, gz, gzn) == 0 && f_spit(p3, lab, sizeof lab) == 0);
    f_idx_in ii = {img, gz, sizeof img, gzn, p1, p2, p3};
    OOM_SWEEP("IDX loading (plain, gzip, memory, files, dataset)", op_idx, &ii);

    /* safetensors */
    char sp[128];
    snprintf(sp, sizeof sp, "%s/st.safetensors", dir);
    float w[6] = {1, 2, 3, 4, 5, 6};
    nb_st_tensor ts[] = {{"w", NB_ST_F32, 2, {2, 3}, w}, {"k", NB_ST_I64, 1, {1}, "12345678"}};
    nb_st_meta meta = {"format", "pt"};
    CHECK_OK(nb_st_save(sp, ts, 2, &meta, 1) == 0);
    size_t n;
    unsigned char *st = f_slurp(sp, &n);
    f_file_in fi = {sp, dir, st, n};
    OOM_SWEEP("safetensors loading (file and memory)", op_st_load, &fi);
    free(st);

    /* CSV */
    const char *csv = "a,y,b\n1.5,0,2\n-1,2,0.25\n\n3,1,4e2\n";
    char cp[128];
    snprintf(cp, sizeof cp, "%s/d.csv", dir);
    CHECK(f_spit(cp, csv, strlen(csv)) == 0);
    f_file_in fc = {cp, dir, csv, strlen(csv)};
    OOM_SWEEP("CSV loading (file and memory)", op_csv, &fc);
    f_rmdir(dir);
}

TEST(faults, oom_saving_and_resuming_checkpoints)
{
    char dir[64], path[128];
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(path, sizeof path, "%s/st.safetensors", dir);
    float x = 1;
    nb_st_tensor t = {"old", NB_ST_F32, 0, {0}, &x};
    CHECK_OK(nb_st_save(path, &t, 1, NULL, 0) == 0); /* a file to keep */
    f_file_in fi = {path, dir, NULL, 0};
    OOM_SWEEP("safetensors saving", op_st_save, &fi);

    nb_model *m = f_mlp("5-4-3", NB_F32, 1, 0, 3);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_SGD);
    oc.momentum = 0.9;
    nb_optim *o = nb_optim_new(&oc, NB_F32, nb_model_n_params(m));
    nb_optim_step(o, nb_model_params(m), nb_model_grads(m)); /* fills the momentum buffer */
    f_ck_in ci = {path, dir, m, o};
    OOM_SWEEP("checkpoint saving", op_ck_save, &ci);
    OOM_SWEEP("checkpoint opening and restoring", op_ck_load, &ci);
    nb_optim_free(o);
    nb_model_free(m);
    f_rmdir(dir);
}

TEST(faults, oom_forward_backward_and_training_step)
{
    nb_model *m = f_mlp("6-8-3", NB_F32, 1, 1, 11);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAM);
    nb_optim *o = m ? nb_optim_new(&oc, NB_F32, nb_model_n_params(m)) : NULL;
    nb_dataset *ds = nb_dataset_new(NB_DATA_F64, 5, 1, (size_t[]){6}, 3);
    if (!o || !ds) {
        t_fail(__FILE__, __LINE__, "setup: %s", nb_errmsg());
    } else {
        float x[4 * 6];
        int32_t y[4] = {0, 2, 1, 2};
        for (int i = 0; i < 24; i++) x[i] = (float)((i * 7) % 11) / 11.0f - 0.4f;
        for (size_t i = 0; i < 30; i++) ds->xf[i] = (double)(i % 7) / 7.0;
        for (size_t i = 0; i < 5; i++) ds->y[i] = (int32_t)(i % 3);
        f_train_in ti = {m, o, x, y, 4, ds};
        OOM_SWEEP("forward + cross-entropy + backward", op_fwd_bwd, &ti);
        OOM_SWEEP("nb_train_step, nb_evaluate, loader, stats", op_step_eval, &ti);
    }
    nb_dataset_free(ds);
    nb_optim_free(o);
    nb_model_free(m);
}

/* The injector itself: the Nth call fails, others succeed, nothing leaks. */
TEST(faults, oom_injector_works)
{
    const char *why;
    if (!t_alloc_usable(&why)) {
        T_SKIP("%s", why);
        return;
    }
    long live = t_alloc_live();
    t_alloc_fail_nth(2);
    void *volatile a = malloc(8), *volatile b = malloc(8), *volatile c = calloc(1, 8);
    long calls = t_alloc_fail_stop();
    CHECK(a && !b && c && calls == 3);
    free(a);
    free(c);
    CHECK(t_alloc_live() == live);
}

/* ---------------------------------------------------- two threads */
typedef struct {
    uint64_t seed;
    nb_dtype dt;
    int steps;
    void *params; /* out: a copy of the final parameters */
    size_t bytes;
    int rc;
    char err[256];
} f_job;

/* Train a 20-32-5 MLP (BatchNorm, dropout, AdamW, clipping) on random data
 * from job->seed, with nothing shared. */
static void *f_train(void *arg)
{
    f_job *j = arg;
    nb_model *m = f_mlp("20-32-5", j->dt, 1, 1, j->seed);
    nb_optim_config oc = nb_optim_defaults(NB_OPT_ADAMW);
    nb_optim *o = m ? nb_optim_new(&oc, j->dt, nb_model_n_params(m)) : NULL;
    nb_ctx *c = nb_ctx_new(NULL);
    nb_rng r;
    nb_rng_seed(&r, j->seed + 100);
    enum { B = 16 };
    double xd[B * 20];
    float xf[B * 20];
    int32_t y[B];
    nb_step_opts so = {.clip_norm = 0.5, .label_smoothing = 0.05, .rng = &r};
    j->rc = m && o && c ? 0 : -1;
    for (int s = 0; s < j->steps && j->rc == 0; s++) {
        for (int i = 0; i < B * 20; i++) xd[i] = nb_rng_normal(&r), xf[i] = (float)xd[i];
        for (int i = 0; i < B; i++) y[i] = (int32_t)nb_rng_below(&r, 5);
        nb_step_result res;
        j->rc = nb_train_step(m, o, c, j->dt == NB_F32 ? (const void *)xf : (const void *)xd, y, B, &so, &res);
    }
    if (j->rc) snprintf(j->err, sizeof j->err, "%s", nb_errmsg());
    if (m) {
        j->bytes = nb_model_n_params(m) * nb_dtype_size(j->dt);
        j->params = malloc(j->bytes);
        if (j->params) memcpy(j->params, nb_model_params(m), j->bytes);
    }
    nb_ctx_free(c);
    nb_optim_free(o);
    nb_model_free(m);
    return NULL;
}

TEST(faults, threads_train_two_models_bitwise_as_alone)
{
    enum { N = 4 };
    f_job alone[N], together[N];
    for (int i = 0; i < N; i++) {
        alone[i] = (f_job){.seed = 40 + (uint64_t)i % 2, .dt = i < 2 ? NB_F32 : NB_F64, .steps = 40};
        together[i] = alone[i];
        f_train(&alone[i]);
        CHECK_MSG(alone[i].rc == 0, "alone %d: %s", i, alone[i].err);
    }
    pthread_t th[N];
    for (int i = 0; i < N; i++) CHECK(pthread_create(&th[i], NULL, f_train, &together[i]) == 0);
    for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        CHECK_MSG(together[i].rc == 0, "thread %d: %s", i, together[i].err);
        CHECK_MSG(together[i].params && alone[i].params && together[i].bytes == alone[i].bytes &&
                      memcmp(together[i].params, alone[i].params, alone[i].bytes) == 0,
                  "model %d trained in a thread differs from the same model trained alone", i);
        free(alone[i].params);
        free(together[i].params);
    }
}

/* ------------------------------------------- the command line killed and resumed */
/* A small Fashion-MNIST look-alike in dir (uncompressed IDX): n_train and
 * n_test 28x28 images whose pixels lean on their label, so that training
 * moves.  0 or -1. */
static int f_idx_write(const char *dir, const char *name, int images, uint32_t n, uint64_t seed)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) return -1;
    unsigned char h[16] = {0,
                           0,
                           8,
                           images ? 3 : 1,
                           (unsigned char)(n >> 24),
                           (unsigned char)(n >> 16),
                           (unsigned char)(n >> 8),
                           (unsigned char)n,
                           0,
                           0,
                           0,
                           28,
                           0,
                           0,
                           0,
                           28};
    fwrite(h, 1, images ? 16 : 8, f);
    nb_rng r;
    nb_rng_seed(&r, seed);
    for (uint32_t i = 0; i < n; i++) {
        nb_rng lr; /* the label: the same stream for the images and the labels file */
        nb_rng_seed(&lr, seed * 1000003u + i);
        unsigned char y = (unsigned char)nb_rng_below(&lr, 10);
        if (!images) {
            fputc(y, f);
            continue;
        }
        for (int k = 0; k < 784; k++) fputc((int)((k / 78 == y ? 40 : 0) + nb_rng_below(&r, 200)), f);
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int f_fake_mnist(const char *dir, uint32_t n_train, uint32_t n_test)
{
    return f_idx_write(dir, "train-images-idx3-ubyte", 1, n_train, 11) ||
                   f_idx_write(dir, "train-labels-idx1-ubyte", 0, n_train, 11) ||
                   f_idx_write(dir, "t10k-images-idx3-ubyte", 1, n_test, 12) ||
                   f_idx_write(dir, "t10k-labels-idx1-ubyte", 0, n_test, 12)
               ? -1
               : 0;
}

/* The run both ways: 3 epochs of 12 batches, dropout (the training RNG),
 * a per-batch schedule and Adam, one thread (bitwise repeatable). */
#define F_RUN "--quiet --model 784-24-10 --dropout 0.1 --sched cosine --batch 32 --log-every 3 --threads 1"

/* Start `nabla train ARGS --data DATA --out OUT` with its output sent to
 * /dev/null; the child's pid. */
static pid_t f_train_start(const char *data, const char *out, const char *args)
{
    char line[1024], exe[512];
    snprintf(line, sizeof line, "train " F_RUN " --data %s --out %s %s", data, out, args);
    snprintf(exe, sizeof exe, "%s/nabla", t_build_dir());
    char *argv[48] = {exe};
    int argc = 1;
    for (char *tok = strtok(line, " "); tok && argc < 46; tok = strtok(NULL, " ")) argv[argc++] = tok;
    argv[argc] = NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 1);
        if (!getenv("NB_T_VERBOSE")) dup2(nul, 2);
        execv(exe, argv);
        _exit(127);
    }
    return pid;
}

/* Run it to the end; the exit status (-1: killed by a signal). */
static int f_train_wait(pid_t pid)
{
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Does l[0..len) hold s? */
static int f_has(const char *l, size_t len, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= len; i++)
        if (!memcmp(l + i, s, n)) return 1;
    return 0;
}

/* metrics.jsonl without what differs between runs by design: the start and
 * summary events each process writes, the done events (but, with
 * keep_finished, that of a finished run), and the values of the timing
 * fields (and the checkpoint's path). */
static char *f_metrics_masked(const char *out, int keep_finished)
{
    static const char *const masked[] = {
        "\"seconds\":", "\"train_seconds\":", "\"train_samples_per_s\":", "\"checkpoint\":"};
    char p[512];
    snprintf(p, sizeof p, "%s/metrics.jsonl", out);
    size_t n;
    char *all = (char *)f_slurp(p, &n);
    if (!all) return NULL;
    char *res = malloc(n + 1), *w = res;
    for (size_t i = 0; res && i < n;) {
        char *nl = memchr(all + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (all + i)) + 1 : n - i;
        char *l = all + i;
        i += len;
        if (!strncmp(l, "{\"event\":\"start\"", 16) || !strncmp(l, "{\"event\":\"summary\"", 18) ||
            (!strncmp(l, "{\"event\":\"done\"", 15) && !(keep_finished && f_has(l, len, "\"stopped\":\"finished\""))))
            continue;
        for (size_t k = 0; k < len;) {
            size_t m = 0;
            for (size_t q = 0; q < sizeof masked / sizeof masked[0] && !m; q++)
                if (len - k > strlen(masked[q]) && !strncmp(l + k, masked[q], strlen(masked[q]))) m = strlen(masked[q]);
            if (!m) {
                *w++ = l[k++];
                continue;
            }
            memcpy(w, l + k, m), w += m, k += m; /* the key, then "#" for its value */
            *w++ = '#';
            while (k < len && l[k] != ',' && l[k] != '}') k++;
        }
    }
    if (w) *w = '\0';
    free(all);
    return res;
}

/* The first line where a and b differ, for the failure message. */
static void f_first_diff(const char *a, const char *b, char *msg, size_t size)
{
    int line = 1;
    const char *la = a, *lb = b;
    while (*a && *a == *b) {
        if (*a == '\n') line++, la = a + 1, lb = b + 1;
        a++, b++;
    }
    snprintf(msg, size, "line %d:\n  straight: %.300s\n  resumed:  %.300s", line, la, lb);
}

TEST(faults, resumed_epoch_reports_the_whole_epoch)
{
    char dir[64], data[96], a[96], b[96];
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    CHECK(mkdir(data, 0777) == 0 && f_fake_mnist(data, 384, 64) == 0);
    CHECK(f_train_wait(f_train_start(data, a, "--epochs 2")) == 0);
    /* stopped mid-epoch (as SIGINT/SIGTERM stop, with a save), resumed */
    CHECK(f_train_wait(f_train_start(data, b, "--epochs 2 --max-steps 17")) == 0);
    CHECK(f_train_wait(f_train_start(data, b, "--epochs 2 --resume")) == 0);
    char *ma = f_metrics_masked(a, 1), *mb = f_metrics_masked(b, 1), msg[800] = "";
    CHECK(ma && mb);
    if (ma && mb && strcmp(ma, mb)) f_first_diff(ma, mb, msg, sizeof msg);
    CHECK_MSG(ma && mb && !strcmp(ma, mb), "metrics.jsonl differs at %s", msg);
    free(ma);
    free(mb);
    t_rmrf(dir);
}

/* A run stopped in its epoch's last step, resumed, and killed after writing
 * that epoch's event but before its next save: the event is at the
 * checkpoint's step yet newer than it, and the next resume must drop it
 * rather than write the epoch twice. */
TEST(faults, resume_cuts_an_epoch_event_newer_than_the_checkpoint)
{
    char dir[64], data[96], a[96], b[96], m[128];
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    CHECK(mkdir(data, 0777) == 0 && f_fake_mnist(data, 384, 64) == 0); /* 12 batches an epoch */
    CHECK(f_train_wait(f_train_start(data, a, "--epochs 2")) == 0);
    CHECK(f_train_wait(f_train_start(data, b, "--epochs 2 --max-steps 12")) == 0);
    /* what the killed resume left: a's epoch 1 event */
    snprintf(m, sizeof m, "%s/metrics.jsonl", a);
    size_t n = 0;
    char *all = (char *)f_slurp(m, &n), *ev = all ? strstr(all, "{\"event\":\"epoch\",\"epoch\":1,") : NULL;
    char *end = ev ? strchr(ev, '\n') : NULL;
    snprintf(m, sizeof m, "%s/metrics.jsonl", b);
    FILE *f = fopen(m, "a");
    CHECK(ev && end && f && fwrite(ev, 1, (size_t)(end - ev + 1), f) == (size_t)(end - ev + 1));
    if (f) fclose(f);
    free(all);
    CHECK(f_train_wait(f_train_start(data, b, "--epochs 2 --resume")) == 0);
    char *ma = f_metrics_masked(a, 1), *mb = f_metrics_masked(b, 1), msg[800] = "";
    CHECK(ma && mb);
    if (ma && mb && strcmp(ma, mb)) f_first_diff(ma, mb, msg, sizeof msg);
    CHECK_MSG(ma && mb && !strcmp(ma, mb), "metrics.jsonl differs at %s", msg);
    free(ma);
    free(mb);
    t_rmrf(dir);
}

/* The epoch's running sums round-trip exactly, are optional (older
 * checkpoints), and meaningless ones are refused naming the key. */
TEST(faults, ckpt_epoch_sums_round_trip_and_are_checked)
{
    char dir[64], path[128];
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(path, sizeof path, "%s/ck.safetensors", dir);
    nb_model *m = f_mlp("4-3-2", NB_F32, 0, 0, 5);
    const nb_progress good = {.step = 3,
                              .loader = {.n = 100, .pos = 40},
                              .epoch_loss_sum = 0.1 + 1.0 / 3,
                              .epoch_seconds = 1.25,
                              .epoch_samples = 40,
                              .epoch_correct = 17};
    struct {
        nb_progress p;
        const char *why; /* NULL: loads */
    } cases[] = {
        {good, NULL},
        {good, "'epoch.samples' = 41 is more than the 40 samples"},
        {good, "'epoch.correct' = 41 is more than epoch.samples"},
        {good, "'epoch.loss_sum' = 'nan' is not a finite number"},
        {good, "'epoch.seconds' = -1 is negative"},
        {good, NULL}, /* text: 4 labels a sample */
        {good, "'epoch.correct' = 161 is more than epoch.samples = 40 times seq_len"},
    };
    cases[1].p.epoch_samples = 41;
    cases[2].p.epoch_correct = 41;
    cases[3].p.epoch_loss_sum = NAN;
    cases[4].p.epoch_seconds = -1;
    cases[5].p.epoch_correct = 160;
    cases[6].p.epoch_correct = 161;
    const nb_kv text_kv[] = {{"seq_len", "4"}};
    for (size_t i = 0; m && i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(nb_checkpoint_save(path, m, NULL, NULL, &cases[i].p, i >= 5 ? text_kv : NULL, i >= 5) == 0);
        nb_checkpoint *ck = nb_checkpoint_open(path);
        nb_progress p;
        memset(&p, 0xff, sizeof p);
        int rc = ck ? nb_checkpoint_load_state(ck, NULL, NULL, &p) : -2;
        nb_checkpoint_close(ck);
        if (!cases[i].why) {
            CHECK_MSG(rc == 0, "%s", nb_errmsg());
            CHECK(memcmp(&p.epoch_loss_sum, &good.epoch_loss_sum, sizeof p.epoch_loss_sum) == 0 &&
                  p.epoch_seconds == good.epoch_seconds && p.epoch_samples == 40 &&
                  p.epoch_correct == cases[i].p.epoch_correct);
        } else {
            CHECK_MSG(rc == -1 && strstr(nb_errmsg(), cases[i].why) && strstr(nb_errmsg(), path), "case %zu: %s", i,
                      nb_errmsg());
        }
    }
    /* a checkpoint without them (an older version): the sums are 0 */
    CHECK(m && nb_checkpoint_save(path, m, NULL, NULL, &good, NULL, 0) == 0);
    nb_st_file *f = nb_st_load(path);
    nb_st_meta meta[64];
    size_t nm = 0;
    for (size_t i = 0; f && i < nb_st_meta_count(f) && nm < 64; i++)
        if (strncmp(nb_st_meta_at(f, i)->key, "epoch.", 6)) meta[nm++] = *nb_st_meta_at(f, i);
    CHECK(f && nm + 4 == nb_st_meta_count(f));
    size_t nt = f ? nb_st_count(f) : 0;
    nb_st_tensor *ts = calloc(nt + 1, sizeof *ts);
    for (size_t i = 0; ts && i < nt; i++) ts[i] = *nb_st_at(f, i);
    CHECK(ts && nb_st_save(path, ts, nt, meta, nm) == 0);
    free(ts);
    nb_st_free(f);
    nb_checkpoint *ck = nb_checkpoint_open(path);
    nb_progress p;
    memset(&p, 0xff, sizeof p);
    CHECK_MSG(ck && nb_checkpoint_load_state(ck, NULL, NULL, &p) == 0, "%s", nb_errmsg());
    CHECK(p.step == 3 && p.epoch_loss_sum == 0 && p.epoch_seconds == 0 && p.epoch_samples == 0 && p.epoch_correct == 0);
    nb_checkpoint_close(ck);
    nb_model_free(m);
    f_rmdir(dir);
}

/* A copy of checkpoint src at dst with element 0 of tensor name set to NaN;
 * 0 or -1. */
static int f_poison(const char *src, const char *dst, const char *name)
{
    nb_st_file *f = nb_st_load(src);
    size_t nt = f ? nb_st_count(f) : 0, nm = f ? nb_st_meta_count(f) : 0;
    nb_st_tensor *ts = calloc(nt + 1, sizeof *ts);
    nb_st_meta *meta = calloc(nm + 1, sizeof *meta);
    void *copy = NULL;
    int rc = -1;
    for (size_t i = 0; ts && meta && i < nt; i++) {
        ts[i] = *nb_st_at(f, i);
        if (strcmp(ts[i].name, name) || ts[i].dtype != NB_ST_F32) continue;
        size_t n = 1;
        for (int d = 0; d < ts[i].ndim; d++) n *= ts[i].shape[d];
        if (!(copy = malloc(n * sizeof(float)))) break;
        memcpy(copy, ts[i].data, n * sizeof(float));
        ((float *)copy)[0] = NAN;
        ts[i].data = copy;
    }
    for (size_t i = 0; meta && i < nm; i++) meta[i] = *nb_st_meta_at(f, i);
    if (copy) rc = nb_st_save(dst, ts, nt, meta, nm);
    free(copy);
    free(ts);
    free(meta);
    nb_st_free(f);
    return rc;
}

TEST(faults, allow_nonfinite_loads_a_diverged_checkpoint)
{
    char dir[64], data[96], run[96], args[1024], *out = NULL;
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    CHECK(mkdir(data, 0777) == 0 && f_fake_mnist(data, 128, 32) == 0);
    CHECK(f_train_wait(f_train_start(data, run, "--epochs 2 --max-steps 2")) == 0);
    char ck[128], bad[128];
    snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", run);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
    CHECK(f_poison(ck, bad, "layers.0.weight") == 0);
    const char *cmds[][2] = {{"eval", "--data"}, {"predict", "--images"}};
    for (int k = 0; k < 2; k++) {
        char in[160];
        snprintf(in, sizeof in, k ? "%s/t10k-images-idx3-ubyte --index 0" : "%s", data);
        snprintf(args, sizeof args, "%s %s %s %s", cmds[k][0], bad, cmds[k][1], in);
        int rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 2 && out && strstr(out, "layers.0.weight") && strstr(out, "NaN"), "%s: exit %d: %s", cmds[k][0],
                  rc, out ? out : "");
        free(out);
        snprintf(args, sizeof args, "%s %s %s %s --allow-nonfinite", cmds[k][0], bad, cmds[k][1], in);
        rc = t_cli_run(args, &out);
        CHECK_MSG(rc == 0, "%s --allow-nonfinite: exit %d: %s", cmds[k][0], rc, out ? out : "");
        free(out);
    }
    /* train --resume: refused, or loaded (and then stopped by the NaN loss) */
    CHECK(rename(bad, ck) == 0);
    snprintf(args, sizeof args, "train " F_RUN " --data %s --out %s --epochs 2 --resume", data, run);
    int rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 2 && out && strstr(out, "layers.0.weight") && strstr(out, "--allow-nonfinite"), "exit %d: %s", rc,
              out ? out : "");
    free(out);
    snprintf(args, sizeof args, "train " F_RUN " --data %s --out %s --epochs 2 --resume --allow-nonfinite", data, run);
    rc = t_cli_run(args, &out);
    CHECK_MSG(rc == 1 && out && strstr(out, "loss became NaN at step 3"), "exit %d: %s", rc, out ? out : "");
    free(out);
    t_rmrf(dir);
}

/* Lines in path (0 when absent). */
static long f_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    long n = 0;
    int ch;
    while (f && (ch = getc(f)) != EOF) n += ch == '\n';
    if (f) fclose(f);
    return n;
}

static double f_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The campaign: the run straight through, then the same run stopped again
 * and again -- SIGINT (a save, exit 130) and SIGKILL (nothing saved after
 * the last checkpoint) in turn, after seeded-random delays spread over the
 * straight run's time, so they land in start-up, mid-epoch, in evaluation,
 * during a save -- and resumed (--overwrite while there is no checkpoint
 * yet) until it finishes.  metrics.jsonl must then match line by line
 * (timing masked; a done event is dropped, since a run killed after its
 * last checkpoint has none and its resume has nothing left to do), and the
 * final checkpoint byte for byte. */
TEST(faults, kill_and_resume_campaign_matches_a_straight_run)
{
    char dir[64], data[96], a[96], b[96], ck[2][128];
    if (f_mkdtemp(dir, sizeof dir)) return;
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(b, sizeof b, "%s/b", dir);
    snprintf(ck[0], sizeof ck[0], "%s/checkpoint.safetensors", a);
    snprintf(ck[1], sizeof ck[1], "%s/checkpoint.safetensors", b);
    char metrics[128];
    snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", b);
    CHECK(mkdir(data, 0777) == 0 && f_fake_mnist(data, 960, 64) == 0);
    const char *run = "--epochs 3 --model 784-192-10";
    char args[256];
    double t0 = f_now();
    CHECK(f_train_wait(f_train_start(data, a, run)) == 0);
    double straight = f_now() - t0;
    nb_rng r;
    nb_rng_seed(&r, 1307);
    int kills = 0, sigkilled = 0, saved = 0, rounds = 0, finished = 0;
    struct stat st;
    while (!finished && rounds++ < 60) {
        int have_ck = stat(ck[1], &st) == 0;
        snprintf(args, sizeof args, "%s %s", run, have_ck ? "--resume" : "--overwrite");
        pid_t pid = f_train_start(data, b, args);
        int sig = 0;
        if (kills < 16) {
            sig = kills % 2 ? SIGKILL : SIGINT;
            if (kills % 3 == 2) { /* by time: start-up, evaluation, a save... */
                f_sleep_us((long)(1e6 * 0.3 * straight * nb_rng_uniform(&r)));
            } else { /* mid-training: after 1..6 more events in metrics.jsonl */
                long target = f_lines(metrics) + 1 + (long)nb_rng_below(&r, 6);
                for (int i = 0; i < 20000 && f_lines(metrics) < target && waitpid(pid, NULL, WNOHANG) == 0; i++)
                    f_sleep_us(200);
            }
            kill(pid, sig);
            kills++;
        }
        int rc = f_train_wait(pid);
        CHECK_MSG(rc == 0 || rc == -1 || (rc == 130 && sig == SIGINT), "round %d (signal %d): exit %d", rounds, sig,
                  rc);
        if (rc != 0 && rc != -1 && rc != 130) break;
        sigkilled += rc == -1;
        saved += rc == 130;
        if (getenv("NB_T_VERBOSE")) {
            nb_checkpoint *c = nb_checkpoint_open(ck[1]);
            const char *step = c ? nb_checkpoint_get(c, "step") : NULL;
            fprintf(stderr, "  round %d: signal %d, exit %d, checkpoint at step %s\n", rounds, sig, rc,
                    step ? step : "-");
            nb_checkpoint_close(c);
        }
        if (rc == 0 && stat(ck[1], &st) == 0) {
            nb_checkpoint *c = nb_checkpoint_open(ck[1]);
            const char *e = c ? nb_checkpoint_get(c, "epoch") : NULL;
            finished = e && !strcmp(e, "3");
            nb_checkpoint_close(c);
        }
    }
    CHECK_MSG(finished, "the interrupted run did not finish in %d rounds", rounds);
    if (getenv("NB_T_VERBOSE"))
        fprintf(stderr, "  %d rounds, %d signals: %d runs died, %d saved on SIGINT (straight run %.2fs)\n", rounds,
                kills, sigkilled, saved, straight);
    char *ma = f_metrics_masked(a, 0), *mb = f_metrics_masked(b, 0), msg[800] = "";
    CHECK(ma && mb);
    if (ma && mb && strcmp(ma, mb)) f_first_diff(ma, mb, msg, sizeof msg);
    CHECK_MSG(ma && mb && !strcmp(ma, mb), "metrics.jsonl differs at %s", msg);
    free(ma);
    free(mb);
    size_t na = 0, nb = 0;
    unsigned char *ba = f_slurp(ck[0], &na), *bb = f_slurp(ck[1], &nb);
    CHECK_MSG(ba && bb && na == nb && na > 0 && !memcmp(ba, bb, na), "the final checkpoints differ (%zu and %zu bytes)",
              na, nb);
    free(ba);
    free(bb);
    t_rmrf(dir);
}
