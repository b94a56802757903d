package sdk

// The order-facts/1 record: a fixed-size little-endian layout with no
// pointers and no floats, so that every implementation decodes the same bytes
// to the same facts. Fields are only ever appended; hosts zero-fill bytes a
// policy does not know, and policies ignore bytes past their schema.
//
//	off size field
//	  0    2 schema (FactsSchema)
//	  2    2 flags: bit 0 nonce fresh, bit 1 lane applies
//	  4    1 region count (requested regions, saturating at 255)
//	  5    3 reserved, zero
//	  8    8 now, unix ms (i64)
//	 16    8 order created, unix ms (i64)
//	 24    8 order expires, unix ms (i64)
//	 32   32 client: SHA-256 of the client DID
//	 64   32 GPU model, ASCII, zero-padded
//	 96    4 GPU count (u32)
//	100    4 GPU-hours requested (u32)
//	104    8 order's max price per hour, micro-USD (i64)
//	112    8 best candidate's price per hour, micro-USD, 0 = unknown (i64)
//	120    4 best candidate provider's reputation, permille (u32)
//	124    4 lane orders in flight (u32)
//	128    4 lane orders in the last minute (u32)
//	132    4 lane GPU-hours used today (u32)
//	136    4 CPU, millicores (u32)
//	140    4 memory, MiB (u32)
//	144    4 duration, seconds (u32)
//	148    4 reserved, zero
//	152   64 requested regions: 4 slots of 16 bytes ASCII, zero-padded
//	216   16 best candidate provider name, ASCII
//	232   16 best candidate region, ASCII
//	248    8 reserved, zero
const (
	// FactsSchema is the schema version in the first two bytes of a record.
	FactsSchema = 1
	// InputSchema names the record format in a policy manifest.
	InputSchema = "order-facts/1"
	// RecordSize is the size of one order-facts/1 record in bytes.
	RecordSize = 256
	// RegionSlots is how many requested regions a record carries.
	RegionSlots = 4
)

// Flag bits of the flags field.
const (
	FlagNonceFresh  = 1 << 0
	FlagLaneApplies = 1 << 1
)

// Code16 is a name (region, provider) as 16 bytes of ASCII, zero-padded.
// Longer names are truncated, so two names that share their first 16 bytes
// compare equal: keep region and provider names short.
type Code16 [16]byte

// Code32 is a name (GPU model) as 32 bytes of ASCII, zero-padded, truncated.
type Code32 [32]byte

// MakeCode16 returns s as a Code16.
func MakeCode16(s string) Code16 {
	var c Code16
	copy(c[:], s)
	return c
}

// MakeCode32 returns s as a Code32.
func MakeCode32(s string) Code32 {
	var c Code32
	copy(c[:], s)
	return c
}

// String returns the name without its padding.
func (c Code16) String() string { return trimZero(c[:]) }

// String returns the name without its padding.
func (c Code32) String() string { return trimZero(c[:]) }

// IsZero reports whether c holds no name.
func (c Code16) IsZero() bool { lo, hi := c.Key(); return lo|hi == 0 }

// Key returns c as two integers, for comparisons without a runtime call
// (array equality calls memequal, which costs a termination check in a
// guest).
func (c *Code16) Key() (lo, hi uint64) { return get64(c[0:8]), get64(c[8:16]) }

func trimZero(b []byte) string {
	n := len(b)
	for n > 0 && b[n-1] == 0 {
		n--
	}
	return string(b[:n])
}

// OrderFacts are the facts a host computes about one order, the input of a
// policy. Times are unix milliseconds, money is micro-USD, reputation is
// permille. The zero value is a valid record (and denied by most laws: its
// nonce is not fresh).
type OrderFacts struct {
	// Now is the decision time, an input so that any peer re-running a logged
	// decision gets the same answer.
	Now          int64
	OrderCreated int64
	OrderExpires int64
	// NonceFresh is true when the host's replay guard has not seen the
	// order's nonce (the host inserts it after an allow).
	NonceFresh bool
	// LaneApplies is true when the order arrived on a treaty lane, so the
	// quota usage fields describe that lane; false under the node's default
	// law (usage then describes the client's default bucket).
	LaneApplies bool
	// Client is the SHA-256 of the client's DID text.
	Client   [32]byte
	GPUModel Code32
	GPUCount uint32
	// GPUHours is the GPU-hours the order asks for, rounded up.
	GPUHours uint32
	// MaxPricePerHour is the order's own cap.
	MaxPricePerHour int64
	// OfferPricePerHour is the best candidate's quote, 0 when unknown.
	OfferPricePerHour int64
	// ProviderReputation is the best candidate's, 0 when there is none.
	ProviderReputation uint32
	InflightUsed       uint32
	OrdersLastMinute   uint32
	GPUHoursUsedToday  uint32
	CPUMillis          uint32
	MemoryMiB          uint32
	DurationSec        uint32
	// RegionCount is how many regions the order requested (0 = any); only
	// the first RegionSlots are in Regions.
	RegionCount    uint8
	Regions        [RegionSlots]Code16
	Provider       Code16
	ProviderRegion Code16
}

// AppendTo appends f's order-facts/1 record (RecordSize bytes) to b.
func (f *OrderFacts) AppendTo(b []byte) []byte {
	n := len(b)
	if cap(b)-n < RecordSize {
		nb := make([]byte, n, n+RecordSize)
		copy(nb, b)
		b = nb
	}
	b = b[:n+RecordSize]
	f.Put(b[n:])
	return b
}

// Put writes f's record into r, which must hold RecordSize bytes; every byte
// of r[:RecordSize] is written, reserved ones with zero.
func (f *OrderFacts) Put(r []byte) {
	r = r[:RecordSize]
	clear(r)
	put16(r[0:], FactsSchema)
	var flags uint16
	if f.NonceFresh {
		flags |= FlagNonceFresh
	}
	if f.LaneApplies {
		flags |= FlagLaneApplies
	}
	put16(r[2:], flags)
	r[4] = f.RegionCount
	put64(r[8:], uint64(f.Now))
	put64(r[16:], uint64(f.OrderCreated))
	put64(r[24:], uint64(f.OrderExpires))
	copy(r[32:64], f.Client[:])
	copy(r[64:96], f.GPUModel[:])
	put32(r[96:], f.GPUCount)
	put32(r[100:], f.GPUHours)
	put64(r[104:], uint64(f.MaxPricePerHour))
	put64(r[112:], uint64(f.OfferPricePerHour))
	put32(r[120:], f.ProviderReputation)
	put32(r[124:], f.InflightUsed)
	put32(r[128:], f.OrdersLastMinute)
	put32(r[132:], f.GPUHoursUsedToday)
	put32(r[136:], f.CPUMillis)
	put32(r[140:], f.MemoryMiB)
	put32(r[144:], f.DurationSec)
	for i := range f.Regions {
		copy(r[152+16*i:168+16*i], f.Regions[i][:])
	}
	copy(r[216:232], f.Provider[:])
	copy(r[232:248], f.ProviderRegion[:])
}

// Decode reads an order-facts/1 record. It reports false when r is shorter
// than RecordSize or its schema is not FactsSchema: a policy answers such a
// record with Indeterminate. Unknown flag bits and reserved bytes are
// ignored, as the schema's append-only rule requires.
func (f *OrderFacts) Decode(r []byte) bool {
	if len(r) < RecordSize {
		return false
	}
	r = r[:RecordSize]
	if get16(r[0:]) != FactsSchema {
		return false
	}
	flags := get16(r[2:])
	f.NonceFresh = flags&FlagNonceFresh != 0
	f.LaneApplies = flags&FlagLaneApplies != 0
	f.RegionCount = r[4]
	f.Now = int64(get64(r[8:]))
	f.OrderCreated = int64(get64(r[16:]))
	f.OrderExpires = int64(get64(r[24:]))
	// Array conversions, not copy: in a wasm guest every runtime call costs
	// a termination check, and these compile to plain loads and stores.
	f.Client = [32]byte(r[32:64])
	f.GPUModel = Code32(r[64:96])
	f.GPUCount = get32(r[96:])
	f.GPUHours = get32(r[100:])
	f.MaxPricePerHour = int64(get64(r[104:]))
	f.OfferPricePerHour = int64(get64(r[112:]))
	f.ProviderReputation = get32(r[120:])
	f.InflightUsed = get32(r[124:])
	f.OrdersLastMinute = get32(r[128:])
	f.GPUHoursUsedToday = get32(r[132:])
	f.CPUMillis = get32(r[136:])
	f.MemoryMiB = get32(r[140:])
	f.DurationSec = get32(r[144:])
	f.Regions[0] = Code16(r[152:168])
	f.Regions[1] = Code16(r[168:184])
	f.Regions[2] = Code16(r[184:200])
	f.Regions[3] = Code16(r[200:216])
	f.Provider = Code16(r[216:232])
	f.ProviderRegion = Code16(r[232:248])
	return true
}

// RequestedRegions returns the requested regions carried in the record
// (at most RegionSlots).
func (f *OrderFacts) RequestedRegions() []Code16 {
	n := int(f.RegionCount)
	if n > RegionSlots {
		n = RegionSlots
	}
	return f.Regions[:n]
}

// Little-endian helpers, written out so the guest needs neither
// encoding/binary nor reflection.

func put16(b []byte, v uint16) { _ = b[1]; b[0] = byte(v); b[1] = byte(v >> 8) }

func put32(b []byte, v uint32) {
	_ = b[3]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

func put64(b []byte, v uint64) {
	_ = b[7]
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	b[4], b[5], b[6], b[7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
}

func get16(b []byte) uint16 { _ = b[1]; return uint16(b[0]) | uint16(b[1])<<8 }

func get32(b []byte) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func get64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// PutWord writes a decision word little-endian into b[0:4].
func PutWord(b []byte, w uint32) { put32(b, w) }

// Word reads a little-endian decision word from b[0:4].
func Word(b []byte) uint32 { return get32(b) }
