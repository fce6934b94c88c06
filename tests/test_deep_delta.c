/* examples/deep_delta: the hand-written δ recursion equals autograd for
 * L = 2, 5 and 20 layers (float64, <= 1e-12), for every activation. */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "t.h"

static int deep_delta(const char *args, char *out, size_t size)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/examples/deep_delta %s 2>&1", t_build_dir(), args);
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(deep_delta, equals_autograd_for_L_2_5_20)
{
    static const char *const acts[] = {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"};
    static const int depths[] = {2, 5, 20};
    char out[4096], args[64];
    for (int d = 0; d < 3; d++)
        for (int a = 0; a < 7; a++) {
            snprintf(args, sizeof args, "%d %s", depths[d], acts[a]);
            int rc = deep_delta(args, out, sizeof out);
            /* the row: L, act, relative difference, |dW1| / |dWL| */
            char *row = strstr(out, acts[a]);
            double e = row ? atof(row + strlen(acts[a])) : NAN;
            CHECK_MSG(rc == 0 && strstr(out, "OK: the δ recursion equals autograd") && e <= 1e-12, "deep_delta %s: %s",
                      args, out);
        }
}

TEST(deep_delta, sigmoid_gradient_vanishes_with_depth)
{
    char out[4096];
    CHECK(deep_delta("", out, sizeof out) == 0);
    /* the default run's table: |dW1| / |dWL| for 20 sigmoid layers */
    const char *row = strstr(out, " 20  sigmoid");
    double ratio = NAN;
    if (row) sscanf(row, " 20 sigmoid %*g %lg", &ratio);
    CHECK_MSG(ratio > 0 && ratio < 1e-6, "%s", out);
    CHECK(deep_delta("0 relu", out, sizeof out) == 2);
    CHECK(deep_delta("3 swish", out, sizeof out) == 2);
}
