/* nabla: the command-line tool.  main, the subcommand table and help; every
 * command lives in its own tools/cmd_*.c (see tools/cli.h).  This program and
 * its commands are the only code of the project that prints and exits. */
#include "cli.h"
#include "flags.h"

#include <stdarg.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "nabla/nabla.h"

static const nb_cli_cmd *const nb_cli_cmds[] = {
    &nb_cmd_train,     &nb_cmd_eval,   &nb_cmd_predict, &nb_cmd_report,  &nb_cmd_lrfind, &nb_cmd_diagnose,
    &nb_cmd_gradcheck, &nb_cmd_vanish, &nb_cmd_summary, &nb_cmd_compare, &nb_cmd_graph,  &nb_cmd_sample,
};
#define NB_CLI_NCMDS (sizeof nb_cli_cmds / sizeof nb_cli_cmds[0])

int nb_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "nabla%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

static const nb_cli_cmd *nb_cli_find(const char *name)
{
    for (size_t i = 0; i < NB_CLI_NCMDS; i++)
        if (strcmp(nb_cli_cmds[i]->name, name) == 0) return nb_cli_cmds[i];
    return NULL;
}

/* "unknown command 'X'", with the command X most likely meant. */
static int nb_cli_unknown(const char *name)
{
    const char *names[NB_CLI_NCMDS + 2];
    for (size_t i = 0; i < NB_CLI_NCMDS; i++) names[i] = nb_cli_cmds[i]->name;
    names[NB_CLI_NCMDS] = "help";
    names[NB_CLI_NCMDS + 1] = "version";
    const char *near = nb_cli_nearest(name, strlen(name), names, NB_CLI_NCMDS + 2);
    if (near) return nb_cli_usage_error(NULL, "unknown command '%s'; did you mean %s? (see `nabla help`)", name, near);
    return nb_cli_usage_error(NULL, "unknown command '%s' (see `nabla help`)", name);
}

static const char nb_cli_help_usage[] = "usage: nabla help [COMMAND]\n"
                                        "\n"
                                        "Lists the commands, or prints COMMAND's usage (the same as\n"
                                        "`nabla COMMAND --help`).\n";
static const char nb_cli_version_usage[] = "usage: nabla --version\n"
                                           "       nabla version\n"
                                           "\n"
                                           "Prints the version of nabla.\n";

static void nb_cli_help(FILE *f)
{
    fprintf(f,
            "nabla %s: tensors and reverse-mode autograd in C11\n"
            "\n"
            "usage: nabla COMMAND [ARGS...]\n"
            "       nabla help [COMMAND]     this text, or a command's usage\n"
            "       nabla --version          print the version\n"
            "\n"
            "commands:\n",
            NB_VERSION);
    for (size_t i = 0; i < NB_CLI_NCMDS; i++) fprintf(f, "  %-12s %s\n", nb_cli_cmds[i]->name, nb_cli_cmds[i]->summary);
    fprintf(f, "\nRun `nabla help COMMAND` (or `nabla COMMAND --help`) for a command's options.\n"
               "Options take their value as `--lr 0.01` or `--lr=0.01`.\n");
}

/* OpenBLAS (when linked) starts its thread pool as it is loaded, before
 * main; under an address-space or data limit (ulimit -v/-d) a worker that
 * cannot get its buffer retries for ever, and exit waits for it.  nabla runs
 * OpenBLAS single-threaded anyway (src/kernels/gemm.h), so under such a
 * limit, unless OPENBLAS_NUM_THREADS is set, the program runs itself again
 * with it set to 1, before anything else happens.  If that fails, it goes on. */
static void nb__blas_threads_under_limit(char **argv)
{
    struct rlimit as, data;
    if (getenv("OPENBLAS_NUM_THREADS")) return;
    if ((getrlimit(RLIMIT_AS, &as) || as.rlim_cur == RLIM_INFINITY) &&
        (getrlimit(RLIMIT_DATA, &data) || data.rlim_cur == RLIM_INFINITY))
        return;
    if (setenv("OPENBLAS_NUM_THREADS", "1", 1) == 0) execv("/proc/self/exe", argv);
}

int main(int argc, char **argv)
{
    nb__blas_threads_under_limit(argv);
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        nb_cli_help(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        if (argc > 2 && (!strcmp(argv[2], "-h") || !strcmp(argv[2], "--help"))) {
            fputs(nb_cli_version_usage, stdout);
            return 0;
        }
        if (argc > 2) return nb_flags_unexpected("version", argv[2]);
        printf("nabla %s\n", nb_version());
        return 0;
    }
    if (!strcmp(argv[1], "help")) {
        if (argc < 3) {
            nb_cli_help(stdout);
            return 0;
        }
        if (argc > 3) return nb_flags_unexpected("help", argv[3]);
        const char *name = argv[2];
        if (!strcmp(name, "help") || !strcmp(name, "-h") || !strcmp(name, "--help")) {
            fputs(nb_cli_help_usage, stdout);
            return 0;
        }
        if (!strcmp(name, "version") || !strcmp(name, "--version")) {
            fputs(nb_cli_version_usage, stdout);
            return 0;
        }
        const nb_cli_cmd *cmd = nb_cli_find(name);
        if (!cmd) return nb_cli_unknown(name);
        fputs(cmd->usage, stdout);
        return 0;
    }
    if (argv[1][0] == '-') {
        const char *names[] = {"--help", "--version"};
        const char *near = nb_cli_nearest(argv[1], strlen(argv[1]), names, 2);
        if (near)
            return nb_cli_usage_error(NULL, "unknown option '%s'; did you mean %s? (see `nabla help`)", argv[1], near);
        return nb_cli_usage_error(NULL, "unknown option '%s' (see `nabla help`)", argv[1]);
    }
    const nb_cli_cmd *cmd = nb_cli_find(argv[1]);
    if (!cmd) return nb_cli_unknown(argv[1]);
    if (nb_check_env()) return nb_cli_usage_error(argv[1], "%s", nb_errmsg());
    /* past a file-size limit (ulimit -f) a write fails with EFBIG and the
     * command says so, rather than the process dying without a word */
    signal(SIGXFSZ, SIG_IGN);
    return cmd->run(argc - 1, argv + 1);
}
