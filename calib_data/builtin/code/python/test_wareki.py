"""和暦変換ロジックとそのテスト。

本来は wareki モジュールとテストを分けるが、社内の小さな帳票ツール向けに
1 ファイルで完結させている。`pytest -q test_wareki.py` で実行できる。
"""
import datetime as dt

import pytest

# (元号, 開始日, 略号)。新しい順に並べておくと探索が楽になる。
ERAS = [
    ("令和", dt.date(2019, 5, 1), "R"),
    ("平成", dt.date(1989, 1, 8), "H"),
    ("昭和", dt.date(1926, 12, 25), "S"),
    ("大正", dt.date(1912, 7, 30), "T"),
    ("明治", dt.date(1868, 1, 25), "M"),
]


def to_wareki(d: dt.date, *, short: bool = False) -> str:
    """西暦の日付を和暦の文字列に変換する。1 年は「元年」と表記する。"""
    for name, start, abbr in ERAS:
        if d >= start:
            year = d.year - start.year + 1
            if short:
                return f"{abbr}{year:02d}.{d.month:02d}.{d.day:02d}"
            year_str = "元" if year == 1 else str(year)
            return f"{name}{year_str}年{d.month}月{d.day}日"
    raise ValueError(f"明治より前の日付には対応していません: {d}")


def parse_wareki(text: str) -> dt.date:
    """「令和5年4月1日」「平成元年2月3日」形式の文字列を date に戻す。"""
    text = text.strip().replace(" ", "")
    for name, start, _ in ERAS:
        if not text.startswith(name):
            continue
        rest = text[len(name):]
        year_part, _, rest = rest.partition("年")
        month_part, _, rest = rest.partition("月")
        day_part = rest.rstrip("日")
        year = 1 if year_part == "元" else int(year_part)
        result = dt.date(start.year + year - 1, int(month_part), int(day_part))
        if result < start:
            raise ValueError(f"{name}の開始日より前です: {text}")
        return result
    raise ValueError(f"元号を判別できません: {text}")


# ---------------------------------------------------------------- テスト


@pytest.mark.parametrize(
    "date, expected",
    [
        (dt.date(2019, 5, 1), "令和元年5月1日"),
        (dt.date(2019, 4, 30), "平成31年4月30日"),
        (dt.date(1989, 1, 7), "昭和64年1月7日"),
        (dt.date(1989, 1, 8), "平成元年1月8日"),
        (dt.date(2024, 12, 31), "令和6年12月31日"),
        (dt.date(1926, 12, 25), "昭和元年12月25日"),
    ],
)
def test_to_wareki(date, expected):
    assert to_wareki(date) == expected


def test_to_wareki_short():
    assert to_wareki(dt.date(2023, 4, 1), short=True) == "R05.04.01"
    assert to_wareki(dt.date(1995, 10, 9), short=True) == "H07.10.09"


def test_before_meiji_is_rejected():
    with pytest.raises(ValueError, match="明治より前"):
        to_wareki(dt.date(1867, 12, 31))


@pytest.mark.parametrize(
    "text",
    ["令和5年4月1日", "平成元年2月3日", "昭和 50年 7月 20日", "大正3年3月3日"],
)
def test_round_trip(text):
    # 空白を除いた表記で往復変換できることを確認する
    assert to_wareki(parse_wareki(text)) == text.replace(" ", "")


def test_parse_rejects_out_of_range():
    # 平成元年 1 月 7 日はまだ昭和なのでエラーにする
    with pytest.raises(ValueError):
        parse_wareki("平成元年1月7日")


def test_parse_unknown_era():
    with pytest.raises(ValueError, match="元号を判別できません"):
        parse_wareki("天平3年1月1日")


@pytest.fixture
def fiscal_dates():
    """年度末・年度初めの境界日付をまとめたフィクスチャ。"""
    return [dt.date(y, m, d) for y in (2018, 2019, 2020) for m, d in ((3, 31), (4, 1))]


def test_all_fiscal_boundaries_convert(fiscal_dates):
    converted = [to_wareki(d) for d in fiscal_dates]
    assert len(set(converted)) == len(fiscal_dates)
    assert all(c.endswith("日") for c in converted)
