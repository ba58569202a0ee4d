package calendar.biz;

import java.time.DayOfWeek;
import java.time.LocalDate;
import java.time.MonthDay;
import java.time.temporal.ChronoUnit;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.Stream;

/**
 * 営業日の計算を行うクラス。
 *
 * <p>土日と、登録された祝日・会社休日を非営業日として扱う。
 * 祝日データは年ごとに外部ファイルから読み込む想定で、ここでは登録用のメソッドだけを持つ。</p>
 *
 * <pre>{@code
 * BusinessDayCalculator cal = new BusinessDayCalculator();
 * cal.addHoliday(LocalDate.of(2024, 5, 3));
 * LocalDate due = cal.addBusinessDays(LocalDate.of(2024, 5, 2), 3);
 * }</pre>
 */
public final class BusinessDayCalculator {

    private final Set<DayOfWeek> weekend;
    private final Set<LocalDate> holidays = new HashSet<>();
    /** 毎年同じ日付の休日（年末年始など） */
    private final Set<MonthDay> annualClosures = new HashSet<>();

    /** 土日休みのカレンダーを作成する。 */
    public BusinessDayCalculator() {
        this(EnumSet.of(DayOfWeek.SATURDAY, DayOfWeek.SUNDAY));
    }

    /**
     * 休業曜日を指定してカレンダーを作成する。
     *
     * @param weekend 休業曜日（例: 水曜定休の店舗なら WEDNESDAY のみ）
     */
    public BusinessDayCalculator(Set<DayOfWeek> weekend) {
        this.weekend = weekend.isEmpty() ? EnumSet.noneOf(DayOfWeek.class) : EnumSet.copyOf(weekend);
    }

    public BusinessDayCalculator addHoliday(LocalDate date) {
        holidays.add(date);
        return this;
    }

    /** 12/29〜1/3 のような毎年の休業日を登録する。 */
    public BusinessDayCalculator addAnnualClosure(int month, int day) {
        annualClosures.add(MonthDay.of(month, day));
        return this;
    }

    /**
     * 指定日が営業日かどうかを返す。
     *
     * @param date 判定する日付
     * @return 営業日なら {@code true}
     */
    public boolean isBusinessDay(LocalDate date) {
        return !weekend.contains(date.getDayOfWeek())
                && !holidays.contains(date)
                && !annualClosures.contains(MonthDay.from(date));
    }

    /**
     * 起算日から n 営業日後（n が負なら前）の日付を返す。起算日自体は数えない。
     *
     * @throws IllegalStateException 1 年以上営業日が見つからない設定の場合
     */
    public LocalDate addBusinessDays(LocalDate start, int n) {
        int step = n >= 0 ? 1 : -1;
        int remaining = Math.abs(n);
        LocalDate cursor = start;
        int guard = 0;
        while (remaining > 0) {
            cursor = cursor.plusDays(step);
            if (isBusinessDay(cursor)) {
                remaining--;
                guard = 0;
            } else if (++guard > 366) {
                throw new IllegalStateException("営業日が見つかりません。休日設定を確認してください");
            }
        }
        return cursor;
    }

    /**
     * 期間内の営業日数を数える（from を含み、to を含まない）。
     */
    public long countBusinessDays(LocalDate from, LocalDate to) {
        if (to.isBefore(from)) {
            return -countBusinessDays(to, from);
        }
        long days = ChronoUnit.DAYS.between(from, to);
        return Stream.iterate(from, d -> d.plusDays(1))
                .limit(days)
                .filter(this::isBusinessDay)
                .count();
    }

    /** その月の最終営業日（給与振込日の前倒し計算などで使う）。 */
    public LocalDate lastBusinessDayOfMonth(int year, int month) {
        LocalDate d = LocalDate.of(year, month, 1).plusMonths(1).minusDays(1);
        while (!isBusinessDay(d)) {
            d = d.minusDays(1);
        }
        return d;
    }

    public static void main(String[] args) {
        BusinessDayCalculator cal = new BusinessDayCalculator()
                .addHoliday(LocalDate.of(2024, 5, 3))
                .addHoliday(LocalDate.of(2024, 5, 6))
                .addAnnualClosure(12, 31)
                .addAnnualClosure(1, 1);

        LocalDate ordered = LocalDate.of(2024, 5, 2);
        System.out.println("受注日: " + ordered);
        System.out.println("3 営業日後の出荷予定日: " + cal.addBusinessDays(ordered, 3));
        System.out.println("5 月の営業日数: "
                + cal.countBusinessDays(LocalDate.of(2024, 5, 1), LocalDate.of(2024, 6, 1)));
        System.out.println("8 月の最終営業日: " + cal.lastBusinessDayOfMonth(2024, 8));
    }
}
