//! INI 形式の設定ファイルを読み込む小さなパーサ。
//!
//! - `[section]` でセクションを切り替える
//! - `key = value` の形式で値を書く（前後の空白は取り除く）
//! - `;` または `#` で始まる行はコメント

use std::collections::BTreeMap;
use std::fmt;

/// パースエラー。行番号は 1 始まり。
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// `[` で始まるが `]` で閉じていない
    UnclosedSection { line: usize },
    /// `=` がない行
    MissingEquals { line: usize },
    /// 同じセクション内でキーが重複している
    DuplicateKey { line: usize, key: String },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnclosedSection { line } => write!(f, "{line} 行目: セクション名が閉じていません"),
            ParseError::MissingEquals { line } => write!(f, "{line} 行目: '=' がありません"),
            ParseError::DuplicateKey { line, key } => write!(f, "{line} 行目: キー '{key}' が重複しています"),
        }
    }
}

impl std::error::Error for ParseError {}

/// セクション名 → (キー → 値) の対応。
#[derive(Debug, Default)]
pub struct Ini {
    sections: BTreeMap<String, BTreeMap<String, String>>,
}

impl Ini {
    /// 文字列全体をパースする（最初のエラーで中断）。
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut ini = Ini::default();
        let mut current = String::new();

        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                let name = rest.strip_suffix(']').ok_or(ParseError::UnclosedSection { line: line_no })?;
                current = name.trim().to_string();
                ini.sections.entry(current.clone()).or_default();
                continue;
            }
            let (key, value) = line.split_once('=').ok_or(ParseError::MissingEquals { line: line_no })?;
            let key = key.trim();
            let section = ini.sections.entry(current.clone()).or_default();
            if section.contains_key(key) {
                return Err(ParseError::DuplicateKey { line: line_no, key: key.to_string() });
            }
            section.insert(key.to_string(), unquote(value.trim()).to_string());
        }
        Ok(ini)
    }

    /// 値を文字列として取得する。
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.sections.get(section)?.get(key).map(String::as_str)
    }

    /// 値を任意の型に変換して取得する。変換できない場合も `None` を返す。
    pub fn get_as<T: std::str::FromStr>(&self, section: &str, key: &str) -> Option<T> {
        self.get(section, key)?.parse().ok()
    }
}

/// 値がダブルクォートで囲まれていれば外す。
fn unquote(v: &str) -> &str {
    v.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
; 全体設定
app_name = \"在庫管理\"

[database]
port = 5432

[cache]
enabled = true
";

    #[test]
    fn parses_sections_and_values() {
        let ini = Ini::parse(SAMPLE).unwrap();
        assert_eq!(ini.get("", "app_name"), Some("在庫管理"));
        assert_eq!(ini.get_as::<u16>("database", "port"), Some(5432));
        assert_eq!(ini.get_as::<bool>("cache", "enabled"), Some(true));
    }

    #[test]
    fn reports_errors_with_line_numbers() {
        assert_eq!(Ini::parse("[a]\nkey\n").unwrap_err(), ParseError::MissingEquals { line: 2 });
        let err = Ini::parse("[a]\nx=1\nx=2\n").unwrap_err();
        assert_eq!(err.to_string(), "3 行目: キー 'x' が重複しています");
    }
}
