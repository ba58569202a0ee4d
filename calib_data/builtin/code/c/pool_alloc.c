/* pool_alloc.c — 固定サイズブロックのプールアロケータ
 *
 * 大きな領域を一度だけ確保し、それを同じ大きさのブロックに切り分けて使う。
 * 空きブロックは単方向リスト（フリーリスト）でつなぎ、
 * 確保と解放はどちらも O(1) で終わる。
 * 小さな構造体を大量に作っては捨てるような処理（構文木のノードなど）向け。
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* 空きブロックの先頭に次の空きブロックへのポインタを埋め込む */
typedef struct free_node {
    struct free_node *next;
} free_node;

typedef struct {
    unsigned char *base;      /* 領域の先頭 */
    size_t         block_size;
    size_t         block_count;
    size_t         in_use;    /* 統計用：使用中のブロック数 */
    free_node     *free_list;
} pool_t;

/* ブロックサイズをポインタの整列単位に切り上げる */
static size_t round_up(size_t n, size_t align)
{
    return (n + align - 1) / align * align;
}

int pool_init(pool_t *p, size_t block_size, size_t block_count)
{
    size_t align = _Alignof(max_align_t);
    if (block_size < sizeof(free_node)) {
        block_size = sizeof(free_node);
    }
    block_size = round_up(block_size, align);

    /* 乗算のオーバーフローを先に確認しておく */
    if (block_count != 0 && block_size > SIZE_MAX / block_count) {
        return -1;
    }
    p->base = malloc(block_size * block_count);
    if (p->base == NULL) {
        return -1;
    }
    p->block_size  = block_size;
    p->block_count = block_count;
    p->in_use      = 0;
    p->free_list   = NULL;

    /* 後ろから順につなぐと、先頭のブロックから払い出される */
    for (size_t i = block_count; i-- > 0;) {
        free_node *n = (free_node *)(p->base + i * block_size);
        n->next = p->free_list;
        p->free_list = n;
    }
    return 0;
}

void *pool_alloc(pool_t *p)
{
    free_node *n = p->free_list;
    if (n == NULL) {
        return NULL; /* 枯渇。呼び出し側でプールを追加するか諦める */
    }
    p->free_list = n->next;
    p->in_use++;
    return n;
}

/* 自分のプールに属するポインタかどうか（デバッグ用） */
static int pool_owns(const pool_t *p, const void *ptr)
{
    const unsigned char *c = ptr;
    if (c < p->base || c >= p->base + p->block_size * p->block_count) {
        return 0;
    }
    return (size_t)(c - p->base) % p->block_size == 0;
}

void pool_free(pool_t *p, void *ptr)
{
    if (ptr == NULL) {
        return;
    }
    assert(pool_owns(p, ptr) && "別のプールのポインタを解放しようとした");
    free_node *n = ptr;
    n->next = p->free_list;
    p->free_list = n;
    p->in_use--;
}

void pool_destroy(pool_t *p)
{
    /* 個々のブロックは解放せず、領域ごとまとめて返す */
    free(p->base);
    p->base = NULL;
    p->free_list = NULL;
    p->in_use = 0;
}

/* ---- 簡単な動作確認 ---- */
typedef struct {
    int    id;
    double weight;
    char   label[20];
} item_t;

int main(void)
{
    pool_t pool;
    item_t *items[5];

    if (pool_init(&pool, sizeof(item_t), 4) != 0) {
        fprintf(stderr, "プールの確保に失敗\n");
        return 1;
    }
    printf("ブロックサイズ: %zu バイト\n", pool.block_size);

    for (int i = 0; i < 5; i++) {
        items[i] = pool_alloc(&pool);
        if (items[i] == NULL) {
            printf("%d 個目で枯渇しました\n", i + 1);
            break;
        }
        items[i]->id = i;
        items[i]->weight = 1.5 * i;
    }

    pool_free(&pool, items[1]);
    item_t *again = pool_alloc(&pool);
    printf("再利用: %s\n", again == items[1] ? "同じブロック" : "別のブロック");
    printf("使用中: %zu / %zu\n", pool.in_use, pool.block_count);

    pool_destroy(&pool);
    return 0;
}
