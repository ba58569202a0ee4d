"""倉庫から送られてくる在庫 CSV を読み込み、発注が必要な品目を洗い出す。

CSV の列構成（ヘッダ行あり、文字コードは UTF-8 または CP932）:
    品番, 品名, 倉庫, 現在庫, 安全在庫, 発注単位, 単価
"""

import csv
import io
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path

HEADER_MAP = {
    "品番": "sku",
    "品名": "name",
    "倉庫": "warehouse",
    "現在庫": "on_hand",
    "安全在庫": "safety_stock",
    "発注単位": "lot_size",
    "単価": "unit_price",
}


class InventoryFormatError(ValueError):
    """CSV の形式が想定と異なるときに送出する。"""


@dataclass
class StockItem:
    sku: str
    name: str
    warehouse: str
    on_hand: int
    safety_stock: int
    lot_size: int
    unit_price: Decimal

    @property
    def shortage(self) -> int:
        """安全在庫に対する不足数。不足していなければ 0。"""
        return max(self.safety_stock - self.on_hand, 0)

    def order_quantity(self) -> int:
        """発注単位に切り上げた発注数を返す。"""
        if self.shortage == 0:
            return 0
        lots = -(-self.shortage // self.lot_size)  # 切り上げ除算
        return lots * self.lot_size


@dataclass
class LoadResult:
    items: list = field(default_factory=list)
    errors: list = field(default_factory=list)


def _read_text(path: Path) -> str:
    """UTF-8 で読めなければ CP932 で読み直す。"""
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "cp932"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    raise InventoryFormatError(f"文字コードを判定できません: {path}")


def load_inventory(path: Path) -> LoadResult:
    """CSV を読み込んで StockItem のリストを返す。

    不正な行はスキップし、行番号付きのエラーメッセージを errors に積む。
    """
    reader = csv.DictReader(io.StringIO(_read_text(path)))
    missing = set(HEADER_MAP) - set(reader.fieldnames or [])
    if missing:
        raise InventoryFormatError(f"必須列がありません: {', '.join(sorted(missing))}")

    result = LoadResult()
    for lineno, row in enumerate(reader, start=2):
        data = {HEADER_MAP[k]: (v or "").strip() for k, v in row.items() if k in HEADER_MAP}
        try:
            item = StockItem(
                sku=data["sku"],
                name=data["name"],
                warehouse=data["warehouse"],
                on_hand=int(data["on_hand"]),
                safety_stock=int(data["safety_stock"]),
                lot_size=int(data["lot_size"]) or 1,
                unit_price=Decimal(data["unit_price"].replace(",", "")),
            )
        except (ValueError, InvalidOperation) as exc:
            result.errors.append(f"{lineno} 行目: 数値に変換できません ({exc})")
            continue
        if not item.sku:
            result.errors.append(f"{lineno} 行目: 品番が空です")
            continue
        result.items.append(item)
    return result


def summarize_orders(items):
    """倉庫ごとに発注が必要な品目と発注金額の合計を集計する。"""
    by_wh = defaultdict(list)
    for item in items:
        qty = item.order_quantity()
        if qty > 0:
            by_wh[item.warehouse].append((item, qty))
    summary = {}
    for wh, rows in sorted(by_wh.items()):
        total = sum((it.unit_price * q for it, q in rows), Decimal("0"))
        summary[wh] = {"rows": rows, "total": total}
    return summary


def main(argv):
    if len(argv) != 2:
        print("使い方: python inventory_csv.py 在庫.csv", file=sys.stderr)
        return 2
    loaded = load_inventory(Path(argv[1]))
    for err in loaded.errors:
        print("警告:", err, file=sys.stderr)
    for wh, info in summarize_orders(loaded.items).items():
        print(f"■ {wh}（発注額合計 {info['total']:,} 円）")
        for item, qty in info["rows"]:
            print(f"  {item.sku:<10} {item.name:<16} 不足 {item.shortage:>4} → 発注 {qty:>4}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
