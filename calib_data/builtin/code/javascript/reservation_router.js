'use strict';

const http = require('http');

// 予約受付 API の簡易ルーター（フレームワーク不使用、保存先はメモリ上の Map）。

const reservations = new Map();
let nextId = 1;

/**
 * パスパターン（例: /reservations/:id）を正規表現に変換する。
 * @param {string} pattern
 * @returns {{ regex: RegExp, keys: string[] }}
 */
function compilePath(pattern) {
  const keys = [];
  const source = pattern.replace(/:(\w+)/g, (_, key) => {
    keys.push(key);
    return '([^/]+)';
  });
  return { regex: new RegExp(`^${source}/?$`), keys };
}

class Router {
  constructor() {
    this.routes = [];
  }

  add(method, pattern, handler) {
    this.routes.push({ method, ...compilePath(pattern), handler });
    return this;
  }

  async handle(req, res) {
    const url = new URL(req.url, 'http://localhost');
    for (const route of this.routes) {
      if (route.method !== req.method) continue;
      const m = route.regex.exec(url.pathname);
      if (!m) continue;
      const params = {};
      route.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]); });
      try {
        await route.handler({ req, res, params, query: url.searchParams });
      } catch (err) {
        sendJson(res, err.status || 500, { error: err.message });
      }
      return;
    }
    sendJson(res, 404, { error: '該当するエンドポイントがありません' });
  }
}

function sendJson(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

/** リクエストボディを JSON として読み込む（上限 64KB） */
function readJson(req) {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks = [];
    req.on('data', (c) => {
      size += c.length;
      if (size > 64 * 1024) {
        reject(Object.assign(new Error('リクエストが大きすぎます'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}'));
      } catch {
        reject(Object.assign(new Error('JSON の形式が不正です'), { status: 400 }));
      }
    });
  });
}

/** 同じ部屋で時間帯が重なる予約があるかを調べる */
function hasOverlap(roomId, start, end) {
  for (const r of reservations.values()) {
    if (r.roomId === roomId && start < r.end && r.start < end) return true;
  }
  return false;
}

const router = new Router()
  .add('GET', '/reservations', ({ res, query }) => {
    const room = query.get('room');
    const list = [...reservations.values()].filter((r) => !room || r.roomId === room);
    sendJson(res, 200, list);
  })
  .add('POST', '/reservations', async ({ req, res }) => {
    const body = await readJson(req);
    const start = Date.parse(body.start);
    const end = Date.parse(body.end);
    if (!body.roomId || Number.isNaN(start) || Number.isNaN(end) || start >= end) {
      return sendJson(res, 400, { error: '部屋と開始・終了時刻を正しく指定してください' });
    }
    if (hasOverlap(body.roomId, start, end)) {
      return sendJson(res, 409, { error: 'その時間帯はすでに予約されています' });
    }
    const item = { id: String(nextId++), roomId: body.roomId, start, end };
    reservations.set(item.id, item);
    sendJson(res, 201, item);
  })
  .add('DELETE', '/reservations/:id', ({ res, params }) => {
    if (!reservations.delete(params.id)) {
      return sendJson(res, 404, { error: '予約が見つかりません' });
    }
    res.writeHead(204);
    res.end();
  });

if (require.main === module) {
  const port = Number(process.env.PORT) || 3000;
  http.createServer((req, res) => router.handle(req, res))
    .listen(port, () => console.log(`予約 API をポート ${port} で起動しました`));
}

module.exports = { Router, compilePath };
