package jp.sample.address;

import java.text.Normalizer;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * 住所文字列の表記ゆれを吸収するための正規化処理。
 *
 * <p>重複顧客の名寄せで使う。正規化後の文字列は比較用であり、
 * 画面表示や郵送には元の入力をそのまま使うこと。</p>
 *
 * <ul>
 *   <li>全角英数字を半角にする（NFKC）</li>
 *   <li>「三丁目」「3丁目」を「3-」にそろえる</li>
 *   <li>「番地」「番」「号」をハイフン区切りにする</li>
 *   <li>各種ハイフン・長音記号の混在を統一する</li>
 * </ul>
 */
public final class AddressNormalizer {

    private static final Map<Character, Integer> KANJI_DIGITS = Map.of(
            '〇', 0, '一', 1, '二', 2, '三', 3, '四', 4,
            '五', 5, '六', 6, '七', 7, '八', 8, '九', 9);

    /** 数字の直後に来るハイフン類。カタカナの長音「ー」は数字の後ろでのみ置き換える。 */
    private static final Pattern DASHES = Pattern.compile("(?<=\\d)[\\-‐‑–—―−ー－]");

    private static final Pattern KANJI_NUMBER = Pattern.compile("[〇一二三四五六七八九十百]+(?=丁目|番地?|号)");

    private static final Pattern CHOME_BANCHI = Pattern.compile("(\\d+)(?:丁目|番地|番)");

    private static final Pattern GO = Pattern.compile("(\\d+)号");

    private AddressNormalizer() {
        // ユーティリティクラスのためインスタンス化しない
    }

    /**
     * 漢数字を整数に変換する。「十」「百」の位取りにも対応する（999 まで）。
     *
     * @param kanji 漢数字のみからなる文字列
     * @return 変換後の数値
     */
    static int parseKanjiNumber(String kanji) {
        int total = 0;
        int current = 0;
        for (char c : kanji.toCharArray()) {
            if (c == '百') {
                total += (current == 0 ? 1 : current) * 100;
                current = 0;
            } else if (c == '十') {
                total += (current == 0 ? 1 : current) * 10;
                current = 0;
            } else {
                Integer d = KANJI_DIGITS.get(c);
                if (d == null) {
                    throw new IllegalArgumentException("漢数字ではありません: " + c);
                }
                // 「二〇」のように位取りなしで並ぶ書き方にも対応する
                current = current * 10 + d;
            }
        }
        return total + current;
    }

    /**
     * 比較用に住所を正規化する。
     *
     * @param raw 入力された住所（null 不可）
     * @return 正規化済みの住所
     */
    public static String normalize(String raw) {
        String s = Normalizer.normalize(raw, Normalizer.Form.NFKC);
        s = s.replaceAll("\\s+", "");

        Matcher m = KANJI_NUMBER.matcher(s);
        StringBuilder sb = new StringBuilder();
        while (m.find()) {
            m.appendReplacement(sb, String.valueOf(parseKanjiNumber(m.group())));
        }
        m.appendTail(sb);
        s = sb.toString();

        s = DASHES.matcher(s).replaceAll("-");
        s = CHOME_BANCHI.matcher(s).replaceAll("$1-");
        s = GO.matcher(s).replaceAll("$1");
        // 末尾や連続したハイフンを整理する
        s = s.replaceAll("-{2,}", "-").replaceAll("-$", "");
        return s;
    }

    /** 2 つの住所が同一とみなせるかを判定する。 */
    public static boolean sameAddress(String a, String b) {
        return normalize(a).equals(normalize(b));
    }

    public static void main(String[] args) {
        String[][] pairs = {
                {"架空県みなと市本町三丁目十二番地五号", "架空県みなと市本町３－１２－５"},
                {"架空県みなと市桜台二十一番地", "架空県みなと市桜台21"},
                {"架空県みなと市緑町１ー２ー３　サンプルビル４Ｆ", "架空県みなと市緑町1-2-3サンプルビル4F"},
        };
        for (String[] p : pairs) {
            System.out.printf("%s%n  -> %s%n  同一: %b%n", p[0], normalize(p[0]), sameAddress(p[0], p[1]));
        }
    }
}
