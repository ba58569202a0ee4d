// fileio.c - read a whole file into memory, and replace a file atomically.
//
// Build: cc -std=c99 -Wall fileio.c -o fileio
// Usage: fileio <src> <dst>   copies src to dst with CRLF turned into LF

#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Reads the entire stream. Works for pipes too, since it never asks for
// the size up front; the buffer simply doubles until EOF.
static char *slurp(FILE *fp, size_t *out_len)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return NULL;

    for (;;) {
        if (len == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                return NULL;
            }
            buf = grown;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, fp);
        len += n;
        if (n == 0) {
            if (ferror(fp)) {
                free(buf);
                return NULL;
            }
            break; // EOF
        }
    }
    *out_len = len;
    return buf;
}

// In-place CRLF -> LF. A lone CR is left alone on purpose.
static size_t normalize_newlines(char *buf, size_t len)
{
    size_t w = 0;
    for (size_t r = 0; r < len; r++) {
        if (buf[r] == '\r' && r + 1 < len && buf[r + 1] == '\n')
            continue;
        buf[w++] = buf[r];
    }
    return w;
}

// Write to "<path>.tmp" first and rename over the target. On POSIX the
// rename is atomic, so readers see either the old file or the new one,
// never a half-written mix. (A production version would also fsync the
// file and its directory before trusting the result after a crash.)
static int write_atomic(const char *path, const char *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    if (!tmp)
        return -1;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);

    FILE *fp = fopen(tmp, "wb");
    if (!fp) {
        free(tmp);
        return -1;
    }
    int ok = fwrite(data, 1, len, fp) == len;
    ok = (fflush(fp) == 0) && ok;
    ok = (fclose(fp) == 0) && ok;

    if (!ok || rename(tmp, path) != 0) {
        int saved = errno;
        remove(tmp);
        free(tmp);
        errno = saved;
        return -1;
    }
    free(tmp);
    return 0;
}

static size_t count_lines(const char *buf, size_t len)
{
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n')
            lines++;
    if (len > 0 && buf[len - 1] != '\n')
        lines++; // last line without a terminator still counts
    return lines;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s <src> <dst>\n", argv[0]);
        return 2;
    }

    FILE *in = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "rb");
    if (!in) {
        fprintf(stderr, "cannot open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }

    size_t len = 0;
    char *buf = slurp(in, &len);
    if (in != stdin)
        fclose(in);
    if (!buf) {
        fprintf(stderr, "read failed\n");
        return 1;
    }

    size_t before = len;
    len = normalize_newlines(buf, len);

    if (write_atomic(argv[2], buf, len) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", argv[2], strerror(errno));
        free(buf);
        return 1;
    }
    printf("%zu lines, %zu -> %zu bytes\n", count_lines(buf, len), before, len);
    free(buf);
    return 0;
}
