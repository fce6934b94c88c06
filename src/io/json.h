/* A small strict JSON parser (RFC 8259), written for the safetensors header
 * but not specific to it; nabla/json.h is its public face.
 *
 *   nb__json j;
 *   if (nb__json_parse(&j, text, len, &(nb__json_limits){0}) != 0) { ... j.err, j.err_pos ... }
 *   const nb__jval *root = &j.v[0];
 *   for (uint32_t k = root->first; k != NB__J_NONE; k = j.v[k].next) ... nb__jkey(&j, &j.v[k]) ...
 *   nb__json_free(&j);
 *
 * What it checks: the input is valid UTF-8 (no overlongs, no encoded
 * surrogates, nothing past U+10FFFF); the grammar exactly (no trailing commas,
 * no leading zeros, no comments, no single quotes, nothing but whitespace
 * after the value); string escapes, including \uXXXX and surrogate pairs (a
 * lone surrogate is an error); duplicate keys in any object.  Nesting depth
 * and the number of values are capped, and the parser is iterative, so no
 * input can blow the stack.  Numbers are never converted to double: a
 * non-negative integer is kept as uint64 when it fits, and every other number
 * is only classified.  Errors never print: nb__json_parse fills j->err. */
#ifndef NB_IO_JSON_H
#define NB_IO_JSON_H

#include <stddef.h>
#include <stdint.h>

#define NB__J_NONE UINT32_MAX

typedef enum { NB__J_NULL, NB__J_BOOL, NB__J_NUM, NB__J_STR, NB__J_ARR, NB__J_OBJ } nb__jtype;

/* How a number is written. */
typedef enum {
    NB__JN_UINT,    /* digits only and <= UINT64_MAX: value in u */
    NB__JN_BIGUINT, /* digits only but > UINT64_MAX */
    NB__JN_NEGINT,  /* '-' then digits (including "-0") */
    NB__JN_REAL     /* has a fraction or an exponent */
} nb__jnum;

/* One value.  Offsets are into the input (pos) or into the parser's string
 * buffer (key, str); both fit in 32 bits because inputs are capped. */
typedef struct nb_json_value { /* nabla/json.h's opaque nb_json_value */
    uint8_t type;              /* nb__jtype */
    uint8_t num;               /* nb__jnum, for NB__J_NUM */
    uint8_t boolean;           /* for NB__J_BOOL */
    uint32_t pos;              /* byte offset of the value in the input */
    uint32_t key, key_len;     /* object members: the decoded key (NUL-terminated) */
    uint32_t str, str_len;     /* strings: the decoded text (NUL-terminated; may hold NULs) */
    uint64_t u;                /* NB__JN_UINT numbers */
    uint32_t n;                /* arrays/objects: number of children */
    uint32_t first;            /* first child, or NB__J_NONE */
    uint32_t next;             /* next sibling, or NB__J_NONE */
} nb__jval;

typedef struct nb__json_limits {
    int max_depth;       /* 0 = 64 */
    uint32_t max_values; /* 0 = 1 << 22 */
} nb__json_limits;

typedef struct nb__json {
    nb__jval *v; /* v[0] is the root */
    uint32_t n, cap;
    char *strbuf;   /* decoded strings and keys */
    char err[192];  /* why parsing failed */
    size_t err_pos; /* at which input byte */
} nb__json;

/* Parse text[0..len).  0 on success; -1 with j->err/j->err_pos otherwise
 * (j needs no nb__json_free then, but it is harmless).  len < 2^32 - 1. */
int nb__json_parse(nb__json *j, const char *text, size_t len, const nb__json_limits *lim);
void nb__json_free(nb__json *j);

static inline const char *nb__jkey(const nb__json *j, const nb__jval *v) { return j->strbuf + v->key; }
static inline const char *nb__jstr(const nb__json *j, const nb__jval *v) { return j->strbuf + v->str; }
/* The member of object o with this key, or NULL. */
const nb__jval *nb__json_get(const nb__json *j, const nb__jval *o, const char *key);

/* 0 if s[0..n) is valid UTF-8; else -1 and *bad = offset of the first bad byte. */
int nb__utf8_check(const unsigned char *s, size_t n, size_t *bad);

/* Write a printable, shortened, quoted form of s[0..n) (for error messages):
 * at most ~max bytes of s, control bytes as '?', "..." when cut.  Returns out. */
char *nb__json_quote(char *out, size_t cap, const char *s, size_t n, size_t max);

/* The JSON escape for byte c inside a string, written to e (NUL-terminated):
 * its length, or 0 when c goes as it is.  The one escaping rule of every
 * JSON string nabla writes (nb_json_write_string, the safetensors header). */
size_t nb__json_escape(unsigned char c, char e[8]);

#endif
