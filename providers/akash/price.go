package akash

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"

	"github.com/aurora-federation/aurora/providers"
)

// USDCDenom is the IBC denom of USDC on Akash.
const USDCDenom = "ibc/170C677610AC31DF0904FFE09CD3B5C657492170E7E52372E48756B71E56F2F1"

// Pricer converts Akash's per-block prices to micro-USD per hour and back.
// One block lasts BlockTime (6 s on average: 600 blocks per hour). Amounts in
// uakt (10⁻⁶ AKT) are valued at AKTUSD dollars per AKT; amounts in a USD-pegged
// micro denom (uact, uusdc, IBC USDC) are one micro-USD each.
type Pricer struct {
	blocksPerHour *big.Rat
	aktUSD        *big.Rat // nil: uakt prices cannot be converted
	usdDenoms     []string
}

// NewPricer returns a Pricer. aktUSD is decimal text ("2.85"); "" leaves
// uakt unconvertible. usdDenoms lists the USD-pegged micro denoms; nil means
// uact, uusdc and USDCDenom.
func NewPricer(blockTime time.Duration, aktUSD string, usdDenoms []string) (*Pricer, error) {
	if blockTime <= 0 {
		return nil, errors.New("akash: block time must be positive")
	}
	p := &Pricer{blocksPerHour: new(big.Rat).SetFrac(big.NewInt(int64(time.Hour)), big.NewInt(int64(blockTime)))}
	if aktUSD != "" {
		r, err := providers.ParseDecimal(aktUSD)
		if err != nil || r.Sign() <= 0 {
			return nil, fmt.Errorf("akash: AKT/USD rate %q: want a positive decimal", aktUSD)
		}
		p.aktUSD = r
	}
	p.usdDenoms = usdDenoms
	if p.usdDenoms == nil {
		p.usdDenoms = []string{"uact", "uusdc", USDCDenom}
	}
	return p, nil
}

// microUSDPerUnit returns the value of one unit of denom in micro-USD.
func (p *Pricer) microUSDPerUnit(denom string) (*big.Rat, error) {
	switch {
	case denom == "uakt":
		if p.aktUSD == nil {
			return nil, errors.New("akash: price in uakt but no AKT/USD rate configured")
		}
		return p.aktUSD, nil // 1 uakt = 1e-6 AKT = rate µUSD
	case slices.Contains(p.usdDenoms, denom):
		return big.NewRat(1, 1), nil
	}
	return nil, fmt.Errorf("akash: unknown denom %q", clip(denom))
}

// PerHour converts a per-block amount (decimal text) in denom to Money per
// hour.
func (p *Pricer) PerHour(amount, denom string) (providers.Money, error) {
	a, err := providers.ParseDecimal(amount)
	if err != nil {
		return 0, err
	}
	if a.Sign() < 0 {
		return 0, fmt.Errorf("akash: negative price %q", amount)
	}
	unit, err := p.microUSDPerUnit(denom)
	if err != nil {
		return 0, err
	}
	a.Mul(a, unit)
	a.Mul(a, p.blocksPerHour)
	return providers.MoneyFromRat(a)
}

// PerBlock converts a Money-per-hour cap to the largest per-block amount in
// denom that does not exceed it, as decimal text with at most 6 decimals.
// ok is false when the cap is below the smallest expressible amount.
func (p *Pricer) PerBlock(perHour providers.Money, denom string) (amount string, ok bool, err error) {
	unit, err := p.microUSDPerUnit(denom)
	if err != nil {
		return "", false, err
	}
	r := new(big.Rat).SetInt64(int64(perHour))
	r.Quo(r, p.blocksPerHour)
	r.Quo(r, unit)
	// Floor to 6 decimals so the amount never exceeds the cap.
	r.Mul(r, big.NewRat(1_000_000, 1))
	n := new(big.Int).Quo(r.Num(), r.Denom())
	if n.Sign() <= 0 {
		return "", false, nil
	}
	s := new(big.Rat).SetFrac(n, big.NewInt(1_000_000)).FloatString(6)
	for len(s) > 0 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s, true, nil
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
