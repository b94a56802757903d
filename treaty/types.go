package treaty

// Version is the record version every record carries in its v field.
const Version = 1

// GPU asks for Count accelerators of Model with at least MinVRAM MiB each.
type GPU struct {
	Model   string `cbor:"model"`
	Count   int64  `cbor:"count"`
	MinVRAM int64  `cbor:"min_vram"`
}

// EnvVar is one environment variable. A workload's Env is sorted by Name with
// no duplicates, so the encoding is canonical.
type EnvVar struct {
	Name  string `cbor:"name"`
	Value string `cbor:"value"`
}

// Workload is what an order runs. Units: CPU in millicores, Memory and Disk in
// MiB, Duration in seconds.
type Workload struct {
	Image    string   `cbor:"image"`
	Cmd      []string `cbor:"cmd"`
	Env      []EnvVar `cbor:"env"`
	GPU      *GPU     `cbor:"gpu,omitempty"`
	CPU      int64    `cbor:"cpu"`
	Memory   int64    `cbor:"memory"`
	Disk     int64    `cbor:"disk"`
	Duration int64    `cbor:"duration"`
	Ports    []int64  `cbor:"ports"`
}

// Constraints bound where and for how much an order may run. MaxPricePerHour is
// in micro-USD per hour; MinReputation in permille (0..1000). Empty Regions or
// Providers mean "any".
type Constraints struct {
	Regions         []string `cbor:"regions"`
	MaxPricePerHour int64    `cbor:"max_price_per_hour"`
	MinReputation   int64    `cbor:"min_reputation"`
	Providers       []string `cbor:"providers"`
}

// Order is a tenant's signed request for compute. Created and Expires are unix
// seconds; Nonce is 16 random bytes that the replay guard tracks until Expires.
type Order struct {
	V           int64       `cbor:"v"`
	Client      DID         `cbor:"client"`
	Nonce       []byte      `cbor:"nonce"`
	Created     int64       `cbor:"created"`
	Expires     int64       `cbor:"expires"`
	Workload    Workload    `cbor:"workload"`
	Constraints Constraints `cbor:"constraints"`
	// Secrets, if set, are environment variables the tenant sealed to one
	// operator (SealSecrets): only that operator's key opens them, at
	// launch. The order, its blocks and its leaves carry only the box.
	Secrets *SealedEnv `cbor:"secrets,omitempty"`
	Sig     []byte     `cbor:"sig,omitempty"`
}

// SealedEnv is environment variables sealed to the operator To: Box is an
// HPKE (RFC 9180) message, the encapsulated key followed by the
// ciphertext, of the dag-cbor list of EnvVar (see SealSecrets).
type SealedEnv struct {
	To  DID    `cbor:"to"`
	Box []byte `cbor:"box"`
}

// Route kinds.
const (
	RouteProvider = "provider"
	RoutePeer     = "peer"
)

// Route names where an acknowledged order runs: a local provider by name, or a
// treaty peer by DID under the treaty with CID Treaty.
type Route struct {
	Kind   string `cbor:"kind"`
	Name   string `cbor:"name"`
	Treaty *Link  `cbor:"treaty,omitempty"`
}

// Hop is one step of a forward chain: the operator that acknowledged and the
// exact signed dag-cbor bytes of its Ack.
type Hop struct {
	Operator DID    `cbor:"operator"`
	Ack      []byte `cbor:"ack"`
}

// Ack is an operator's signed commitment to run an order on Route at Price
// (micro-USD per hour). Via holds the Acks of the peers the order was
// forwarded to, nearest first.
type Ack struct {
	V        int64  `cbor:"v"`
	Order    Link   `cbor:"order"`
	Job      string `cbor:"job"`
	Operator DID    `cbor:"operator"`
	Via      []Hop  `cbor:"via"`
	Route    Route  `cbor:"route"`
	Price    int64  `cbor:"price"`
	At       int64  `cbor:"at"`
	Sig      []byte `cbor:"sig,omitempty"`
}

// Denial is an operator's signed refusal of an order. ReasonBits is the policy
// decision word; Policy is the CID of the module that decided ("" when the
// order failed a host-side check).
type Denial struct {
	V          int64    `cbor:"v"`
	Order      Link     `cbor:"order"`
	Operator   DID      `cbor:"operator"`
	Reasons    []string `cbor:"reasons"`
	ReasonBits int64    `cbor:"reason_bits"`
	Policy     string   `cbor:"policy"`
	At         int64    `cbor:"at"`
	Sig        []byte   `cbor:"sig,omitempty"`
}

// Job statuses, in lifecycle order.
const (
	StatusAccepted   = "accepted"
	StatusLaunching  = "launching"
	StatusRunning    = "running"
	StatusSucceeded  = "succeeded"
	StatusFailed     = "failed"
	StatusTerminated = "terminated"
	StatusForwarded  = "forwarded"
	// StatusCanceled: the tenant canceled the job (a Cancel record); any
	// lease it held was terminated. Terminal.
	StatusCanceled = "canceled"
)

// Transition is one status change of a job at unix time At.
type Transition struct {
	Status string `cbor:"status"`
	At     int64  `cbor:"at"`
	Detail string `cbor:"detail"`
}

// JobRecord is the provenance leaf content for one job: what was ordered, who
// acknowledged it, where it ran and every status change.
type JobRecord struct {
	V           int64        `cbor:"v"`
	Job         string       `cbor:"job"`
	Order       Link         `cbor:"order"`
	Ack         Link         `cbor:"ack"`
	Operator    DID          `cbor:"operator"`
	Client      DID          `cbor:"client"`
	Route       Route        `cbor:"route"`
	Price       int64        `cbor:"price"`
	Lease       string       `cbor:"lease"`
	Transitions []Transition `cbor:"transitions"`
	Result      []byte       `cbor:"result,omitempty"`
}

// Lane lets From forward orders to To within quotas. Zero quotas mean
// "no limit" for that dimension.
type Lane struct {
	From           DID   `cbor:"from"`
	To             DID   `cbor:"to"`
	MaxInflight    int64 `cbor:"max_inflight"`
	OrdersPerMin   int64 `cbor:"orders_per_min"`
	GPUHoursPerDay int64 `cbor:"gpu_hours_per_day"`
}

// Credit terms between parties, in micro-USD and days. MinMarkup and
// MaxMarkup bound, in permille over its cost, what the party running an
// order on the treaty's lanes may charge (package credit prices within
// them); both 0 means at cost.
type Credit struct {
	Limit      int64 `cbor:"limit"`
	SettleDays int64 `cbor:"settle_days"`
	MinMarkup  int64 `cbor:"min_markup"`
	MaxMarkup  int64 `cbor:"max_markup"`
}

// MaxMarkup bounds a treaty's markup: 10,000 permille, eleven times the
// cost.
const MaxMarkup = 10_000

// PolicyRef names the WASM module (by CID, "" for the embedded standard law)
// and its params that judge orders on this treaty's lanes.
type PolicyRef struct {
	ABI         string `cbor:"abi"`
	Module      string `cbor:"module"`
	Params      []byte `cbor:"params"`
	DeadlineMS  int64  `cbor:"deadline_ms"`
	MemoryPages int64  `cbor:"memory_pages"`
}

// SLA targets: FillRate in permille, RTTP95MS in milliseconds.
type SLA struct {
	FillRate int64 `cbor:"fill_rate"`
	RTTP95MS int64 `cbor:"rtt_p95_ms"`
}

// PartySig is one party's signature over a treaty.
type PartySig struct {
	DID DID    `cbor:"did"`
	Sig []byte `cbor:"sig"`
}

// Treaty is a multi-party peering agreement. Sigs holds one
// signature per party, sorted by DID; the treaty is active once every party
// has signed.
type Treaty struct {
	V                     int64      `cbor:"v"`
	Federation            string     `cbor:"federation"`
	Template              string     `cbor:"template"`
	Parties               []DID      `cbor:"parties"`
	Seq                   int64      `cbor:"seq"`
	NotBefore             int64      `cbor:"not_before"`
	NotAfter              int64      `cbor:"not_after"`
	Lanes                 []Lane     `cbor:"lanes"`
	Regions               []string   `cbor:"regions"`
	MinProviderReputation int64      `cbor:"min_provider_reputation"`
	MaxPricePerGPUHour    int64      `cbor:"max_price_per_gpu_hour"`
	Credit                Credit     `cbor:"credit"`
	Providers             []string   `cbor:"providers"`
	Policy                PolicyRef  `cbor:"policy"`
	SLA                   SLA        `cbor:"sla"`
	Sigs                  []PartySig `cbor:"sigs"`
}

// Revocation is a party's signed withdrawal from a treaty.
type Revocation struct {
	V      int64  `cbor:"v"`
	Treaty Link   `cbor:"treaty"`
	By     DID    `cbor:"by"`
	At     int64  `cbor:"at"`
	Reason string `cbor:"reason"`
	Sig    []byte `cbor:"sig,omitempty"`
}

// ProviderStat is one provider's launch outcomes in a reputation epoch.
type ProviderStat struct {
	Name        string `cbor:"name"`
	Launched    int64  `cbor:"launched"`
	Failed      int64  `cbor:"failed"`
	LaunchP95MS int64  `cbor:"launch_p95_ms"`
}

// PeerStat is one peer's forwarding outcomes in a reputation epoch.
type PeerStat struct {
	DID       DID   `cbor:"did"`
	Forwarded int64 `cbor:"forwarded"`
	Filled    int64 `cbor:"filled"`
}

// ReputationReport is an operator's signed summary of one epoch.
type ReputationReport struct {
	V          int64          `cbor:"v"`
	Reporter   DID            `cbor:"reporter"`
	Federation string         `cbor:"federation"`
	Epoch      int64          `cbor:"epoch"`
	At         int64          `cbor:"at"`
	Providers  []ProviderStat `cbor:"providers"`
	Peers      []PeerStat     `cbor:"peers"`
	Sig        []byte         `cbor:"sig,omitempty"`
}

// Anchor announces a log checkpoint: the signed note text (with any witness
// cosignatures), the epoch root block CID and the RFC 3161 tokens over it.
// It carries no signature of its own: the checkpoint note is signed.
type Anchor struct {
	V          int64    `cbor:"v"`
	Origin     string   `cbor:"origin"`
	Checkpoint string   `cbor:"checkpoint"`
	Root       *Link    `cbor:"root,omitempty"`
	TSA        [][]byte `cbor:"tsa"`
}

// TSAEntry records, in the log, the RFC 3161 tokens obtained for an earlier
// checkpoint: its size and SHA-256, and each token's SHA-256.
type TSAEntry struct {
	Size             int64    `cbor:"size"`
	CheckpointSHA256 []byte   `cbor:"checkpoint_sha256"`
	TokensSHA256     [][]byte `cbor:"tokens_sha256"`
	At               int64    `cbor:"at"`
}

// ReleaseEntry records, in the operator's log, a release bundle the
// operator published: the tarball's name and SHA-256, the OpenPGP v4
// fingerprint of the key that signed it, and the SHA-256 of each RFC 3161
// token over it (`aurora release log`).
type ReleaseEntry struct {
	V            int64    `cbor:"v"`
	Name         string   `cbor:"name"`
	SHA256       []byte   `cbor:"sha256"`
	Signer       string   `cbor:"signer"`
	TokensSHA256 [][]byte `cbor:"tokens_sha256"`
	At           int64    `cbor:"at"`
}

// Cancel is a tenant's signed request to stop the job of an order: only
// the order's client may sign it. At is unix seconds; Reason is the
// tenant's own words ("" allowed). A Cancel is logged as a leaf by every
// node along the order's via-chain that applies it.
type Cancel struct {
	V      int64  `cbor:"v"`
	Order  Link   `cbor:"order"`
	Client DID    `cbor:"client"`
	At     int64  `cbor:"at"`
	Reason string `cbor:"reason"`
	Sig    []byte `cbor:"sig,omitempty"`
}

// LogEntry is one leaf of a node's provenance log: exactly one of Job,
// Anchor (a peer checkpoint this node verified: cross-anchoring), TSA,
// Release (a release bundle the operator published), Cancel (a tenant's
// signed cancel this node applied), Settlement or SettlementReply (credit
// statements between treaty partners and their answers) or Snapshot (a
// ledger snapshot the operator took) is set. The leaf
// bytes are its canonical dag-cbor, a keyed union in the IPLD schema.
type LogEntry struct {
	Job             *JobRecord       `cbor:"job,omitempty"`
	Anchor          *Anchor          `cbor:"anchor,omitempty"`
	TSA             *TSAEntry        `cbor:"tsa,omitempty"`
	Release         *ReleaseEntry    `cbor:"release,omitempty"`
	Cancel          *Cancel          `cbor:"cancel,omitempty"`
	Settlement      *Settlement      `cbor:"settlement,omitempty"`
	SettlementReply *SettlementReply `cbor:"settlement_reply,omitempty"`
	Snapshot        *SnapshotEntry   `cbor:"snapshot,omitempty"`
}
