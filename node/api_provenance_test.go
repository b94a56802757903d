package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/provenance"
	"github.com/aurora-federation/aurora/provenance/c2sphttp"
	"github.com/aurora-federation/aurora/provenance/monitor"
	"github.com/aurora-federation/aurora/treaty"
)

// TestTilesTrustEpochs: the node serves its log as C2SP tiles (a monitor
// clones it and finds the job), what a verifier needs at GET /v1/trust,
// and its epochs with their root CIDs at GET /v1/epochs.
func TestTilesTrustEpochs(t *testing.T) {
	tn := startNode(t, newConfig())
	resp, err := tn.api.Submit(t.Context(), mustOrder(t, clientKey(t), spec()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for {
		if _, err := tn.api.Raw(ctx, http.MethodGet, "/v1/jobs/"+resp.Job+"/proof", "", nil); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no epoch closed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	base := "http://" + tn.n.APIAddr()

	raw, err := tn.api.Raw(ctx, http.MethodGet, "/v1/trust", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var tv node.TrustView
	if err := json.Unmarshal(raw, &tv); err != nil {
		t.Fatal(err)
	}
	origin := "aurora/testnet/" + tn.n.Identity().PeerID.String()
	logV, err := provenance.ParseLogKey(tv.LogKey)
	if err != nil || tv.Origin != origin || logV.Name() != origin || tv.Tiles != node.TilesPrefix || tv.Witness != nil || len(tv.Partners) != 0 {
		t.Fatalf("trust %s (%v)", raw, err)
	}

	c, err := c2sphttp.NewClient(base+tv.Tiles, nil)
	if err != nil {
		t.Fatal(err)
	}
	var jobs []string
	fo, err := monitor.New(monitor.Config{Origin: origin, Verifier: logV, Fetcher: c,
		OnEntry: func(_ uint64, _ []byte, e *treaty.LogEntry) {
			if e != nil && e.Job != nil {
				jobs = append(jobs, e.Job.Job)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	u, err := fo.Poll(ctx)
	if err != nil {
		t.Fatalf("monitor: %v", err)
	}
	if u.To == 0 || len(jobs) == 0 || jobs[0] != resp.Job {
		t.Fatalf("monitor cloned %+v, jobs %v", u, jobs)
	}
	// A full tile is immutable, the checkpoint is not; POST is refused.
	r, err := http.Get(base + "/tlog/tile/entries/000.p/1")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 || r.Header.Get("Cache-Control") != c2sphttp.CacheImmutable {
		t.Fatalf("entry bundle: %d %q", r.StatusCode, r.Header.Get("Cache-Control"))
	}
	if r, err := http.Post(base+"/tlog/checkpoint", "text/plain", nil); err != nil || r.StatusCode != 405 {
		t.Fatalf("POST checkpoint: %v %v", err, r.StatusCode)
	}
	// No mesh, no witness: the JSON 404.
	if r, err := http.Post(base+"/witness/add-checkpoint", "text/plain", nil); err != nil || r.StatusCode != 404 {
		t.Fatalf("witness on a standalone node: %v %v", err, r.StatusCode)
	}

	raw, err = tn.api.Raw(ctx, http.MethodGet, "/v1/epochs?limit=2", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct{ Epochs []node.EpochView }
	if err := json.Unmarshal(raw, &ev); err != nil || len(ev.Epochs) == 0 {
		t.Fatalf("epochs %s (%v)", raw, err)
	}
	e := ev.Epochs[0]
	if _, err := provenance.OpenCheckpoint([]byte(e.Checkpoint), origin, logV); err != nil || e.End == 0 || e.ClosedAt == 0 {
		t.Fatalf("epoch %+v: %v", e, err)
	}
	if len(ev.Epochs) == 2 && ev.Epochs[1].Epoch != e.Epoch-1 {
		t.Fatalf("epochs not latest first: %+v", ev.Epochs)
	}
	for _, q := range []string{"?limit=0", "?before=x", "?cursor=1", "?limit=1&limit=2"} {
		r, err := http.Get(base + "/v1/epochs" + q)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != 400 {
			t.Fatalf("/v1/epochs%s: %d %s", q, r.StatusCode, b)
		}
	}
}
