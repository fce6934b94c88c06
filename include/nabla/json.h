/* JSON for programs built on nabla: the strict reader that checks safetensors
 * headers, and the one string writer behind every JSON line nabla writes.
 *
 *   nb_json *j = nb_json_parse(line, len);
 *   if (!j) { puts(nb_errmsg()); return; }
 *   const nb_json_value *o = nb_json_root(j);
 *   const char *ev = nb_json_string(j, nb_json_get(j, o, "event"));  // NULL if absent or not a string
 *   double loss = nb_json_number(j, nb_json_get(j, o, "loss"));      // NAN if absent or not a number
 *   for (const nb_json_value *v = nb_json_first(j, nb_json_get(j, o, "params")); v; v = nb_json_next(j, v)) ...
 *   nb_json_free(j);
 *
 * The reader accepts exactly RFC 8259: valid UTF-8, no trailing commas or
 * comments, no duplicate keys, at most 64 levels of nesting.  Values are
 * owned by the nb_json and live until nb_json_free.  Every function accepts
 * NULL values (and returns NULL / NAN / 0), so lookups chain. */
#ifndef NABLA_JSON_H
#define NABLA_JSON_H

#include <stddef.h>
#include <stdio.h>

#include "export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { NB_JSON_NULL, NB_JSON_BOOL, NB_JSON_NUMBER, NB_JSON_STRING, NB_JSON_ARRAY, NB_JSON_OBJECT } nb_json_type;

typedef struct nb_json nb_json;             /* a parsed document */
typedef struct nb_json_value nb_json_value; /* one value in it */

/* Parse text[0..len) (a copy is kept).  NULL on a syntax error, with
 * nb_errmsg() saying what and at which byte; free with nb_json_free. */
NB_API nb_json *nb_json_parse(const char *text, size_t len);
NB_API void nb_json_free(nb_json *j); /* NULL is fine */

NB_API const nb_json_value *nb_json_root(const nb_json *j);
NB_API nb_json_type nb_json_type_of(const nb_json_value *v); /* NB_JSON_NULL for NULL */
/* The member of object o named key, or NULL (also when o is not an object). */
NB_API const nb_json_value *nb_json_get(const nb_json *j, const nb_json_value *o, const char *key);
/* The first element of an array or member of an object, and the next one;
 * NULL at the end or when v is not an array/object. */
NB_API const nb_json_value *nb_json_first(const nb_json *j, const nb_json_value *v);
NB_API const nb_json_value *nb_json_next(const nb_json *j, const nb_json_value *v);
/* A string's decoded text (NUL-terminated), else NULL. */
NB_API const char *nb_json_string(const nb_json *j, const nb_json_value *v);
/* A number as strtod reads it, else NAN. */
NB_API double nb_json_number(const nb_json *j, const nb_json_value *v);
/* 1 for true, 0 for false and everything that is not a boolean. */
NB_API int nb_json_bool(const nb_json_value *v);

/* Write s (NULL: "") as a quoted JSON string: '"' and '\\' escaped, \n \t \r
 * as such, other bytes below 0x20 as \u00XX, everything else as it is. */
NB_API void nb_json_write_string(FILE *f, const char *s);
/* Write v as a JSON number with 9 significant digits (enough for a float),
 * or null when v is NaN or infinite (JSON has neither). */
NB_API void nb_json_write_number(FILE *f, double v);
/* Write ,"key":v -- one more member of an object already opened, the number
 * as nb_json_write_number writes it (key is written as it is: no escaping). */
NB_API void nb_json_write_key_number(FILE *f, const char *key, double v);

#ifdef __cplusplus
}
#endif
#endif
