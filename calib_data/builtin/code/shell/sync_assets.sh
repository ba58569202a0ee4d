#!/usr/bin/env bash
# 静的ファイル（画像・CSS・JS）を複数の Web サーバーへ配布する。
#
# 使い方:
#   ./sync_assets.sh [-n] [-e 環境名] [ソースディレクトリ]
#     -n  ドライラン（転送内容の確認のみ）
#     -e  staging / production（既定: staging）
#
# 配布先ホストは hosts/<環境名>.txt に 1 行 1 台で書いておく。
# 「#」で始まる行と空行は無視する。

set -euo pipefail

DRY_RUN=false
ENV_NAME="staging"
REMOTE_USER="deploy"
REMOTE_DIR="/var/www/static"
PARALLEL=4

while getopts "ne:" opt; do
    case "$opt" in
        n) DRY_RUN=true ;;
        e) ENV_NAME="$OPTARG" ;;
        *) echo "使い方: $0 [-n] [-e 環境名] [ソース]" >&2; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
SRC="${1:-./public/}"

HOST_FILE="hosts/${ENV_NAME}.txt"
[[ -f "$HOST_FILE" ]] || { echo "ホスト一覧がありません: $HOST_FILE" >&2; exit 1; }
[[ -d "$SRC" ]] || { echo "ソースディレクトリがありません: $SRC" >&2; exit 1; }

# 末尾の / がないと rsync はディレクトリごとコピーしてしまうので補う
[[ "$SRC" == */ ]] || SRC="${SRC}/"

mapfile -t HOSTS < <(grep -Ev '^\s*(#|$)' "$HOST_FILE")
(( ${#HOSTS[@]} > 0 )) || { echo "配布先が 0 台です" >&2; exit 1; }

# 本番環境のときは念のため確認を求める
if [[ "$ENV_NAME" == "production" && "$DRY_RUN" == false ]]; then
    read -r -p "本番環境 ${#HOSTS[@]} 台へ配布します。よろしいですか？ [y/N] " ans
    [[ "$ans" =~ ^[Yy]$ ]] || { echo "中止しました"; exit 0; }
fi

RSYNC_OPTS=(
    -az --delete --delay-updates
    --chmod=D755,F644
    --exclude='.DS_Store' --exclude='*.map' --exclude='.git/'
    -e "ssh -o BatchMode=yes -o ConnectTimeout=10"
)
$DRY_RUN && RSYNC_OPTS+=(--dry-run --itemize-changes)

LOG_DIR="$(mktemp -d)"
trap 'rm -rf "$LOG_DIR"' EXIT

sync_one() {
    local host="$1"
    if rsync "${RSYNC_OPTS[@]}" "$SRC" "${REMOTE_USER}@${host}:${REMOTE_DIR}/" \
        > "$LOG_DIR/$host.log" 2>&1; then
        echo "OK   $host"
    else
        echo "NG   $host（詳細は下記ログ）"
        return 1
    fi
}

# 同時実行数を制限しながら並列に転送する
pids=()
declare -A pid_host=()
for host in "${HOSTS[@]}"; do
    while (( $(jobs -rp | wc -l) >= PARALLEL )); do
        sleep 0.2
    done
    sync_one "$host" &
    pids+=($!)
    pid_host[$!]="$host"
done

failed=()
for pid in "${pids[@]}"; do
    wait "$pid" || failed+=("${pid_host[$pid]}")
done

if (( ${#failed[@]} > 0 )); then
    echo "----- 失敗したホスト: ${failed[*]} -----" >&2
    for h in "${failed[@]}"; do
        sed "s/^/[$h] /" "$LOG_DIR/$h.log" >&2
    done
    exit 1
fi
echo "全 ${#HOSTS[@]} 台への配布が完了しました（環境: $ENV_NAME）"
