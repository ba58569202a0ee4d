"""日本語テキストの文分割と文字種による簡易トークン化。

形態素解析器を入れるほどでもない前処理（全文検索の N-gram 作成、
ログの要約表示など）向けに、規則ベースで処理する。
"""

import unicodedata
from collections.abc import Iterable
from enum import Enum

# 文末とみなす記号。閉じ括弧が続く場合はそこまでを 1 文にする。
SENTENCE_END = "。！？!?"
CLOSING = "」』）)】〕"
OPENING = "「『（(【〔"


class CharType(Enum):
    HIRAGANA = "ひらがな"
    KATAKANA = "カタカナ"
    KANJI = "漢字"
    ALNUM = "英数字"
    SYMBOL = "記号"
    SPACE = "空白"


def char_type(ch: str) -> CharType:
    """1 文字の文字種を判定する。長音符「ー」はカタカナ扱いにする。"""
    if ch.isspace():
        return CharType.SPACE
    code = ord(ch)
    if 0x3041 <= code <= 0x309F:
        return CharType.HIRAGANA
    if 0x30A0 <= code <= 0x30FF or ch == "ー":
        return CharType.KATAKANA
    if 0x4E00 <= code <= 0x9FFF or ch in "々〆":
        return CharType.KANJI
    if ch.isascii() and ch.isalnum():
        return CharType.ALNUM
    if unicodedata.category(ch).startswith(("L", "N")):
        return CharType.ALNUM
    return CharType.SYMBOL


def split_sentences(text: str) -> list[str]:
    """文末記号で文を区切る。鉤括弧の中の句点では区切らない。

    >>> split_sentences("雨が降った。「傘は？」と聞かれた。はい！")
    ['雨が降った。', '「傘は？」と聞かれた。', 'はい！']
    """
    sentences: list[str] = []
    buf: list[str] = []
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        buf.append(ch)
        if ch in OPENING:
            depth += 1
        elif ch in CLOSING and depth > 0:
            depth -= 1
        elif ch in SENTENCE_END and depth == 0:
            # 「！？」のような連続記号と直後の閉じ括弧はまとめて取り込む
            while i + 1 < len(text) and (text[i + 1] in SENTENCE_END or text[i + 1] in CLOSING):
                i += 1
                buf.append(text[i])
            sentences.append("".join(buf).strip())
            buf = []
        elif ch == "\n" and "".join(buf).strip() == "":
            buf = []
        i += 1
    rest = "".join(buf).strip()
    if rest:
        sentences.append(rest)
    return [s for s in sentences if s]


def tokenize_by_type(text: str) -> list[tuple[str, CharType]]:
    """同じ文字種が続く区間を 1 トークンにまとめる。空白は捨てる。

    「送り仮名」を扱うため、漢字の直後のひらがなは漢字トークンに含めない。
    """
    tokens: list[tuple[str, CharType]] = []
    for ch in text:
        t = char_type(ch)
        if t is CharType.SPACE:
            tokens.append(("", CharType.SPACE))
            continue
        if tokens and tokens[-1][1] is t and t is not CharType.SYMBOL:
            tokens[-1] = (tokens[-1][0] + ch, t)
        else:
            tokens.append((ch, t))
    return [(s, t) for s, t in tokens if t is not CharType.SPACE]


def char_ngrams(text: str, n: int = 2) -> Iterable[str]:
    """記号と空白を除いた文字 N-gram を生成する。全文検索のインデックス用。"""
    cleaned = "".join(ch for ch in text if char_type(ch) not in (CharType.SYMBOL, CharType.SPACE))
    for i in range(len(cleaned) - n + 1):
        yield cleaned[i:i + n]


def summarize(text: str, max_chars: int = 40) -> str:
    """先頭の文を最大 max_chars 文字に切り詰めて返す。通知文の件名に使う。"""
    sentences = split_sentences(text)
    head = sentences[0] if sentences else ""
    if len(head) <= max_chars:
        return head
    return head[: max_chars - 1] + "…"


if __name__ == "__main__":
    sample = (
        "本日15時からサーバーのメンテナンスを実施します。"
        "作業中は管理画面にログインできません（約30分）。"
        "担当者から「完了しました！」と連絡があるまでお待ちください。\n"
        "ご不明点はチャットでどうぞ"
    )
    for n, s in enumerate(split_sentences(sample), 1):
        print(f"{n}: {s}")
    print()
    for tok, typ in tokenize_by_type("新しいAPIサーバーを2台追加する"):
        print(f"{tok}\t{typ.value}")
    print()
    print(list(char_ngrams("東京都庁", 2)))
    print(summarize(sample, 20))
