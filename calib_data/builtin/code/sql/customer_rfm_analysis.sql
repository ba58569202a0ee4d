-- 顧客 RFM 分析（SQLite 3.25 以降で動作。ウィンドウ関数を使用）
--
--   R (Recency)   : 最終購入日からの経過日数。小さいほど良い
--   F (Frequency) : 期間内の購入回数
--   M (Monetary)  : 期間内の購入金額合計
-- それぞれを NTILE で 5 段階に分け、合計点で顧客をセグメント分けする。
-- 手元で試せるよう、先頭で検証用データを作る。

DROP TABLE IF EXISTS orders;
CREATE TABLE orders (
    order_id     INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL,
    ordered_on   TEXT    NOT NULL,   -- 'YYYY-MM-DD'
    amount       INTEGER NOT NULL,
    status       TEXT    NOT NULL DEFAULT '完了'  -- 完了 / キャンセル
);

INSERT INTO orders (customer_id, ordered_on, amount, status) VALUES
    (1, '2024-03-02', 12800, '完了'), (1, '2024-03-20', 5400, '完了'),
    (1, '2024-03-28', 9800, '完了'),  (2, '2023-11-15', 3200, '完了'),
    (3, '2024-01-10', 45000, '完了'), (3, '2024-02-14', 38000, '完了'),
    (3, '2024-03-30', 52000, '完了'), (3, '2024-03-31', 1500, 'キャンセル'),
    (4, '2024-02-01', 2100, '完了'),  (4, '2024-02-03', 1800, '完了'),
    (5, '2023-10-05', 88000, '完了'), (6, '2024-03-25', 4300, '完了'),
    (7, '2024-01-28', 15600, '完了'), (7, '2024-03-05', 7700, '完了'),
    (8, '2023-12-24', 26000, '完了'), (9, '2024-03-29', 980, '完了'),
    (10, '2024-02-20', 61000, '完了'), (10, '2024-03-15', 23000, '完了');

-- 基準日と分析期間（直近 1 年）
WITH params AS (
    SELECT '2024-04-01' AS base_date,
           date('2024-04-01', '-1 year') AS since
),
per_customer AS (
    SELECT o.customer_id,
           CAST(julianday(p.base_date) - julianday(MAX(o.ordered_on)) AS INTEGER) AS recency_days,
           COUNT(*)       AS frequency,
           SUM(o.amount)  AS monetary
    FROM orders o, params p
    WHERE o.status = '完了'
      AND o.ordered_on >= p.since
      AND o.ordered_on <  p.base_date
    GROUP BY o.customer_id
),
scored AS (
    SELECT customer_id,
           recency_days,
           frequency,
           monetary,
           -- 経過日数は短いほど高得点にしたいので降順で並べる
           NTILE(5) OVER (ORDER BY recency_days DESC) AS r_score,
           NTILE(5) OVER (ORDER BY frequency ASC)     AS f_score,
           NTILE(5) OVER (ORDER BY monetary ASC)      AS m_score
    FROM per_customer
)
SELECT customer_id,
       recency_days,
       frequency,
       monetary,
       r_score || f_score || m_score      AS rfm_code,
       r_score + f_score + m_score        AS total_score,
       CASE
           WHEN r_score >= 4 AND f_score >= 4 AND m_score >= 4 THEN '優良顧客'
           WHEN r_score >= 4 AND f_score <= 2                  THEN '新規・育成対象'
           WHEN r_score <= 2 AND m_score >= 4                  THEN '離反注意（高額）'
           WHEN r_score <= 2                                   THEN '休眠'
           ELSE '一般'
       END                                AS segment
FROM scored
ORDER BY total_score DESC, monetary DESC;

-- 月別の新規・リピート顧客数
-- 初回購入月を求め、その月の購入なら新規、それ以外はリピートとして数える
WITH valid AS (
    SELECT customer_id, substr(ordered_on, 1, 7) AS ym
    FROM orders
    WHERE status = '完了'
),
first_month AS (
    SELECT customer_id, MIN(ym) AS first_ym
    FROM valid
    GROUP BY customer_id
)
SELECT v.ym,
       COUNT(DISTINCT CASE WHEN v.ym = f.first_ym  THEN v.customer_id END) AS new_cnt,
       COUNT(DISTINCT CASE WHEN v.ym <> f.first_ym THEN v.customer_id END) AS repeat_cnt,
       ROUND(100.0 * COUNT(DISTINCT CASE WHEN v.ym <> f.first_ym THEN v.customer_id END)
             / COUNT(DISTINCT v.customer_id), 1)                   AS repeat_pct
FROM valid v
JOIN first_month f USING (customer_id)
GROUP BY v.ym
ORDER BY v.ym;
