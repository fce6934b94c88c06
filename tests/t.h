/* A small test harness.  TEST(suite, name) registers a case; CHECK* record
 * failures without stopping the case; T_SKIP("why") marks it skipped (the
 * case then returns: a skipped case that also failed a CHECK fails).  The
 * runner prints each failure with file:line, and closes with
 * "N passed, N failed, N skipped" (exit 1 on any failure).
 *   build/test_nabla [SUBSTRING...]   runs the cases whose "suite.name" matches;
 *                                     a SUBSTRING that matches none is a failure */
#ifndef NB_T_H
#define NB_T_H

#include <math.h>
#include <stdio.h>

#include "nabla/nabla.h"

typedef void (*t_fn)(void);
void t_register(const char *suite, const char *name, t_fn fn);
void t_fail(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void t_skip(const char *file, int line, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* A skip, unless the environment variable env is set (CI sets NB_REQUIRE_PYTHON
 * and NB_REQUIRE_CHROMIUM): then a failure, so the check can never be skipped there. */
void t_skip_unless_required(const char *file, int line, const char *env, const char *why);
/* Relative-or-absolute closeness: |a-b| <= atol + rtol*|b|, NaNs equal only to NaN. */
int t_close(double a, double b, double atol, double rtol);
/* 1 when running under valgrind (its preload is in LD_PRELOAD): heavy sweeps
 * then test a representative subset, as everything runs ~50-300x slower. */
int t_under_valgrind(void);
/* A forked child's verdict: the child writes one byte 'k' to fd (the write
 * end of a pipe, the parent's read end is passed here) when its own checks
 * passed, then _exit(0).  1 when it passed.  Under valgrind the child's leak
 * check also sees what the parent's other threads left (glibc keeps the
 * stacks and TLS vectors of exited threads for reuse), which can make
 * valgrind exit a passing child with its error code 3: that counts as
 * passed, with a note; the child's own output still shows any report.
 * why gets the status otherwise. */
int t_child_passed(int pid, int fd, char *why, size_t size);
/* Directory holding the build (NB_BUILD, default "build"). */
const char *t_build_dir(void);
/* Path of a repository file (tests run from the repository root). */

#define TEST(suite, name)                                                 \
    static void suite##__##name(void);                                    \
    __attribute__((constructor)) static void suite##__##name##__reg(void) \
    {                                                                     \
        t_register(#suite, #name, suite##__##name);                       \
    }                                                                     \
    static void suite##__##name(void)

#define CHECK(cond)                                                  \
    do {                                                             \
        if (!(cond)) t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
    } while (0)
#define CHECK_MSG(cond, ...)                                  \
    do {                                                      \
        if (!(cond)) t_fail(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
/* failed must hold (NULL / -1 / NAN returned) with a message containing want. */
#define FAILS_WITH(failed, want)                                                                        \
    do {                                                                                                \
        CHECK_MSG(failed, "did not fail (expected \"%s\")", want);                                      \
        CHECK_MSG(strstr(nb_errmsg(), want) != NULL, "message \"%s\" lacks \"%s\"", nb_errmsg(), want); \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                                                      \
    do {                                                                                                           \
        double a_ = (a), b_ = (b);                                                                                 \
        if (!t_close(a_, b_, (tol), (tol)))                                                                        \
            t_fail(__FILE__, __LINE__, "%s = %.17g, expected %s = %.17g (tol %g)", #a, a_, #b, b_, (double)(tol)); \
    } while (0)
/* Mark the running case skipped, saying why (a printf format); then return. */
#define T_SKIP(...) t_skip(__FILE__, __LINE__, __VA_ARGS__)
#define T_SKIP_UNLESS_REQUIRED(env, why) t_skip_unless_required(__FILE__, __LINE__, env, why)
/* A call that must succeed (non-NULL / 0); prints nb_errmsg() otherwise. */
#define CHECK_OK(expr)                                                                \
    do {                                                                              \
        if (!(expr)) t_fail(__FILE__, __LINE__, "%s failed: %s", #expr, nb_errmsg()); \
    } while (0)

#endif
