#!/bin/sh
# アプリケーションログの簡易ローテーション（logrotate が使えない環境向け）
#
# ・指定ディレクトリ内の *.log が閾値サイズを超えたら日付付きで退避する
# ・退避したファイルは gzip で圧縮する
# ・一定日数より古い圧縮ファイルは削除する
#
# POSIX sh で書いているので、ash や dash でも動く。

set -eu

LOG_DIR=${1:-/var/log/myapp}
MAX_SIZE_KB=${MAX_SIZE_KB:-51200}   # 50MB を超えたらローテーション
RETENTION_DAYS=${RETENTION_DAYS:-30}
DRY_RUN=${DRY_RUN:-0}

# 実行内容を表示し、DRY_RUN=1 のときは実行しない
run() {
    echo "+ $*"
    if [ "$DRY_RUN" -ne 1 ]; then
        "$@"
    fi
}

if [ ! -d "$LOG_DIR" ]; then
    echo "ログディレクトリがありません: $LOG_DIR" >&2
    exit 1
fi

stamp=$(date +%Y%m%d-%H%M%S)
rotated=0

for f in "$LOG_DIR"/*.log; do
    # マッチするファイルがないとパターン文字列そのものが渡ってくる
    [ -f "$f" ] || continue

    size_kb=$(du -k "$f" | cut -f1)
    if [ "$size_kb" -lt "$MAX_SIZE_KB" ]; then
        continue
    fi

    archived="${f%.log}-${stamp}.log"
    echo "ローテーション: $(basename "$f") (${size_kb}KB)"

    # プロセスがファイルを開いたままでも書き込みが途切れないよう、
    # mv ではなくコピーしてから元ファイルを空にする（copytruncate 方式）
    run cp -p "$f" "$archived"
    run sh -c ": > \"\$1\"" sh "$f"
    run gzip -9 "$archived"
    rotated=$((rotated + 1))
done

# 保存期間を過ぎた圧縮ログを削除する
old_count=0
for g in $(find "$LOG_DIR" -maxdepth 1 -type f -name '*.log.gz' -mtime +"$RETENTION_DAYS"); do
    run rm -f "$g"
    old_count=$((old_count + 1))
done

# 圧縮済みログの合計サイズも出しておく（容量監視の参考用）
total_kb=0
for g in "$LOG_DIR"/*.log.gz; do
    [ -f "$g" ] || continue
    total_kb=$((total_kb + $(du -k "$g" | cut -f1)))
done

echo "完了: ローテーション ${rotated} 件 / 削除 ${old_count} 件 / 圧縮ログ合計 ${total_kb}KB"

# ローテーションしたら、アプリにログファイルを開き直させる
if [ "$rotated" -gt 0 ] && [ -f /run/myapp.pid ]; then
    run kill -HUP "$(cat /run/myapp.pid)"
fi
