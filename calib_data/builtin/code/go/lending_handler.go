// Package lending は図書館の貸出・返却を受け付ける HTTP ハンドラを提供する。
//
// ルーティングには Go 1.22 以降の net/http のパターン構文を使う。
package lending

import (
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"
)

// 1 人あたりの同時貸出上限と貸出期間。
const (
	maxLoansPerMember = 5
	loanPeriod        = 14 * 24 * time.Hour
)

// Loan は 1 冊分の貸出記録。
type Loan struct {
	BookID   string    `json:"bookId"`
	MemberID string    `json:"memberId"`
	LentAt   time.Time `json:"lentAt"`
	DueAt    time.Time `json:"dueAt"`
}

var (
	errAlreadyLent = errors.New("この本は貸出中です")
	errLimit       = errors.New("貸出冊数の上限に達しています")
	errNotLent     = errors.New("この本は貸し出されていません")
)

// Store は貸出状況をメモリ上で管理する。複数のゴルーチンから安全に使える。
type Store struct {
	mu    sync.Mutex
	loans map[string]Loan // キーは BookID
	now   func() time.Time
}

// NewStore は空の Store を返す。
func NewStore() *Store {
	return &Store{loans: make(map[string]Loan), now: time.Now}
}

func (s *Store) lend(bookID, memberID string) (Loan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	if _, ok := s.loans[bookID]; ok {
		return Loan{}, errAlreadyLent
	}
	count := 0
	for _, l := range s.loans {
		if l.MemberID == memberID {
			count++
		}
	}
	if count >= maxLoansPerMember {
		return Loan{}, errLimit
	}
	now := s.now()
	loan := Loan{BookID: bookID, MemberID: memberID, LentAt: now, DueAt: now.Add(loanPeriod)}
	s.loans[bookID] = loan
	return loan, nil
}

func (s *Store) giveBack(bookID string) (overdue bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()

	loan, ok := s.loans[bookID]
	if !ok {
		return false, errNotLent
	}
	delete(s.loans, bookID)
	return s.now().After(loan.DueAt), nil
}

// Routes はハンドラを登録した ServeMux を返す。
func (s *Store) Routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /loans", s.handleLend)
	mux.HandleFunc("DELETE /loans/{bookID}", s.handleReturn)
	return mux
}

type lendRequest struct {
	BookID   string `json:"bookId"`
	MemberID string `json:"memberId"`
}

func (s *Store) handleLend(w http.ResponseWriter, r *http.Request) {
	var req lendRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "リクエストの形式が正しくありません")
		return
	}
	if req.BookID == "" || req.MemberID == "" {
		writeError(w, http.StatusBadRequest, "bookId と memberId は必須です")
		return
	}

	loan, err := s.lend(req.BookID, req.MemberID)
	switch {
	case errors.Is(err, errAlreadyLent), errors.Is(err, errLimit):
		writeError(w, http.StatusConflict, err.Error())
	case err != nil:
		writeError(w, http.StatusInternalServerError, "内部エラーが発生しました")
	default:
		writeJSON(w, http.StatusCreated, loan)
	}
}

func (s *Store) handleReturn(w http.ResponseWriter, r *http.Request) {
	overdue, err := s.giveBack(r.PathValue("bookID"))
	if err != nil {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	msg := "返却を受け付けました"
	if overdue {
		msg = "返却を受け付けました（返却期限を過ぎています）"
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": msg, "overdue": overdue})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
