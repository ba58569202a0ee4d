'use strict';

/**
 * 全角・半角の相互変換ユーティリティ。
 * フォーム入力の正規化（検索キーや会員番号の比較など）で使う想定。
 * @module zenkaku_hankaku
 */

// 全角英数記号（！〜～）と半角（!〜~）のコードポイント差
const FULLWIDTH_OFFSET = 0xfee0;

// 半角カナ → 全角カナの対応表（濁点・半濁点は別処理）
const HALF_KANA = 'ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ';
const FULL_KANA = 'ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン';

const kanaMap = new Map();
for (let i = 0; i < HALF_KANA.length; i++) {
  kanaMap.set(HALF_KANA[i], FULL_KANA[i]);
}

/**
 * 全角英数字・記号を半角に変換する。
 * 全角スペースも半角スペースにそろえる。
 * @param {string} input 変換対象の文字列
 * @returns {string} 半角化した文字列
 */
function toHankakuAscii(input) {
  return String(input)
    .replace(/[！-～]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) - FULLWIDTH_OFFSET))
    .replace(/\u3000/g, ' ');
}

/**
 * 半角英数字・記号を全角に変換する。
 * @param {string} input 変換対象の文字列
 * @returns {string} 全角化した文字列
 */
function toZenkakuAscii(input) {
  return String(input)
    .replace(/[!-~]/g, (ch) => String.fromCharCode(ch.charCodeAt(0) + FULLWIDTH_OFFSET))
    .replace(/ /g, '\u3000');
}

/**
 * 半角カナを全角カナに変換する。
 * 「ｶﾞ」のように濁点が後続する場合は合成して「ガ」にする。
 * @param {string} input 変換対象の文字列
 * @returns {string}
 */
function toZenkakuKana(input) {
  const out = [];
  const chars = Array.from(String(input));
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    const full = kanaMap.get(ch);
    if (!full) {
      out.push(ch);
      continue;
    }
    const next = chars[i + 1];
    if (next === 'ﾞ' || next === 'ﾟ') {
      // NFC 正規化で濁点付きの 1 文字にまとめる
      const mark = next === 'ﾞ' ? '\u3099' : '\u309a';
      const composed = (full + mark).normalize('NFC');
      if (composed.length === 1) {
        out.push(composed);
        i++;
        continue;
      }
      // 「ｱﾞ」など合成できない組み合わせはそのまま残す
    }
    out.push(full);
  }
  return out.join('');
}

/**
 * 検索用の正規化。英数字は半角、カナは全角、英字は小文字にそろえる。
 * @param {string} input
 * @returns {string}
 */
function normalizeForSearch(input) {
  return toZenkakuKana(toHankakuAscii(input)).toLowerCase().trim();
}

module.exports = {
  toHankakuAscii,
  toZenkakuAscii,
  toZenkakuKana,
  normalizeForSearch,
};

// 直接実行したときだけ簡単な動作確認を行う
if (require.main === module) {
  const samples = ['ＡＢＣ１２３', 'ｶﾞｲﾄﾞﾌﾞｯｸ', 'ﾎﾟｲﾝﾄ　ｶｰﾄﾞ No.５'];
  for (const s of samples) {
    console.log(`${s} => ${normalizeForSearch(s)}`);
  }
}
