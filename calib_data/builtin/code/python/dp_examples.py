"""動的計画法（DP）の典型問題をまとめた練習用モジュール。

新人研修の教材として使っているので、各関数には計算量と
漸化式をコメントで残している。
"""

from collections.abc import Sequence
from functools import cache


def knapsack(items: Sequence[tuple[int, int]], capacity: int) -> tuple[int, list[int]]:
    """0-1 ナップサック問題。

    Args:
        items: (重さ, 価値) のリスト。
        capacity: ナップサックの容量。

    Returns:
        (最大価値, 選んだ品物のインデックス一覧)

    計算量: O(N * W)
    漸化式: dp[i+1][w] = max(dp[i][w], dp[i][w - wi] + vi)
    """
    n = len(items)
    dp = [[0] * (capacity + 1) for _ in range(n + 1)]
    for i, (wt, val) in enumerate(items):
        for w in range(capacity + 1):
            dp[i + 1][w] = dp[i][w]
            if w >= wt and dp[i][w - wt] + val > dp[i + 1][w]:
                dp[i + 1][w] = dp[i][w - wt] + val

    # 復元: 後ろから見て値が変わった箇所の品物を選んだとみなす
    chosen = []
    w = capacity
    for i in range(n, 0, -1):
        if dp[i][w] != dp[i - 1][w]:
            chosen.append(i - 1)
            w -= items[i - 1][0]
    chosen.reverse()
    return dp[n][capacity], chosen


def edit_distance(a: str, b: str) -> int:
    """レーベンシュタイン距離。1 行分の配列だけで計算する省メモリ版。

    >>> edit_distance("とうきょう", "きょうと")
    3
    """
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            cur[j] = min(prev[j] + 1,       # 削除
                         cur[j - 1] + 1,    # 挿入
                         prev[j - 1] + cost)  # 置換
        prev = cur
    return prev[-1]


def lcs(a: str, b: str) -> str:
    """最長共通部分列を 1 つ返す。差分表示の下ごしらえに使う。"""
    m, n = len(a), len(b)
    dp = [[0] * (n + 1) for _ in range(m + 1)]
    for i in range(m):
        for j in range(n):
            if a[i] == b[j]:
                dp[i + 1][j + 1] = dp[i][j] + 1
            else:
                dp[i + 1][j + 1] = max(dp[i][j + 1], dp[i + 1][j])
    out = []
    i, j = m, n
    while i and j:
        if a[i - 1] == b[j - 1]:
            out.append(a[i - 1])
            i -= 1
            j -= 1
        elif dp[i - 1][j] >= dp[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return "".join(reversed(out))


def coin_change(coins: Sequence[int], amount: int) -> int:
    """金額ちょうどを支払うのに必要な最小枚数。支払えなければ -1。

    日本の硬貨（1, 5, 10, 50, 100, 500）なら貪欲法でも解けるが、
    任意の額面に対応するため DP で解く。
    """
    INF = amount + 1
    dp = [0] + [INF] * amount
    for x in range(1, amount + 1):
        for c in coins:
            if c <= x and dp[x - c] + 1 < dp[x]:
                dp[x] = dp[x - c] + 1
    return dp[amount] if dp[amount] != INF else -1


@cache
def count_stairs(n: int, max_step: int = 3) -> int:
    """階段を 1〜max_step 段ずつ上るときの上り方の総数（メモ化再帰）。"""
    if n == 0:
        return 1
    return sum(count_stairs(n - k, max_step) for k in range(1, max_step + 1) if k <= n)


if __name__ == "__main__":
    goods = [(3, 40), (4, 50), (2, 30), (5, 70), (1, 10)]
    best, picked = knapsack(goods, 8)
    print(f"ナップサック: 最大価値={best}, 選択={picked}")
    print("編集距離:", edit_distance("かいはつ", "かいせつ"))
    print("LCS:", lcs("しんかんせん", "かんせんしょう"))
    print("硬貨:", coin_change([1, 5, 10, 50, 100, 500], 1234))
    print("階段:", count_stairs(10))
