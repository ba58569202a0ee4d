/*
 * vending_fsm.c
 *
 * 自動販売機を題材にした表駆動の有限状態機械。
 * 状態 × イベント の二次元表に「遷移先」と「アクション関数」を並べておき、
 * dispatch() は表を引くだけにする。switch を入れ子にするより
 * 遷移の抜け漏れを目で確認しやすい。
 */
#include <stdio.h>

typedef enum { ST_IDLE, ST_COLLECTING, ST_VENDING, ST_OUT_OF_ORDER, ST_COUNT } state_t;
typedef enum { EV_COIN, EV_SELECT, EV_CANCEL, EV_DONE, EV_FAULT, EV_COUNT } event_t;

typedef struct {
    int credit;     /* 投入済み金額（円） */
    int price;      /* 商品価格 */
    int stock;      /* 残り本数 */
} machine_t;

typedef void (*action_fn)(machine_t *m, int arg);

typedef struct {
    state_t   next;
    action_fn action;
} transition_t;

static const char *state_name[ST_COUNT] = {
    "待機中", "投入受付", "販売中", "故障"
};

/* ---- アクション ---- */
static void add_coin(machine_t *m, int yen)
{
    m->credit += yen;
    printf("  %d 円投入（合計 %d 円）\n", yen, m->credit);
}

static void refund(machine_t *m, int arg)
{
    (void)arg;
    if (m->credit > 0) {
        printf("  %d 円を返却\n", m->credit);
    }
    m->credit = 0;
}

static void vend(machine_t *m, int arg)
{
    (void)arg;
    m->credit -= m->price;
    m->stock--;
    printf("  商品を排出（残り %d 本）\n", m->stock);
}

static void give_change(machine_t *m, int arg)
{
    refund(m, arg); /* おつりの処理は返却と同じ */
}

static void report_fault(machine_t *m, int arg)
{
    (void)arg;
    printf("  エラーを検知、保守担当へ通知\n");
    refund(m, 0);
}

/* NULL アクション = 状態だけ変える（または何もしない） */
static const transition_t table[ST_COUNT][EV_COUNT] = {
    /*                 COIN                         SELECT                    CANCEL                  DONE                         FAULT */
    [ST_IDLE]       = {{ST_COLLECTING, add_coin}, {ST_IDLE, NULL},         {ST_IDLE, NULL},        {ST_IDLE, NULL},             {ST_OUT_OF_ORDER, report_fault}},
    [ST_COLLECTING] = {{ST_COLLECTING, add_coin}, {ST_VENDING, vend},      {ST_IDLE, refund},      {ST_COLLECTING, NULL},       {ST_OUT_OF_ORDER, report_fault}},
    [ST_VENDING]    = {{ST_VENDING, NULL},        {ST_VENDING, NULL},      {ST_VENDING, NULL},     {ST_IDLE, give_change},      {ST_OUT_OF_ORDER, report_fault}},
    [ST_OUT_OF_ORDER] = {{ST_OUT_OF_ORDER, NULL}, {ST_OUT_OF_ORDER, NULL}, {ST_OUT_OF_ORDER, NULL}, {ST_OUT_OF_ORDER, NULL},   {ST_OUT_OF_ORDER, NULL}},
};

/* ガード条件：表だけでは表現しにくい判定はここで行う */
static int guard(const machine_t *m, state_t s, event_t e)
{
    if (s == ST_COLLECTING && e == EV_SELECT) {
        if (m->stock == 0) {
            printf("  売り切れです\n");
            return 0;
        }
        if (m->credit < m->price) {
            printf("  あと %d 円必要です\n", m->price - m->credit);
            return 0;
        }
    }
    return 1;
}

static state_t dispatch(machine_t *m, state_t s, event_t e, int arg)
{
    if (!guard(m, s, e)) {
        return s; /* 遷移を拒否して現状維持 */
    }
    const transition_t *t = &table[s][e];
    if (t->action) {
        t->action(m, arg);
    }
    if (t->next != s) {
        printf("  [%s] -> [%s]\n", state_name[s], state_name[t->next]);
    }
    return t->next;
}

int main(void)
{
    machine_t m = { .credit = 0, .price = 150, .stock = 1 };
    state_t s = ST_IDLE;

    struct { event_t ev; int arg; } script[] = {
        { EV_COIN, 100 }, { EV_SELECT, 0 }, { EV_COIN, 100 },
        { EV_SELECT, 0 }, { EV_DONE, 0 },
        { EV_COIN, 500 }, { EV_SELECT, 0 }, { EV_CANCEL, 0 },
    };

    for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
        s = dispatch(&m, s, script[i].ev, script[i].arg);
    }
    printf("最終状態: %s\n", state_name[s]);
    return 0;
}
