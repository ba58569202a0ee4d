#!/usr/bin/env bash
#
# PostgreSQL の日次バックアップ
#   - pg_dump のカスタム形式で DB ごとに出力する
#   - 保存期間を過ぎたファイルは削除する
#   - 失敗したら終了コード 1 を返す（cron 側で通知する想定）
#
# 使い方: backup_postgres.sh [-d 保存日数] [-o 出力先] DB名...
#

set -euo pipefail

readonly SCRIPT_NAME="$(basename "$0")"
BACKUP_ROOT="/var/backups/postgres"
KEEP_DAYS=14
PGHOST="${PGHOST:-localhost}"
PGUSER="${PGUSER:-backup}"
export PGHOST PGUSER

log() {
    # 日時付きで標準エラーに出す。cron のメールにそのまま載る
    printf '%s [%s] %s\n' "$(date '+%F %T')" "$SCRIPT_NAME" "$*" >&2
}

usage() {
    echo "使い方: $SCRIPT_NAME [-d 保存日数] [-o 出力先] DB名..." >&2
    exit 2
}

while getopts ":d:o:h" opt; do
    case "$opt" in
        d) KEEP_DAYS="$OPTARG" ;;
        o) BACKUP_ROOT="$OPTARG" ;;
        h) usage ;;
        \?) log "不明なオプション: -$OPTARG"; usage ;;
        :)  log "-$OPTARG には値が必要です"; usage ;;
    esac
done
shift $((OPTIND - 1))

[[ $# -ge 1 ]] || usage
[[ "$KEEP_DAYS" =~ ^[0-9]+$ ]] || { log "保存日数は整数で指定してください"; exit 2; }

# 二重起動を防ぐ。前回のバックアップが長引いているときは今回をスキップする
LOCK_FILE="/tmp/${SCRIPT_NAME%.sh}.lock"
exec 9>"$LOCK_FILE"
if ! flock -n 9; then
    log "別のバックアップが実行中のため終了します"
    exit 0
fi

today="$(date +%Y%m%d)"
dest_dir="${BACKUP_ROOT}/${today}"
mkdir -p "$dest_dir"
chmod 700 "$dest_dir"

failed=0
for db in "$@"; do
    out="${dest_dir}/${db}_${today}.dump"
    tmp="${out}.partial"
    log "開始: ${db}"
    start=$SECONDS
    # 途中で失敗したときに中途半端なファイルが残らないよう、一時名で書いてから mv する
    if pg_dump --format=custom --compress=6 --no-owner --file="$tmp" "$db"; then
        mv "$tmp" "$out"
        size="$(du -h "$out" | cut -f1)"
        log "完了: ${db} (${size}, $((SECONDS - start))秒)"
    else
        rm -f "$tmp"
        log "失敗: ${db}"
        failed=1
    fi
done

# ダンプが読めるかどうか、目次だけ取り出して確認しておく
for f in "$dest_dir"/*.dump; do
    [[ -e "$f" ]] || continue
    if ! pg_restore --list "$f" > /dev/null 2>&1; then
        log "検証エラー: $(basename "$f") が壊れている可能性があります"
        failed=1
    fi
done

# 古い日付ディレクトリを削除（今日の分は対象外）
find "$BACKUP_ROOT" -mindepth 1 -maxdepth 1 -type d -name '20[0-9]*' \
    -mtime +"$KEEP_DAYS" -print0 |
while IFS= read -r -d '' old; do
    log "削除: $old"
    rm -rf -- "$old"
done

if (( failed )); then
    log "一部のバックアップに失敗しました"
    exit 1
fi
log "すべてのバックアップが正常に終了しました"
