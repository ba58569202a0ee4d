"""買い物かごの金額計算と、その pytest テスト。

消費税は標準税率 10%、軽減税率 8%（食品）を品目ごとに区分し、
税率ごとに合計してから 1 円未満を切り捨てる（インボイスの端数処理ルール）。
"""
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

import pytest

STANDARD = Decimal("0.10")
REDUCED = Decimal("0.08")


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    price: int  # 税抜き単価（円）
    is_food: bool = False

    @property
    def tax_rate(self) -> Decimal:
        return REDUCED if self.is_food else STANDARD


@dataclass
class Cart:
    lines: dict[str, list] = field(default_factory=dict)  # code -> [Product, 数量]
    discount: int = 0  # 税抜き合計からの値引き額（標準税率分から優先的に引く）

    def add(self, product: Product, qty: int = 1) -> None:
        if qty <= 0:
            raise ValueError("数量は 1 以上を指定してください")
        if product.code in self.lines:
            self.lines[product.code][1] += qty
        else:
            self.lines[product.code] = [product, qty]

    def remove(self, code: str, qty: int = 1) -> None:
        if code not in self.lines:
            raise KeyError(code)
        self.lines[code][1] -= qty
        if self.lines[code][1] <= 0:
            del self.lines[code]

    def subtotal_by_rate(self) -> dict[Decimal, int]:
        """税率ごとの税抜き小計。値引きは標準税率 → 軽減税率の順に充当する。"""
        totals = {STANDARD: 0, REDUCED: 0}
        for product, qty in self.lines.values():
            totals[product.tax_rate] += product.price * qty
        remaining = self.discount
        for rate in (STANDARD, REDUCED):
            used = min(remaining, totals[rate])
            totals[rate] -= used
            remaining -= used
        return totals

    def tax_by_rate(self) -> dict[Decimal, int]:
        return {
            rate: int((Decimal(amount) * rate).quantize(Decimal("1"), rounding=ROUND_DOWN))
            for rate, amount in self.subtotal_by_rate().items()
        }

    def total(self) -> int:
        return sum(self.subtotal_by_rate().values()) + sum(self.tax_by_rate().values())


# ------------------------------------------------------------------ テスト

@pytest.fixture
def onigiri():
    return Product("F001", "おにぎり（鮭）", 150, is_food=True)


@pytest.fixture
def notebook():
    return Product("G010", "大学ノート", 198)


@pytest.fixture
def cart():
    return Cart()


def test_empty_cart_is_zero(cart):
    assert cart.total() == 0


def test_same_product_is_merged(cart, onigiri):
    cart.add(onigiri)
    cart.add(onigiri, 2)
    assert len(cart.lines) == 1
    assert cart.lines["F001"][1] == 3


def test_mixed_tax_rates(cart, onigiri, notebook):
    cart.add(onigiri, 3)   # 450 円 → 税 36 円
    cart.add(notebook, 1)  # 198 円 → 税 19.8 → 19 円
    assert cart.tax_by_rate() == {STANDARD: 19, REDUCED: 36}
    assert cart.total() == 450 + 198 + 36 + 19


@pytest.mark.parametrize("qty, expected_tax", [(1, 12), (3, 36), (7, 84), (9, 108)])
def test_reduced_rate_rounding(cart, onigiri, qty, expected_tax):
    cart.add(onigiri, qty)
    assert cart.tax_by_rate()[REDUCED] == expected_tax


def test_discount_applies_to_standard_first(cart, onigiri, notebook):
    cart.add(onigiri, 2)
    cart.add(notebook, 1)
    cart.discount = 250  # ノート分 198 円を使い切り、残り 52 円を食品から引く
    assert cart.subtotal_by_rate() == {STANDARD: 0, REDUCED: 248}


def test_remove_until_empty(cart, notebook):
    cart.add(notebook, 2)
    cart.remove("G010")
    assert cart.lines["G010"][1] == 1
    cart.remove("G010")
    assert "G010" not in cart.lines


def test_invalid_quantity(cart, notebook):
    with pytest.raises(ValueError, match="数量は 1 以上"):
        cart.add(notebook, 0)


def test_remove_unknown_code(cart):
    with pytest.raises(KeyError):
        cart.remove("X999")
