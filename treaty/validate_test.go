package treaty

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestOrderValidate(t *testing.T) {
	client := testKey(t, 1)
	tests := []struct {
		name      string
		mutate    func(o *Order)
		wantField string
	}{
		{"valid", func(o *Order) {}, ""},
		{"version", func(o *Order) { o.V = 2 }, "v"},
		{"client DID", func(o *Order) { o.Client = "did:web:example.com" }, "client"},
		{"short nonce", func(o *Order) { o.Nonce = []byte{1, 2, 3} }, "nonce"},
		{"long nonce", func(o *Order) { o.Nonce = make([]byte, MaxNonceLen+1) }, "nonce"},
		{"created in the future", func(o *Order) {
			o.Created = fixedNow.Add(MaxClockSkew + time.Second).Unix()
			o.Expires = o.Created + 60
		}, "created"},
		{"created within skew", func(o *Order) { o.Created = fixedNow.Add(MaxClockSkew).Unix(); o.Expires = o.Created + 60 }, ""},
		{"expires before created", func(o *Order) { o.Expires = o.Created }, "expires"},
		{"lifetime too long", func(o *Order) { o.Expires = o.Created + int64(MaxOrderLifetime/time.Second) + 1 }, "expires"},
		{"expired", func(o *Order) {
			o.Created = fixedNow.Add(-2 * time.Hour).Unix()
			o.Expires = fixedNow.Add(-time.Hour).Unix()
		}, "expires"},
		{"empty image", func(o *Order) { o.Workload.Image = "" }, "workload.image"},
		{"long image", func(o *Order) { o.Workload.Image = strings.Repeat("a", MaxImageLen+1) }, "workload.image"},
		{"control char in image", func(o *Order) { o.Workload.Image = "a\nb" }, "workload.image"},
		{"too many args", func(o *Order) { o.Workload.Cmd = make([]string, MaxCmdArgs+1) }, "workload.cmd"},
		{"long arg", func(o *Order) { o.Workload.Cmd = []string{strings.Repeat("x", MaxArgLen+1)} }, "workload.cmd[0]"},
		{"env unsorted", func(o *Order) { o.Workload.Env = []EnvVar{{"B", "1"}, {"A", "2"}} }, "workload.env"},
		{"env bad name", func(o *Order) { o.Workload.Env = []EnvVar{{"1X", "1"}} }, "workload.env[0].name"},
		{"env too many", func(o *Order) {
			o.Workload.Env = nil
			for i := range MaxEnvVars + 1 {
				o.Workload.Env = append(o.Workload.Env, EnvVar{Name: "V" + strings.Repeat("A", i), Value: ""})
			}
		}, "workload.env"},
		{"gpu count zero", func(o *Order) { o.Workload.GPU.Count = 0 }, "workload.gpu.count"},
		{"gpu count huge", func(o *Order) { o.Workload.GPU.Count = MaxGPUs + 1 }, "workload.gpu.count"},
		{"gpu model empty", func(o *Order) { o.Workload.GPU.Model = "" }, "workload.gpu.model"},
		{"negative cpu", func(o *Order) { o.Workload.CPU = -1 }, "workload.cpu"},
		{"zero duration", func(o *Order) { o.Workload.Duration = 0 }, "workload.duration"},
		{"duration over limit", func(o *Order) { o.Workload.Duration = MaxDuration + 1 }, "workload.duration"},
		{"bad port", func(o *Order) { o.Workload.Ports = []int64{70000} }, "workload.ports[0]"},
		{"too many ports", func(o *Order) { o.Workload.Ports = make([]int64, MaxPorts+1) }, "workload.ports"},
		{"bad region", func(o *Order) { o.Constraints.Regions = []string{"EU West"} }, "constraints.regions[0]"},
		{"regions unsorted", func(o *Order) { o.Constraints.Regions = []string{"us-east", "eu-west"} }, "constraints.regions"},
		{"too many regions", func(o *Order) {
			o.Constraints.Regions = nil
			for i := range MaxRegions + 1 {
				o.Constraints.Regions = append(o.Constraints.Regions, "r"+strings.Repeat("a", i))
			}
		}, "constraints.regions"},
		{"zero price cap", func(o *Order) { o.Constraints.MaxPricePerHour = 0 }, "constraints.max_price_per_hour"},
		{"price cap over limit", func(o *Order) { o.Constraints.MaxPricePerHour = MaxPrice + 1 }, "constraints.max_price_per_hour"},
		{"reputation over 1000", func(o *Order) { o.Constraints.MinReputation = 1001 }, "constraints.min_reputation"},
		{"bad provider name", func(o *Order) { o.Constraints.Providers = []string{"Vast.AI"} }, "constraints.providers[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOrder(t, client)
			tt.mutate(o)
			err := o.Validate(fixedNow)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a ValidationError", err)
			}
			if ve.Field != tt.wantField {
				t.Fatalf("field = %q (%v), want %q", ve.Field, err, tt.wantField)
			}
			if !strings.Contains(err.Error(), "order."+tt.wantField) {
				t.Fatalf("message %q does not name the field", err)
			}
		})
	}
}

func TestTreatyValidate(t *testing.T) {
	a, b, c := testKey(t, 2), testKey(t, 3), testKey(t, 4)
	base := func() *Treaty {
		tr, err := FromTemplate(Proposal{Template: TemplateBilateral, Federation: "testnet", Proposer: a.DID(), Peer: b.DID(), Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	tests := []struct {
		name      string
		mutate    func(tr *Treaty)
		wantField string
	}{
		{"valid", func(tr *Treaty) {}, ""},
		{"one party", func(tr *Treaty) { tr.Parties = tr.Parties[:1]; tr.Lanes = nil }, "parties"},
		{"unsorted parties", func(tr *Treaty) { tr.Parties[0], tr.Parties[1] = tr.Parties[1], tr.Parties[0] }, "parties"},
		{"lane from non-party", func(tr *Treaty) { tr.Lanes[0].From = c.DID() }, "lanes[0].from"},
		{"lane to self", func(tr *Treaty) { tr.Lanes[0].To = tr.Lanes[0].From }, "lanes[0]"},
		{"negative quota", func(tr *Treaty) { tr.Lanes[1].OrdersPerMin = -1 }, "lanes[1].orders_per_min"},
		{"zero seq", func(tr *Treaty) { tr.Seq = 0 }, "seq"},
		{"window inverted", func(tr *Treaty) { tr.NotAfter = tr.NotBefore }, "not_after"},
		{"window too long", func(tr *Treaty) { tr.NotAfter = tr.NotBefore + int64(MaxTreatyLifetime/time.Second) + 1 }, "not_after"},
		{"bad federation", func(tr *Treaty) { tr.Federation = "Test Net" }, "federation"},
		{"bad abi", func(tr *Treaty) { tr.Policy.ABI = "fedpolicy/2" }, "policy.abi"},
		{"bad module", func(tr *Treaty) { tr.Policy.Module = "not-a-cid" }, "policy.module"},
		{"params too large", func(tr *Treaty) { tr.Policy.Params = make([]byte, MaxParamsLen+1) }, "policy.params"},
		{"deadline too long", func(tr *Treaty) { tr.Policy.DeadlineMS = MaxPolicyDeadline + 1 }, "policy.deadline_ms"},
		{"reputation over 1000", func(tr *Treaty) { tr.MinProviderReputation = 1001 }, "min_provider_reputation"},
		{"short sig", func(tr *Treaty) { tr.Sigs = []PartySig{{DID: a.DID(), Sig: []byte{1}}} }, "sigs[0].sig"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := base()
			tt.mutate(tr)
			err := tr.Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField {
				t.Fatalf("Validate = %v, want field %q", err, tt.wantField)
			}
		})
	}
}

func TestOtherRecordsValidate(t *testing.T) {
	recs := sampleRecords(t)
	type validator interface{ Validate() error }
	for kind, r := range recs {
		if v, ok := r.(validator); ok {
			if err := v.Validate(); err != nil {
				t.Errorf("%s sample: %v", kind, err)
			}
		}
	}
	ack := *recs["ack"].(*Ack)
	ack.Route = Route{Kind: RoutePeer, Name: string(testKey(t, 3).DID())}
	if err := ack.Validate(); err == nil || !strings.Contains(err.Error(), "route.treaty") {
		t.Errorf("peer route without treaty: %v", err)
	}
	ack.Via = make([]Hop, MaxVia+1)
	if err := ack.Validate(); err == nil {
		t.Error("ack with too many hops validates")
	}
	den := *recs["denial"].(*Denial)
	den.Reasons = nil
	if err := den.Validate(); err == nil || !strings.Contains(err.Error(), "reasons") {
		t.Errorf("denial without reasons: %v", err)
	}
	job := *recs["job"].(*JobRecord)
	job.Transitions = []Transition{{Status: "exploded", At: 1}}
	if err := job.Validate(); err == nil || !strings.Contains(err.Error(), "transitions[0].status") {
		t.Errorf("job with unknown status: %v", err)
	}
	rep := *recs["reputation"].(*ReputationReport)
	rep.Providers = []ProviderStat{{Name: "x", Launched: 1, Failed: 2}}
	if err := rep.Validate(); err == nil || !strings.Contains(err.Error(), "providers[0].failed") {
		t.Errorf("report with failed > launched: %v", err)
	}
	an := *recs["anchor"].(*Anchor)
	an.Checkpoint = "other/origin\n1\n"
	if err := an.Validate(); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("anchor whose checkpoint names another origin: %v", err)
	}
}

func TestGPUHours(t *testing.T) {
	w := Workload{GPU: &GPU{Model: "A100", Count: 2}, Duration: 5400}
	if got := w.GPUHours(); got != 3 {
		t.Fatalf("GPUHours = %d, want 3", got)
	}
	if got := (&Workload{Duration: 3600}).GPUHours(); got != 0 {
		t.Fatalf("GPUHours without GPU = %d", got)
	}
}

// TestReleaseEntryValidate checks each field rule of a release entry at
// and beyond its limit, and that the failing field is named.
func TestReleaseEntryValidate(t *testing.T) {
	good := func() *ReleaseEntry {
		return &ReleaseEntry{V: ReleaseVersion, Name: "aurora-20261207.tar.gz", SHA256: make([]byte, 32),
			Signer: strings.Repeat("ab", 20), TokensSHA256: [][]byte{make([]byte, 32), make([]byte, 32)}, At: 1780000000}
	}
	tests := []struct {
		name      string
		mutate    func(r *ReleaseEntry)
		wantField string // "" means valid
	}{
		{"valid", func(*ReleaseEntry) {}, ""},
		{"name at limit", func(r *ReleaseEntry) { r.Name = strings.Repeat("a", MaxReleaseNameLen) }, ""},
		{"name beyond limit", func(r *ReleaseEntry) { r.Name = strings.Repeat("a", MaxReleaseNameLen+1) }, "release.name"},
		{"name with a slash", func(r *ReleaseEntry) { r.Name = "dist/aurora.tar.gz" }, "release.name"},
		{"name starting with a dot", func(r *ReleaseEntry) { r.Name = ".aurora" }, "release.name"},
		{"version 2", func(r *ReleaseEntry) { r.V = 2 }, "release.v"},
		{"short digest", func(r *ReleaseEntry) { r.SHA256 = make([]byte, 31) }, "release.sha256"},
		{"upper-case signer", func(r *ReleaseEntry) { r.Signer = strings.Repeat("AB", 20) }, "release.signer"},
		{"v6 fingerprint length", func(r *ReleaseEntry) { r.Signer = strings.Repeat("ab", 32) }, "release.signer"},
		{"no tokens", func(r *ReleaseEntry) { r.TokensSHA256 = nil }, "release.tokens_sha256"},
		{"tokens at limit", func(r *ReleaseEntry) { r.TokensSHA256 = make([][]byte, MaxReleaseTokens); fill32(r.TokensSHA256) }, ""},
		{"tokens beyond limit", func(r *ReleaseEntry) { r.TokensSHA256 = make([][]byte, MaxReleaseTokens+1); fill32(r.TokensSHA256) }, "release.tokens_sha256"},
		{"bad token digest", func(r *ReleaseEntry) { r.TokensSHA256[1] = []byte{1} }, "release.tokens_sha256[1]"},
		{"no time", func(r *ReleaseEntry) { r.At = 0 }, "release.at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.mutate(r)
			err := (&LogEntry{Release: r}).Validate()
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField {
				t.Fatalf("Validate = %v, want a ValidationError on %s", err, tt.wantField)
			}
		})
	}
	if err := (&LogEntry{Release: good(), TSA: &TSAEntry{}}).Validate(); err == nil || !strings.Contains(err.Error(), "want exactly one of job, anchor, tsa, release") {
		t.Fatalf("two members: %v", err)
	}
}

func fill32(ds [][]byte) {
	for i := range ds {
		ds[i] = make([]byte, 32)
	}
}
