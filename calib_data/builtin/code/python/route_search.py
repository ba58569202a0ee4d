"""駅間の所要時間グラフから最短経路を求める。

路線データは (出発駅, 到着駅, 所要分, 路線名) のタプルで与える。
乗り換えにはペナルティ（分）を加算できるようにしている。
"""
from __future__ import annotations

import heapq
from collections import defaultdict, deque
from typing import Optional

Edge = tuple[str, int, str]  # (隣接駅, 所要分, 路線名)


class RailGraph:
    """無向グラフとして駅と路線を保持するクラス。"""

    def __init__(self, transfer_penalty: int = 3) -> None:
        self.adj: dict[str, list[Edge]] = defaultdict(list)
        self.transfer_penalty = transfer_penalty

    def add_link(self, a: str, b: str, minutes: int, line: str) -> None:
        # 上り・下りで所要時間は同じとみなす
        self.adj[a].append((b, minutes, line))
        self.adj[b].append((a, minutes, line))

    def stations(self) -> list[str]:
        return sorted(self.adj)

    def hop_count(self, start: str, goal: str) -> Optional[int]:
        """幅優先探索で最少の駅数を求める（所要時間は無視）。"""
        if start == goal:
            return 0
        seen = {start}
        queue = deque([(start, 0)])
        while queue:
            node, depth = queue.popleft()
            for nxt, _, _ in self.adj[node]:
                if nxt in seen:
                    continue
                if nxt == goal:
                    return depth + 1
                seen.add(nxt)
                queue.append((nxt, depth + 1))
        return None

    def shortest(self, start: str, goal: str) -> tuple[int, list[tuple[str, str]]]:
        """ダイクストラ法で乗り換えペナルティ込みの最短経路を求める。

        状態を (駅, 直前に乗っていた路線) とすることで、
        同じ駅でも到着路線ごとに別々のコストを持てるようにしている。

        Returns:
            (合計分, [(駅名, その駅まで乗った路線), ...])

        Raises:
            KeyError: 出発駅または到着駅が存在しない場合。
            ValueError: 経路が見つからない場合。
        """
        if start not in self.adj or goal not in self.adj:
            raise KeyError(f"未登録の駅です: {start} / {goal}")

        dist: dict[tuple[str, str], int] = {(start, ""): 0}
        prev: dict[tuple[str, str], tuple[str, str]] = {}
        heap: list[tuple[int, str, str]] = [(0, start, "")]

        while heap:
            cost, node, line = heapq.heappop(heap)
            if node == goal:
                return cost, self._rebuild(prev, (node, line))
            if cost > dist.get((node, line), float("inf")):
                continue  # 古いエントリは読み飛ばす
            for nxt, minutes, nline in self.adj[node]:
                extra = self.transfer_penalty if line and nline != line else 0
                ncost = cost + minutes + extra
                key = (nxt, nline)
                if ncost < dist.get(key, float("inf")):
                    dist[key] = ncost
                    prev[key] = (node, line)
                    heapq.heappush(heap, (ncost, nxt, nline))
        raise ValueError(f"{start} から {goal} への経路がありません")

    @staticmethod
    def _rebuild(prev, state):
        path = []
        while state in prev:
            path.append(state)
            state = prev[state]
        path.append(state)
        path.reverse()
        return path


def format_route(total: int, path: list[tuple[str, str]]) -> str:
    """経路を人が読める形に整形する。路線が変わる駅に「乗換」を表示する。"""
    lines = [f"所要時間: {total} 分"]
    current = None
    prev_station = ""
    for station, line in path:
        if line and line != current:
            if current is not None:
                lines.append(f"    （{prev_station} で {line} に乗換）")
            else:
                lines.append(f"    {line} に乗車")
            current = line
        lines.append(f"  {station}")
        prev_station = station
    return "\n".join(lines)


if __name__ == "__main__":
    g = RailGraph(transfer_penalty=4)
    data = [
        ("港町", "中央", 5, "青線"), ("中央", "北浜", 4, "青線"),
        ("北浜", "山手", 6, "青線"), ("港町", "桜台", 7, "緑線"),
        ("桜台", "大学前", 3, "緑線"), ("大学前", "山手", 4, "緑線"),
        ("中央", "大学前", 6, "赤線"), ("山手", "空港", 12, "赤線"),
    ]
    for a, b, m, ln in data:
        g.add_link(a, b, m, ln)
    total, path = g.shortest("港町", "空港")
    print(format_route(total, path))
    print("最少駅数:", g.hop_count("港町", "空港"))
