package sdk

// The fedpolicy/1 ABI, shared by the guest glue and the host.
const (
	// ABIMajor and ABIMinor are this SDK's ABI version; fp_abi_version
	// returns ABIMajor<<16 | ABIMinor.
	ABIMajor   = 1
	ABIMinor   = 0
	ABIVersion = ABIMajor<<16 | ABIMinor
	// ABIName is the ABI as a treaty's PolicyRef names it.
	ABIName = "fedpolicy/1"
	// ManifestSection is the name of the custom section holding the manifest.
	ManifestSection = "fedpolicy.manifest"

	// InputCap is the size of the guest's input region: up to
	// InputCap/RecordSize records per fp_eval, or the params for
	// fp_configure.
	InputCap = 64 << 10
	// OutputCap is the size of the guest's output region: decision words,
	// the manifest, or a configure error message.
	OutputCap = 16 << 10
	// MaxBatch is the most records one fp_eval call takes.
	MaxBatch = InputCap / RecordSize
)

// Decision words. A policy returns Allow, a non-zero reason bitmask below
// 1<<ReasonBits (deny), or Indeterminate (deny; malformed input or internal
// error). Bits ReasonBits..30 are reserved.
const (
	Allow         uint32 = 0
	Indeterminate uint32 = 0xFFFF_FFFF
	// ReasonBits is how many reason bits a decision word has.
	ReasonBits = 24
)

// Return codes of fp_eval and fp_configure below zero.
const (
	// ErrCodeBatch: n is out of range for the buffers.
	ErrCodeBatch = -1
	// ErrCodeNotConfigured: fp_eval before a successful fp_configure.
	ErrCodeNotConfigured = -2
	// ErrCodeNoPolicy: the guest never called Register.
	ErrCodeNoPolicy = -3
)

// Policy is what a guest registers: its manifest, how it reads its params
// and how it decides.
type Policy struct {
	Manifest Manifest
	// Configure is called once per instance with the treaty's params before
	// any Eval; nil means the policy takes no params (and the host refuses
	// non-empty ones).
	Configure func(p *Params) error
	// Eval decides one order: Allow, a reason bitmask or Indeterminate. It
	// must be a pure function of f and the configured params.
	Eval func(f *OrderFacts) uint32
}

// registered is the guest program's policy. A wasm guest is a program whose
// entry point is its package initialisation, so registration is the one
// piece of global state the SDK keeps; hosts never use it.
var registered *Policy

// Register makes p the guest's policy. Call it exactly once, from the guest
// main package's init function; the glue exported to the host dispatches to
// it. It panics on a second call or an invalid manifest, which fails the
// guest's _initialize (a load error on the host).
func Register(p Policy) {
	if registered != nil {
		panic("sdk: Register called twice")
	}
	if p.Eval == nil {
		panic("sdk: Register: Policy.Eval is nil")
	}
	p.Manifest.fill()
	if err := p.Manifest.Validate(); err != nil {
		panic(err.Error())
	}
	registered = &p
}

// EvalBatch decides len(out) records from in (RecordSize bytes each) with
// eval, writing one word per record; a record that does not decode gets
// Indeterminate. It is the loop the guest glue runs, exported so native
// builds and tests run exactly the same code.
func EvalBatch(eval func(*OrderFacts) uint32, in []byte, out []uint32) {
	var f OrderFacts
	for i := range out {
		if !f.Decode(in[i*RecordSize:]) {
			out[i] = Indeterminate
			continue
		}
		out[i] = eval(&f)
	}
}

// Reason returns the decision word bit for reason index i (0..ReasonBits-1).
func Reason(i int) uint32 { return 1 << uint(i) }
