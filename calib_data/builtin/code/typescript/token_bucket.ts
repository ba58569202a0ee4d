/**
 * トークンバケット方式のレート制限。
 *
 * API キーや IP アドレスなど、任意のキーごとにバケットを持つ。
 * 時刻の取得は Clock インターフェース経由にしてテストで差し替えられるようにしている。
 */

export interface Clock {
  /** 現在時刻（ミリ秒） */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export interface RateLimitOptions {
  /** バケットの最大容量（バースト許容量） */
  capacity: number;
  /** 1 秒あたりに補充されるトークン数 */
  refillPerSecond: number;
  /** 使われていないバケットを破棄するまでの時間（ミリ秒） */
  idleTtlMs?: number;
}

export type RateLimitResult =
  | { allowed: true; remaining: number }
  | { allowed: false; retryAfterMs: number };

interface Bucket {
  tokens: number;
  updatedAt: number;
}

export class TokenBucketLimiter<K = string> {
  private readonly buckets = new Map<K, Bucket>();
  private readonly idleTtlMs: number;

  constructor(
    private readonly opts: RateLimitOptions,
    private readonly clock: Clock = systemClock,
  ) {
    if (opts.capacity <= 0 || opts.refillPerSecond <= 0) {
      throw new RangeError('capacity と refillPerSecond は正の数で指定してください');
    }
    this.idleTtlMs = opts.idleTtlMs ?? 10 * 60 * 1000;
  }

  /**
   * トークンを消費できるか判定し、できれば消費する。
   * @param key 制限の単位となるキー
   * @param cost 1 回のリクエストで消費するトークン数
   */
  tryConsume(key: K, cost = 1): RateLimitResult {
    const bucket = this.refill(key);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return { allowed: true, remaining: Math.floor(bucket.tokens) };
    }
    // 不足分が貯まるまでの待ち時間を計算する
    const deficit = cost - bucket.tokens;
    const retryAfterMs = Math.ceil((deficit / this.opts.refillPerSecond) * 1000);
    return { allowed: false, retryAfterMs };
  }

  /** 経過時間に応じてトークンを補充したバケットを返す */
  private refill(key: K): Bucket {
    const now = this.clock.now();
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: this.opts.capacity, updatedAt: now };
      this.buckets.set(key, bucket);
      return bucket;
    }
    const elapsedSec = Math.max(0, now - bucket.updatedAt) / 1000;
    bucket.tokens = Math.min(
      this.opts.capacity,
      bucket.tokens + elapsedSec * this.opts.refillPerSecond,
    );
    bucket.updatedAt = now;
    return bucket;
  }

  /** 一定時間アクセスのないバケットを削除する。定期的に呼び出すこと。 */
  sweep(): number {
    const now = this.clock.now();
    let removed = 0;
    for (const [key, bucket] of this.buckets) {
      if (now - bucket.updatedAt > this.idleTtlMs) {
        this.buckets.delete(key);
        removed++;
      }
    }
    return removed;
  }

  get size(): number {
    return this.buckets.size;
  }
}

/** テスト用の手動で進められる時計 */
export class FakeClock implements Clock {
  constructor(private current = 0) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

// 使用例: 容量 5、毎秒 1 トークン補充
// const limiter = new TokenBucketLimiter({ capacity: 5, refillPerSecond: 1 });
// const r = limiter.tryConsume('client-a');
// if (!r.allowed) console.log(`${r.retryAfterMs} ms 後に再試行してください`);
