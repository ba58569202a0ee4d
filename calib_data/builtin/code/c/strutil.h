#ifndef STRUTIL_H
#define STRUTIL_H

/*
 * Small string helpers that operate on caller-owned buffers.
 * Nothing here allocates; every function that writes takes an
 * explicit capacity and always leaves the output NUL-terminated
 * (unless the capacity is zero).
 */

#include <ctype.h>
#include <stddef.h>
#include <string.h>

/* Copy at most cap-1 bytes. Returns strlen(src) so truncation is detectable. */
static inline size_t su_copy(char *dst, const char *src, size_t cap)
{
    size_t len = strlen(src);
    if (cap > 0) {
        size_t n = len < cap - 1 ? len : cap - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

/* Append src to dst; same return convention as su_copy, relative to the whole result. */
static inline size_t su_append(char *dst, const char *src, size_t cap)
{
    size_t used = strnlen(dst, cap);
    if (used == cap) {
        return cap + strlen(src); /* dst was not terminated within cap */
    }
    return used + su_copy(dst + used, src, cap - used);
}

/* Trim ASCII whitespace in place and return a pointer into the same buffer. */
static inline char *su_trim(char *s)
{
    while (*s && isspace((unsigned char)*s)) {
        s++;
    }
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1])) {
        end--;
    }
    *end = '\0';
    return s;
}

static inline int su_starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static inline int su_ends_with(const char *s, const char *suffix)
{
    size_t ls = strlen(s), lx = strlen(suffix);
    return lx <= ls && memcmp(s + ls - lx, suffix, lx) == 0;
}

/* Case-insensitive compare for ASCII letters only; bytes >= 0x80 compare raw. */
static inline int su_casecmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = tolower((unsigned char)*a);
        int cb = tolower((unsigned char)*b);
        if (ca != cb || ca == 0) {
            return ca - cb;
        }
    }
}

/*
 * Split s on a single delimiter, writing pointers to each field into out.
 * The input is modified (delimiters become NUL). Empty fields are kept,
 * so "a,,b" yields three fields. Returns the number of fields found,
 * which may exceed max; only the first max are stored.
 */
static inline size_t su_split(char *s, char delim, char **out, size_t max)
{
    size_t count = 0;
    char *start = s;
    for (char *p = s;; p++) {
        if (*p == delim || *p == '\0') {
            int last = (*p == '\0');
            *p = '\0';
            if (count < max) {
                out[count] = start;
            }
            count++;
            if (last) {
                break;
            }
            start = p + 1;
        }
    }
    return count;
}

/* Replace every occurrence of `from` with `to` (single bytes) and return the count. */
static inline size_t su_replace_char(char *s, char from, char to)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == from) {
            *s = to;
            n++;
        }
    }
    return n;
}

/*
 * Length in code points of a UTF-8 string, counting only lead bytes.
 * Malformed input is not rejected; continuation bytes are simply skipped.
 */
static inline size_t su_utf8_len(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        if (((unsigned char)*s & 0xC0) != 0x80) {
            n++;
        }
    }
    return n;
}

#endif /* STRUTIL_H */
