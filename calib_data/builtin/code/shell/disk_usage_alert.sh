#!/usr/bin/env bash
# ディスク使用率の監視スクリプト（cron で 10 分ごとに実行する想定）
#
# 閾値を超えたマウントポイントがあれば syslog に警告を出し、
# 大きいディレクトリの上位を調べてレポートファイルに残す。
# 同じ警告を何度も出さないよう、状態ファイルで前回の結果を覚えておく。

set -uo pipefail

WARN_PCT=80
CRIT_PCT=90
STATE_DIR="/var/lib/disk-alert"
REPORT_DIR="/var/log/disk-alert"
# 監視対象から外すファイルシステムの種類
EXCLUDE_TYPES="tmpfs,devtmpfs,squashfs,overlay"

mkdir -p "$STATE_DIR" "$REPORT_DIR"

notify() {
    local level="$1" msg="$2"
    logger -t disk-alert -p "user.${level}" -- "$msg"
    # 手動実行のときは画面にも出す
    [[ -t 1 ]] && echo "[$level] $msg"
}

# 上位のディレクトリを du で調べる。時間がかかるので 60 秒で打ち切る
top_dirs() {
    local mount="$1"
    timeout 60 du -xh --max-depth=2 "$mount" 2>/dev/null | sort -rh | head -n 10
}

status_for() {
    local pct="$1"
    if (( pct >= CRIT_PCT )); then
        echo crit
    elif (( pct >= WARN_PCT )); then
        echo warning
    else
        echo ok
    fi
}

exclude_args=()
IFS=',' read -ra types <<< "$EXCLUDE_TYPES"
for t in "${types[@]}"; do
    exclude_args+=(-x "$t")
done

# df の出力: 使用率 マウントポイント（ヘッダ行は除く）
df -P "${exclude_args[@]}" | awk 'NR > 1 { sub("%", "", $5); print $5, $6 }' |
while read -r pct mount; do
    key="$(echo "$mount" | tr '/' '_')"
    [[ "$key" == "_" ]] && key="_root"
    state_file="$STATE_DIR/${key}.state"
    prev="$(cat "$state_file" 2>/dev/null || echo ok)"
    now="$(status_for "$pct")"

    if [[ "$now" != "$prev" ]]; then
        case "$now" in
            crit)
                notify crit "${mount} の使用率が ${pct}% です（危険域 ${CRIT_PCT}%）"
                report="$REPORT_DIR/$(date +%Y%m%d-%H%M)${key}.txt"
                {
                    echo "# ${mount} 使用率 ${pct}% - $(date '+%F %T')"
                    top_dirs "$mount"
                } > "$report"
                notify crit "上位ディレクトリを ${report} に出力しました"
                ;;
            warning)
                notify warning "${mount} の使用率が ${pct}% です（警告域 ${WARN_PCT}%）"
                ;;
            ok)
                notify info "${mount} の使用率が ${pct}% に下がりました"
                ;;
        esac
        echo "$now" > "$state_file"
    fi
done

# 90 日より古いレポートは消す
find "$REPORT_DIR" -type f -name '*.txt' -mtime +90 -delete
