-- 勤怠集計クエリ集（PostgreSQL）
-- 前提テーブル:
--   employees(employee_id, name, department, hired_on)
--   time_cards(employee_id, work_date, clock_in, clock_out, break_minutes)
-- 所定労働時間は 1 日 8 時間、22 時〜翌 5 時を深夜時間帯として扱う。


-- ■ 1. 月次の残業時間・深夜時間（部署別の順位つき）
WITH worked AS (
    SELECT
        t.employee_id,
        t.work_date,
        EXTRACT(EPOCH FROM (t.clock_out - t.clock_in)) / 60 - t.break_minutes AS work_min,
        -- 深夜帯（22:00〜翌 05:00）と勤務時間の重なりを分単位で求める
        GREATEST(0, EXTRACT(EPOCH FROM (
            LEAST(t.clock_out, t.work_date + INTERVAL '29 hours')
          - GREATEST(t.clock_in, t.work_date + INTERVAL '22 hours')
        )) / 60) AS night_min
    FROM time_cards t
    WHERE t.work_date >= DATE '2024-06-01'
      AND t.work_date <  DATE '2024-07-01'
      AND t.clock_out IS NOT NULL            -- 打刻漏れは別途確認する
),
monthly AS (
    SELECT
        e.department,
        e.employee_id,
        e.name,
        COUNT(*)                                    AS work_days,
        SUM(w.work_min)                             AS total_min,
        SUM(GREATEST(w.work_min - 480, 0))          AS overtime_min,
        SUM(w.night_min)                            AS night_min
    FROM worked w
    JOIN employees e USING (employee_id)
    GROUP BY e.department, e.employee_id, e.name
)
SELECT
    department,
    name,
    work_days,
    to_char(make_interval(mins => total_min::int), 'HH24:MI')    AS total_hours,
    to_char(make_interval(mins => overtime_min::int), 'HH24:MI') AS overtime_hours,
    to_char(make_interval(mins => night_min::int), 'HH24:MI')    AS night_hours,
    DENSE_RANK() OVER (PARTITION BY department ORDER BY overtime_min DESC) AS dept_rank,
    CASE
        WHEN overtime_min >= 45 * 60 THEN '要面談（月45時間超）'
        WHEN overtime_min >= 30 * 60 THEN '注意'
        ELSE ''
    END                                                      AS judgement
FROM monthly
ORDER BY department, overtime_min DESC;


-- ■ 2. 連続勤務日数（gaps and islands）
--    日付から連番を引くと、連続している日は同じ値になることを利用する
WITH days AS (
    SELECT DISTINCT employee_id, work_date
    FROM time_cards
    WHERE work_date >= CURRENT_DATE - 60
),
grouped AS (
    SELECT
        employee_id,
        work_date,
        work_date - (ROW_NUMBER() OVER (PARTITION BY employee_id ORDER BY work_date))::int AS grp
    FROM days
),
streaks AS (
    SELECT employee_id,
           MIN(work_date) AS started_on,
           MAX(work_date) AS ended_on,
           COUNT(*)       AS streak_days
    FROM grouped
    GROUP BY employee_id, grp
)
SELECT e.name, s.started_on, s.ended_on, s.streak_days
FROM streaks s
JOIN employees e USING (employee_id)
WHERE s.streak_days >= 7       -- 7 日以上の連続勤務を抽出
ORDER BY s.streak_days DESC, e.name;


-- ■ 3. 打刻漏れ・異常値の検出（平日のみ）
SELECT e.name,
       d::date                              AS work_date,
       CASE
           WHEN t.employee_id IS NULL THEN '打刻なし'
           WHEN t.clock_out IS NULL   THEN '退勤打刻漏れ'
           WHEN t.clock_out - t.clock_in > INTERVAL '16 hours' THEN '勤務16時間超（要確認）'
       END                                  AS issue
FROM employees e
CROSS JOIN generate_series(DATE '2024-06-01', DATE '2024-06-30', INTERVAL '1 day') AS d
LEFT JOIN time_cards t
       ON t.employee_id = e.employee_id
      AND t.work_date = d::date
WHERE EXTRACT(ISODOW FROM d) < 6
  AND e.hired_on <= d::date
  AND (t.employee_id IS NULL
       OR t.clock_out IS NULL
       OR t.clock_out - t.clock_in > INTERVAL '16 hours')
ORDER BY e.name, d;
