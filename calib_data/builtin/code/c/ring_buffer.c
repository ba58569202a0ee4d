/*
 * ring_buffer.c
 * 固定長のリングバッファ（単一生産者・単一消費者を想定）。
 * 容量は 2 のべき乗に限定し、インデックスの剰余計算をビットマスクで済ませる。
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *data;
    size_t   mask;   /* 容量 - 1 */
    size_t   head;   /* 次に書き込む位置（単調増加） */
    size_t   tail;   /* 次に読み出す位置（単調増加） */
} ring_t;

/* n が 2 のべき乗かどうかを判定する */
static int is_pow2(size_t n)
{
    return n != 0 && (n & (n - 1)) == 0;
}

int ring_init(ring_t *r, size_t capacity)
{
    if (!is_pow2(capacity)) {
        return -1; /* 呼び出し側で切り上げてもらう */
    }
    r->data = malloc(capacity);
    if (r->data == NULL) {
        return -2;
    }
    r->mask = capacity - 1;
    r->head = 0;
    r->tail = 0;
    return 0;
}

void ring_free(ring_t *r)
{
    free(r->data);
    r->data = NULL;
    r->mask = r->head = r->tail = 0;
}

/* 格納済みバイト数。head と tail はオーバーフローしても差は正しく求まる */
size_t ring_used(const ring_t *r)
{
    return r->head - r->tail;
}

size_t ring_space(const ring_t *r)
{
    return (r->mask + 1) - ring_used(r);
}

/*
 * 最大 len バイトを書き込み、実際に書けたバイト数を返す。
 * 末尾で折り返す場合は memcpy を 2 回に分ける。
 */
size_t ring_write(ring_t *r, const void *src, size_t len)
{
    size_t space = ring_space(r);
    if (len > space) {
        len = space;
    }
    size_t pos   = r->head & r->mask;
    size_t first = (r->mask + 1) - pos;
    if (first > len) {
        first = len;
    }
    memcpy(r->data + pos, src, first);
    memcpy(r->data, (const uint8_t *)src + first, len - first);
    r->head += len;
    return len;
}

/* 読み出し。消費せずに覗くだけの ring_peek と処理を共有する */
static size_t copy_out(const ring_t *r, void *dst, size_t len)
{
    size_t used = ring_used(r);
    if (len > used) {
        len = used;
    }
    size_t pos   = r->tail & r->mask;
    size_t first = (r->mask + 1) - pos;
    if (first > len) {
        first = len;
    }
    memcpy(dst, r->data + pos, first);
    memcpy((uint8_t *)dst + first, r->data, len - first);
    return len;
}

size_t ring_peek(const ring_t *r, void *dst, size_t len)
{
    return copy_out(r, dst, len);
}

size_t ring_read(ring_t *r, void *dst, size_t len)
{
    size_t n = copy_out(r, dst, len);
    r->tail += n;
    return n;
}

/* 読まずに捨てる。ヘッダだけ解析して本文を読み飛ばすときに使う */
size_t ring_skip(ring_t *r, size_t len)
{
    size_t used = ring_used(r);
    if (len > used) {
        len = used;
    }
    r->tail += len;
    return len;
}

#ifdef RING_SELFTEST
#include <stdio.h>

int main(void)
{
    ring_t r;
    char out[16];

    if (ring_init(&r, 8) != 0) {
        fputs("初期化に失敗しました\n", stderr);
        return 1;
    }
    ring_write(&r, "abcdef", 6);
    ring_read(&r, out, 4);              /* "abcd" を取り出す */
    size_t w = ring_write(&r, "ghijkl", 6); /* 折り返しが発生する */
    size_t n = ring_read(&r, out, sizeof out);
    out[n] = '\0';
    printf("written=%zu read=%zu data=%s\n", w, n, out);
    ring_free(&r);
    return 0;
}
#endif
