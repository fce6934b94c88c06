/* Opening input files without blocking: a FIFO, a device or a folder given
 * where a file is expected is refused before anything waits on it. */
#include "../internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int nb__open_regular(const char *path)
{
    /* O_NONBLOCK: opening a FIFO with no writer returns at once */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return nb__erri("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        if (!S_ISREG(st.st_mode)) return nb__erri("%s: not a regular file", path);
        return nb__erri("%s: cannot stat: %s", path, strerror(e));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        close(fd);
        return nb__erri("%s: cannot open: %s", path, strerror(errno));
    }
    return fd;
}

FILE *nb__fopen_regular(const char *path)
{
    int fd = nb__open_regular(path);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        close(fd);
        return nb__err("%s: cannot open: %s", path, strerror(errno));
    }
    return f;
}
