//! ひらがな・カタカナの相互変換と、読み仮名の比較用正規化。
//!
//! Unicode ではひらがな（U+3041〜U+3096）とカタカナ（U+30A1〜U+30F6）が
//! 同じ並びで 0x60 ずれて配置されているため、コードポイントの加減算で変換できる。

/// ひらがなとカタカナのコードポイントの差。
const KANA_OFFSET: u32 = 0x60;

/// 1 文字をカタカナに変換する。ひらがな以外はそのまま返す。
pub fn hira_to_kata_char(c: char) -> char {
    match c {
        'ぁ'..='ゖ' | 'ゝ' | 'ゞ' => char::from_u32(c as u32 + KANA_OFFSET).unwrap_or(c),
        _ => c,
    }
}

/// 1 文字をひらがなに変換する。「ヷ」「ヸ」など対応するひらがながない文字は変換しない。
pub fn kata_to_hira_char(c: char) -> char {
    match c {
        'ァ'..='ヶ' | 'ヽ' | 'ヾ' => char::from_u32(c as u32 - KANA_OFFSET).unwrap_or(c),
        _ => c,
    }
}

/// 文字列中のひらがなをカタカナに変換する。
///
/// ```ignore
/// assert_eq!(to_katakana("とうきょう"), "トウキョウ");
/// ```
pub fn to_katakana(s: &str) -> String {
    s.chars().map(hira_to_kata_char).collect()
}

/// 文字列中のカタカナをひらがなに変換する。長音記号「ー」は残す。
pub fn to_hiragana(s: &str) -> String {
    s.chars().map(kata_to_hira_char).collect()
}

/// 文字がかな（ひらがな・カタカナ・長音記号）かどうか。
pub fn is_kana(c: char) -> bool {
    matches!(c, 'ぁ'..='ゖ' | 'ァ'..='ヺ' | 'ー' | 'ゝ' | 'ゞ' | 'ヽ' | 'ヾ')
}

/// 読み仮名の入力チェック。空白以外がすべてかなであれば `Ok` を返し、
/// そうでなければ最初の不正な文字とその位置（文字単位）を返す。
pub fn validate_reading(s: &str) -> Result<(), (usize, char)> {
    s.chars()
        .enumerate()
        .find(|&(_, c)| !(is_kana(c) || c.is_whitespace()))
        .map_or(Ok(()), Err)
}

/// 比較・並べ替え用のキーを作る。
///
/// カタカナをひらがなにそろえ、空白を除き、小書き文字（ぁ, っ など）を
/// 通常の大きさに置き換える。
pub fn sort_key(reading: &str) -> String {
    to_hiragana(reading)
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            'ぁ' | 'ぃ' | 'ぅ' | 'ぇ' | 'ぉ' | 'っ' | 'ゃ' | 'ゅ' | 'ょ' | 'ゎ' => {
                // 小書き文字は通常の文字の 1 つ前のコードポイントにある
                char::from_u32(c as u32 + 1).unwrap_or(c)
            }
            'ゕ' => 'か',
            'ゖ' => 'け',
            _ => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_both_directions() {
        assert_eq!(to_katakana("とうきょう"), "トウキョウ");
        assert_eq!(to_hiragana("サッポロ"), "さっぽろ");
        assert_eq!(to_hiragana("コーヒー"), "こーひー");
    }

    #[test]
    fn leaves_other_characters_alone() {
        assert_eq!(to_katakana("ABC 漢字 123"), "ABC 漢字 123");
        assert_eq!(to_hiragana("ヷ"), "ヷ");
    }

    #[test]
    fn round_trip_is_identity_for_hiragana() {
        let s = "あいうえおがぎぐげごぱぴぷぺぽゃゅょっゔ";
        assert_eq!(to_hiragana(&to_katakana(s)), s);
    }

    #[test]
    fn validates_readings() {
        assert_eq!(validate_reading("やまだ たろう"), Ok(()));
        assert_eq!(validate_reading("ヤマダ　タロウ"), Ok(()));
        assert_eq!(validate_reading("やまだ太郎"), Err((3, '太')));
    }

    #[test]
    fn sort_key_ignores_small_kana_and_script() {
        assert_eq!(sort_key("キッテ"), sort_key("きつて"));
        assert_eq!(sort_key("シャ シン"), "しやしん");
    }
}
