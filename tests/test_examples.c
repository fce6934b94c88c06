/* The examples in examples/ are programs a user runs; each must succeed. */
#include <string.h>

#include "nabla/data.h"
#include "t.h"
#include "t_cli.h"

static int run_example(const char *name, const char *args, char **out)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/examples/%s %s 2>&1", t_build_dir(), name, args);
    *out = NULL;
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char *buf = calloc(1, 65536);
    size_t len = buf ? fread(buf, 1, 65535, p) : 0;
    if (buf) buf[len] = '\0';
    int st = pclose(p);
    *out = buf;
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(examples, sum_wx)
{
    char *out;
    CHECK(run_example("sum_wx", "", &out) == 0);
    CHECK_MSG(out && strstr(out, "y     = 0.5") && strstr(out, "OK"), "%s", out ? out : "");
    free(out);
}

TEST(examples, two_layer_hand_backward_equals_autograd)
{
    char *out;
    CHECK(run_example("two_layer", "", &out) == 0);
    CHECK_MSG(out && strstr(out, "OK: autograd equals"), "%s", out ? out : "");
    free(out);
}

TEST(examples, custom_function_gradcheck)
{
    char *out;
    CHECK(run_example("custom_function", "", &out) == 0);
    CHECK_MSG(out && strstr(out, "PASS"), "%s", out ? out : "");
    free(out);
}

TEST(examples, train_mlp_learns)
{
    char dir[512], *out;
    if (nb_fashion_mnist_find(NULL, dir, sizeof dir)) {
        T_SKIP("Fashion-MNIST not installed");
        return;
    }
    CHECK(run_example("train_mlp", "1 300", &out) == 0);
    const char *acc = out ? strstr(out, "test accuracy ") : NULL;
    CHECK_MSG(acc && atof(acc + 14) > 0.75, "%s", out ? out : "");
    CHECK(out && strstr(out, "batch 300 loss"));
    free(out);
}
