/*
 * 会員管理 DDL
 *  - 退会者のアドレスで再登録できるよう、一意制約は部分インデックスにする
 *  - ポイントは台帳方式（増減の履歴を積み上げ、残高は集計で求める）
 */

BEGIN;

CREATE TABLE member_ranks (
    rank_code      CHAR(1)      PRIMARY KEY,
    rank_name      VARCHAR(20)  NOT NULL,
    min_spent      INTEGER      NOT NULL,  -- 直近 1 年の購入額の下限
    point_rate     NUMERIC(4,3) NOT NULL   -- ポイント付与率
);

INSERT INTO member_ranks VALUES
    ('B', 'ブロンズ', 0, 0.010), ('S', 'シルバー', 30000, 0.015),
    ('G', 'ゴールド', 100000, 0.020), ('P', 'プラチナ', 300000, 0.030);

CREATE TABLE members (
    member_id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_no      CHAR(10)     NOT NULL UNIQUE,
    family_name    VARCHAR(40)  NOT NULL,
    given_name     VARCHAR(40)  NOT NULL,
    family_kana    VARCHAR(40)  NOT NULL CHECK (family_kana ~ '^[ァ-ヶー　 ]+$'),
    given_kana     VARCHAR(40)  NOT NULL CHECK (given_kana  ~ '^[ァ-ヶー　 ]+$'),
    email          VARCHAR(254) NOT NULL,
    birth_date     DATE,
    rank_code      CHAR(1)      NOT NULL DEFAULT 'B' REFERENCES member_ranks,
    mail_opt_in    BOOLEAN      NOT NULL DEFAULT FALSE,  -- メルマガ可否
    joined_at      TIMESTAMPTZ  NOT NULL DEFAULT now(),
    withdrawn_at   TIMESTAMPTZ                            -- NULL なら在籍中
);

-- 在籍中の会員だけメールアドレスを一意にする（大小文字は区別しない）
CREATE UNIQUE INDEX uq_members_active_email
    ON members (lower(email))
    WHERE withdrawn_at IS NULL;

CREATE INDEX idx_members_kana ON members (family_kana, given_kana);

CREATE TABLE point_ledger (
    entry_id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    member_id      BIGINT       NOT NULL REFERENCES members ON DELETE CASCADE,
    points         INTEGER      NOT NULL CHECK (points <> 0),
    reason         VARCHAR(20)  NOT NULL
        CHECK (reason IN ('購入', '利用', '失効', '入会特典', '誕生月特典', '調整')),
    order_id       BIGINT,
    expires_on     DATE,
    created_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT chk_expiry CHECK (points < 0 OR expires_on IS NOT NULL)
);

CREATE INDEX idx_point_ledger_member ON point_ledger (member_id, created_at);

-- 会員別ポイント残高
CREATE VIEW v_member_points AS
SELECT m.member_id,
       m.member_no,
       m.family_name || ' ' || m.given_name  AS full_name,
       r.rank_name,
       COALESCE(SUM(l.points), 0)             AS balance,
       MIN(l.expires_on) FILTER (
           WHERE l.points > 0 AND l.expires_on >= CURRENT_DATE
       )                                      AS next_expiry
FROM members m
JOIN member_ranks r USING (rank_code)
LEFT JOIN point_ledger l USING (member_id)
WHERE m.withdrawn_at IS NULL
GROUP BY m.member_id, m.member_no, m.family_name, m.given_name, r.rank_name;

-- 退会処理。個人情報を匿名化し、残ポイントを失効させる
CREATE OR REPLACE PROCEDURE withdraw_member(p_member_id BIGINT)
LANGUAGE plpgsql AS $$
DECLARE
    v_balance INTEGER;
BEGIN
    SELECT COALESCE(SUM(points), 0) INTO v_balance
    FROM point_ledger WHERE member_id = p_member_id;

    IF v_balance > 0 THEN
        INSERT INTO point_ledger (member_id, points, reason)
        VALUES (p_member_id, -v_balance, '失効');
    END IF;

    UPDATE members
       SET family_name  = '退会済',
           given_name   = '会員',
           family_kana  = 'タイカイ',
           given_kana   = 'カイイン',
           email        = 'withdrawn-' || member_id || '@invalid',
           birth_date   = NULL,
           mail_opt_in  = FALSE,
           withdrawn_at = now()
     WHERE member_id = p_member_id
       AND withdrawn_at IS NULL;

    IF NOT FOUND THEN
        RAISE EXCEPTION '会員 % は存在しないか退会済みです', p_member_id;
    END IF;
END;
$$;

COMMIT;
