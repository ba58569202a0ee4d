#!/bin/bash
# リリース用ディレクトリを切り替える方式のデプロイスクリプト。
#
#   /srv/app/releases/20240501-101500/  ← 展開先（リリースごとに作る）
#   /srv/app/shared/                    ← .env やアップロードファイルなど共有物
#   /srv/app/current -> releases/...    ← シンボリックリンクで切り替える
#
# サブコマンド:
#   deploy <アーカイブ.tar.gz>   新しいリリースを展開して切り替える
#   rollback                      一つ前のリリースに戻す
#   list                          リリース一覧を表示する

set -Eeuo pipefail

APP_ROOT="${APP_ROOT:-/srv/app}"
RELEASES="$APP_ROOT/releases"
SHARED="$APP_ROOT/shared"
CURRENT="$APP_ROOT/current"
KEEP_RELEASES=5
SERVICE_NAME="${SERVICE_NAME:-myapp}"
HEALTH_URL="${HEALTH_URL:-http://127.0.0.1:8000/healthz}"

info()  { echo -e "\033[32m[INFO]\033[0m $*"; }
warn()  { echo -e "\033[33m[WARN]\033[0m $*" >&2; }
die()   { echo -e "\033[31m[ERROR]\033[0m $*" >&2; exit 1; }

trap 'warn "${LINENO} 行目でエラーが発生しました"' ERR

health_check() {
    # 起動直後は応答しないことがあるので、最大 30 秒リトライする
    local i
    for i in $(seq 1 15); do
        if curl -fsS --max-time 2 "$HEALTH_URL" > /dev/null; then
            return 0
        fi
        sleep 2
    done
    return 1
}

switch_to() {
    local target="$1"
    # ln -sfn は置き換えが原子的でないため、一時リンクを作って mv -T で差し替える
    ln -s "$target" "$CURRENT.tmp"
    mv -T "$CURRENT.tmp" "$CURRENT"
    sudo systemctl reload-or-restart "$SERVICE_NAME"
}

cleanup_old() {
    local old
    ls -1dt "$RELEASES"/*/ 2>/dev/null | tail -n +$((KEEP_RELEASES + 1)) | while read -r old; do
        info "古いリリースを削除: $(basename "$old")"
        rm -rf -- "$old"
    done
}

cmd_deploy() {
    local archive="${1:-}"
    [[ -f "$archive" ]] || die "アーカイブが見つかりません: ${archive:-（未指定）}"

    local stamp dir previous
    stamp="$(date +%Y%m%d-%H%M%S)"
    dir="$RELEASES/$stamp"
    previous="$(readlink -f "$CURRENT" || true)"

    info "展開中: $archive -> $dir"
    mkdir -p "$dir"
    tar -xzf "$archive" -C "$dir"

    # 共有ファイルをリンクする
    ln -sfn "$SHARED/.env" "$dir/.env"
    rm -rf "$dir/storage"
    ln -sfn "$SHARED/storage" "$dir/storage"

    if [[ -x "$dir/bin/migrate" ]]; then
        info "マイグレーションを実行します"
        (cd "$dir" && ./bin/migrate)
    fi

    switch_to "$dir"
    if health_check; then
        info "デプロイ完了: $stamp"
        cleanup_old
    else
        warn "ヘルスチェックに失敗したため、元のリリースに戻します"
        [[ -n "$previous" ]] && switch_to "$previous"
        die "デプロイを中止しました"
    fi
}

cmd_rollback() {
    local now prev
    now="$(readlink -f "$CURRENT")"
    prev="$(ls -1dt "$RELEASES"/*/ | sed 's:/$::' | grep -vx "$now" | head -n 1 || true)"
    [[ -n "$prev" ]] || die "戻れるリリースがありません"
    info "ロールバック: $(basename "$now") -> $(basename "$prev")"
    switch_to "$prev"
    health_check || die "ロールバック後もヘルスチェックに失敗しました"
}

cmd_list() {
    local now d mark
    now="$(readlink -f "$CURRENT" 2>/dev/null || echo "")"
    for d in $(ls -1dt "$RELEASES"/*/ 2>/dev/null | sed 's:/$::'); do
        mark=" "
        [[ "$d" == "$now" ]] && mark="*"
        echo "$mark $(basename "$d")"
    done
}

case "${1:-}" in
    deploy)   shift; cmd_deploy "$@" ;;
    rollback) cmd_rollback ;;
    list)     cmd_list ;;
    *)        echo "使い方: $0 {deploy <archive>|rollback|list}" >&2; exit 2 ;;
esac
