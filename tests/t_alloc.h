/* Heap interposition for the tests: the test binary replaces malloc, calloc,
 * realloc, free and the aligned allocators (glibc only, forwarding to
 * glibc's own) so a test can
 *   - count the allocations a piece of code makes (tests/test_alloc.c),
 *   - make the Nth allocation from now fail, as a real out-of-memory would
 *     (tests/test_faults.c),
 *   - check that nothing leaked (the live-block count comes back).
 * Not available under ASan (or TSan, MSan), whose allocator must stay in
 * charge (compile time: T_ALLOC_INTERPOSED is 0), nor under valgrind, which replaces malloc
 * everywhere, ours included (run time: t_alloc_usable() says 0).  Callers
 * then report themselves skipped.  Counters are plain globals: arm them only
 * in single-threaded code. */
#ifndef NB_T_ALLOC_H
#define NB_T_ALLOC_H

#include <stdlib.h> /* defines __GLIBC__ on glibc */

/* ASan, TSan and MSan bring their own allocators. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define T_ALLOC_NO_INTERPOSE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
#define T_ALLOC_NO_INTERPOSE 1
#endif
#endif

#if defined(__GLIBC__) && !defined(T_ALLOC_NO_INTERPOSE)
#define T_ALLOC_INTERPOSED 1
#else
#define T_ALLOC_INTERPOSED 0
#endif

/* 1 when the interposition is in charge in this run; otherwise 0 and `why`
 * (if not NULL) says why not ("built with ASan", "running under valgrind"). */
int t_alloc_usable(const char **why);

/* Count allocation calls (malloc, calloc, realloc, aligned allocators) from
 * now on; t_alloc_count_stop stops and returns the count. */
void t_alloc_count_start(void);
long t_alloc_count_stop(void);

/* Make the nth allocation call from now (1-based) fail with ENOMEM, only
 * that one.  t_alloc_fail_stop disarms and returns how many allocation
 * calls were made since arming (so >= n means the failure happened). */
void t_alloc_fail_nth(long n);
long t_alloc_fail_stop(void);

/* Heap blocks currently allocated (all threads; always tracked). */
long t_alloc_live(void);

#endif
