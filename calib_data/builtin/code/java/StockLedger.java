package warehouse.stock;

import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.stream.Collectors;

/**
 * 倉庫ごとの入出庫を記録する在庫台帳。
 *
 * <p>在庫数は記録された取引から都度集計する。取引そのものは追記のみで、
 * 訂正は逆方向の取引を追加して行う（赤黒訂正）。</p>
 */
public class StockLedger {

    /** 取引の種類。符号は在庫数への影響を表す。 */
    public enum Kind {
        /** 入庫 */
        RECEIVE(1),
        /** 出庫 */
        SHIP(-1),
        /** 棚卸による調整（数量の符号をそのまま使う） */
        ADJUST(1);

        private final int sign;

        Kind(int sign) {
            this.sign = sign;
        }

        int apply(int quantity) {
            return sign * quantity;
        }
    }

    /**
     * 1 件の入出庫取引。
     *
     * @param sku       商品コード
     * @param warehouse 倉庫コード
     * @param kind      取引種別
     * @param quantity  数量（調整以外は正の数）
     * @param at        取引日時
     */
    public record Entry(String sku, String warehouse, Kind kind, int quantity, LocalDateTime at) {
        public Entry {
            Objects.requireNonNull(sku, "sku");
            Objects.requireNonNull(warehouse, "warehouse");
            Objects.requireNonNull(kind, "kind");
            Objects.requireNonNull(at, "at");
            if (kind != Kind.ADJUST && quantity <= 0) {
                throw new IllegalArgumentException("数量は 1 以上で指定してください: " + quantity);
            }
        }

        int delta() {
            return kind.apply(quantity);
        }
    }

    /** 在庫が足りないときに投げる例外。 */
    public static class InsufficientStockException extends RuntimeException {
        private static final long serialVersionUID = 1L;
        private final int available;

        public InsufficientStockException(String sku, int requested, int available) {
            super(String.format("在庫不足です: %s（要求 %d / 在庫 %d）", sku, requested, available));
            this.available = available;
        }

        public int getAvailable() {
            return available;
        }
    }

    private final List<Entry> entries = new ArrayList<>();

    /** 入庫を記録する。 */
    public void receive(String sku, String warehouse, int quantity) {
        entries.add(new Entry(sku, warehouse, Kind.RECEIVE, quantity, LocalDateTime.now()));
    }

    /**
     * 出庫を記録する。在庫が不足する場合は記録せずに例外を投げる。
     *
     * @throws InsufficientStockException 指定倉庫の在庫が数量に満たない場合
     */
    public synchronized void ship(String sku, String warehouse, int quantity) {
        int available = onHand(sku, warehouse);
        if (available < quantity) {
            throw new InsufficientStockException(sku, quantity, available);
        }
        entries.add(new Entry(sku, warehouse, Kind.SHIP, quantity, LocalDateTime.now()));
    }

    /** 棚卸の実数に合わせて差分を調整取引として記録する。 */
    public synchronized void adjustTo(String sku, String warehouse, int counted) {
        int diff = counted - onHand(sku, warehouse);
        if (diff != 0) {
            entries.add(new Entry(sku, warehouse, Kind.ADJUST, diff, LocalDateTime.now()));
        }
    }

    /** 指定倉庫の現在庫。 */
    public int onHand(String sku, String warehouse) {
        return entries.stream()
                .filter(e -> e.sku().equals(sku) && e.warehouse().equals(warehouse))
                .mapToInt(Entry::delta)
                .sum();
    }

    /** 商品ごとの全倉庫合計。商品コード順に並べて返す。 */
    public Map<String, Integer> totalsBySku() {
        return entries.stream()
                .collect(Collectors.groupingBy(Entry::sku, TreeMap::new,
                        Collectors.summingInt(Entry::delta)));
    }

    /** 取引履歴（読み取り専用）。 */
    public List<Entry> history() {
        return Collections.unmodifiableList(entries);
    }
}
