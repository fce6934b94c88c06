/* Text for character-level models: the alphabet, files and folders (binary
 * and linked files skipped), the validation split and the windows. */
#include "t.h"

#include "nabla/data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void t_put(const char *dir, const char *name, const void *buf, size_t n)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    if (!f) return;
    fwrite(buf, 1, n, f);
    fclose(f);
}

TEST(text, alphabet_round_trip)
{
    for (int b = 32; b <= 126; b++) CHECK(nb_text_decode(nb_text_encode(b)) == b);
    CHECK(nb_text_encode('\n') == 0 && nb_text_decode(0) == '\n');
    CHECK(nb_text_encode('\t') == nb_text_encode(' '));
    CHECK(nb_text_encode(0xC3) == nb_text_encode('?') && nb_text_encode(7) == nb_text_encode('?'));
    for (int b = 0; b < 256; b++) CHECK(nb_text_encode(b) >= 0 && nb_text_encode(b) < NB_TEXT_VOCAB);
    CHECK(nb_text_decode(NB_TEXT_VOCAB) == '?' && nb_text_decode(-1) == '?');
}

TEST(text, folder_reads_text_files_by_name_only)
{
    char dir[] = "/tmp/nabla_text_XXXXXX";
    CHECK_OK(mkdtemp(dir));
    t_put(dir, "b", "world\n", 6);
    t_put(dir, "a", "hello\t", 6);
    t_put(dir, "a.dat", "\0\0\1\2", 4); /* binary: skipped */
    t_put(dir, ".hidden", "zzz", 3);
    char a[256], link[256], sub[256];
    snprintf(a, sizeof a, "%s/a", dir);
    snprintf(link, sizeof link, "%s/a.u8", dir); /* fortune's links: skipped, no double count */
    CHECK_OK(symlink(a, link) == 0);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    CHECK_OK(mkdir(sub, 0700) == 0);
    const char *paths[] = {dir};
    nb_text *t = nb_text_load(paths, 1, 0);
    CHECK_OK(t);
    char s[32] = {0};
    for (size_t i = 0; i < t->n && i < 31; i++) s[i] = (char)nb_text_decode(t->ids[i]);
    CHECK(t->n == 12 && !strcmp(s, "hello world\n") && t->n_files == 2);
    nb_text_free(t);

    /* a binary file named explicitly is refused, naming it */
    char bin[256];
    snprintf(bin, sizeof bin, "%s/a.dat", dir);
    const char *pb[] = {a, bin};
    CHECK(nb_text_load(pb, 2, 0) == NULL && strstr(nb_errmsg(), "a.dat") && strstr(nb_errmsg(), "NUL"));
    CHECK(nb_text_load(pb, 1, 3) == NULL && strstr(nb_errmsg(), "limit"));
    const char *pm[] = {"/nonexistent/x"};
    CHECK(nb_text_load(pm, 1, 0) == NULL && strstr(nb_errmsg(), "/nonexistent/x"));
    const char *pe[] = {sub};
    CHECK(nb_text_load(pe, 1, 0) == NULL && strstr(nb_errmsg(), "no text files"));
    CHECK(nb_text_load(NULL, 0, 0) == NULL);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

TEST(text, split_and_windows)
{
    size_t n = 20 * NB_TEXT_CHUNK + 100;
    uint8_t *ids = malloc(n);
    CHECK_OK(ids);
    for (size_t i = 0; i < n; i++) ids[i] = (uint8_t)((i / NB_TEXT_CHUNK) % NB_TEXT_VOCAB);
    nb_text *t = nb_text_from_ids(ids, n), *tr = NULL, *va = NULL;
    CHECK_OK(t && nb_text_split(t, &tr, &va) == 0);
    CHECK(va->n == NB_TEXT_CHUNK && tr->n == n - NB_TEXT_CHUNK);
    CHECK(va->ids[0] == 19 && va->ids[NB_TEXT_CHUNK - 1] == 19); /* the 20th chunk */
    CHECK(tr->ids[19 * NB_TEXT_CHUNK] == 20);                    /* then the 21st */

    nb_dataset *w = nb_text_windows(va, 100, "val");
    CHECK_OK(w);
    CHECK(w->n == (NB_TEXT_CHUNK - 1) / 100 && w->d == 101 && w->n_classes == NB_TEXT_VOCAB);
    CHECK(w->mean == 0 && w->std == 1 && nb_dataset_validate(w) == 0);
    CHECK(w->x8[101] == va->ids[100] && w->y[0] == va->ids[100]); /* windows overlap by one id */
    nb_dataset_free(w);
    CHECK(nb_text_windows(va, NB_TEXT_CHUNK, "val") == NULL && strstr(nb_errmsg(), "val"));

    nb_text *small = nb_text_from_ids(ids, 100), *a = NULL, *b = NULL;
    CHECK(nb_text_split(small, &a, &b) != 0 && strstr(nb_errmsg(), "too few") && !a && !b);
    ids[5] = NB_TEXT_VOCAB;
    CHECK(nb_text_from_ids(ids, 10) == NULL && strstr(nb_errmsg(), "outside"));
    nb_text_free(small);
    nb_text_free(t);
    nb_text_free(tr);
    nb_text_free(va);
    free(ids);
}

TEST(text, fortunes_real)
{
    struct stat st;
    if (stat("/usr/share/games/fortunes", &st) != 0) {
        T_SKIP_UNLESS_REQUIRED("NB_REQUIRE_FORTUNES", "Debian's fortunes is not installed");
        return;
    }
    const char *p[] = {"/usr/share/games/fortunes"};
    nb_text *t = nb_text_load(p, 1, 0), *tr = NULL, *va = NULL;
    CHECK_OK(t);
    CHECK(t->n > 1000000 && t->n_files >= 10);
    CHECK_OK(nb_text_split(t, &tr, &va) == 0);
    CHECK(va->n * 25 > t->n && va->n * 15 < t->n); /* about 1/20 */
    nb_text_free(t);
    nb_text_free(tr);
    nb_text_free(va);
}
