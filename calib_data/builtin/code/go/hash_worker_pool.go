// hash_worker_pool はディレクトリ配下のファイルの SHA-256 を並列に計算し、
// 内容が同じファイル（重複ファイル）を一覧表示するツール。
//
// 使い方:
//
//	go run hash_worker_pool.go -dir ./images -workers 8
package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"
)

// result は 1 ファイル分の処理結果。
type result struct {
	path string
	sum  string
	err  error
}

// hashFile はファイル全体を読み込んで SHA-256 を16進文字列で返す。
func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()

	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// worker は jobs からパスを受け取り、結果を results に送る。
// ctx がキャンセルされたら途中でも終了する。
func worker(ctx context.Context, jobs <-chan string, results chan<- result, wg *sync.WaitGroup) {
	defer wg.Done()
	for path := range jobs {
		sum, err := hashFile(path)
		select {
		case results <- result{path: path, sum: sum, err: err}:
		case <-ctx.Done():
			return
		}
	}
}

func main() {
	dir := flag.String("dir", ".", "走査するディレクトリ")
	workers := flag.Int("workers", runtime.NumCPU(), "並列数")
	timeout := flag.Duration("timeout", 5*time.Minute, "全体のタイムアウト")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	jobs := make(chan string, *workers*2)
	results := make(chan result, *workers*2)

	var wg sync.WaitGroup
	for i := 0; i < *workers; i++ {
		wg.Add(1)
		go worker(ctx, jobs, results, &wg)
	}

	// ファイル一覧の列挙は別ゴルーチンで行い、終わったら jobs を閉じる
	go func() {
		defer close(jobs)
		err := filepath.WalkDir(*dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // 読めないディレクトリは飛ばす
			}
			if d.Type().IsRegular() {
				select {
				case jobs <- p:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return nil
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "走査を中断しました:", err)
		}
	}()

	// すべてのワーカーが終わったら results を閉じる
	go func() {
		wg.Wait()
		close(results)
	}()

	groups := make(map[string][]string)
	var failed int
	for r := range results {
		if r.err != nil {
			failed++
			fmt.Fprintf(os.Stderr, "読み込み失敗: %s: %v\n", r.path, r.err)
			continue
		}
		groups[r.sum] = append(groups[r.sum], r.path)
	}

	dupCount := 0
	sums := make([]string, 0, len(groups))
	for sum, paths := range groups {
		if len(paths) > 1 {
			sums = append(sums, sum)
		}
	}
	sort.Strings(sums)
	for _, sum := range sums {
		paths := groups[sum]
		sort.Strings(paths)
		fmt.Printf("%s (%d 件)\n", sum[:12], len(paths))
		for _, p := range paths {
			fmt.Println("  ", p)
		}
		dupCount += len(paths) - 1
	}
	fmt.Printf("重複ファイル: %d 件 / 読み込み失敗: %d 件\n", dupCount, failed)
}
