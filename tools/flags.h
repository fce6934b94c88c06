/* One flag parser for every command.  A command describes its flags in
 * static tables of nb_flag (name, kind, where the value goes, its range or
 * its valid names) and hands them, each with the struct its offsets point
 * into, to nb_flags_parse:
 *
 *     static const nb_flag my_flags[] = {
 *         NB_FLAG_INT("--steps", my_opts, steps, 2, 10000, "N", "steps (100)"),
 *         NB_FLAG_BOOL("--json", my_opts, json, "JSON on stdout"),
 *     };
 *     my_opts o = {...defaults...};
 *     nb_flag_table t[] = {NB_FLAG_TABLE(my_flags, &o)};
 *     int n_pos, k = nb_flags_parse("cmd", usage, t, 1, argc, argv, &n_pos);
 *     if (k != NB_FLAGS_OK) return k == NB_FLAGS_HELP ? 0 : 2;
 *
 * Flags are taken as `--flag VALUE` or `--flag=VALUE`; -h/--help prints the
 * usage; `--` ends the flags.  Every error names the flag and is printed as
 * "nabla CMD: ..." (nb_cli_usage_error), for exit status 2. */
#ifndef NB_FLAGS_H
#define NB_FLAGS_H

#include <stddef.h>

typedef enum nb_flag_kind {
    NB_FLAG_BOOL,   /* no value: sets an int to 1 */
    NB_FLAG_INT,    /* an integer in [lo, hi], written with its destination's width */
    NB_FLAG_DOUBLE, /* a finite number in [lo, hi] */
    NB_FLAG_STRING, /* a const char * (pointing into argv) */
    NB_FLAG_ENUM,   /* one of choices[]: the index goes into an int */
    NB_FLAG_CUSTOM, /* a value handed to fn */
    NB_FLAG_ACTION, /* no value: fn is called (v NULL) */
    NB_FLAG_TEXT,   /* not a flag: a line of help text (a section heading) */
} nb_flag_kind;

typedef struct nb_flag {
    const char *name; /* "--lr" */
    nb_flag_kind kind;
    size_t off, size;           /* the destination in the table's struct */
    double lo, hi;              /* INT, DOUBLE: the valid range */
    const char *const *choices; /* ENUM: the valid names, NULL-terminated */
    /* When set, a bad value reads "FLAG VALUE: expected EXPECT" instead of
     * the kind's own message. */
    const char *expect;
    /* CUSTOM, ACTION: parse v into base (the table's struct); 0, or 2 with
     * the message printed. */
    int (*fn)(const char *cmd, const char *flag, const char *v, void *base);
    /* For the usage text: "  --lr LR    learning rate (1e-3)"; help NULL:
     * not listed (documented elsewhere).  Lines after a '\n' in help are
     * indented to the help column. */
    const char *arg, *help;
} nb_flag;

/* A table and the struct its offsets point into. */
typedef struct nb_flag_table {
    const nb_flag *flags;
    size_t n;
    void *base;
} nb_flag_table;

#define NB_FLAG_TABLE(flags, base)                          \
    {                                                       \
        (flags), sizeof(flags) / sizeof((flags)[0]), (base) \
    }

#define NB_FLAG__AT(T, m) offsetof(T, m), sizeof(((T *)0)->m)
#define NB_FLAG_BOOL(name, T, m, help)                                            \
    {                                                                             \
        name, NB_FLAG_BOOL, NB_FLAG__AT(T, m), 0, 0, NULL, NULL, NULL, NULL, help \
    }
#define NB_FLAG_INT(name, T, m, lo, hi, arg, help)                                \
    {                                                                             \
        name, NB_FLAG_INT, NB_FLAG__AT(T, m), lo, hi, NULL, NULL, NULL, arg, help \
    }
#define NB_FLAG_DOUBLE(name, T, m, lo, hi, arg, help)                                \
    {                                                                                \
        name, NB_FLAG_DOUBLE, NB_FLAG__AT(T, m), lo, hi, NULL, NULL, NULL, arg, help \
    }
#define NB_FLAG_STRING(name, T, m, arg, help)                                      \
    {                                                                              \
        name, NB_FLAG_STRING, NB_FLAG__AT(T, m), 0, 0, NULL, NULL, NULL, arg, help \
    }
#define NB_FLAG_ENUM(name, T, m, choices, expect, arg, help)                          \
    {                                                                                 \
        name, NB_FLAG_ENUM, NB_FLAG__AT(T, m), 0, 0, choices, expect, NULL, arg, help \
    }
#define NB_FLAG_CUSTOM(name, fn, arg, help)                         \
    {                                                               \
        name, NB_FLAG_CUSTOM, 0, 0, 0, 0, NULL, NULL, fn, arg, help \
    }
#define NB_FLAG_ACTION(name, fn, help)                               \
    {                                                                \
        name, NB_FLAG_ACTION, 0, 0, 0, 0, NULL, NULL, fn, NULL, help \
    }
#define NB_FLAG_TEXT(text)                                           \
    {                                                                \
        NULL, NB_FLAG_TEXT, 0, 0, 0, 0, NULL, NULL, NULL, NULL, text \
    }

enum { NB_FLAGS_OK = 0, NB_FLAGS_HELP = 1, NB_FLAGS_ERROR = 2 };

/* Parse argv[1..argc-1] against the tables (searched in order).  The
 * arguments that are not flags (positionals) are moved, in order, to
 * argv[1..*n_pos].  Returns NB_FLAGS_OK; NB_FLAGS_HELP after printing usage
 * to stdout; NB_FLAGS_ERROR after printing why (an unknown flag, a missing
 * or bad value). */
int nb_flags_parse(const char *cmd, const char *usage, const nb_flag_table *tables, size_t n_tables, int argc,
                   char **argv, int *n_pos);

/* Append the flags' usage lines to the string in buf (of size bytes):
 * "  NAME ARG" padded to width + 2 columns, a space, the help; TEXT entries
 * as they are.  Returns buf. */
char *nb_flags_help(char *buf, size_t size, const nb_flag *flags, size_t n, int width);

/* "nabla CMD: unexpected argument 'A' (see `nabla help CMD`)": for a
 * command that takes no or fewer positionals.  Returns 2. */
int nb_flags_unexpected(const char *cmd, const char *arg);

/* The integer and number checks of INT and DOUBLE flags, for values that
 * arrive some other way; 0, or 2 (printed). */
int nb_flag_long(const char *cmd, const char *flag, const char *v, long lo, long hi, long *out);
int nb_flag_double(const char *cmd, const char *flag, const char *v, double lo, double hi, double *out);

/* "FLAG: unknown WHAT 'V'; did you mean N? (valid: a|b|c)" for a value
 * that is none of names[] (NULL-terminated).  Returns 2. */
int nb_flag_bad_name(const char *cmd, const char *flag, const char *v, const char *const *names, const char *what);

/* The one of names[0..n) (NULL entries skipped) that word[0..len) most likely
 * meant: within edit distance 1 (2 for words over 4 characters), else the
 * only name that starts with it (3 characters at least); NULL if none. */
const char *nb_cli_nearest(const char *word, size_t len, const char *const *names, size_t n);

/* nb_errmsg() without a library function's name in front ("nb_optim SGD:
 * ..."), for messages shown next to the flag that caused them. */
const char *nb_cli_errmsg(void);

#endif
