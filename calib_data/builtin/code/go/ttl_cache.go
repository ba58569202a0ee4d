// Package ttlcache は有効期限付きのインメモリキャッシュを提供する。
//
// 期限切れの要素は、取得時の判定に加えてバックグラウンドの掃除ゴルーチンでも削除する。
// 使い終わったら必ず Close を呼ぶこと（掃除ゴルーチンが残り続けるため）。
package ttlcache

import (
	"sync"
	"time"
)

type entry[V any] struct {
	value     V
	expiresAt time.Time
}

// Stats はキャッシュの利用状況。
type Stats struct {
	Hits, Misses, Evictions uint64
}

// Cache はキー K と値 V を持つ TTL 付きキャッシュ。ゼロ値は使えないので New で作ること。
type Cache[K comparable, V any] struct {
	mu      sync.RWMutex
	items   map[K]entry[V]
	ttl     time.Duration
	stats   Stats
	stop    chan struct{}
	stopped sync.Once
}

// New は既定の TTL と掃除間隔を指定してキャッシュを作る。
func New[K comparable, V any](ttl, sweepEvery time.Duration) *Cache[K, V] {
	c := &Cache[K, V]{
		items: make(map[K]entry[V]),
		ttl:   ttl,
		stop:  make(chan struct{}),
	}
	go c.janitor(sweepEvery)
	return c
}

// Set は既定の TTL で値を保存する。
func (c *Cache[K, V]) Set(key K, value V) {
	c.SetWithTTL(key, value, c.ttl)
}

// SetWithTTL は個別の TTL を指定して値を保存する。
func (c *Cache[K, V]) SetWithTTL(key K, value V, ttl time.Duration) {
	c.mu.Lock()
	c.items[key] = entry[V]{value: value, expiresAt: time.Now().Add(ttl)}
	c.mu.Unlock()
}

// Get は値を返す。存在しないか期限切れなら ok は false になる。
func (c *Cache[K, V]) Get(key K) (value V, ok bool) {
	// 統計を更新するので読み取りでも書き込みロックを取る
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.items[key]
	if !found || time.Now().After(e.expiresAt) {
		c.stats.Misses++
		return value, false
	}
	c.stats.Hits++
	return e.value, true
}

// GetOrLoad はキャッシュにあればそれを返し、なければ load を呼んで結果を保存する。
// 同じキーへの同時呼び出しで load が複数回走ることはあり得る（簡易実装）。
func (c *Cache[K, V]) GetOrLoad(key K, load func(K) (V, error)) (V, error) {
	if v, ok := c.Get(key); ok {
		return v, nil
	}
	v, err := load(key)
	if err != nil {
		var zero V
		return zero, err
	}
	c.Set(key, v)
	return v, nil
}

// Delete はキーを削除する。
func (c *Cache[K, V]) Delete(key K) {
	c.mu.Lock()
	delete(c.items, key)
	c.mu.Unlock()
}

// Len は期限切れを含む現在の要素数を返す。
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items)
}

// Stats は統計情報のコピーを返す。
func (c *Cache[K, V]) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stats
}

// Close は掃除ゴルーチンを止める。複数回呼んでも安全。
func (c *Cache[K, V]) Close() {
	c.stopped.Do(func() { close(c.stop) })
}

func (c *Cache[K, V]) janitor(every time.Duration) {
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			c.deleteExpired()
		case <-c.stop:
			return
		}
	}
}

func (c *Cache[K, V]) deleteExpired() {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.items {
		if now.After(e.expiresAt) {
			delete(c.items, k)
			c.stats.Evictions++
		}
	}
}
