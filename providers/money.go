package providers

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// maxDecimalLen bounds decimal text accepted by ParseDecimal.
const maxDecimalLen = 64

// ParseDecimal parses decimal text as networks send prices ("0.35", "12.345",
// "1.2e-05") into an exact rational. It is bounded for hostile input: at most
// 64 characters, an exponent within ±30, no sign other than a leading '-', no
// hex, fractions, NaN or infinity.
func ParseDecimal(s string) (*big.Rat, error) {
	if s == "" || len(s) > maxDecimalLen {
		return nil, fmt.Errorf("providers: decimal %q: empty or longer than %d characters", clip(s), maxDecimalLen)
	}
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i+1:]
		e, err := strconv.Atoi(exp)
		if err != nil || e < -30 || e > 30 {
			return nil, fmt.Errorf("providers: decimal %q: bad exponent", clip(s))
		}
	}
	digits := 0
	dot := false
	for i, c := range mant {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot:
			dot = true
		case c == '-' && i == 0:
		default:
			return nil, fmt.Errorf("providers: decimal %q: unexpected %q", clip(s), c)
		}
	}
	if digits == 0 {
		return nil, fmt.Errorf("providers: decimal %q: no digits", clip(s))
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("providers: decimal %q: not a number", clip(s))
	}
	return r, nil
}

// MoneyFromRat rounds an amount in micro-USD to the nearest Money (halves
// away from zero). It fails if the result does not fit in an int64.
func MoneyFromRat(micro *big.Rat) (Money, error) {
	num := new(big.Int).Set(micro.Num())
	den := micro.Denom()
	neg := num.Sign() < 0
	num.Abs(num)
	q, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	if rem.Lsh(rem, 1).Cmp(den) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if !q.IsInt64() || q.Int64() == math.MinInt64 {
		return 0, errors.New("providers: amount overflows micro-USD")
	}
	v := q.Int64()
	if neg {
		v = -v
	}
	return Money(v), nil
}

// ParseUSD converts decimal USD text to Money (micro-USD), exactly up to the
// rounding of the sixth decimal: "0.35" → 350000.
func ParseUSD(s string) (Money, error) {
	r, err := ParseDecimal(s)
	if err != nil {
		return 0, err
	}
	return MoneyFromRat(r.Mul(r, big.NewRat(1_000_000, 1)))
}

func clip(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}
