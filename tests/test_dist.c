/* nabla/dist.h without mpirun: the batch slicing, and the stubs of a build
 * without MPI (the MPI paths are tested by tests/mpi/run.sh). */
#include <string.h>

#include "nabla/dist.h"
#include "t.h"

TEST(dist, slices_cover_every_global_batch_in_order)
{
    for (size_t n = 1; n <= 70; n++) {
        for (int size = 1; size <= 9; size++) {
            size_t next = 0, small = n, big = 0;
            for (int r = 0; r < size; r++) {
                size_t lo, hi;
                nb_dist_slice(n, r, size, &lo, &hi);
                CHECK_MSG(lo == next && hi >= lo, "n %zu size %d rank %d: [%zu, %zu) after %zu", n, size, r, lo, hi,
                          next);
                next = hi;
                small = hi - lo < small ? hi - lo : small;
                big = hi - lo > big ? hi - lo : big;
            }
            CHECK_MSG(next == n && big - small <= 1, "n %zu size %d: ends at %zu, slices %zu..%zu", n, size, next,
                      small, big);
        }
    }
}

TEST(dist, without_mpi_every_call_says_so)
{
    if (nb_dist_available()) { /* a `make MPI=1` build */
        T_SKIP("built with MPI: tests/mpi/run.sh covers it");
        return;
    }
    CHECK(nb_dist_init(NULL) == NULL);
    CHECK_MSG(strstr(nb_errmsg(), "built without MPI"), "message: %s", nb_errmsg());
    double v = 1;
    CHECK(nb_dist_allreduce_sum(NULL, &v, 1) == -1);
    CHECK(nb_dist_step_hooks(NULL, NULL, 1, 2, 0) == NULL);
    CHECK(nb_dist_rank(NULL) == 0 && nb_dist_size(NULL) == 1);
    nb_dist_finalize(NULL);
}
