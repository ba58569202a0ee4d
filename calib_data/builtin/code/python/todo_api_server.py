"""標準ライブラリだけで動く、検証用の小さな TODO API サーバー。

エンドポイント:
    GET    /todos          一覧（?q=キーワード でタイトル検索）
    POST   /todos          追加（JSON: {"title": "...", "due": "YYYY-MM-DD"}）
    DELETE /todos/<id>     削除

データはメモリ上にしか持たないため、再起動すると消える。
"""

import json
import re
import threading
from datetime import date
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

_store = {}
_next_id = 1
_lock = threading.Lock()

ITEM_PATH = re.compile(r"^/todos/(\d+)$")


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def validate(payload: dict) -> dict:
    """入力値を検証し、保存用の辞書を返す。"""
    cleaned = {}
    title = str(payload.get("title", "")).strip()
    if not title or len(title) > 100:
        raise ApiError(HTTPStatus.BAD_REQUEST, "タイトルは1〜100文字で入力してください")
    cleaned["title"] = title
    if payload.get("due"):
        try:
            cleaned["due"] = date.fromisoformat(payload["due"]).isoformat()
        except (TypeError, ValueError):
            raise ApiError(HTTPStatus.BAD_REQUEST, "期限日は YYYY-MM-DD 形式で指定してください")
    return cleaned


class TodoHandler(BaseHTTPRequestHandler):
    server_version = "TodoDemo/0.1"

    # ---- 共通処理 -------------------------------------------------
    def _send_json(self, status: HTTPStatus, body) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _read_json(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            raise ApiError(HTTPStatus.BAD_REQUEST, "JSON の形式が正しくありません")
        if not isinstance(payload, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "JSON オブジェクトを送ってください")
        return payload

    def _dispatch(self, handler) -> None:
        try:
            status, body = handler()
            self._send_json(status, body)
        except ApiError as e:
            self._send_json(e.status, {"error": e.message})

    def _item_id(self) -> int:
        m = ITEM_PATH.match(urlparse(self.path).path)
        if not m:
            raise ApiError(HTTPStatus.NOT_FOUND, "パスが存在しません")
        todo_id = int(m.group(1))
        if todo_id not in _store:
            raise ApiError(HTTPStatus.NOT_FOUND, f"ID {todo_id} の TODO は見つかりません")
        return todo_id

    # ---- 各メソッド -----------------------------------------------
    def do_GET(self):
        def handle():
            url = urlparse(self.path)
            if url.path != "/todos":
                raise ApiError(HTTPStatus.NOT_FOUND, "パスが存在しません")
            keyword = parse_qs(url.query).get("q", [""])[0].strip()
            with _lock:
                items = list(_store.values())
            if keyword:
                items = [t for t in items if keyword in t["title"]]
            return HTTPStatus.OK, {"items": items, "count": len(items)}
        self._dispatch(handle)

    def do_POST(self):
        def handle():
            global _next_id
            if urlparse(self.path).path != "/todos":
                raise ApiError(HTTPStatus.NOT_FOUND, "パスが存在しません")
            data = validate(self._read_json())
            with _lock:
                todo = {"id": _next_id, "due": None, **data}
                _store[_next_id] = todo
                _next_id += 1
            return HTTPStatus.CREATED, todo
        self._dispatch(handle)

    def do_DELETE(self):
        def handle():
            todo_id = self._item_id()
            with _lock:
                del _store[todo_id]
            return HTTPStatus.OK, {"deleted": todo_id}
        self._dispatch(handle)


if __name__ == "__main__":
    addr = ("127.0.0.1", 8080)
    print(f"http://{addr[0]}:{addr[1]}/todos で待ち受けます（Ctrl+C で終了）")
    with ThreadingHTTPServer(addr, TodoHandler) as httpd:
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            print("\n停止しました")
