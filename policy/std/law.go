package std

import (
	"strconv"

	"github.com/aurora-federation/aurora/policy/sdk"
)

// Reason names of the standard law, in bit order: bit i of a deny word is
// Reasons()[i].
const (
	ReasonNonceReplayed    = "nonce_replayed"
	ReasonOrderExpired     = "order_expired"
	ReasonRegionNotAllowed = "region_not_allowed"
	ReasonReputationTooLow = "reputation_too_low"
	ReasonPriceTooHigh     = "price_too_high"
	ReasonInflightQuota    = "inflight_quota"
	ReasonRateQuota        = "rate_quota"
	ReasonGPUHoursQuota    = "gpu_hours_quota"
)

// Reason bits of the standard law.
const (
	BitNonceReplayed uint32 = 1 << iota
	BitOrderExpired
	BitRegionNotAllowed
	BitReputationTooLow
	BitPriceTooHigh
	BitInflightQuota
	BitRateQuota
	BitGPUHoursQuota
)

// Name and Version of the standard law as its manifest states them.
const (
	Name    = "std"
	Version = "1.0.0"
)

// Reasons returns the reason names in bit order.
func Reasons() []string {
	return []string{ReasonNonceReplayed, ReasonOrderExpired, ReasonRegionNotAllowed, ReasonReputationTooLow,
		ReasonPriceTooHigh, ReasonInflightQuota, ReasonRateQuota, ReasonGPUHoursQuota}
}

// Manifest returns the standard law's manifest (Register fills the ABI,
// schema, record size and toolchain).
func Manifest() sdk.Manifest {
	return sdk.Manifest{Name: Name, Version: Version, Reasons: Reasons()}
}

// Params keys.
const (
	KeyAllowedRegions        = "allowed_regions"
	KeyMinProviderReputation = "min_provider_reputation"
	KeyMaxPricePerGPUHour    = "max_price_per_gpu_hour"
	KeyMaxInflight           = "max_inflight"
	KeyOrdersPerMin          = "orders_per_min"
	KeyGPUHoursPerDay        = "gpu_hours_per_day"
)

// Limits on the standard law's params.
const (
	MaxRegions    = 32
	MaxRegionLen  = 16 // a region must fit an order-facts Code16 exactly
	MaxReputation = 1000
	MaxQuota      = 1 << 31
	MaxPrice      = 1_000_000_000_000 // micro-USD per GPU-hour
)

// Params are the standard law's params. Zero means "no limit" for every
// field; an empty AllowedRegions allows every region.
type Params struct {
	// AllowedRegions, sorted with no duplicates, each at most MaxRegionLen
	// bytes.
	AllowedRegions []string
	// MinProviderReputation is the best candidate's minimum, permille.
	MinProviderReputation int64
	// MaxPricePerGPUHour caps the price per GPU-hour, micro-USD.
	MaxPricePerGPUHour int64
	// MaxInflight, OrdersPerMin and GPUHoursPerDay are the lane quotas.
	MaxInflight    int64
	OrdersPerMin   int64
	GPUHoursPerDay int64
}

// ParamsError names the params field that broke a rule.
type ParamsError struct {
	Key  string
	Rule string
}

func (e *ParamsError) Error() string { return "std: params: " + e.Key + ": " + e.Rule }

// Validate checks p's fields against the limits above.
func (p *Params) Validate() error {
	if len(p.AllowedRegions) > MaxRegions {
		return &ParamsError{Key: KeyAllowedRegions, Rule: strconv.Itoa(len(p.AllowedRegions)) + " regions, limit " + strconv.Itoa(MaxRegions)}
	}
	for i, r := range p.AllowedRegions {
		if r == "" || len(r) > MaxRegionLen {
			return &ParamsError{Key: KeyAllowedRegions, Rule: "region " + strconv.Quote(r) + ": want 1 to " + strconv.Itoa(MaxRegionLen) + " bytes"}
		}
		for j := 0; j < len(r); j++ {
			if r[j] <= 0x20 || r[j] >= 0x7f {
				return &ParamsError{Key: KeyAllowedRegions, Rule: "region " + strconv.Quote(r) + ": want printable ASCII without spaces"}
			}
		}
		if i > 0 && p.AllowedRegions[i-1] >= r {
			return &ParamsError{Key: KeyAllowedRegions, Rule: "must be sorted with no duplicates"}
		}
	}
	for _, f := range []struct {
		key      string
		v, limit int64
	}{
		{KeyMinProviderReputation, p.MinProviderReputation, MaxReputation},
		{KeyMaxPricePerGPUHour, p.MaxPricePerGPUHour, MaxPrice},
		{KeyMaxInflight, p.MaxInflight, MaxQuota},
		{KeyOrdersPerMin, p.OrdersPerMin, MaxQuota},
		{KeyGPUHoursPerDay, p.GPUHoursPerDay, MaxQuota},
	} {
		if f.v < 0 || f.v > f.limit {
			return &ParamsError{Key: f.key, Rule: strconv.FormatInt(f.v, 10) + " out of range [0, " + strconv.FormatInt(f.limit, 10) + "]"}
		}
	}
	return nil
}

// SDKParams returns p as generic params; its Encode is p's canonical CBOR.
// Every key is present, so one Params has exactly one encoding.
func (p *Params) SDKParams() *sdk.Params {
	var q sdk.Params
	q.SetStrings(KeyAllowedRegions, p.AllowedRegions)
	q.SetInt(KeyMinProviderReputation, p.MinProviderReputation)
	q.SetInt(KeyMaxPricePerGPUHour, p.MaxPricePerGPUHour)
	q.SetInt(KeyMaxInflight, p.MaxInflight)
	q.SetInt(KeyOrdersPerMin, p.OrdersPerMin)
	q.SetInt(KeyGPUHoursPerDay, p.GPUHoursPerDay)
	return &q
}

// ParamsFrom reads the standard law's params strictly: every key present,
// no unknown key, values in range.
func ParamsFrom(q *sdk.Params) (Params, error) {
	keys := []string{KeyAllowedRegions, KeyMinProviderReputation, KeyMaxPricePerGPUHour, KeyMaxInflight, KeyOrdersPerMin, KeyGPUHoursPerDay}
	if err := q.Only(keys...); err != nil {
		return Params{}, err
	}
	for _, k := range keys {
		if _, ok := q.Get(k); !ok {
			return Params{}, &ParamsError{Key: k, Rule: "missing"}
		}
	}
	var p Params
	var err error
	if p.AllowedRegions, err = q.Strings(KeyAllowedRegions); err != nil {
		return Params{}, err
	}
	for _, f := range []struct {
		key string
		dst *int64
	}{
		{KeyMinProviderReputation, &p.MinProviderReputation},
		{KeyMaxPricePerGPUHour, &p.MaxPricePerGPUHour},
		{KeyMaxInflight, &p.MaxInflight},
		{KeyOrdersPerMin, &p.OrdersPerMin},
		{KeyGPUHoursPerDay, &p.GPUHoursPerDay},
	} {
		if *f.dst, err = q.Int(f.key); err != nil {
			return Params{}, err
		}
	}
	if err := p.Validate(); err != nil {
		return Params{}, err
	}
	return p, nil
}

// Law is the standard law compiled for evaluation: regions as codes, limits
// as unsigned integers. Build it once per params with New; it is immutable
// and safe for concurrent use.
type Law struct {
	regions        []sdk.Code16
	minReputation  uint32
	maxPrice       uint64 // per GPU-hour
	maxInflight    uint32
	ordersPerMin   uint32
	gpuHoursPerDay uint64
}

// New validates p and compiles it.
func New(p Params) (*Law, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	l := &Law{
		minReputation:  uint32(p.MinProviderReputation),
		maxPrice:       uint64(p.MaxPricePerGPUHour),
		maxInflight:    uint32(p.MaxInflight),
		ordersPerMin:   uint32(p.OrdersPerMin),
		gpuHoursPerDay: uint64(p.GPUHoursPerDay),
	}
	for _, r := range p.AllowedRegions {
		l.regions = append(l.regions, sdk.MakeCode16(r))
	}
	return l, nil
}

// Evaluate decides f under p. It compiles p on every call; callers deciding
// many orders build a Law once with New and call its Evaluate. Invalid
// params yield sdk.Indeterminate.
func Evaluate(f *sdk.OrderFacts, p *Params) uint32 {
	l, err := New(*p)
	if err != nil {
		return sdk.Indeterminate
	}
	return l.Evaluate(f)
}

// Evaluate decides one order: sdk.Allow or a bitmask of the Bit* reasons.
//
// The rules, each independent (every failing rule sets its bit):
//   - nonce_replayed: the host's replay guard has seen the nonce.
//   - order_expired: now is at or after the order's expiry.
//   - region_not_allowed: regions are restricted and either the best
//     candidate's region (when known) is not allowed, or the order names
//     regions and none of those carried in the record is allowed. An order
//     naming no region is confined to the allowed ones by the router.
//   - reputation_too_low: the best candidate's reputation is below the
//     minimum (0 when there is no candidate).
//   - price_too_high: the order uses GPUs, a cap is set, and the price per
//     hour (the candidate's quote when known, else the order's own cap)
//     exceeds cap × GPU count.
//   - inflight_quota, rate_quota: the lane already has the maximum in flight
//     or in the last minute (the host reserves after an allow).
//   - gpu_hours_quota: the GPU-hours used today plus this order's exceed the
//     daily budget.
func (l *Law) Evaluate(f *sdk.OrderFacts) uint32 {
	var w uint32
	if !f.NonceFresh {
		w |= BitNonceReplayed
	}
	if f.Now >= f.OrderExpires {
		w |= BitOrderExpired
	}
	if len(l.regions) > 0 {
		if !f.ProviderRegion.IsZero() && !l.allowed(f.ProviderRegion) {
			w |= BitRegionNotAllowed
		}
		if f.RegionCount > 0 {
			n := int(f.RegionCount)
			if n > sdk.RegionSlots {
				n = sdk.RegionSlots
			}
			ok := false
			for i := 0; i < n && !ok; i++ {
				ok = l.allowed(f.Regions[i])
			}
			if !ok {
				w |= BitRegionNotAllowed
			}
		}
	}
	if f.ProviderReputation < l.minReputation {
		w |= BitReputationTooLow
	}
	if l.maxPrice > 0 && f.GPUCount > 0 {
		price := f.OfferPricePerHour
		if price <= 0 {
			price = f.MaxPricePerHour
		}
		// price > cap×count, tested without overflowing: the division
		// bounds cap×count by price before the product is taken.
		if price > 0 && uint64(price)/uint64(f.GPUCount) >= l.maxPrice &&
			uint64(price) > l.maxPrice*uint64(f.GPUCount) {
			w |= BitPriceTooHigh
		}
	}
	if l.maxInflight > 0 && f.InflightUsed >= l.maxInflight {
		w |= BitInflightQuota
	}
	if l.ordersPerMin > 0 && f.OrdersLastMinute >= l.ordersPerMin {
		w |= BitRateQuota
	}
	if l.gpuHoursPerDay > 0 && uint64(f.GPUHoursUsedToday)+uint64(f.GPUHours) > l.gpuHoursPerDay {
		w |= BitGPUHoursQuota
	}
	return w
}

func (l *Law) allowed(c sdk.Code16) bool {
	for _, r := range l.regions {
		if r == c {
			return true
		}
	}
	return false
}

// Policy returns the standard law as a guest policy: its manifest, a
// Configure that compiles the params and an Eval that applies them. Before
// Configure, Eval answers sdk.Indeterminate.
func Policy() sdk.Policy {
	var law *Law
	return sdk.Policy{
		Manifest: Manifest(),
		Configure: func(q *sdk.Params) error {
			p, err := ParamsFrom(q)
			if err != nil {
				return err
			}
			law, err = New(p)
			return err
		},
		Eval: func(f *sdk.OrderFacts) uint32 {
			if law == nil {
				return sdk.Indeterminate
			}
			return law.Evaluate(f)
		},
	}
}

// Encode returns p's canonical CBOR (the params blob a treaty carries).
func (p *Params) Encode() []byte { return p.SDKParams().Encode() }
