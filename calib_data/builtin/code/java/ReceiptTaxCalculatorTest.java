package pos.receipt;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.List;

import org.junit.jupiter.api.DisplayName;
import org.junit.jupiter.api.Test;

/**
 * レシートの消費税計算（インボイス形式: 税率ごとに 1 回だけ端数処理）。
 */
final class ReceiptTaxCalculator {

    /** 税率区分 */
    enum TaxRate {
        STANDARD(new BigDecimal("0.10")),
        REDUCED(new BigDecimal("0.08"));

        final BigDecimal rate;

        TaxRate(BigDecimal rate) {
            this.rate = rate;
        }
    }

    /** 明細 1 行（税抜き単価 × 数量） */
    record Line(String name, long unitPrice, int quantity, TaxRate taxRate) {
        Line {
            if (unitPrice < 0 || quantity <= 0) {
                throw new IllegalArgumentException("単価または数量が不正です: " + name);
            }
        }
    }

    /** 税率ごとの集計結果 */
    record Summary(long standardBase, long standardTax, long reducedBase, long reducedTax) {
        long total() {
            return standardBase + standardTax + reducedBase + reducedTax;
        }
    }

    private final RoundingMode rounding;

    ReceiptTaxCalculator(RoundingMode rounding) {
        this.rounding = rounding;
    }

    Summary calculate(List<Line> lines) {
        long standard = 0;
        long reduced = 0;
        for (Line l : lines) {
            long amount = Math.multiplyExact(l.unitPrice(), (long) l.quantity());
            if (l.taxRate() == TaxRate.STANDARD) {
                standard += amount;
            } else {
                reduced += amount;
            }
        }
        return new Summary(standard, tax(standard, TaxRate.STANDARD),
                reduced, tax(reduced, TaxRate.REDUCED));
    }

    private long tax(long base, TaxRate rate) {
        return BigDecimal.valueOf(base).multiply(rate.rate)
                .setScale(0, rounding)
                .longValueExact();
    }
}

/**
 * {@link ReceiptTaxCalculator} のテスト。
 */
class ReceiptTaxCalculatorTest {

    private final ReceiptTaxCalculator floorCalc = new ReceiptTaxCalculator(RoundingMode.DOWN);

    @Test
    @DisplayName("標準税率のみの場合は合計額の 10% を切り捨てる")
    void standardOnly() {
        var summary = floorCalc.calculate(List.of(
                new ReceiptTaxCalculator.Line("ノート", 198, 3, ReceiptTaxCalculator.TaxRate.STANDARD)));

        assertEquals(594, summary.standardBase());
        assertEquals(59, summary.standardTax()); // 59.4 → 59
        assertEquals(653, summary.total());
    }

    @Test
    @DisplayName("軽減税率と標準税率が混在する場合は税率ごとに端数処理する")
    void mixedRates() {
        var summary = floorCalc.calculate(List.of(
                new ReceiptTaxCalculator.Line("おにぎり", 128, 2, ReceiptTaxCalculator.TaxRate.REDUCED),
                new ReceiptTaxCalculator.Line("緑茶", 138, 1, ReceiptTaxCalculator.TaxRate.REDUCED),
                new ReceiptTaxCalculator.Line("レジ袋", 3, 1, ReceiptTaxCalculator.TaxRate.STANDARD)));

        assertEquals(394, summary.reducedBase());
        assertEquals(31, summary.reducedTax()); // 31.52 → 31
        assertEquals(0, summary.standardTax()); // 0.3 → 0
        assertEquals(428, summary.total());
    }

    @Test
    @DisplayName("四捨五入の設定では 0.5 円以上を切り上げる")
    void roundHalfUp() {
        var calc = new ReceiptTaxCalculator(RoundingMode.HALF_UP);
        var summary = calc.calculate(List.of(
                new ReceiptTaxCalculator.Line("菓子パン", 119, 1, ReceiptTaxCalculator.TaxRate.REDUCED)));

        assertEquals(10, summary.reducedTax()); // 9.52 → 10
    }

    @Test
    @DisplayName("明細が空なら合計は 0 円")
    void emptyReceipt() {
        assertEquals(0, floorCalc.calculate(List.of()).total());
    }

    @Test
    @DisplayName("数量 0 の明細は作成できない")
    void rejectsZeroQuantity() {
        assertThrows(IllegalArgumentException.class, () ->
                new ReceiptTaxCalculator.Line("付箋", 100, 0, ReceiptTaxCalculator.TaxRate.STANDARD));
    }
}
