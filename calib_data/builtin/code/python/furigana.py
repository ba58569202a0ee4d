"""ルビ（ふりがな）記法を解析して HTML やプレーンテキストに変換するモジュール。

対応している記法:
    ｜漢字《かんじ》   … 縦棒で親文字の開始位置を明示する
    漢字《かんじ》     … 縦棒を省略した場合は直前の漢字の連続を親文字とみなす
"""

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Union

# 漢字の判定。々〆ヶ も親文字に含める。
KANJI = r"[\u4E00-\u9FFF\u3005\u3006\u30F6]"

RUBY_PATTERN = re.compile(
    r"[｜|](?P<base1>[^｜|《]+?)《(?P<ruby1>[^》]+)》"
    r"|(?P<base2>" + KANJI + r"+)《(?P<ruby2>[^》]+)》"
)


@dataclass(frozen=True)
class Ruby:
    """ルビ付きの区間を表す。"""

    base: str
    reading: str


Segment = Union[str, Ruby]


def parse(text: str) -> list[Segment]:
    """文字列をプレーン文字列と Ruby の並びに分解する。

    >>> parse("今日は｜東京《とうきょう》へ")
    ['今日は', Ruby(base='東京', reading='とうきょう'), 'へ']
    """
    segments: list[Segment] = []
    pos = 0
    for m in RUBY_PATTERN.finditer(text):
        if m.start() > pos:
            segments.append(text[pos:m.start()])
        base = m.group("base1") or m.group("base2")
        reading = m.group("ruby1") or m.group("ruby2")
        segments.append(Ruby(base, reading))
        pos = m.end()
    if pos < len(text):
        segments.append(text[pos:])
    return segments


def to_html(text: str) -> str:
    """ルビ記法を <ruby> タグに変換する。ルビ以外の部分はエスケープする。"""
    parts = []
    for seg in parse(text):
        if isinstance(seg, Ruby):
            parts.append(
                f"<ruby>{html.escape(seg.base)}<rp>（</rp><rt>{html.escape(seg.reading)}</rt><rp>）</rp></ruby>"
            )
        else:
            parts.append(html.escape(seg))
    return "".join(parts)


def strip_ruby(text: str) -> str:
    """ルビを取り除き、親文字だけを残す。検索インデックス用。"""
    return "".join(s.base if isinstance(s, Ruby) else s for s in parse(text))


def reading_only(text: str) -> str:
    """親文字をルビで置き換えた読み上げ用テキストを返す。"""
    return "".join(s.reading if isinstance(s, Ruby) else s for s in parse(text))


def iter_rubies(text: str) -> Iterator[Ruby]:
    """本文中のルビだけを順に返す。用語集の自動生成に使う。"""
    for seg in parse(text):
        if isinstance(seg, Ruby):
            yield seg


def build_glossary(lines: list[str]) -> dict:
    """複数行の本文から 親文字 → 読み の辞書を作る。

    同じ親文字に異なる読みが付いている場合は、すべての読みを出現順で保持する。
    """
    glossary: dict = {}
    for line in lines:
        for r in iter_rubies(line):
            readings = glossary.setdefault(r.base, [])
            if r.reading not in readings:
                readings.append(r.reading)
    return glossary


if __name__ == "__main__":
    body = [
        "駅前の時計台《とけいだい》は毎朝八時に鐘を鳴らす。",
        "｜山茶花《さざんか》の垣根に沿って坂道を下った。",
        "祖母は｜縁側《えんがわ》で豆の筋を取っていた。",
        "今日《きょう》と今日《こんにち》では意味が違う。",
    ]
    for line in body:
        print(to_html(line))
        print("  本文:", strip_ruby(line))
        print("  読み:", reading_only(line))
    for base, readings in build_glossary(body).items():
        print(f"{base}\t{' / '.join(readings)}")
