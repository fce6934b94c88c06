/* The nabla command-line tool: one subcommand per file (tools/cmd_NAME.c),
 * dispatched from the table in tools/nabla.c.  A command gets argv with
 * argv[0] = its own name, prints what it has to say, and returns the process
 * exit status: 0 success, 1 the work failed, 2 bad usage.  To add a command,
 * write tools/cmd_NAME.c with an nb_cli_cmd, declare it here and list it in
 * nb_cli_cmds in tools/nabla.c. */
#ifndef NB_CLI_H
#define NB_CLI_H

typedef struct nb_cli_cmd {
    const char *name;
    const char *summary; /* one line for `nabla help` */
    const char *usage;   /* the full text for `nabla help NAME` and `nabla NAME -h` */
    int (*run)(int argc, char **argv);
} nb_cli_cmd;

extern const nb_cli_cmd nb_cmd_gradcheck;
extern const nb_cli_cmd nb_cmd_train;
extern const nb_cli_cmd nb_cmd_eval;
extern const nb_cli_cmd nb_cmd_predict;
extern const nb_cli_cmd nb_cmd_report;
extern const nb_cli_cmd nb_cmd_lrfind;
extern const nb_cli_cmd nb_cmd_diagnose;
extern const nb_cli_cmd nb_cmd_vanish;
extern const nb_cli_cmd nb_cmd_summary;
extern const nb_cli_cmd nb_cmd_compare;
extern const nb_cli_cmd nb_cmd_graph;
extern const nb_cli_cmd nb_cmd_sample;

/* `nabla vanish --time` (tools/cmd_vanish_time.c), which `nabla vanish` hands over to. */
int nb_vanish_time_main(int argc, char **argv);

/* Print "nabla NAME: message" to stderr (a usage error) and return 2. */
int nb_cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
