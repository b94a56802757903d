package node

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/ipfs/go-cid"

	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/order"
	"github.com/aurora-federation/aurora/policy"
	"github.com/aurora-federation/aurora/policy/sdk"
)

// getDecision serves GET /v1/jobs/{id}/decision: the policy decision this
// node logged for the order (client.Decision), 404 not_found when it
// logged none (the order is unknown, was answered before reaching a
// module, or its answer expired).
func (a *api) getDecision(w http.ResponseWriter, r *http.Request) {
	id, ok := jobCID(w, r)
	if !ok {
		return
	}
	b, err := a.cfg.Ledger.Decision(r.Context(), id)
	if errors.Is(err, order.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "id", fmt.Sprintf("no decision logged for job %q", id))
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", err.Error())
		return
	}
	e, err := policy.DecodeLogEntry(b)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "internal", "", "stored decision: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, decisionResponse(id, e, b))
}

func decisionResponse(job cid.Cid, e *policy.LogEntry, raw []byte) client.Decision {
	var f policy.Facts
	f.Decode(e.Input) // DecodeLogEntry checked it decodes
	word := uint32(e.Word)
	result := "deny"
	switch word {
	case sdk.Allow:
		result = "allow"
	case sdk.Indeterminate:
		result = "indeterminate"
	}
	regions := []string{}
	for _, r := range f.RequestedRegions() {
		regions = append(regions, r.String())
	}
	return client.Decision{
		Job: job.String(), Module: e.Module.Cid.String(), Params: e.Params.Cid.String(), ParamsData: e.ParamsData,
		Facts: client.DecisionFacts{
			Now: f.Now, OrderCreated: f.OrderCreated, OrderExpires: f.OrderExpires, NonceFresh: f.NonceFresh,
			LaneApplies: f.LaneApplies, Client: hex.EncodeToString(f.Client[:]), GPUModel: f.GPUModel.String(),
			GPUCount: f.GPUCount, GPUHours: f.GPUHours, MaxPricePerHour: f.MaxPricePerHour, OfferPricePerHour: f.OfferPricePerHour,
			ProviderReputation: f.ProviderReputation, InflightUsed: f.InflightUsed, OrdersLastMinute: f.OrdersLastMinute,
			GPUHoursUsedToday: f.GPUHoursUsedToday, CPUMillis: f.CPUMillis, MemoryMiB: f.MemoryMiB, DurationSec: f.DurationSec,
			RegionCount: f.RegionCount, Regions: regions, Provider: f.Provider.String(), ProviderRegion: f.ProviderRegion.String(),
		},
		Input: e.Input, InputSHA256: hex.EncodeToString(e.InputSHA256),
		Result: result, Word: word, Reasons: e.Reasons, At: e.At, Entry: raw,
	}
}

// getModule serves GET /v1/policies/{cid}: the wasm of a module this node
// holds (loaded, or in its policy dir), application/wasm. The bytes hash
// to the CID; a client checks that before loading them.
func (a *api) getModule(w http.ResponseWriter, r *http.Request) {
	s := r.PathValue("cid")
	c, err := cid.Decode(s)
	if err != nil || c.String() != s || policy.CheckModuleCID(c) != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "cid", "not a module CID in canonical form (CIDv1, raw codec, sha2-256, base32)")
		return
	}
	var b []byte
	if a.cfg.Module != nil {
		b = a.cfg.Module(c)
	}
	if b == nil {
		writeError(w, http.StatusNotFound, "not_found", "cid", fmt.Sprintf("module %s is not held by this node", c))
		return
	}
	w.Header().Set("Content-Type", "application/wasm")
	w.Write(b)
}
