package render

import (
	"fmt"
	"math/big"

	"github.com/aurora-federation/aurora/providers"
)

// maxUSD bounds any amount this adapter accepts from the network: a total
// above it is a broken or hostile answer, not a price.
const maxUSD = 1_000_000_000

// microUSD converts decimal dollars as the network wrote them to micro-USD,
// rounding up so that a price cap is never undercut by rounding.
func microUSD(s string) (providers.Money, error) {
	if !decimalText(s) {
		return 0, fmt.Errorf("render: amount %.64q is not a decimal number", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, fmt.Errorf("render: amount %q is not a decimal number", s)
	}
	if r.Sign() < 0 || r.Cmp(big.NewRat(maxUSD, 1)) > 0 {
		return 0, fmt.Errorf("render: amount %s out of range", s)
	}
	r.Mul(r, big.NewRat(1_000_000, 1))
	return providers.Money(ceilDiv(r.Num(), r.Denom())), nil
}

func ceilDiv(num, den *big.Int) int64 {
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}

// decimalText accepts JSON-style numbers with at most a two-digit exponent
// (Python writes 1e-05), short enough that big.Rat never does large work.
func decimalText(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	i := 0
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if n := digits(); n == 0 || n > 2 {
			return false
		}
	}
	return i == len(s)
}
