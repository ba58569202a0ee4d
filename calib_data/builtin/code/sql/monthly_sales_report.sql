-- 月次売上レポート（店舗別）
--   ・月ごとの売上・客数・客単価
--   ・前年同月比、前月比
--   ・年度（4 月始まり）の累計と 3 か月移動平均
--   ・各月の店舗間順位
-- 対象テーブル: sales(sale_id, store_code, sold_at, amount, customer_id)
-- 集計期間は params の 2 つの日付を書き換えて指定する

WITH params AS (
    SELECT DATE '2024-04-01' AS from_date,
           DATE '2025-04-01' AS to_date
),
-- 売上のない月があると LAG の位置がずれるので、店舗 × 月の枠を先に作る
calendar AS (
    SELECT s.store_code, gs::date AS month
    FROM (SELECT DISTINCT store_code FROM sales) s
    CROSS JOIN params p
    CROSS JOIN generate_series(p.from_date - INTERVAL '1 year',   -- 前年同月比のため 1 年前から
                               p.to_date - INTERVAL '1 month',
                               INTERVAL '1 month') AS gs
),
monthly AS (
    SELECT
        store_code,
        date_trunc('month', sold_at)::date         AS month,
        SUM(amount)                                AS sales,
        COUNT(DISTINCT sale_id)                    AS receipts
    FROM sales, params p
    WHERE sold_at >= p.from_date - INTERVAL '1 year'
      AND sold_at <  p.to_date
    GROUP BY store_code, date_trunc('month', sold_at)
),
filled AS (
    SELECT
        c.store_code,
        c.month,
        COALESCE(m.sales, 0)     AS sales,
        COALESCE(m.receipts, 0)  AS receipts,
        -- 4 月始まりの年度。1〜3 月は前年の年度に入る
        EXTRACT(YEAR FROM c.month - INTERVAL '3 months')::int AS fiscal_year
    FROM calendar c
    LEFT JOIN monthly m USING (store_code, month)
),
calc AS (
    SELECT
        f.*,
        ROUND(f.sales::numeric / NULLIF(f.receipts, 0))                   AS avg_ticket,
        LAG(f.sales, 1)  OVER w_store                                     AS prev_month_sales,
        LAG(f.sales, 12) OVER w_store                                     AS last_year_sales,
        SUM(f.sales) OVER (
            PARTITION BY f.store_code, f.fiscal_year
            ORDER BY f.month
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        )                                                                  AS fiscal_ytd,
        AVG(f.sales) OVER (
            PARTITION BY f.store_code
            ORDER BY f.month
            ROWS BETWEEN 2 PRECEDING AND CURRENT ROW
        )                                                                  AS moving_avg_3m,
        RANK() OVER (PARTITION BY f.month ORDER BY f.sales DESC)          AS rank_in_month
    FROM filled f
    WINDOW w_store AS (PARTITION BY f.store_code ORDER BY f.month)
)
SELECT
    store_code,
    to_char(month, 'YYYY"年"MM"月"')                         AS year_month,
    fiscal_year,
    sales,
    receipts,
    COALESCE(avg_ticket, 0)                                  AS avg_ticket,
    -- 比較対象がない月は「―」を表示する
    CASE
        WHEN COALESCE(last_year_sales, 0) = 0 THEN '―'
        ELSE to_char(sales * 100.0 / last_year_sales, 'FM990.0') || '%'
    END                                                      AS yoy_ratio,
    CASE
        WHEN COALESCE(prev_month_sales, 0) = 0 THEN '―'
        ELSE to_char((sales - prev_month_sales) * 100.0 / prev_month_sales, 'FMS990.0') || '%'
    END                                                      AS mom_change,
    fiscal_ytd,
    ROUND(moving_avg_3m)                                     AS moving_avg_3m,
    rank_in_month
FROM calc, params p
WHERE calc.month >= p.from_date   -- 比較用に読んだ前年分は出力しない
ORDER BY store_code, month;
