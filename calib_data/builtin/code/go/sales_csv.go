// Package salesreport aggregates daily sales exported from the POS system.
//
// Expected CSV header: date,store,item,quantity,amount
// Amounts are integer yen. Rows that fail validation are collected
// rather than aborting the whole import.
package salesreport

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Row is one validated line of the export.
type Row struct {
	Date     time.Time
	Store    string
	Item     string
	Quantity int
	Amount   int64
}

// RowError describes a line that could not be parsed.
type RowError struct {
	Line int
	Err  error
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// StoreTotal is the aggregate for one store.
type StoreTotal struct {
	Store    string
	Quantity int
	Amount   int64
	Days     int
}

var requiredColumns = []string{"date", "store", "item", "quantity", "amount"}

// Parse reads all rows from r. It returns the good rows and a list of row errors;
// the error result is non-nil only for problems with the file as a whole.
func Parse(r io.Reader) ([]Row, []RowError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // we check the width ourselves for better messages
	cr.TrimLeadingSpace = true

	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("reading header: %w", err)
	}
	index := make(map[string]int, len(header))
	for i, name := range header {
		index[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))] = i
	}
	for _, col := range requiredColumns {
		if _, ok := index[col]; !ok {
			return nil, nil, fmt.Errorf("missing column %q", col)
		}
	}

	var rows []Row
	var bad []RowError
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bad = append(bad, RowError{Line: line, Err: err})
			continue
		}
		row, err := toRow(rec, index)
		if err != nil {
			bad = append(bad, RowError{Line: line, Err: err})
			continue
		}
		rows = append(rows, row)
	}
	return rows, bad, nil
}

func toRow(rec []string, idx map[string]int) (Row, error) {
	get := func(col string) string {
		i := idx[col]
		if i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	date, err := time.Parse("2006-01-02", get("date"))
	if err != nil {
		return Row{}, fmt.Errorf("bad date %q", get("date"))
	}
	qty, err := strconv.Atoi(get("quantity"))
	if err != nil || qty < 0 {
		return Row{}, fmt.Errorf("bad quantity %q", get("quantity"))
	}
	// Accept thousands separators such as "1,280".
	amount, err := strconv.ParseInt(strings.ReplaceAll(get("amount"), ",", ""), 10, 64)
	if err != nil {
		return Row{}, fmt.Errorf("bad amount %q", get("amount"))
	}
	store := get("store")
	if store == "" {
		return Row{}, errors.New("empty store")
	}
	return Row{Date: date, Store: store, Item: get("item"), Quantity: qty, Amount: amount}, nil
}

// TotalsByStore sums rows per store, sorted by amount descending.
func TotalsByStore(rows []Row) []StoreTotal {
	totals := map[string]*StoreTotal{}
	days := map[string]map[time.Time]struct{}{}
	for _, r := range rows {
		t, ok := totals[r.Store]
		if !ok {
			t = &StoreTotal{Store: r.Store}
			totals[r.Store] = t
			days[r.Store] = map[time.Time]struct{}{}
		}
		t.Quantity += r.Quantity
		t.Amount += r.Amount
		days[r.Store][r.Date] = struct{}{}
	}

	out := make([]StoreTotal, 0, len(totals))
	for name, t := range totals {
		t.Days = len(days[name])
		out = append(out, *t)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Amount != out[j].Amount {
			return out[i].Amount > out[j].Amount
		}
		return out[i].Store < out[j].Store
	})
	return out
}
