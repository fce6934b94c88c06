/* nabla compare (configurations side by side on one budget), and the
 * gradient-norm limits --vanish-below / --explode-above of train and diagnose. */
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "t_cli.h"

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

TEST(compare, usage_errors)
{
    char *out;
    static const char *const bad[] = {
        "compare",                                             /* nothing varies */
        "compare --batch 16,64 --lr 0.1,0.01 --seed 1,2",      /* three flags vary */
        "compare --opt sgd,adam --lr 0.1,0.01,0.001 --paired", /* unequal lists */
        "compare --seed 1,2,3,4,5,6,7,8,9 --batch 8,16",       /* 18 configurations */
        "compare --batch 16,0",                                /* a bad value */
        "compare --batch 16,64 --sched cosine",                /* no schedules */
        "compare --batch 16,64 --samples 0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = t_cli_run(bad[i], &out);
        CHECK_MSG(rc == 2, "`nabla %s` gave %d: %s", bad[i], rc, out ? out : "");
        free(out);
    }
}

TEST(compare, batch_sizes_same_budget_table_svg_json)
{
    if (!t_have_data()) return;
    char dir[] = "/tmp/nabla-compare-XXXXXX", args[512], path[600], *out;
    CHECK(mkdtemp(dir) != NULL);
    snprintf(args, sizeof args, "compare --batch 16,64 --samples 2000 --limit-train 4000 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    /* the same 2000 samples: 125 steps of 16, 32 steps of 64 (the last one 16) */
    CHECK_MSG(out && strstr(out, "budget 2000 training samples each") && strstr(out, "--batch 16      125") &&
                  strstr(out, "--batch 64       32") && strstr(out, "samples/s"),
              "%s", out ? out : "");
    free(out);
    snprintf(path, sizeof path, "%s/loss.svg", dir);
    FILE *f = fopen(path, "r");
    char *svg = calloc(1, 1 << 20);
    if (f && svg) svg[fread(svg, 1, (1 << 20) - 1, f)] = '\0';
    if (f) fclose(f);
    CHECK_MSG(svg && !strncmp(svg, "<svg", 4) && strstr(svg, "--batch 16") && strstr(svg, "--batch 64"), "%s",
              svg ? svg : "");
    free(svg);
    snprintf(args, sizeof args, "compare --opt sgd,adam --lr 0.1,0.001 --paired --samples 1000 --json --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    CHECK_MSG(out && count(out, "\"event\":\"config\"") == 2 && strstr(out, "\"config\":\"--opt sgd --lr 0.1\"") &&
                  strstr(out, "\"config\":\"--opt adam --lr 0.001\"") && strstr(out, "\"event\":\"done\""),
              "%s", out ? out : "");
    free(out);
    t_rmrf(dir);
}

TEST(compare, thresholds_for_diagnose_and_monitor)
{
    char *out;
    CHECK(t_cli_run("diagnose --vanish-below -1", &out) == 2);
    free(out);
    CHECK(t_cli_run("train --explode-above x", &out) == 2);
    free(out);
    if (!t_have_data()) return;
    CHECK(t_cli_run("diagnose --vanish-below 1e-7 --explode-above 100 --trend-steps 10 --overfit-steps 10 "
                    "--limit-train 500",
                    &out) <= 1);
    CHECK_MSG(out && strstr(out, "(limit 1e-07)") && strstr(out, "(limit 100)"), "%s", out ? out : "");
    free(out);
    /* a gradient above the limit is reported against it (a WARN while
     * clipping bounds each step, a FAIL without clipping) */
    CHECK(t_cli_run("diagnose --explode-above 1 --trend-steps 10 --overfit-steps 10 --limit-train 500", &out) <= 1);
    CHECK_MSG(out && strstr(out, "WARN  grad_exploding") && strstr(out, "(limit 1)"), "%s", out ? out : "");
    free(out);
    CHECK(t_cli_run("diagnose --explode-above 1 --clip-norm 0 --trend-steps 10 --overfit-steps 10 --limit-train 500",
                    &out) == 1);
    CHECK_MSG(out && strstr(out, "FAIL  grad_exploding"), "%s", out ? out : "");
    free(out);
    char dir[] = "/tmp/nabla-thresh-XXXXXX", args[512];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(args, sizeof args, "train --max-steps 2 --monitor 1 --explode-above 2 --vanish-below 0.1 --out %s", dir);
    CHECK(t_cli_run(args, &out) == 0);
    CHECK_MSG(out && strstr(out, "exploding gradient: global gradient norm 2.7 > 2") && strstr(out, "< 0.1"), "%s",
              out ? out : "");
    free(out);
    t_rmrf(dir);
}
