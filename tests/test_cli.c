/* The nabla command-line tool, run as a program (build/nabla, or NB_BUILD). */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "t.h"
#include "t_cli.h"

#define cli_run t_cli_run

TEST(cli, version)
{
    char *out;
    CHECK(cli_run("--version", &out) == 0);
    CHECK_MSG(out && strstr(out, NB_VERSION), "output: %s", out ? out : "(none)");
    free(out);
}

TEST(cli, help)
{
    const char *forms[] = {"", "help", "-h", "--help"};
    for (int i = 0; i < 4; i++) {
        char *out;
        CHECK_MSG(cli_run(forms[i], &out) == 0, "nabla %s", forms[i]);
        CHECK_MSG(out && strstr(out, "usage") && strstr(out, "gradcheck"), "nabla %s: %s", forms[i], out ? out : "");
        free(out);
    }
    char *out;
    CHECK(cli_run("help gradcheck", &out) == 0);
    CHECK(out && strstr(out, "--dump-cases"));
    free(out);
    CHECK(cli_run("gradcheck --help", &out) == 0);
    free(out);
    CHECK(cli_run("no-such-command", &out) == 2);
    CHECK(out && strstr(out, "no-such-command"));
    free(out);
}

TEST(cli, gradcheck_all_pass)
{
    char *out;
    int rc = cli_run("gradcheck", &out);
    CHECK_MSG(rc == 0, "exit %d:\n%s", rc, out ? out : "");
    CHECK(out && !strstr(out, "FAIL") && strstr(out, "PASS"));
    /* At least 40 op lines: "<op> <cases> <abs> <rel> PASS". */
    int ops = 0;
    char *save = NULL;
    for (char *l = out ? strtok_r(out, "\n", &save) : NULL; l; l = strtok_r(NULL, "\n", &save)) {
        size_t len = strlen(l);
        if (l[0] != ' ' && len > 6 && !strcmp(l + len - 6, "  PASS")) ops++;
    }
    CHECK_MSG(ops >= 40, "only %d op lines", ops);
    free(out);
}

TEST(cli, gradcheck_one_op)
{
    char *out;
    CHECK(cli_run("gradcheck --op add", &out) == 0);
    CHECK(out && strstr(out, "add.broadcast_row") && !strstr(out, "matmul"));
    free(out);
    CHECK(cli_run("gradcheck --op matmul.trans_a --fast", &out) == 0);
    CHECK(out && strstr(out, "matmul.trans_a") && !strstr(out, "matmul.trans_b"));
    free(out);
}

TEST(cli, gradcheck_json)
{
    char *out;
    CHECK(cli_run("gradcheck --json", &out) == 0);
    int lines = 0, ok = 1;
    for (char *l = out; l && *l;) {
        char *nl = strchr(l, '\n');
        size_t len = nl ? (size_t)(nl - l) : strlen(l);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)(len < 511 ? len : 511), l);
        lines++;
        if (line[0] != '{' || line[len - 1] != '}' || !strstr(line, "\"status\":\"pass\"")) {
            ok = 0;
            t_fail(__FILE__, __LINE__, "json line %d: %s", lines, line);
        }
        if (!strstr(line, "\"summary\"")) {
            CHECK_MSG(strstr(line, "\"op\":\"") && strstr(line, "\"cases\":") && strstr(line, "\"max_abs_err\":") &&
                          strstr(line, "\"max_rel_err\":"),
                      "json line %d lacks a key: %s", lines, line);
        }
        l = nl ? nl + 1 : l + len;
    }
    CHECK(ok && lines >= 41);
    free(out);
    CHECK(cli_run("gradcheck --json --op softmax", &out) == 0);
    CHECK(out && out[0] == '{' && strstr(out, "\"op\":\"softmax\"") && strstr(out, "\"cases\":"));
    free(out);
}

TEST(cli, gradcheck_bad_usage)
{
    char *out;
    CHECK(cli_run("gradcheck --frobnicate", &out) == 2);
    CHECK_MSG(out && strstr(out, "--frobnicate") && !strchr(strchr(out, '\n') ? strchr(out, '\n') + 1 : "", '\n'),
              "message: %s", out ? out : "");
    free(out);
    CHECK(cli_run("gradcheck --op no_such_op", &out) == 2);
    CHECK(out && strstr(out, "no_such_op"));
    free(out);
    CHECK(cli_run("gradcheck --op", &out) == 2);
    free(out);
}

TEST(cli, gradcheck_dump_cases)
{
    char path[256], *out;
    snprintf(path, sizeof path, "%s/test_dump_cases.txt", t_build_dir());
    char args[300];
    snprintf(args, sizeof args, "gradcheck --op cross_entropy --dump-cases %s", path);
    CHECK(cli_run(args, &out) == 0);
    free(out);
    FILE *f = fopen(path, "r");
    CHECK_OK(f);
    if (!f) return;
    char line[4096];
    int cases = 0, header = 0, ends = 0, ups = 0;
    while (fgets(line, sizeof line, f)) {
        header |= !strcmp(line, "nabla-cases 1\n");
        cases += !strncmp(line, "case cross_entropy.", 19);
        ends += !strcmp(line, "end\n");
        ups += !strncmp(line, "upstream ", 9);
    }
    fclose(f);
    remove(path);
    CHECK(header && cases >= 3 && ends == cases && ups == cases);
}

/* --help / -h / `help COMMAND` for every command, `help help` too. */
TEST(cli, help_for_every_command)
{
    const char *cmds[] = {"train",    "eval",      "predict", "report", "lr-find",
                          "diagnose", "gradcheck", "vanish",  "summary"};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *forms[] = {"%s --help", "%s -h", "help %s"};
        for (int k = 0; k < 3; k++) {
            char args[64], *out;
            snprintf(args, sizeof args, forms[k], cmds[i]);
            CHECK_MSG(cli_run(args, &out) == 0, "nabla %s", args);
            CHECK_MSG(out && strstr(out, "usage: nabla") && strstr(out, cmds[i]), "nabla %s: %s", args, out ? out : "");
            free(out);
        }
    }
    const char *meta[] = {"help help", "help --help", "help version", "version --help"};
    for (int k = 0; k < 4; k++) {
        char *out;
        CHECK_MSG(cli_run(meta[k], &out) == 0, "nabla %s", meta[k]);
        CHECK_MSG(out && strstr(out, "usage: nabla"), "nabla %s: %s", meta[k], out ? out : "");
        free(out);
    }
}

/* Runs ARGS, expecting exit status 2 and every one of want[] in the message. */
static void cli_usage_says(const char *args, const char *const *want, int line)
{
    char *out;
    int rc = cli_run(args, &out);
    if (rc != 2) t_fail(__FILE__, line, "nabla %s: exit %d, expected 2 (%s)", args, rc, out ? out : "");
    for (int k = 0; want[k]; k++)
        if (!out || !strstr(out, want[k]))
            t_fail(__FILE__, line, "nabla %s: the message should say \"%s\": %s", args, want[k], out ? out : "");
    if (out && strstr(out, "nb_")) t_fail(__FILE__, line, "nabla %s: a library function's name leaks: %s", args, out);
    free(out);
}
#define SAYS(args, ...) cli_usage_says(args, (const char *const[]){__VA_ARGS__, NULL}, __LINE__)

TEST(cli, did_you_mean)
{
    SAYS("trian", "unknown command 'trian'", "did you mean train?");
    SAYS("help evl", "did you mean eval?");
    SAYS("--verison", "did you mean --version?");
    SAYS("train --epoch 3", "unknown option '--epoch'", "did you mean --epochs?");
    SAYS("train --lr-rate=0.1", "'--lr-rate'");
    SAYS("eval --jsn", "did you mean --json?");
    SAYS("lr-find --hlep", "did you mean --help?");
    SAYS("summary --modle 784-10", "did you mean --model?");
    SAYS("train --frobnicate", "unknown option '--frobnicate' (see `nabla help train`)");
}

TEST(cli, bad_names_list_the_valid_ones)
{
    SAYS("train --act foo", "--act", "'foo'", "relu|leaky_relu|elu|gelu|sigmoid|tanh|softplus");
    SAYS("train --act rleu", "did you mean relu?");
    SAYS("train --init foo", "torch|xavier_uniform|", "|zeros");
    SAYS("train --dtype f16", "f32|f64");
    SAYS("train --opt sgdd", "did you mean sgd?", "sgd|adam|adamw|rmsprop");
    SAYS("train --sched cos", "did you mean cosine?", "none|step|exp|cosine|linear|onecycle");
    SAYS("train --anomaly-policy halt", "stop, skip or continue");
    SAYS("diagnose --act foo", "relu|");
    SAYS("summary --model 784-10 --dtype f16", "f32|f64");
}

/* Flag combinations the library refuses come back in the flags' words. */
TEST(cli, messages_in_the_cli_words)
{
    SAYS("train --opt sgd --nesterov", "--nesterov needs --momentum > 0");
    SAYS("train --momentum 0.9999999", "0.9999999 is out of range");
    SAYS("eval README.md", "README.md: not a safetensors checkpoint");
}

/* With --text, summary reads a description on --seq-len character indices
 * (the text itself is not opened). */
TEST(cli, summary_of_a_text_model)
{
    char *out;
    CHECK(cli_run("summary --model \"embedding(96,8) lstm(16,seq=1) linear(96)\" --text none --seq-len 12", &out) == 0);
    CHECK_MSG(out && strstr(out, "[12, 96]") && strstr(out, "[12, 16]"), "%s", out ? out : "");
    free(out);
    SAYS("summary --model \"embedding(96,8) lstm(16) linear(96)\" --text none --seq-len 12",
         "one row of logits per character");
}

/* --flag=value is the same as --flag value, for every kind of flag. */
TEST(cli, flag_equals_value)
{
    char *out;
    CHECK(cli_run("summary --model=784-32-10 --dtype=f64 --json", &out) == 0);
    CHECK_MSG(out && strstr(out, "float64"), "%s", out ? out : "");
    free(out);
    CHECK(cli_run("gradcheck --op=relu", &out) == 0);
    free(out);
    SAYS("train --lr=abc", "--lr: 'abc' is not a number");
    SAYS("train --epochs=0", "--epochs: 0 is out of range");
    SAYS("train --act=foo", "relu|");
    SAYS("train --json=1", "--json takes no value");
    SAYS("train --lr", "--lr needs a value");
}
