/* The thread pool: every task runs exactly once, regions nest and overlap
 * safely (serially), and the thread setting is validated. */
#include "t.h"

#include <stdatomic.h>
#include <string.h>
#if !defined(__STDC_NO_THREADS__)
#include <threads.h>
#endif

#include "core/pool.h"

enum { NT_MAX = 1000 };

typedef struct {
    atomic_int hits[NT_MAX];
    atomic_int nested_threads; /* what nb__pool_threads says inside a task */
} counts;

static void count_task(void *p, size_t t)
{
    counts *c = p;
    atomic_fetch_add(&c->hits[t], 1);
    atomic_store(&c->nested_threads, (int)nb__pool_threads());
}

TEST(pool, every_task_runs_once)
{
    const int saved = nb_get_threads();
    static counts c;
    const size_t sizes[] = {0, 1, 2, 3, 7, 64, 999};
    for (int threads = 1; threads <= 4; threads++) {
        CHECK_OK(nb_set_threads(threads) == 0);
        CHECK(nb_get_threads() == threads);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
            for (int rep = 0; rep < 20; rep++) { /* regions back to back */
                memset(&c, 0, sizeof c);
                nb__pool_run(sizes[k], count_task, &c);
                int bad = 0;
                for (size_t t = 0; t < NT_MAX; t++) bad += atomic_load(&c.hits[t]) != (t < sizes[k]);
                CHECK_MSG(bad == 0, "%d threads, %zu tasks: %d tasks ran a wrong number of times", threads, sizes[k],
                          bad);
                if (sizes[k] > 1) CHECK(atomic_load(&c.nested_threads) == 1);
            }
    }
    nb_set_threads(saved);
}

typedef struct {
    atomic_int inner_hits;
} nest;

static void inner_task(void *p, size_t t)
{
    (void)t;
    atomic_fetch_add(&((nest *)p)->inner_hits, 1);
}

static void outer_task(void *p, size_t t)
{
    (void)t;
    nb__pool_run(5, inner_task, p); /* runs serially inside a task */
}

TEST(pool, nested_regions_run_serially)
{
    const int saved = nb_get_threads();
    nb_set_threads(3);
    nest n = {0};
    nb__pool_run(8, outer_task, &n);
    CHECK(atomic_load(&n.inner_hits) == 40);
    nb_set_threads(saved);
}

typedef struct {
    size_t n;
    unsigned char *seen;
} cover;

static void cover_range(void *p, size_t lo, size_t hi)
{
    cover *c = p;
    for (size_t i = lo; i < hi; i++) c->seen[i]++;
}

TEST(pool, parallel_for_covers_the_range_once)
{
    const int saved = nb_get_threads();
    static unsigned char seen[100003];
    const size_t ns[] = {0, 1, 15, 16, 17, 4096, 100003};
    for (int threads = 1; threads <= 3; threads++) {
        nb_set_threads(threads);
        for (size_t k = 0; k < sizeof ns / sizeof ns[0]; k++)
            for (size_t grain = 1; grain <= 4096; grain *= 64) {
                memset(seen, 0, sizeof seen);
                cover c = {ns[k], seen};
                nb__parallel_for(ns[k], grain, cover_range, &c);
                size_t bad = 0;
                for (size_t i = 0; i < sizeof seen; i++) bad += seen[i] != (i < ns[k]);
                CHECK_MSG(bad == 0, "n %zu grain %zu threads %d: %zu elements wrong", ns[k], grain, threads, bad);
            }
    }
    nb_set_threads(saved);
}

TEST(pool, thread_setting_is_validated)
{
    const int saved = nb_get_threads();
    CHECK(nb_set_threads(-1) == -1);
    CHECK(strstr(nb_errmsg(), "nb_set_threads") != NULL);
    CHECK(nb_set_threads(65) == -1);
    CHECK(nb_get_threads() == saved);
    CHECK(nb_set_threads(0) == 0); /* the default */
    CHECK(nb_get_threads() >= 1);
    nb_set_threads(saved);
}

#if !defined(__STDC_NO_THREADS__)
/* Several user threads start regions at once: the pool serves one, the
 * others run serially; every task still runs exactly once. */
typedef struct {
    counts c;
    int ok;
} user_job;

static int user_thread(void *p)
{
    user_job *j = p;
    j->ok = 1;
    for (int rep = 0; rep < 200; rep++) {
        memset(&j->c, 0, sizeof j->c);
        nb__pool_run(37, count_task, &j->c);
        for (size_t t = 0; t < 37; t++)
            if (atomic_load(&j->c.hits[t]) != 1) j->ok = 0;
    }
    return 0;
}

TEST(pool, concurrent_callers)
{
    const int saved = nb_get_threads();
    nb_set_threads(2);
    static user_job jobs[4];
    thrd_t th[4];
    int started = 0;
    for (int i = 0; i < 4; i++) started += thrd_create(&th[i], user_thread, &jobs[i]) == thrd_success;
    CHECK(started == 4);
    for (int i = 0; i < started; i++) thrd_join(th[i], NULL);
    for (int i = 0; i < started; i++) CHECK_MSG(jobs[i].ok, "user thread %d: a task ran a wrong number of times", i);
    nb_set_threads(saved);
}
#endif

/* Idle work: every chunk runs once, whether pool threads pick it up between
 * and inside regions or the poster finishes it; inside a chunk the pool is
 * serial; one job at a time; no job on one thread. */
typedef struct {
    atomic_int hits[NT_MAX];
    atomic_int nested_threads, by_others;
    thrd_t poster;
} idle_counts;

static void idle_chunk(void *p, size_t c)
{
    idle_counts *k = p;
    atomic_fetch_add(&k->hits[c], 1);
    atomic_store(&k->nested_threads, (int)nb__pool_threads());
    if (!thrd_equal(thrd_current(), k->poster)) atomic_fetch_add(&k->by_others, 1);
}

static void spin_task(void *p, size_t t)
{
    (void)p, (void)t;
    volatile double x = 0;
    for (int i = 0; i < 20000; i++) x += i; /* ~20 us */
    (void)x;
}

TEST(pool, idle_work_runs_every_chunk_once)
{
#if defined(__STDC_NO_THREADS__)
    t_skip("no C11 threads");
#else
    const int saved = nb_get_threads();
    static idle_counts k;
    CHECK_OK(nb_set_threads(1) == 0);
    CHECK(nb__pool_idle_post(4, idle_chunk, &k) == -1); /* one thread: nobody is idle */
    CHECK_OK(nb_set_threads(2) == 0);
    CHECK(nb__pool_idle_post(0, idle_chunk, &k) == -1);
    int others = 0;
    for (int rep = 0; rep < 30; rep++) {
        memset(&k, 0, sizeof k);
        k.poster = thrd_current();
        const size_t n = rep % 3 == 0 ? 1 : 7 * (size_t)rep;
        CHECK(nb__pool_idle_post(n, idle_chunk, &k) == 0);
        CHECK(nb__pool_idle_post(3, idle_chunk, &k) == -1); /* one job at a time */
        for (int r = 0; r < rep % 4; r++) nb__pool_run(2, spin_task, NULL);
        nb__pool_idle_finish();
        int bad = 0;
        for (size_t c = 0; c < NT_MAX; c++) bad += atomic_load(&k.hits[c]) != (c < n);
        CHECK_MSG(bad == 0, "job of %zu chunks: %d chunks ran a wrong number of times", n, bad);
        CHECK(atomic_load(&k.nested_threads) == 1);
        others += atomic_load(&k.by_others);
    }
    nb__pool_idle_finish(); /* nothing live: returns at once */
    printf("  note: %d chunks ran on pool workers, the rest on the poster\n", others);
    nb_set_threads(saved);
#endif
}
