/* ckcmp A B TOL: compare every float tensor of checkpoint A with the one of
 * the same name in B (model weights, buffers and optimizer state).  The
 * error of a tensor is max|a - b| / max|a| (relative to its largest value).
 * Prints the worst tensor; exit 0 when every error <= TOL, 1 otherwise,
 * 2 when a file cannot be read or the tensors differ in name or shape. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/io.h"

static double at(const nb_st_tensor *t, size_t i)
{
    return t->dtype == NB_ST_F64 ? ((const double *)t->data)[i] : (double)((const float *)t->data)[i];
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ckcmp A.safetensors B.safetensors TOL\n");
        return 2;
    }
    double tol = atof(argv[3]);
    nb_st_file *a = nb_st_load(argv[1]), *b = a ? nb_st_load(argv[2]) : NULL;
    if (!a || !b) {
        fprintf(stderr, "ckcmp: %s\n", nb_errmsg());
        nb_st_free(a);
        return 2;
    }
    int rc = 0;
    size_t compared = 0;
    double worst = 0;
    const char *worst_name = "-";
    if (nb_st_count(a) != nb_st_count(b)) {
        fprintf(stderr, "ckcmp: %zu tensors vs %zu\n", nb_st_count(a), nb_st_count(b));
        rc = 2;
    }
    for (size_t i = 0; !rc && i < nb_st_count(a); i++) {
        const nb_st_tensor *ta = nb_st_at(a, i), *tb = nb_st_find(b, ta->name);
        if (!tb || tb->dtype != ta->dtype || tb->ndim != ta->ndim) {
            fprintf(stderr, "ckcmp: %s: missing or different in %s\n", ta->name, argv[2]);
            rc = 2;
            break;
        }
        size_t n = 1;
        for (int k = 0; k < ta->ndim; k++) {
            if (ta->shape[k] != tb->shape[k]) rc = 2;
            n *= ta->shape[k];
        }
        if (rc) {
            fprintf(stderr, "ckcmp: %s: shapes differ\n", ta->name);
            break;
        }
        if (ta->dtype != NB_ST_F32 && ta->dtype != NB_ST_F64) continue;
        double maxa = 0, maxd = 0;
        for (size_t j = 0; j < n; j++) {
            double x = at(ta, j), y = at(tb, j);
            if (isnan(x) != isnan(y)) maxd = INFINITY;
            maxa = fmax(maxa, fabs(x));
            maxd = fmax(maxd, fabs(x - y));
        }
        double err = maxa > 0 ? maxd / maxa : maxd;
        if (err > worst || compared == 0) {
            worst = err;
            worst_name = ta->name;
        }
        compared++;
    }
    if (!rc) {
        printf("ckcmp: %zu tensors, worst relative difference %.3g (%s), tolerance %.3g\n", compared, worst, worst_name,
               tol);
        rc = worst <= tol && compared ? 0 : 1;
    }
    nb_st_free(a);
    nb_st_free(b);
    return rc;
}
