package flux

import (
	"fmt"
	"math/big"

	"github.com/aurora-federation/aurora/providers"
)

// maxUSD bounds any amount this adapter accepts from the network: a total
// above it is a broken or hostile answer, not a price.
const maxUSD = 1_000_000_000

// microUSD converts decimal dollars as the network wrote them to micro-USD
// (providers.ParseUSD: exact, rounded to the nearest micro-dollar), refusing
// negative amounts and amounts above maxUSD.
func microUSD(s string) (providers.Money, error) {
	m, err := providers.ParseUSD(s)
	if err != nil {
		return 0, fmt.Errorf("flux: %w", err)
	}
	if m < 0 || m > maxUSD*1_000_000 {
		return 0, fmt.Errorf("flux: amount %s out of range", s)
	}
	return m, nil
}

// perHourOfTerm spreads a term's price over its hours (30 s blocks),
// rounding up.
func perHourOfTerm(total providers.Money, blocks int64) providers.Money {
	if blocks <= 0 {
		return total
	}
	// hours = blocks × 30 s / 3600 s = blocks / 120
	n := new(big.Int).Mul(big.NewInt(int64(total)), big.NewInt(blocksPerHour))
	return providers.Money(ceilDiv(n, big.NewInt(blocks)))
}

func ceilDiv(num, den *big.Int) int64 {
	q, m := new(big.Int).QuoRem(num, den, new(big.Int))
	if m.Sign() > 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Int64()
}
