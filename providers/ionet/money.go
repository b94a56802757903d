package ionet

import (
	"fmt"

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
		return 0, fmt.Errorf("ionet: %w", err)
	}
	if m < 0 || m > maxUSD*1_000_000 {
		return 0, fmt.Errorf("ionet: amount %s out of range", s)
	}
	return m, nil
}

// perHour spreads a prepaid total over hours, rounding up.
func perHour(total providers.Money, hours int64) providers.Money {
	if hours <= 0 {
		return total
	}
	return (total + providers.Money(hours) - 1) / providers.Money(hours)
}
