#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int read_fd(int fd, struct buf *b, const char *name, struct err *err)
{
    for (;;) {
        size_t room = b->max - b->len, chunk = room < 65536 ? room : 65536;
        char one, *dst = chunk ? buf_reserve(b, chunk) : &one;
        ssize_t r;
        if (dst == NULL)
            return err_set(err, "%s: out of memory", name);
        r = read(fd, dst, chunk ? chunk : 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return err_set(err, "%s: %s", name, strerror(errno));
        if (r == 0)
            return 0;
        if (chunk == 0)
            return err_set(err, "%s: input larger than %zu bytes", name, b->max);
        buf_commit(b, (size_t)r);
    }
}

int cmd_read_file(const char *path, struct buf *b, struct err *err)
{
    int fd, r;

    if (path == NULL || strcmp(path, "-") == 0)
        return read_fd(0, b, "stdin", err);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    r = read_fd(fd, b, path, err);
    close(fd);
    return r;
}

struct config *cmd_load_config(const char *path, struct err *err)
{
    struct buf b;
    struct config *c = NULL;

    buf_init(&b, 4 << 20);
    if (cmd_read_file(path, &b, err) == 0)
        c = conf_parse(path, b.data ? b.data : "", b.len, err);
    buf_free(&b);
    return c;
}

void cmd_report(const char *what, const struct err *err)
{
    fprintf(stderr, "scrim: %s: %s\n", what, err->set ? err->msg : "unknown error");
}
