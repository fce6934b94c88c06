/* Strict, iterative JSON parser; see json.h for what it checks.  Also the
 * public face of it (nabla/json.h) and the one JSON string writer. */
#include "../internal.h"
#include "json.h"
#include "nabla/json.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NB__J_DEPTH_CAP 256

/* ------------------------------------------------------------------ UTF-8 */
int nb__utf8_check(const unsigned char *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c == 0xE0) {
            len = 3;
            lo = 0xA0;
        } /* no overlongs */
        else if (c == 0xED) {
            len = 3;
            hi = 0x9F;
        } /* no surrogates */
        else if (c >= 0xE1 && c <= 0xEF)
            len = 3;
        else if (c == 0xF0) {
            len = 4;
            lo = 0x90;
        } /* no overlongs */
        else if (c >= 0xF1 && c <= 0xF3)
            len = 4;
        else if (c == 0xF4) {
            len = 4;
            hi = 0x8F;
        } /* <= U+10FFFF */
        else {
            *bad = i;
            return -1;
        } /* 80..C1, F5..FF */
        if (n - i < len || s[i + 1] < lo || s[i + 1] > hi) {
            *bad = i;
            return -1;
        }
        for (size_t k = 2; k < len; k++)
            if ((s[i + k] & 0xC0) != 0x80) {
                *bad = i;
                return -1;
            }
        i += len;
    }
    return 0;
}

char *nb__json_quote(char *out, size_t cap, const char *s, size_t n, size_t max)
{
    if (cap < 8) {
        if (cap) out[0] = '\0';
        return out;
    }
    if (max > cap - 6) max = cap - 6; /* quotes, "...", NUL */
    size_t take = n, o = 0;
    int cut = 0;
    if (take > max) {
        take = max;
        while (take > 0 && ((unsigned char)s[take] & 0xC0) == 0x80) take--; /* whole characters */
        cut = 1;
    }
    size_t bad;
    int ascii_only = nb__utf8_check((const unsigned char *)s, take, &bad) != 0; /* never echo bad UTF-8 */
    out[o++] = '\'';
    for (size_t i = 0; i < take; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c < 0x20 || c == 0x7F || (ascii_only && c >= 0x80)) ? '?' : (char)c;
    }
    if (cut) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '\'';
    out[o] = '\0';
    return out;
}

/* ----------------------------------------------------------------- parser */
typedef struct {
    const unsigned char *t;
    size_t len, p;
    nb__json *j;
    uint32_t max_values;
    struct nb__jkeyref {
        const char *s;
        uint32_t len, pos;
    } * keys; /* duplicate-key scratch */
    size_t keys_cap;
} nb__jp;

static int nb__jfail(nb__jp *P, size_t pos, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int nb__jfail(nb__jp *P, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(P->j->err, sizeof P->j->err, fmt, ap);
    va_end(ap);
    P->j->err_pos = pos;
    return -1;
}

static void nb__jws(nb__jp *P)
{
    while (P->p < P->len) {
        unsigned char c = P->t[P->p];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        P->p++;
    }
}

/* A new value at input position pos; returns its index or NB__J_NONE. */
static uint32_t nb__jnew(nb__jp *P, nb__jtype type, size_t pos)
{
    nb__json *j = P->j;
    if (j->n >= P->max_values) {
        nb__jfail(P, pos, "more than %lu values", (unsigned long)P->max_values);
        return NB__J_NONE;
    }
    if (j->n == j->cap) {
        uint32_t cap = j->cap ? (j->cap > P->max_values / 2 ? P->max_values : j->cap * 2) : 64;
        nb__jval *v = realloc(j->v, (size_t)cap * sizeof *v);
        if (!v) {
            nb__jfail(P, pos, "out of memory");
            return NB__J_NONE;
        }
        j->v = v;
        j->cap = cap;
    }
    nb__jval *v = &j->v[j->n];
    memset(v, 0, sizeof *v);
    v->type = (uint8_t)type;
    v->pos = (uint32_t)pos;
    v->first = v->next = NB__J_NONE;
    return j->n++;
}

static int nb__jhex4(const unsigned char *s, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = s[i], d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

/* A string starting at the '"' at P->p.  The decoded text goes into strbuf at
 * the same offset as the opening quote: decoding never lengthens, so strings
 * never overlap and the closing quote's slot holds the NUL. */
static int nb__jstring(nb__jp *P, uint32_t *off, uint32_t *slen)
{
    size_t start = P->p;
    char *o = P->j->strbuf + start, *o0 = o;
    P->p++;
    for (;;) {
        if (P->p >= P->len) return nb__jfail(P, start, "unterminated string");
        unsigned char c = P->t[P->p];
        if (c == '"') {
            P->p++;
            break;
        }
        if (c < 0x20) return nb__jfail(P, P->p, "control character 0x%02x in a string (must be escaped)", c);
        if (c != '\\') {
            *o++ = (char)c;
            P->p++;
            continue;
        }
        if (P->p + 1 >= P->len) return nb__jfail(P, start, "unterminated string");
        unsigned char e = P->t[P->p + 1];
        P->p += 2;
        switch (e) {
        case '"': *o++ = '"'; continue;
        case '\\': *o++ = '\\'; continue;
        case '/': *o++ = '/'; continue;
        case 'b': *o++ = '\b'; continue;
        case 'f': *o++ = '\f'; continue;
        case 'n': *o++ = '\n'; continue;
        case 'r': *o++ = '\r'; continue;
        case 't': *o++ = '\t'; continue;
        case 'u': break;
        default: return nb__jfail(P, P->p - 2, "invalid escape '\\%c'", e >= 0x20 && e < 0x7F ? e : '?');
        }
        size_t esc = P->p - 2;
        unsigned cp, lo;
        if (P->len - P->p < 4 || nb__jhex4(P->t + P->p, &cp) != 0)
            return nb__jfail(P, esc, "\\u needs four hex digits");
        P->p += 4;
        if (cp >= 0xDC00 && cp <= 0xDFFF) return nb__jfail(P, esc, "lone low surrogate \\u%04x", cp);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (P->len - P->p < 6 || P->t[P->p] != '\\' || P->t[P->p + 1] != 'u' ||
                nb__jhex4(P->t + P->p + 2, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF)
                return nb__jfail(P, esc, "high surrogate \\u%04x not followed by a low surrogate", cp);
            P->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (cp < 0x80) *o++ = (char)cp;
        else if (cp < 0x800) {
            *o++ = (char)(0xC0 | cp >> 6);
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *o++ = (char)(0xE0 | cp >> 12);
            *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        } else {
            *o++ = (char)(0xF0 | cp >> 18);
            *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
            *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
            *o++ = (char)(0x80 | (cp & 0x3F));
        }
    }
    *o = '\0';
    *off = (uint32_t)start;
    *slen = (uint32_t)(o - o0);
    return 0;
}

static int nb__jdigit(nb__jp *P) { return P->p < P->len && P->t[P->p] >= '0' && P->t[P->p] <= '9'; }

static int nb__jnumber(nb__jp *P, nb__jval *v)
{
    size_t start = P->p;
    int neg = 0, big = 0, real = 0;
    uint64_t u = 0;
    if (P->t[P->p] == '-') {
        neg = 1;
        P->p++;
    }
    if (!nb__jdigit(P)) return nb__jfail(P, start, "invalid number");
    if (P->t[P->p] == '0') {
        P->p++;
        if (nb__jdigit(P)) return nb__jfail(P, start, "number with a leading zero");
    } else {
        while (nb__jdigit(P)) {
            unsigned d = P->t[P->p++] - '0';
            if (u > (UINT64_MAX - d) / 10) big = 1;
            else u = u * 10 + d;
        }
    }
    if (P->p < P->len && P->t[P->p] == '.') {
        P->p++;
        if (!nb__jdigit(P)) return nb__jfail(P, start, "number needs digits after '.'");
        while (nb__jdigit(P)) P->p++;
        real = 1;
    }
    if (P->p < P->len && (P->t[P->p] == 'e' || P->t[P->p] == 'E')) {
        P->p++;
        if (P->p < P->len && (P->t[P->p] == '+' || P->t[P->p] == '-')) P->p++;
        if (!nb__jdigit(P)) return nb__jfail(P, start, "number needs digits in its exponent");
        while (nb__jdigit(P)) P->p++;
        real = 1;
    }
    v->num = real ? NB__JN_REAL : neg ? NB__JN_NEGINT : big ? NB__JN_BIGUINT : NB__JN_UINT;
    v->u = (v->num == NB__JN_UINT) ? u : 0;
    return 0;
}

static int nb__jkeycmp(const void *a, const void *b)
{
    const struct nb__jkeyref *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, n);
    if (c) return c;
    return (x->len > y->len) - (x->len < y->len);
}

/* Reject duplicate keys in object o: sort the keys, compare neighbours. */
static int nb__jdupkeys(nb__jp *P, const nb__jval *o)
{
    if (o->n < 2) return 0;
    if (o->n > P->keys_cap) {
        size_t cap = o->n;
        void *k = realloc(P->keys, cap * sizeof *P->keys);
        if (!k) return nb__jfail(P, o->pos, "out of memory");
        P->keys = k;
        P->keys_cap = cap;
    }
    size_t m = 0;
    for (uint32_t c = o->first; c != NB__J_NONE; c = P->j->v[c].next) {
        const nb__jval *mem = &P->j->v[c];
        P->keys[m++] = (struct nb__jkeyref){P->j->strbuf + mem->key, mem->key_len, mem->pos};
    }
    qsort(P->keys, m, sizeof *P->keys, nb__jkeycmp);
    for (size_t i = 1; i < m; i++)
        if (nb__jkeycmp(&P->keys[i - 1], &P->keys[i]) == 0) {
            char q[96];
            size_t pos = P->keys[i].pos > P->keys[i - 1].pos ? P->keys[i].pos : P->keys[i - 1].pos;
            return nb__jfail(P, pos, "duplicate key %s", nb__json_quote(q, sizeof q, P->keys[i].s, P->keys[i].len, 64));
        }
    return 0;
}

typedef struct {
    uint32_t node, last;
} nb__jframe;

static int nb__jrun(nb__jp *P, int max_depth)
{
    nb__jframe stack[NB__J_DEPTH_CAP];
    int depth = 0;
    uint32_t key = 0, key_len = 0; /* the pending member key */
    nb__json *j = P->j;
    const unsigned char *t = P->t;

    for (;;) {
        /* ---- a value is expected at P->p */
        nb__jws(P);
        if (P->p >= P->len) return nb__jfail(P, P->p, "unexpected end of input (expected a value)");
        unsigned char c = t[P->p];
        nb__jtype type;
        switch (c) {
        case '{': type = NB__J_OBJ; break;
        case '[': type = NB__J_ARR; break;
        case '"': type = NB__J_STR; break;
        case 't':
        case 'f': type = NB__J_BOOL; break;
        case 'n': type = NB__J_NULL; break;
        default:
            if (c == '-' || (c >= '0' && c <= '9')) {
                type = NB__J_NUM;
                break;
            }
            if (c >= 0x20 && c < 0x7F) return nb__jfail(P, P->p, "unexpected '%c' (expected a value)", c);
            return nb__jfail(P, P->p, "unexpected byte 0x%02x (expected a value)", c);
        }
        uint32_t id = nb__jnew(P, type, P->p);
        if (id == NB__J_NONE) return -1;
        if (depth > 0) { /* attach to the open container */
            nb__jframe *f = &stack[depth - 1];
            nb__jval *parent = &j->v[f->node];
            if (parent->type == NB__J_OBJ) {
                j->v[id].key = key;
                j->v[id].key_len = key_len;
            }
            if (f->last == NB__J_NONE) parent->first = id;
            else j->v[f->last].next = id;
            f->last = id;
            if (parent->n == UINT32_MAX) return nb__jfail(P, P->p, "too many members");
            parent->n++;
        }
        nb__jval *v = &j->v[id];
        int opened = 0;
        switch (type) {
        case NB__J_OBJ:
        case NB__J_ARR:
            if (depth >= max_depth) return nb__jfail(P, P->p, "nesting deeper than %d", max_depth);
            stack[depth++] = (nb__jframe){id, NB__J_NONE};
            P->p++;
            opened = 1;
            break;
        case NB__J_STR:
            if (nb__jstring(P, &v->str, &v->str_len) != 0) return -1;
            break;
        case NB__J_NUM:
            if (nb__jnumber(P, v) != 0) return -1;
            break;
        default: {
            const char *lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
            size_t n = strlen(lit);
            if (P->len - P->p < n || memcmp(t + P->p, lit, n) != 0)
                return nb__jfail(P, P->p, "invalid literal (expected %s)", lit);
            v->boolean = c == 't';
            P->p += n;
        }
        }

        /* ---- after '{' / '[' or after a complete value */
        int need_value = 0;
        if (opened) {
            nb__jws(P);
            nb__jval *o = &j->v[stack[depth - 1].node];
            char close = o->type == NB__J_OBJ ? '}' : ']';
            if (P->p < P->len && t[P->p] == close) {
                P->p++;
                depth--;
            } else if (o->type == NB__J_OBJ) {
                goto member_key;
            } else {
                continue; /* the first array element */
            }
        }
        while (!need_value) {
            nb__jws(P);
            if (depth == 0) {
                if (P->p != P->len) return nb__jfail(P, P->p, "trailing characters after the JSON value");
                return 0;
            }
            nb__jval *o = &j->v[stack[depth - 1].node];
            int obj = o->type == NB__J_OBJ;
            if (P->p >= P->len)
                return nb__jfail(P, P->p, "unexpected end of input (expected ',' or '%c')", obj ? '}' : ']');
            c = t[P->p];
            if (c == ',') {
                P->p++;
                if (!obj) {
                    need_value = 1;
                    break;
                }
                goto member_key;
            }
            if (c == (obj ? '}' : ']')) {
                P->p++;
                if (obj && nb__jdupkeys(P, o) != 0) return -1;
                depth--;
                continue;
            }
            return nb__jfail(P, P->p, "expected ',' or '%c'", obj ? '}' : ']');
        }
        continue;

    member_key:
        nb__jws(P);
        if (P->p >= P->len || t[P->p] != '"') return nb__jfail(P, P->p, "expected a string key");
        if (nb__jstring(P, &key, &key_len) != 0) return -1;
        nb__jws(P);
        if (P->p >= P->len || t[P->p] != ':') return nb__jfail(P, P->p, "expected ':' after a key");
        P->p++;
    }
}

int nb__json_parse(nb__json *j, const char *text, size_t len, const nb__json_limits *lim)
{
    memset(j, 0, sizeof *j);
    nb__jp P = {.t = (const unsigned char *)text, .len = len, .j = j};
    int max_depth = lim && lim->max_depth > 0 ? lim->max_depth : 64;
    if (max_depth > NB__J_DEPTH_CAP) max_depth = NB__J_DEPTH_CAP;
    P.max_values = lim && lim->max_values ? lim->max_values : (uint32_t)1 << 22;
    if (P.max_values > UINT32_MAX - 1) P.max_values = UINT32_MAX - 1;
    if (len >= UINT32_MAX) return nb__jfail(&P, 0, "input of %zu bytes is too large", len);
    size_t bad;
    if (nb__utf8_check(P.t, len, &bad) != 0) return nb__jfail(&P, bad, "invalid UTF-8");
    j->strbuf = malloc(len + 1);
    if (!j->strbuf) return nb__jfail(&P, 0, "out of memory");
    j->strbuf[len] = '\0';
    int rc = nb__jrun(&P, max_depth);
    free(P.keys);
    if (rc != 0) {
        char err[sizeof j->err];
        size_t pos = j->err_pos;
        memcpy(err, j->err, sizeof err);
        nb__json_free(j);
        memcpy(j->err, err, sizeof err);
        j->err_pos = pos;
    }
    return rc;
}

void nb__json_free(nb__json *j)
{
    if (!j) return;
    free(j->v);
    free(j->strbuf);
    memset(j, 0, sizeof *j);
}

const nb__jval *nb__json_get(const nb__json *j, const nb__jval *o, const char *key)
{
    if (!o || o->type != NB__J_OBJ) return NULL;
    size_t kl = strlen(key);
    for (uint32_t c = o->first; c != NB__J_NONE; c = j->v[c].next) {
        const nb__jval *m = &j->v[c];
        if (m->key_len == kl && memcmp(j->strbuf + m->key, key, kl) == 0) return m;
    }
    return NULL;
}

/* ------------------------------------------------------------ the writer */
size_t nb__json_escape(unsigned char c, char e[8])
{
    if (c >= 0x20 && c != '"' && c != '\\') return 0;
    e[0] = '\\';
    e[2] = '\0';
    switch (c) {
    case '"':
    case '\\': e[1] = (char)c; return 2;
    case '\n': e[1] = 'n'; return 2;
    case '\t': e[1] = 't'; return 2;
    case '\r': e[1] = 'r'; return 2;
    default: return (size_t)snprintf(e, 8, "\\u%04x", c);
    }
}

void nb_json_write_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char e[8];
        if (nb__json_escape(*p, e)) fputs(e, f);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void nb_json_write_number(FILE *f, double v)
{
    if (isfinite(v)) fprintf(f, "%.9g", v);
    else fputs("null", f);
}

void nb_json_write_key_number(FILE *f, const char *key, double v)
{
    fprintf(f, ",\"%s\":", key);
    nb_json_write_number(f, v);
}

/* ------------------------------------------------------- the public reader */
struct nb_json {
    nb__json j;
    char *text; /* the copy the numbers are read from */
};

_Static_assert(NB__J_NULL == (int)NB_JSON_NULL && NB__J_BOOL == (int)NB_JSON_BOOL && NB__J_NUM == (int)NB_JSON_NUMBER &&
                   NB__J_STR == (int)NB_JSON_STRING && NB__J_ARR == (int)NB_JSON_ARRAY &&
                   NB__J_OBJ == (int)NB_JSON_OBJECT,
               "nabla/json.h's types follow nb__jtype");

nb_json *nb_json_parse(const char *text, size_t len)
{
    if (!text) return nb__err("nb_json_parse: NULL text");
    nb_json *d = calloc(1, sizeof *d);
    if (d) d->text = malloc(len + 1);
    if (!d || !d->text) {
        free(d);
        return nb__err("nb_json_parse: out of memory for %zu bytes", len);
    }
    memcpy(d->text, text, len);
    d->text[len] = '\0';
    if (nb__json_parse(&d->j, d->text, len, NULL) != 0) {
        nb__err("json: %s (at byte %zu)", d->j.err, d->j.err_pos);
        free(d->text);
        free(d);
        return NULL;
    }
    return d;
}

void nb_json_free(nb_json *j)
{
    if (!j) return;
    nb__json_free(&j->j);
    free(j->text);
    free(j);
}

const nb_json_value *nb_json_root(const nb_json *j) { return j ? &j->j.v[0] : NULL; }
nb_json_type nb_json_type_of(const nb_json_value *v) { return v ? (nb_json_type)v->type : NB_JSON_NULL; }

const nb_json_value *nb_json_get(const nb_json *j, const nb_json_value *o, const char *key)
{
    return j && key ? nb__json_get(&j->j, o, key) : NULL;
}

const nb_json_value *nb_json_first(const nb_json *j, const nb_json_value *v)
{
    if (!j || !v || (v->type != NB__J_ARR && v->type != NB__J_OBJ) || v->first == NB__J_NONE) return NULL;
    return &j->j.v[v->first];
}

const nb_json_value *nb_json_next(const nb_json *j, const nb_json_value *v)
{
    return j && v && v->next != NB__J_NONE ? &j->j.v[v->next] : NULL;
}

const char *nb_json_string(const nb_json *j, const nb_json_value *v)
{
    return j && v && v->type == NB__J_STR ? nb__jstr(&j->j, v) : NULL;
}

double nb_json_number(const nb_json *j, const nb_json_value *v)
{
    return j && v && v->type == NB__J_NUM ? strtod(j->text + v->pos, NULL) : NAN;
}

int nb_json_bool(const nb_json_value *v) { return v && v->type == NB__J_BOOL && v->boolean; }
