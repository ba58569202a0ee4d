#!/usr/bin/env python3
"""アクセスログを集計して、ステータス別・パス別のレポートを出す CLI ツール。

想定しているログ形式（1 行 1 リクエスト、スペース区切り）:
    2024-05-01T09:12:33+09:00 GET /api/items 200 123ms

使用例:
    $ python access_log_report.py app.log --top 20
    $ zcat app.log.1.gz | python access_log_report.py - --status 5xx
"""

import argparse
import gzip
import statistics
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import NamedTuple, TextIO


class Record(NamedTuple):
    ts: datetime
    method: str
    path: str
    status: int
    elapsed_ms: int


def open_log(name: str) -> TextIO:
    """ファイル名に応じて開き方を変える。'-' は標準入力。"""
    if name == "-":
        return sys.stdin
    if name.endswith(".gz"):
        return gzip.open(name, "rt", encoding="utf-8", errors="replace")
    return open(name, encoding="utf-8", errors="replace")


def parse_lines(lines: Iterable[str]) -> Iterator[Record]:
    """ログ行を Record に変換する。壊れた行は黙って捨てる。"""
    for line in lines:
        parts = line.split()
        if len(parts) != 5:
            continue
        ts, method, path, status, elapsed = parts
        try:
            yield Record(
                ts=datetime.fromisoformat(ts),
                method=method,
                # クエリ文字列は集計のじゃまになるので落とす
                path=path.split("?", 1)[0],
                status=int(status),
                elapsed_ms=int(elapsed.rstrip("ms")),
            )
        except ValueError:
            continue


def status_matches(status: int, pattern: str) -> bool:
    """'5xx' や '404' のような指定にマッチするか判定する。"""
    if pattern.endswith("xx"):
        return str(status)[0] == pattern[0]
    return str(status) == pattern


def percentile(values, p):
    """p パーセンタイル（0〜100）。要素数が少ないときは最大値を返す。"""
    if len(values) < 2:
        return values[0] if values else 0
    q = statistics.quantiles(values, n=100, method="inclusive")
    return q[min(int(p) - 1, 98)]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="アクセスログの簡易集計")
    p.add_argument("logfile", help="ログファイル（'-' で標準入力、.gz 対応）")
    p.add_argument("--top", type=int, default=10, help="表示するパスの件数（既定: 10）")
    p.add_argument("--status", help="ステータスで絞り込む（例: 5xx, 404）")
    p.add_argument("--hourly", action="store_true", help="時間帯別の件数も表示する")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    by_status = Counter()
    by_path = defaultdict(list)
    by_hour = Counter()

    with open_log(args.logfile) as fh:
        for rec in parse_lines(fh):
            if args.status and not status_matches(rec.status, args.status):
                continue
            by_status[rec.status] += 1
            by_path[(rec.method, rec.path)].append(rec.elapsed_ms)
            by_hour[rec.ts.hour] += 1

    total = sum(by_status.values())
    if total == 0:
        print("対象となるリクエストがありませんでした。", file=sys.stderr)
        return 1

    print(f"総リクエスト数: {total:,}")
    print("\n[ステータス別]")
    for code, cnt in sorted(by_status.items()):
        print(f"  {code}: {cnt:>8,} ({cnt / total:6.1%})")

    print(f"\n[件数上位 {args.top} パス]")
    ranked = sorted(by_path.items(), key=lambda kv: len(kv[1]), reverse=True)
    for (method, path), times in ranked[: args.top]:
        p95 = percentile(times, 95)
        print(f"  {len(times):>7,}  {method:<6} {path:<40} 平均 {statistics.mean(times):7.1f}ms  p95 {p95:7.1f}ms")

    if args.hourly:
        print("\n[時間帯別]")
        peak = max(by_hour.values())
        for h in range(24):
            bar = "#" * int(40 * by_hour[h] / peak)
            print(f"  {h:02d}時 {by_hour[h]:>7,} {bar}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
