/* The guides' transcripts (docs/guide.md, docs/guide.ko.md) must show what
 * the commands print today: scripts/guide.c runs every fast block and
 * compares.  A deliberately edited number must be caught (negative control),
 * and the matching rules (tolerance, "...", times) are pinned here. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "t_cli.h"

/* Run `BUILD/guide ARGS` (from the repository root); exit status and output. */
static int guide_run(const char *args, char **out)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s/guide --build %s %s 2>&1", t_build_dir(), t_build_dir(), args);
    *out = NULL;
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    char *buf = calloc(1, 1 << 20);
    size_t len = buf ? fread(buf, 1, (1 << 20) - 1, p) : 0;
    if (buf) buf[len] = '\0';
    int st = pclose(p);
    *out = buf;
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 20);
    size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf) buf[n] = '\0';
    return buf;
}

static int spit(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int bad = fputs(s, f) < 0;
    return (fclose(f) || bad) ? -1 : 0;
}

TEST(guide, fast_transcripts_match)
{
    char *out;
    int rc = guide_run("--fast docs/guide.md docs/guide.ko.md", &out);
    CHECK_MSG(rc == 0 && out && strstr(out, " 0 differ"),
              "guide check failed (rc %d); `make guide` rewrites the "
              "outputs, then review the diff:\n%s",
              rc, out ? out : "");
    const char *last = out ? strstr(out, "guide: ") : NULL;
    if (last) printf("  %s", last);
    free(out);
}

/* Copy guide, replace `from` by `to` in it, check the copy on the blocks that
 * `match` selects; the exit status. */
static int edited_copy(const char *guide, const char *from, const char *to, const char *match, char **out)
{
    char *src = slurp(guide);
    char *hit = src ? strstr(src, from) : NULL;
    CHECK_MSG(hit, "%s no longer quotes '%s'", guide, from);
    if (!hit) {
        free(src);
        *out = NULL;
        return -1;
    }
    size_t n = strlen(src) + strlen(to) + 1;
    char *ed = malloc(n);
    snprintf(ed, n, "%.*s%s%s", (int)(hit - src), src, to, hit + strlen(from));
    char path[] = "/tmp/nabla-guide-copy-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK(spit(path, ed) == 0);
    char args[512];
    snprintf(args, sizeof args, "--fast --match %s %s", match, path);
    int rc = guide_run(args, out);
    unlink(path);
    free(src);
    free(ed);
    return rc;
}

TEST(guide, edited_number_is_caught)
{
    static const char *const guides[] = {"docs/guide.md", "docs/guide.ko.md"};
    for (int g = 0; g < (int)(sizeof guides / sizeof *guides); g++) {
        char *out;
        /* positive control: the unedited copy passes */
        int rc = edited_copy(guides[g], "y     = 0.5", "y     = 0.5", "sum_wx", &out);
        CHECK_MSG(rc == 0 && out && strstr(out, "1 ok"), "%s: %s", guides[g], out ? out : "");
        free(out);
        /* negative control: one quoted number edited */
        rc = edited_copy(guides[g], "y     = 0.5", "y     = 0.6", "sum_wx", &out);
        CHECK_MSG(rc == 1 && out && strstr(out, "DIFFERS") && strstr(out, "y     = 0.6"), "%s: %s", guides[g],
                  out ? out : "");
        free(out);
        rc = edited_copy(guides[g], "loss = 3.774601", "loss = 3.774602", "two_layer", &out);
        CHECK_MSG(rc == 1 && out && strstr(out, "DIFFERS"), "%s: %s", guides[g], out ? out : "");
        free(out);
    }
}

/* The matching rules on a small synthetic guide. */
static const char synthetic[] = "# t\n"
                                "<!-- nabla: tol=0.01 -->\n"
                                "```\n"
                                "$ printf 'loss %s\\n' 1.004\n"
                                "loss 1.000\n"
                                "```\n"
                                "```\n"
                                "$ printf 'a 1\\nb 2\\nc 3\\nd 4\\nrun took 9.9s, 1234 samples/s\\n'\n"
                                "a 1\n"
                                "...\n"
                                "d 4\n"
                                "run took 0.1s, 5 samples/s\n"
                                "```\n"
                                "<!-- nabla: slow -->\n"
                                "```\n"
                                "$ false\n"
                                "never run\n"
                                "```\n";

TEST(guide, rules_tolerance_ellipsis_times_write)
{
    char path[] = "/tmp/nabla-guide-rules-XXXXXX", args[256], *out;
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    CHECK(spit(path, synthetic) == 0);
    snprintf(args, sizeof args, "--fast %s", path);
    int rc = guide_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "2 ok, 0 differ, 1 skipped"), "%s", out ? out : "");
    free(out);

    /* beyond the tolerance */
    char *ed = strdup(synthetic);
    memcpy(strstr(ed, "loss 1.000"), "loss 1.100", 10);
    CHECK(spit(path, ed) == 0);
    rc = guide_run(args, &out);
    CHECK_MSG(rc == 1 && out && strstr(out, "1 ok, 1 differ"), "%s", out ? out : "");
    free(out);

    /* --write puts the printed output in, keeping the "..." */
    snprintf(args, sizeof args, "--fast --write %s", path);
    rc = guide_run(args, &out);
    CHECK_MSG(rc == 0 && out && strstr(out, "1 rewritten"), "%s", out ? out : "");
    free(out);
    char *now = slurp(path);
    CHECK_MSG(now && strstr(now, "loss 1.004\n") && strstr(now, "a 1\n...\nd 4\n") &&
                  strstr(now, "run took 0.1s, 5 samples/s") && strstr(now, "never run"),
              "%s", now ? now : "");
    free(now);
    free(ed);
    unlink(path);
}
