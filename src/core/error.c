/* Per-thread error message: the library never prints; callers ask nb_errmsg(). */
#include "../internal.h"

#include <stdio.h>

static _Thread_local char nb__msg[512];

const char *nb_errmsg(void) { return nb__msg; }
void nb_clear_error(void) { nb__msg[0] = '\0'; }
const char *nb_version(void) { return NB_VERSION; }

static void nb__vset(const char *fmt, va_list ap) { vsnprintf(nb__msg, sizeof nb__msg, fmt, ap); }

void *nb__err(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nb__vset(fmt, ap);
    va_end(ap);
    return NULL;
}

int nb__erri(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    nb__vset(fmt, ap);
    va_end(ap);
    return -1;
}

void *nb__null_arg(const char *fn)
{
    /* a NULL input is usually an earlier call's failure: keep its message */
    if (!nb__msg[0]) snprintf(nb__msg, sizeof nb__msg, "%s: NULL argument", fn);
    return NULL;
}
