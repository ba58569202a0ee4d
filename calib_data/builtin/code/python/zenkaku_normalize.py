"""全角・半角の表記ゆれを吸収するための正規化ユーティリティ。

フォーム入力や CSV 取り込みで混ざりがちな文字種を、
社内の表記ルールにそろえることを目的としている。

ルール:
    - 英数字と記号は半角にそろえる
    - カタカナは全角にそろえる（半角カナの濁点・半濁点も結合する）
    - 連続する空白は 1 つにまとめる
"""

from __future__ import annotations

import re
import unicodedata

# 半角カナ → 全角カナの対応表。濁点付きは別テーブルで先に処理する。
_HANKAKU_KANA = "ｦｧｨｩｪｫｬｭｮｯｰｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾅﾆﾇﾈﾉﾊﾋﾌﾍﾎﾏﾐﾑﾒﾓﾔﾕﾖﾗﾘﾙﾚﾛﾜﾝ"
_ZENKAKU_KANA = "ヲァィゥェォャュョッーアイウエオカキクケコサシスセソタチツテトナニヌネノハヒフヘホマミムメモヤユヨラリルレロワン"

_DAKUTEN_BASE = "ｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄﾊﾋﾌﾍﾎｳ"
_DAKUTEN_DONE = "ガギグゲゴザジズゼゾダヂヅデドバビブベボヴ"
_HANDAKU_BASE = "ﾊﾋﾌﾍﾎ"
_HANDAKU_DONE = "パピプペポ"

_KANA_TABLE = str.maketrans(_HANKAKU_KANA, _ZENKAKU_KANA)
_SPACES = re.compile(r"[\s\u3000]+")


def _merge_voiced_marks(text: str) -> str:
    """半角カナ + 半角濁点（ﾞ / ﾟ）の並びを 1 文字の全角カナに置き換える。"""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if nxt == "ﾞ" and ch in _DAKUTEN_BASE:
            out.append(_DAKUTEN_DONE[_DAKUTEN_BASE.index(ch)])
            i += 2
            continue
        if nxt == "ﾟ" and ch in _HANDAKU_BASE:
            out.append(_HANDAKU_DONE[_HANDAKU_BASE.index(ch)])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def to_hankaku_alnum(text: str) -> str:
    """全角英数字・記号（U+FF01〜U+FF5E）を半角に変換する。"""
    chars = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            chars.append(chr(code - 0xFEE0))
        else:
            chars.append(ch)
    return "".join(chars)


def to_zenkaku_kana(text: str) -> str:
    """半角カナを全角カナに変換する。濁点・半濁点は結合してから変換する。"""
    merged = _merge_voiced_marks(text)
    merged = merged.replace("ﾞ", "゛").replace("ﾟ", "゜")
    return merged.translate(_KANA_TABLE)


def normalize(text: str, *, collapse_space: bool = True) -> str:
    """社内ルールにもとづいて文字列を正規化する。

    Args:
        text: 入力文字列。
        collapse_space: True のとき、全角スペースを含む連続空白を半角 1 つにする。

    Returns:
        正規化済みの文字列。前後の空白は取り除かれる。

    >>> normalize("ＡＢＣ　１２３ ｶﾞｷﾞ")
    'ABC 123 ガギ'
    """
    result = to_zenkaku_kana(to_hankaku_alnum(text))
    if collapse_space:
        result = _SPACES.sub(" ", result)
    return result.strip()


def normalize_nfkc_safe(text: str) -> str:
    """NFKC を使いつつ、変換されると困る文字だけ元に戻す版。

    NFKC は「①」を「1」に、「㈱」を「(株)」にしてしまうため、
    帳票で意味が変わる記号はあらかじめ退避しておく。
    """
    protected = {"①": "\x00a", "②": "\x00b", "③": "\x00c", "㈱": "\x00d"}
    for src, tmp in protected.items():
        text = text.replace(src, tmp)
    text = unicodedata.normalize("NFKC", text)
    for src, tmp in protected.items():
        text = text.replace(tmp, src)
    return text


if __name__ == "__main__":
    samples = [
        "ﾄｳｷｮｳﾄ　ﾁﾖﾀﾞｸ",
        "ＴＥＬ：０１２０－０００－０００",
        "ﾊﾟｿｺﾝ  修理　受付",
        "①　㈱サンプル商事",
    ]
    for s in samples:
        print(f"{s!r:>28} -> {normalize(s)!r}")
    print(normalize_nfkc_safe("①　㈱サンプル商事　ＡＢＣ"))
