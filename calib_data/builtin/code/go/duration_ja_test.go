package jaduration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
)

// unitTable maps Japanese unit words to durations. Longer words come first
// so that "時間" is matched before a hypothetical shorter prefix.
var unitTable = []struct {
	word string
	unit time.Duration
}{
	{"時間", time.Hour},
	{"分", time.Minute},
	{"秒", time.Second},
}

// parseJapaneseDuration parses strings such as "1時間30分", "４５秒" or "2時間".
// Full-width digits are accepted. Each unit may appear at most once and
// units must be in descending order.
func parseJapaneseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	var total time.Duration
	lastUnit := time.Duration(1<<63 - 1)
	rest := []rune(s)

	for len(rest) > 0 {
		// Read the number part.
		var digits strings.Builder
		for len(rest) > 0 && unicode.IsDigit(rest[0]) {
			r := rest[0]
			if r >= '０' && r <= '９' {
				r = r - '０' + '0'
			}
			digits.WriteRune(r)
			rest = rest[1:]
		}
		if digits.Len() == 0 {
			return 0, fmt.Errorf("expected a number in %q", s)
		}
		n, err := strconv.Atoi(digits.String())
		if err != nil {
			return 0, fmt.Errorf("number out of range in %q", s)
		}

		// Read the unit part.
		matched := false
		for _, u := range unitTable {
			w := []rune(u.word)
			if len(rest) >= len(w) && string(rest[:len(w)]) == u.word {
				if u.unit >= lastUnit {
					return 0, fmt.Errorf("unit %q out of order in %q", u.word, s)
				}
				total += time.Duration(n) * u.unit
				lastUnit = u.unit
				rest = rest[len(w):]
				matched = true
				break
			}
		}
		if !matched {
			return 0, fmt.Errorf("missing or unknown unit in %q", s)
		}
	}
	return total, nil
}

func TestParseJapaneseDuration(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{name: "hours and minutes", in: "1時間30分", want: 90 * time.Minute},
		{name: "seconds only", in: "45秒", want: 45 * time.Second},
		{name: "full-width digits", in: "２時間５分", want: 2*time.Hour + 5*time.Minute},
		{name: "all units", in: "1時間2分3秒", want: time.Hour + 2*time.Minute + 3*time.Second},
		{name: "surrounding spaces", in: "  10分 ", want: 10 * time.Minute},
		{name: "zero", in: "0秒", want: 0},
		{name: "empty", in: "", wantErr: true},
		{name: "no unit", in: "15", wantErr: true},
		{name: "unknown unit", in: "3日", wantErr: true},
		{name: "wrong order", in: "30分1時間", wantErr: true},
		{name: "duplicate unit", in: "5分5分", wantErr: true},
		{name: "unit without number", in: "時間", wantErr: true},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseJapaneseDuration(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseJapaneseDuration(%q) = %v, want error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJapaneseDuration(%q) unexpected error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("parseJapaneseDuration(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func BenchmarkParseJapaneseDuration(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := parseJapaneseDuration("1時間2分3秒"); err != nil {
			b.Fatal(err)
		}
	}
}
