-- 在庫管理システム スキーマ定義（PostgreSQL）
--   倉庫・商品・在庫・入出庫履歴の 4 テーブル構成。
--   在庫数は入出庫履歴からトリガーで更新する。

CREATE SCHEMA IF NOT EXISTS inventory;
SET search_path TO inventory;

-- 倉庫マスタ
CREATE TABLE warehouses (
    warehouse_id   SMALLSERIAL PRIMARY KEY,
    code           VARCHAR(8)   NOT NULL UNIQUE,
    name           VARCHAR(50)  NOT NULL,
    prefecture     VARCHAR(4)   NOT NULL,
    is_active      BOOLEAN      NOT NULL DEFAULT TRUE
);

-- 商品マスタ。単価は税抜き・円単位の整数
CREATE TABLE products (
    product_id     BIGSERIAL    PRIMARY KEY,
    sku            VARCHAR(20)  NOT NULL UNIQUE,
    name           VARCHAR(100) NOT NULL,
    category       VARCHAR(30)  NOT NULL DEFAULT '未分類',
    unit           VARCHAR(10)  NOT NULL DEFAULT '個',
    unit_price     INTEGER      NOT NULL CHECK (unit_price >= 0),
    safety_stock   INTEGER      NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    discontinued   BOOLEAN      NOT NULL DEFAULT FALSE,
    updated_at     TIMESTAMPTZ  NOT NULL DEFAULT now()
);

-- 倉庫ごとの現在庫
CREATE TABLE stocks (
    warehouse_id   SMALLINT     NOT NULL REFERENCES warehouses (warehouse_id),
    product_id     BIGINT       NOT NULL REFERENCES products (product_id),
    quantity       INTEGER      NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    updated_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (warehouse_id, product_id)
);

-- 入出庫履歴。数量は入庫が正、出庫が負
CREATE TABLE stock_movements (
    movement_id    BIGSERIAL    PRIMARY KEY,
    warehouse_id   SMALLINT     NOT NULL REFERENCES warehouses (warehouse_id),
    product_id     BIGINT       NOT NULL REFERENCES products (product_id),
    movement_type  VARCHAR(10)  NOT NULL
        CHECK (movement_type IN ('入庫', '出庫', '棚卸調整', '移動')),
    quantity       INTEGER      NOT NULL CHECK (quantity <> 0),
    note           TEXT,
    moved_at       TIMESTAMPTZ  NOT NULL DEFAULT now()
);

CREATE INDEX idx_movements_product_time
    ON stock_movements (product_id, moved_at DESC);

COMMENT ON TABLE  stocks IS '倉庫別の現在庫。stock_movements 経由で更新する';
COMMENT ON COLUMN stock_movements.quantity IS '入庫は正、出庫は負の値';

-- 入出庫履歴の追加時に在庫数を加算する。マイナス在庫は CHECK 違反で弾く。
-- ON CONFLICT だと挿入候補の行（負数）が先に CHECK にかかるため、UPDATE を先に試す
CREATE OR REPLACE FUNCTION apply_stock_movement() RETURNS trigger AS $$
BEGIN
    UPDATE stocks
       SET quantity   = quantity + NEW.quantity,
           updated_at = NEW.moved_at
     WHERE warehouse_id = NEW.warehouse_id
       AND product_id   = NEW.product_id;

    IF NOT FOUND THEN
        INSERT INTO stocks (warehouse_id, product_id, quantity, updated_at)
        VALUES (NEW.warehouse_id, NEW.product_id, NEW.quantity, NEW.moved_at);
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER trg_apply_stock_movement
    AFTER INSERT ON stock_movements
    FOR EACH ROW EXECUTE FUNCTION apply_stock_movement();

-- 安全在庫を下回っている商品（発注担当者向け）
CREATE VIEW v_reorder_candidates AS
SELECT w.name                   AS warehouse_name,
       p.sku,
       p.name                   AS product_name,
       COALESCE(s.quantity, 0)  AS on_hand,
       p.safety_stock,
       p.safety_stock - COALESCE(s.quantity, 0) AS shortage
FROM products p
CROSS JOIN warehouses w
LEFT JOIN stocks s
       ON s.product_id = p.product_id
      AND s.warehouse_id = w.warehouse_id
WHERE w.is_active
  AND NOT p.discontinued
  AND COALESCE(s.quantity, 0) < p.safety_stock;

-- 初期データ
INSERT INTO warehouses (code, name, prefecture) VALUES
    ('TKY01', '東日本物流センター', '埼玉県'),
    ('OSK01', '西日本物流センター', '大阪府');
