-- V014: ポイント有効期限の一括失効に対応する
--
-- 変更内容
--   1. point_ledger に精算済み日時（settled_at）を追加
--      加算行が「使い切られた」または「失効した」時点で値を入れる
--   2. 失効処理の関数 expire_points を追加（日次バッチから呼ぶ）
--   3. 既存データのうち、期限切れなのに失効行がないものを補正
--
-- 戻し方（手動）:
--   DROP FUNCTION expire_points(date);
--   ALTER TABLE point_ledger DROP COLUMN settled_at;
--   ※ 3 の補正で追加した失効行は reason = '失効' かつ本マイグレーション実行時刻で特定できる

BEGIN;

-- ロック待ちで本番が詰まらないよう、取れなければすぐ諦める
SET LOCAL lock_timeout = '5s';

-- 1. 列の追加
ALTER TABLE point_ledger
    ADD COLUMN IF NOT EXISTS settled_at TIMESTAMPTZ;

COMMENT ON COLUMN point_ledger.settled_at IS
    '加算行の精算（使い切り・失効）日時。NULL なら残高が残っている可能性がある';

CREATE INDEX IF NOT EXISTS idx_point_ledger_unsettled
    ON point_ledger (expires_on)
    WHERE points > 0 AND settled_at IS NULL;

-- 2. 失効関数
--    ポイントは有効期限の早い順に使われたものとみなす（先入れ先出し）。
--    会員ごとの加算の累計から減算の合計（利用 + 過去の失効）を引き、
--    期限切れの加算行に残っている分だけを失効させる。
CREATE OR REPLACE FUNCTION expire_points(p_base_date date DEFAULT CURRENT_DATE)
RETURNS TABLE (out_member_id bigint, out_expired integer)
LANGUAGE sql AS $$
    WITH grants AS (
        SELECT entry_id,
               member_id,
               points,
               expires_on,
               settled_at,
               SUM(points) OVER (PARTITION BY member_id
                                 ORDER BY expires_on, entry_id) AS cum_granted
        FROM point_ledger
        WHERE points > 0
    ),
    used AS (
        SELECT member_id, -SUM(points) AS used_total
        FROM point_ledger
        WHERE points < 0
        GROUP BY member_id
    ),
    targets AS (
        SELECT g.entry_id,
               g.member_id,
               LEAST(g.points,
                     GREATEST(g.cum_granted - COALESCE(u.used_total, 0), 0)) AS left_points
        FROM grants g
        LEFT JOIN used u USING (member_id)
        WHERE g.expires_on < p_base_date
          AND g.settled_at IS NULL
    ),
    settle AS (
        UPDATE point_ledger pl
           SET settled_at = now()
          FROM targets t
         WHERE pl.entry_id = t.entry_id
        RETURNING pl.entry_id
    ),
    expired AS (
        INSERT INTO point_ledger (member_id, points, reason)
        SELECT member_id, -SUM(left_points)::int, '失効'
        FROM targets
        WHERE left_points > 0
        GROUP BY member_id
        RETURNING member_id, -points
    )
    SELECT * FROM expired;
$$;

COMMENT ON FUNCTION expire_points(date) IS
    '基準日より前に期限切れとなったポイントを失効させ、会員ごとの失効数を返す';

-- 3. 既存データの補正（関数をそのまま使う）
SELECT count(*)                       AS fixed_members,
       COALESCE(sum(out_expired), 0)  AS fixed_points
FROM expire_points(CURRENT_DATE);

COMMIT;
