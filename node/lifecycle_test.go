package node_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/node/client"
	"github.com/aurora-federation/aurora/providers/vastai/vastaitest"
	"github.com/aurora-federation/aurora/treaty"
)

// vastNode starts a node whose only provider is the Vast.ai fake (its
// instances advance every 20ms).
func vastNode(t *testing.T, edit func(*node.Config)) (*testNode, *vastaitest.Server) {
	t.Helper()
	fake := vastaitest.NewServer(vastaitest.Options{})
	base := fake.Start()
	t.Cleanup(fake.Close)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				fake.Advance()
			case <-stop:
				return
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })
	cred := filepath.Join(t.TempDir(), "vast.key")
	if err := os.WriteFile(cred, []byte(vastaitest.DefaultAPIKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := newConfig()
	cfg.Providers = []node.ProviderConfig{{Kind: "vastai", Name: "vast", BaseURL: base, CredentialFile: cred, Regions: []string{"eu-west"}}}
	cfg.Launch.PollMax = node.Duration(100 * time.Millisecond)
	if edit != nil {
		edit(&cfg)
	}
	return startNode(t, cfg), fake
}

func vastSpec() client.OrderSpec {
	return client.OrderSpec{Image: "ghcr.io/aurora/infer:1", GPU: "RTX 4090:1", Regions: []string{"eu-west"}, MaxPrice: "2.50/h", Duration: time.Hour, Ports: []int64{8080}}
}

func wantAPIError(t *testing.T, err error, status int, code, field string) {
	t.Helper()
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != status || ae.Code != code || ae.Field != field {
		t.Fatalf("got %v, want %d %s naming %q", err, status, code, field)
	}
}

// TestCancelOnTheVastFake: a tenant cancels a job running on the Vast.ai
// fake through POST /v1/jobs/{id}/cancel: the instance is destroyed at
// the fake, the job is canceled, and the log holds the Cancel leaf and the
// canceled job leaf. A stranger's cancel is refused and changes nothing;
// a second cancel is a no-op.
func TestCancelOnTheVastFake(t *testing.T) {
	tn, fake := vastNode(t, nil)
	ctx := t.Context()
	k := clientKey(t)
	resp, err := tn.api.Submit(ctx, mustOrder(t, k, vastSpec()))
	if err != nil || resp.Result != "ack" {
		t.Fatalf("submit: %+v %v", resp, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	j, err := tn.api.WaitSettled(wctx, resp.Job)
	if err != nil || j.Status != treaty.StatusRunning {
		t.Fatalf("job: %+v %v", j, err)
	}
	if n := len(fake.Instances()); n != 1 {
		t.Fatalf("%d instances at the fake", n)
	}

	stranger := clientKey(t)
	rec, err := client.BuildCancel(stranger, resp.Job, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = tn.api.Cancel(ctx, rec)
	wantAPIError(t, err, http.StatusForbidden, "not_client", "client")
	forged := *rec
	forged.Client = k.DID() // the tenant's DID over the stranger's signature
	_, err = tn.api.Cancel(ctx, &forged)
	wantAPIError(t, err, http.StatusForbidden, "bad_signature", "sig")
	if len(fake.Instances()) != 1 {
		t.Fatal("a refused cancel destroyed the instance")
	}

	rec, err = client.BuildCancel(k, resp.Job, "finished early", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got, err := tn.api.Cancel(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != treaty.StatusCanceled || got.Already || got.Cancel != treaty.CIDOf(mustEncode(t, rec)).String() {
		t.Errorf("cancel answer: %+v", got)
	}
	if n := len(fake.Instances()); n != 0 {
		t.Errorf("%d instances still at the fake after the cancel", n)
	}
	if len(got.Leaves) < 2 {
		t.Fatalf("leaves %v", got.Leaves)
	}
	cancelLeaf, err := tn.n.Log().Leaf(ctx, got.Leaves[len(got.Leaves)-2])
	if err != nil {
		t.Fatal(err)
	}
	var e treaty.LogEntry
	if err := treaty.Decode(cancelLeaf, &e); err != nil || e.Cancel == nil || e.Cancel.Client != k.DID() || e.Cancel.Reason != "finished early" {
		t.Fatalf("leaf before the job's last: %+v %v, want the Cancel", e, err)
	}
	jobLeaf, err := tn.n.Log().Leaf(ctx, got.Leaves[len(got.Leaves)-1])
	if err != nil {
		t.Fatal(err)
	}
	e = treaty.LogEntry{}
	if err := treaty.Decode(jobLeaf, &e); err != nil || e.Job == nil || e.Job.Transitions[len(e.Job.Transitions)-1].Status != treaty.StatusCanceled {
		t.Fatalf("last leaf: %+v %v, want the canceled job", e, err)
	}

	again, err := tn.api.Cancel(ctx, rec)
	if err != nil || !again.Already || len(again.Leaves) != len(got.Leaves) {
		t.Errorf("second cancel: %+v %v, want a no-op", again, err)
	}
}

func mustEncode(t *testing.T, r treaty.Record) []byte {
	t.Helper()
	b, err := treaty.Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCancelRefusals: the path's job and the Cancel's order must agree;
// the body is bounded; a job that failed answers 409.
func TestCancelRefusals(t *testing.T) {
	cfg := newConfig()
	cfg.Providers[0].Options["fail"] = "1"
	cfg.Providers = cfg.Providers[:1]
	tn := startNode(t, cfg)
	ctx := t.Context()
	k := clientKey(t)
	resp, err := tn.api.Submit(ctx, mustOrder(t, k, spec()))
	if err != nil || resp.Result != "ack" {
		t.Fatalf("submit: %+v %v", resp, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if j, err := tn.api.WaitSettled(wctx, resp.Job); err != nil || j.Status != treaty.StatusFailed {
		t.Fatalf("job: %+v %v", j, err)
	}
	rec, err := client.BuildCancel(k, resp.Job, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, err = tn.api.Cancel(ctx, rec)
	wantAPIError(t, err, http.StatusConflict, "job_finished", "order")

	other := treaty.CIDOf([]byte("another order")).String()
	err = tn.api.Do(ctx, http.MethodPost, "/v1/jobs/"+other+"/cancel", "application/vnd.ipld.dag-cbor", mustEncode(t, rec), nil)
	wantAPIError(t, err, http.StatusBadRequest, "bad_record", "order")
	err = tn.api.Do(ctx, http.MethodPost, "/v1/jobs/"+resp.Job+"/cancel", "application/json", []byte(strings.Repeat(" ", 4<<10+1)), nil)
	wantAPIError(t, err, http.StatusRequestEntityTooLarge, "too_large", "body")
	js, err := treaty.EncodeJSON(rec)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(js), `"reason"`, `"lease":"x","reason"`, 1)
	err = tn.api.Do(ctx, http.MethodPost, "/v1/jobs/"+resp.Job+"/cancel", "application/json", []byte(bad), nil)
	wantAPIError(t, err, http.StatusBadRequest, "bad_record", "lease")
}

// TestJobLogs: GET /v1/jobs/{id}/logs reads the container log from the
// Vast.ai fake, for the job's client (signed) or the operator; a stranger,
// a forged signature and a stale date are refused; a tail beyond the
// limit is 400; a job on a network without logs is 501 with the reason.
func TestJobLogs(t *testing.T) {
	tn, fake := vastNode(t, nil)
	ctx := t.Context()
	k := clientKey(t)
	resp, err := tn.api.Submit(ctx, mustOrder(t, k, vastSpec()))
	if err != nil || resp.Result != "ack" {
		t.Fatalf("submit: %+v %v", resp, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if j, err := tn.api.WaitSettled(wctx, resp.Job); err != nil || j.Status != treaty.StatusRunning {
		t.Fatalf("job: %+v %v", j, err)
	}
	for range 3 {
		fake.Advance()
	}
	got, err := tn.api.Logs(ctx, k, resp.Job, 1)
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(string(got.Text)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "tick") || got.Truncated {
		t.Errorf("last line: %q", got.Text)
	}
	op := client.New(tn.api.Base, tn.token)
	if got, err := op.Logs(ctx, nil, resp.Job, 3); err != nil || strings.Count(string(got.Text), "tick") != 3 {
		t.Errorf("operator read: %v", err)
	}
	_, err = tn.api.Logs(ctx, clientKey(t), resp.Job, 10)
	wantAPIError(t, err, http.StatusForbidden, "not_client", "client")
	_, err = tn.api.Logs(ctx, nil, resp.Job, 10)
	wantAPIError(t, err, http.StatusUnauthorized, "unauthorized", "Aurora-Signature")
	err = tn.api.Do(ctx, http.MethodGet, "/v1/jobs/"+resp.Job+"/logs?tail=100001", "", nil, nil)
	wantAPIError(t, err, http.StatusBadRequest, "bad_query", "tail")

	forged, err := http.NewRequestWithContext(ctx, http.MethodGet, tn.api.Base+"/v1/jobs/"+resp.Job+"/logs", nil)
	if err != nil {
		t.Fatal(err)
	}
	forged.Header.Set("Aurora-Client", string(k.DID()))
	forged.Header.Set("Aurora-Date", strconv.FormatInt(time.Now().Unix(), 10))
	forged.Header.Set("Aurora-Signature", base64.StdEncoding.EncodeToString(make([]byte, 64)))
	r, err := http.DefaultClient.Do(forged)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("forged signature: %d", r.StatusCode)
	}
}

// TestJobLogsNotSupported: the sim network has no logs: 501 naming why.
func TestJobLogsNotSupported(t *testing.T) {
	tn := startNode(t, newConfig())
	ctx := t.Context()
	k := clientKey(t)
	resp, err := tn.api.Submit(ctx, mustOrder(t, k, spec()))
	if err != nil || resp.Result != "ack" {
		t.Fatalf("submit: %+v %v", resp, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if j, err := tn.api.WaitSettled(wctx, resp.Job); err != nil || j.Status != treaty.StatusRunning {
		t.Fatalf("job: %+v %v", j, err)
	}
	_, err = tn.api.Logs(ctx, k, resp.Job, 10)
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusNotImplemented || !strings.Contains(ae.Message, "no containers") {
		t.Errorf("logs of a sim job: %v, want 501 with the reason", err)
	}
}
