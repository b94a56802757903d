package testnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/node"
	"github.com/aurora-federation/aurora/providers/akash/akashtest"
	"github.com/aurora-federation/aurora/providers/flux/fluxtest"
	"github.com/aurora-federation/aurora/providers/ionet/ionettest"
	"github.com/aurora-federation/aurora/providers/render/rendertest"
	"github.com/aurora-federation/aurora/providers/salad/saladtest"
	"github.com/aurora-federation/aurora/providers/vastai/vastaitest"
)

// fakeServer is what every provider fake offers.
type fakeServer interface {
	Handler() http.Handler
	Advance()
}

// fakeKind describes how to run one network's fake and how a node's
// [[providers]] entry points at it.
type fakeKind struct {
	new      func() fakeServer
	secret   string
	basePath string            // appended to the server URL for the adapter's base_url
	options  map[string]string // adapter options the fake needs
}

func fakeKinds() map[string]fakeKind {
	return map[string]fakeKind{
		"vastai": {new: func() fakeServer { return vastaitest.NewServer(vastaitest.Options{}) }, secret: vastaitest.DefaultAPIKey},
		"salad": {new: func() fakeServer { return saladtest.NewServer(saladtest.Options{}) }, secret: saladtest.DefaultAPIKey, basePath: "/api/public",
			options: map[string]string{"organization": saladtest.DefaultOrganization, "project": saladtest.DefaultProject}},
		"akash": {new: func() fakeServer { return akashtest.NewServer(akashtest.Options{}) }, secret: akashtest.DefaultAPIKey,
			options: map[string]string{"akt_usd": akashtest.DefaultAKTUSD}},
		"ionet": {new: func() fakeServer { return ionettest.NewServer(ionettest.Options{}) }, secret: ionettest.DefaultAPIKey, basePath: ionettest.Prefix},
		"render": {new: func() fakeServer { return rendertest.NewServer(rendertest.Options{}) }, secret: rendertest.DefaultSecretKey, basePath: "/v1",
			options: map[string]string{"public_key": rendertest.DefaultPublicKey}},
		// Flux launches need an on-chain payment: the fake's own pay
		// endpoint stands in for a wallet service.
		"flux": {new: func() fakeServer { return fluxtest.NewServer(fluxtest.Options{}) }, secret: fluxtest.DefaultWIF,
			options: map[string]string{"pay_url": "{{URL}}/__fake/pay"}},
	}
}

// FakeKinds lists the networks that have a fake.
func FakeKinds() []string {
	var ks []string
	for k := range fakeKinds() {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Fake is a running provider fake: the network's documented wire format
// on a loopback port, its workloads advancing one status step per tick
// (Vast.ai: loading → running, Akash: bid → lease → available, ...).
type Fake struct {
	Kind string
	URL  string // the adapter's base_url

	kind   fakeKind
	server fakeServer
	srv    *http.Server
	ln     net.Listener
	stop   chan struct{}
	wg     sync.WaitGroup
}

// StartFake serves a fake of kind on listen ("127.0.0.1:0" for a free port),
// advancing workloads every tick (default 100ms).
func StartFake(kind, listen string, tick time.Duration) (*Fake, error) {
	k, ok := fakeKinds()[kind]
	if !ok {
		return nil, fmt.Errorf("testnet: no fake for %q (have %s)", kind, strings.Join(FakeKinds(), ", "))
	}
	if tick <= 0 {
		tick = 100 * time.Millisecond
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("testnet: fake %s: %w", kind, err)
	}
	f := &Fake{Kind: kind, kind: k, server: k.new(), ln: ln, stop: make(chan struct{})}
	f.URL = "http://" + ln.Addr().String() + k.basePath
	f.srv = &http.Server{Handler: f.server.Handler(), ReadHeaderTimeout: 5 * time.Second}
	f.wg.Add(2)
	go func() {
		defer f.wg.Done()
		if err := f.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(os.Stderr, "testnet: fake %s: %v\n", kind, err)
		}
	}()
	go func() {
		defer f.wg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				f.server.Advance()
			case <-f.stop:
				return
			}
		}
	}()
	return f, nil
}

// Close stops the fake.
func (f *Fake) Close() error {
	close(f.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := f.srv.Shutdown(ctx)
	f.wg.Wait()
	return err
}

// ProviderConfig returns the [[providers]] entry pointing a node at this
// fake, writing the fake's API key to a 0600 file in dir.
func (f *Fake) ProviderConfig(dir, name string, regions []string) (node.ProviderConfig, error) {
	cred := filepath.Join(dir, name+".key")
	if err := os.WriteFile(cred, []byte(f.kind.secret+"\n"), 0o600); err != nil {
		return node.ProviderConfig{}, err
	}
	opts := map[string]string{}
	base := strings.TrimSuffix(f.URL, f.kind.basePath)
	for k, v := range f.kind.options {
		opts[k] = strings.ReplaceAll(v, "{{URL}}", base)
	}
	return node.ProviderConfig{Kind: f.Kind, Name: name, BaseURL: f.URL, CredentialFile: cred, Regions: regions, Options: opts}, nil
}
