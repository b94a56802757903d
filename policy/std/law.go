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
	regions        [MaxRegions]regionKey // a fixed array: no bounds checks
	nregions       int
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
	for i, r := range p.AllowedRegions {
		c := sdk.MakeCode16(r)
		l.regions[i] = key(&c)
	}
	l.nregions = len(p.AllowedRegions)
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
	// The body is written for the guest build as much as for people: in Go
	// compiled to wasm, every branch around a call and every loop iteration
	// passes a termination check (an exit to the host, ~70 ns here), so the
	// rules are straight-line selects over copied scalars, and the one loop
	// is over the allowed regions.
	var w uint32
	w |= b2u(!f.NonceFresh) * BitNonceReplayed
	w |= b2u(f.Now >= f.OrderExpires) * BitOrderExpired
	w |= b2u(f.ProviderReputation < l.minReputation) * BitReputationTooLow
	w |= b2u(l.maxInflight > 0 && f.InflightUsed >= l.maxInflight) * BitInflightQuota
	w |= b2u(l.ordersPerMin > 0 && f.OrdersLastMinute >= l.ordersPerMin) * BitRateQuota
	w |= b2u(l.gpuHoursPerDay > 0 && uint64(f.GPUHoursUsedToday)+uint64(f.GPUHours) > l.gpuHoursPerDay) * BitGPUHoursQuota
	if l.maxPrice > 0 && f.GPUCount > 0 {
		price := f.OfferPricePerHour
		if price <= 0 {
			price = f.MaxPricePerHour
		}
		// price > cap×count, tested without overflowing: the division
		// bounds cap×count by price before the product is taken.
		count := uint64(f.GPUCount)
		w |= b2u(price > 0 && uint64(price)/count >= l.maxPrice && uint64(price) > l.maxPrice*count) * BitPriceTooHigh
	}
	if l.nregions > 0 && !l.regionsAllowed(f) {
		w |= BitRegionNotAllowed
	}
	return w
}

func b2u(b bool) uint32 {
	var x uint32
	if b {
		x = 1
	}
	return x
}

// regionKey is a Code16 as two integers.
type regionKey struct{ lo, hi uint64 }

// key, keyLo and keyHi read a Code16 as two integers; split in halves so
// the compiler inlines them (a call in the guest's hot path costs exits).
func key(c *sdk.Code16) regionKey { return regionKey{keyLo(c), keyHi(c)} }

func keyLo(c *sdk.Code16) uint64 {
	return uint64(c[0]) | uint64(c[1])<<8 | uint64(c[2])<<16 | uint64(c[3])<<24 |
		uint64(c[4])<<32 | uint64(c[5])<<40 | uint64(c[6])<<48 | uint64(c[7])<<56
}

func keyHi(c *sdk.Code16) uint64 {
	return uint64(c[8]) | uint64(c[9])<<8 | uint64(c[10])<<16 | uint64(c[11])<<24 |
		uint64(c[12])<<32 | uint64(c[13])<<40 | uint64(c[14])<<48 | uint64(c[15])<<56
}

// regionsAllowed applies the region rule in one pass over the allowed list,
// matching every carried region inside the pass.
func (l *Law) regionsAllowed(f *sdk.OrderFacts) bool {
	none := regionKey{^uint64(0), ^uint64(0)} // no printable name has this key
	n := f.RegionCount
	r0, r1, r2, r3 := none, none, none, none
	if n > 0 {
		r0 = regionKey{keyLo(&f.Regions[0]), keyHi(&f.Regions[0])}
	}
	if n > 1 {
		r1 = regionKey{keyLo(&f.Regions[1]), keyHi(&f.Regions[1])}
	}
	if n > 2 {
		r2 = regionKey{keyLo(&f.Regions[2]), keyHi(&f.Regions[2])}
	}
	if n > 3 {
		r3 = regionKey{keyLo(&f.Regions[3]), keyHi(&f.Regions[3])}
	}
	cand := regionKey{keyLo(&f.ProviderRegion), keyHi(&f.ProviderRegion)}
	candOK := cand.lo|cand.hi == 0 // unknown candidate region: nothing to check
	reqOK := n == 0                // no region named: the router confines it
	for i := range l.regions {
		if i == l.nregions {
			break
		}
		r := l.regions[i]
		candOK = candOK || r == cand
		reqOK = reqOK || r == r0 || r == r1 || r == r2 || r == r3
	}
	return candOK && reqOK
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
