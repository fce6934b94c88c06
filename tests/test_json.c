/* The public JSON API (nabla/json.h): the string writer every JSON line of
 * nabla goes through, and the strict reader `nabla report` reads with. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nabla/json.h"
#include "t.h"

/* What nb_json_write_string writes for s, in buf. */
static const char *t_written(const char *s, char *buf, size_t size)
{
    FILE *f = tmpfile();
    if (!f) return "";
    nb_json_write_string(f, s);
    rewind(f);
    size_t n = fread(buf, 1, size - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

TEST(json, write_string_escapes)
{
    char b[128];
    CHECK(!strcmp(t_written("plain", b, sizeof b), "\"plain\""));
    CHECK(!strcmp(t_written(NULL, b, sizeof b), "\"\""));
    CHECK(!strcmp(t_written("a\"b\\c", b, sizeof b), "\"a\\\"b\\\\c\""));
    CHECK(!strcmp(t_written("l1\nl2\tx\r", b, sizeof b), "\"l1\\nl2\\tx\\r\""));
    CHECK(!strcmp(t_written("\x01\x1f", b, sizeof b), "\"\\u0001\\u001f\""));
    CHECK(!strcmp(t_written("caf\xc3\xa9", b, sizeof b), "\"caf\xc3\xa9\"")); /* UTF-8 as it is */
}

TEST(json, write_number_nine_digits_or_null)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    double v[] = {0.1, -1.5e-3, 123456789012.0, NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        nb_json_write_number(f, v[i]);
        fputc(' ', f);
    }
    rewind(f);
    char b[128];
    size_t n = fread(b, 1, sizeof b - 1, f);
    b[n] = '\0';
    fclose(f);
    CHECK_MSG(!strcmp(b, "0.1 -0.0015 1.23456789e+11 null null null "), "%s", b);
}

TEST(json, write_key_number_is_one_more_member)
{
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    fputs("{\"a\":1", f);
    nb_json_write_key_number(f, "loss", 0.25);
    nb_json_write_key_number(f, "ratio", NAN);
    fputc('}', f);
    rewind(f);
    char b[128];
    size_t n = fread(b, 1, sizeof b - 1, f);
    b[n] = '\0';
    fclose(f);
    CHECK_MSG(!strcmp(b, "{\"a\":1,\"loss\":0.25,\"ratio\":null}"), "%s", b);
}

TEST(json, written_strings_read_back)
{
    const char *s = "x\"\\\n\t\r\x02y";
    char b[128], doc[160];
    snprintf(doc, sizeof doc, "{\"k\":%s}", t_written(s, b, sizeof b));
    nb_json *j = nb_json_parse(doc, strlen(doc));
    CHECK_OK(j);
    CHECK(j && !strcmp(nb_json_string(j, nb_json_get(j, nb_json_root(j), "k")), s));
    nb_json_free(j);
}

TEST(json, reader)
{
    const char *doc = "{\"event\":\"log\",\"step\":12,\"loss\":-1.5e-3,\"ok\":true,\"none\":null,"
                      "\"params\":[{\"name\":\"a\"},{\"name\":\"b\"}]} ";
    nb_json *j = nb_json_parse(doc, strlen(doc));
    CHECK_OK(j);
    if (!j) return;
    const nb_json_value *o = nb_json_root(j);
    CHECK(nb_json_type_of(o) == NB_JSON_OBJECT);
    CHECK(!strcmp(nb_json_string(j, nb_json_get(j, o, "event")), "log"));
    CHECK(nb_json_number(j, nb_json_get(j, o, "step")) == 12);
    CHECK(nb_json_number(j, nb_json_get(j, o, "loss")) == -1.5e-3);
    CHECK(isnan(nb_json_number(j, nb_json_get(j, o, "event")))); /* not a number */
    CHECK(nb_json_bool(nb_json_get(j, o, "ok")) == 1 && nb_json_bool(nb_json_get(j, o, "none")) == 0);
    CHECK(nb_json_type_of(nb_json_get(j, o, "none")) == NB_JSON_NULL && !nb_json_get(j, o, "missing"));
    const nb_json_value *ps = nb_json_get(j, o, "params");
    CHECK(nb_json_type_of(ps) == NB_JSON_ARRAY);
    char names[8] = "";
    for (const nb_json_value *p = nb_json_first(j, ps); p; p = nb_json_next(j, p))
        strncat(names, nb_json_string(j, nb_json_get(j, p, "name")), 1);
    CHECK(!strcmp(names, "ab"));
    /* NULL chains */
    CHECK(!nb_json_get(j, NULL, "x") && !nb_json_first(j, NULL) && !nb_json_string(j, NULL));
    CHECK(!nb_json_first(j, nb_json_get(j, o, "step")));
    nb_json_free(j);
    nb_json_free(NULL);
}

TEST(json, reader_rejects_bad_input)
{
    const char *bad[] = {"{\"a\":1,}", "{\"a\":1,\"a\":2}", "[1 2]", "\"\xff\"", "{\"a\":01}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        nb_clear_error();
        nb_json *j = nb_json_parse(bad[i], strlen(bad[i]));
        CHECK_MSG(!j && strstr(nb_errmsg(), "json: "), "case %zu: %s", i, nb_errmsg());
        nb_json_free(j);
    }
    CHECK(!nb_json_parse(NULL, 0));
}
