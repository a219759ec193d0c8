#include "keyfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int keyfile_crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

static int read_all(int fd, uint8_t *buf, size_t max, size_t *len)
{
    size_t n = 0;

    for (;;) {
        ssize_t r = read(fd, buf + n, max - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == max) {
            uint8_t extra;
            if (read(fd, &extra, 1) != 0)
                return -2; /* larger than max */
            break;
        }
    }
    *len = n;
    return 0;
}

static int open_checked(const char *path, int secret, struct err *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, "%s: not a regular file", path);
    }
    if (secret && (st.st_mode & 077) != 0) {
        close(fd);
        return err_set(err, "%s: mode %03o lets others read a secret key; chmod 600 it", path,
                       (unsigned)(st.st_mode & 0777));
    }
    return fd;
}

int keyfile_read_secret(const char *path, size_t max, uint8_t **out, size_t *len, struct err *err)
{
    int fd = open_checked(path, 1, err), r;
    uint8_t *p;

    if (fd < 0)
        return -1;
    p = sodium_malloc(max);
    if (p == NULL) {
        close(fd);
        return err_set(err, "%s: cannot allocate guarded memory", path);
    }
    sodium_mlock(p, max);
    r = read_all(fd, p, max, len);
    close(fd);
    if (r != 0) {
        sodium_free(p);
        return err_set(err, "%s: %s", path, r == -2 ? "larger than a key file" : "read failed");
    }
    *out = p;
    return 0;
}

void keyfile_secret_free(uint8_t *p, size_t len)
{
    (void)len;
    sodium_free(p); /* sodium_free wipes before it frees */
}

int keyfile_read_public(const char *path, char *buf, size_t max, size_t *len, struct err *err)
{
    int fd = open_checked(path, 0, err), r;

    if (fd < 0)
        return -1;
    r = read_all(fd, (uint8_t *)buf, max, len);
    close(fd);
    if (r != 0)
        return err_set(err, "%s: %s", path, r == -2 ? "larger than a key file" : "read failed");
    return 0;
}

int keyfile_write(const char *path, const void *data, size_t n, unsigned mode, struct err *err)
{
    const uint8_t *p = data;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, (mode_t)mode);

    if (fd < 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            close(fd);
            unlink(path);
            return err_set(err, "%s: %s", path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0)
        return err_set(err, "%s: %s", path, strerror(errno));
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int keyfile_hex_decode(const char *s, size_t n, uint8_t *out, size_t out_len)
{
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
        n--;
    if (n != out_len * 2)
        return -1;
    for (size_t i = 0; i < out_len; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            sodium_memzero(out, out_len);
            return -1;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}
