// Package fluxtest is a fake FluxOS API (as served by api.runonflux.io) for
// the flux adapter's tests and for `aurora testnet fake-provider --kind
// flux`. It does not import testing.
//
// Wire format, as FluxOS has it: every answer is HTTP 200 with
// {"status":"success","data":...} or {"status":"error","data":{"code","name","message"}}
// — errors included ("Application not found", "Unauthorized. Access
// denied."); only the fault hooks produce HTTP 429 and 502. POST bodies must
// be text/plain (FluxOS's handlers read the raw stream; with JSON they hang —
// the fake answers an error instead).
//
//	GET  /apps/deploymentinformation
//	GET  /daemon/getblockcount
//	POST /apps/calculatefiatandfluxprice            spec → {usd, flux, fluxDiscount}
//	POST /apps/verifyappregistrationspecifications  spec → formatted spec
//	POST /apps/verifyappupdatespecifications        spec → formatted spec
//	POST /apps/appregister   zelidauth; {type,version,appSpecification,timestamp,signature} → 64-hex hash
//	POST /apps/appupdate     zelidauth; same, type fluxappupdate, signed by the app's owner
//	GET  /apps/appspecifications/{name}
//	GET  /apps/location/{name}
//	GET  /apps/temporarymessages[/{hash}]
//	GET  /apps/permanentmessages[/{hash}][?appname=&owner=&hash=]
//	GET  /daemon/viewdeterministiczelnodelist   every Options.Nodes node, {ip "host:port", network, tier, ...}
//	GET  /flux/connectedpeersinfo, /flux/incomingconnectionsinfo   the node's peers (Options.LBPeers, Options.Nodes)
//	POST /__fake/pay         flux.PayRequest → {"txid":"..."}  (fake-only: a wallet service that
//	                         pays on the fake chain; honours "resumed" by paying a hash once;
//	                         use it with flux.PayViaHTTP)
//
// These are FluxOS routes (Routes cites their lines in routes.js); FluxOS
// has no /apps/placementlocations and neither has the fake.
//
// zelidauth is checked as FluxOS's verifyUserSession does for a self-issued
// phrase (13-digit ms timestamp at most 16 h old and not in the future,
// 40-70 characters, Bitcoin-message signature by zelid); app messages as
// registerAppGlobalyApi does (timestamp within -1 h/+5 min, signature by the
// spec's owner over type+version+JSON.stringify(formatted spec)+timestamp;
// hash = sha256 of that plus the signature).
//
// A node with fewer than 8 outgoing or 4 incoming peers refuses
// registrations and updates with FluxOS's message; Options.Nodes are more
// nodes on their own loopback ports, sharing the chain.
//
// Progression, one block per Advance: a paid message is published at the
// next block (0 instances), its instances start at the one after; a
// registration paid below the consensus minimum (ConsensusMinimum) is
// burned instead (Burned); an app whose height+expire is reached is pruned
// (it stays in the permanent messages). Unpaid temporary messages expire
// after an hour of the fake's clock.
package fluxtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aurora-federation/aurora/providers/flux/internal/btcmsg"
	"github.com/aurora-federation/aurora/providers/providertest/fakekit"
)

// DefaultWIF is a throwaway Flux ID key for testnets (the private key 3: public knowledge, never fund it).
const DefaultWIF = "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU74sHUHy8S"

// Network parameters the fake reports in deploymentinformation.
const (
	DeploymentAddress       = "t3NryfAQLGeFs9jEoeqsxmBN2QLRaRKFLUX"
	StartHeight             = 2_200_000
	minBlocksAllowance      = 5_000
	maxBlocksAllowance      = 1_056_000
	blocksAllowanceInterval = 1_000
	// FLUXUSD is the fake's default FLUX price in dollars.
	FLUXUSD = 0.25
	tempTTL = time.Hour
)

// Options configure a Server; the zero value works.
type Options struct {
	// MinimumInstances reported and enforced. Default 3 (deploymentinformation, 2026).
	MinimumInstances int64
	// Now is the fake's clock (session and message timestamps). Default time.Now.
	Now func() time.Time
	// Logger receives one line per request; nil discards.
	Logger *slog.Logger
	// FLUXUSD is the FLUX price the USD quotes are converted at. Default
	// the FLUXUSD constant; a high price makes a quote fall below the
	// chain's consensus minimum, as it can when FLUX trades high.
	FLUXUSD float64
	// LBPeers are the peer counts of the node behind the load balancer
	// (URL). Default healthy: 12 outgoing, 6 incoming. Below FluxOS's
	// minimum (8 and 4) it refuses registrations and updates.
	LBPeers *Peers
	// Nodes are FluxOS nodes served besides the load balancer, each on its
	// own loopback port, sharing the fake chain; they are listed by
	// /daemon/viewdeterministiczelnodelist. Default none.
	Nodes []Peers
}

// Server is the fake. Safe for concurrent use.
type Server struct {
	fakekit.Faults

	minInstances int64
	now          func() time.Time
	log          *slog.Logger
	fluxUSD      float64
	lbPeers      Peers
	nodes        []*fakeNode

	mu        sync.Mutex // protects following
	height    int64
	temp      []*tempMsg
	apps      map[string]*app // by lower-case name
	permanent []permMsg
	payments  []Payment
	burned    []string // hashes paid below the consensus minimum
	loop      fakekit.Loopback
}

type tempMsg struct {
	Type      string
	Spec      fspec
	Hash      string
	Timestamp int64
	Signature string
	Received  time.Time
	TxID      string // set once paid
	PaidSat   int64  // the first payment's amount, in FLUX satoshis
}

type app struct {
	Spec      fspec
	Hash      string
	Height    int64
	Locations int64
}

type permMsg struct {
	Type      string
	Spec      fspec
	Hash      string
	Timestamp int64
	Signature string
	TxID      string
	Height    int64
	ValueSat  int64
}

// Payment is one payment the fake received.
type Payment struct {
	Hash, TxID string
	// FLUX is the amount paid, as the payer wrote it.
	FLUX string
}

// NewServer returns a fake; call Start to listen or use Handler.
func NewServer(opts Options) *Server {
	s := &Server{
		minInstances: opts.MinimumInstances, now: opts.Now, log: opts.Logger,
		height: StartHeight, apps: map[string]*app{},
	}
	if s.minInstances <= 0 {
		s.minInstances = 3
	}
	s.fluxUSD = opts.FLUXUSD
	if s.fluxUSD <= 0 {
		s.fluxUSD = FLUXUSD
	}
	s.lbPeers = Peers{Outgoing: 12, Incoming: 6}
	if opts.LBPeers != nil {
		s.lbPeers = *opts.LBPeers
	}
	for _, p := range opts.Nodes {
		s.nodes = append(s.nodes, &fakeNode{peers: p})
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Start serves on a loopback port (until Close) and returns the base URL
// for the adapter's Config.BaseURL. To serve elsewhere (a process, a
// chosen address), use Handler with your own listener.
func (s *Server) Start() string {
	for _, n := range s.nodes {
		n.loop.Start(func() http.Handler {
			h := s.handler(n.peers)
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.requests.Add(1)
				h.ServeHTTP(w, r)
			})
		}, "")
	}
	return s.loop.Start(s.Handler, "")
}

// URL returns the base URL of a started server, or "".
func (s *Server) URL() string {
	return s.loop.URL("")
}

// Close stops a started server and waits for its handlers.
func (s *Server) Close() {
	s.loop.Close()
	for _, n := range s.nodes {
		n.loop.Close()
	}
}

// Height is the fake chain's block height.
func (s *Server) Height() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.height
}

// Advance mines one block: prunes expired apps, starts the instances of apps
// published earlier, publishes paid messages, and drops unpaid messages
// older than an hour.
func (s *Server) Advance() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.height++
	for k, a := range s.apps {
		if s.height >= a.Height+a.Spec.Expire {
			delete(s.apps, k)
		}
	}
	for _, a := range s.apps {
		a.Locations = a.Spec.Instances
	}
	now := s.now()
	var keep []*tempMsg
	for _, m := range s.temp {
		switch {
		case m.TxID != "" && m.PaidSat < s.requiredSatLocked(m):
			// Underpaid: nodes log it and never publish the app; the FLUX
			// is gone (messageVerifier.js checkAndRequestApp).
			s.burned = append(s.burned, m.Hash)
		case m.TxID != "":
			s.publishLocked(m)
		case now.Sub(m.Received) < tempTTL:
			keep = append(keep, m)
		}
	}
	s.temp = keep
}

func (s *Server) publishLocked(m *tempMsg) {
	key := strings.ToLower(m.Spec.Name)
	a := s.apps[key]
	switch {
	case isRegister(m.Type) && a == nil:
		s.apps[key] = &app{Spec: m.Spec, Hash: m.Hash, Height: s.height}
	case !isRegister(m.Type) && a != nil && a.Spec.Owner == m.Spec.Owner:
		a.Spec, a.Hash, a.Height = m.Spec, m.Hash, s.height
	default:
		return // a conflicting message: the network ignores it (the FLUX is lost)
	}
	s.permanent = append(s.permanent, permMsg{Type: m.Type, Spec: m.Spec, Hash: m.Hash, Timestamp: m.Timestamp,
		Signature: m.Signature, TxID: m.TxID, Height: s.height, ValueSat: m.PaidSat})
}

func isRegister(t string) bool { return t == "fluxappregister" || t == "zelappregister" }

// Workloads counts apps that are published and not expired, plus
// registrations waiting in the temporary store.
func (s *Server) Workloads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := map[string]bool{}
	for k := range s.apps {
		names[k] = true
	}
	for _, m := range s.temp {
		if isRegister(m.Type) {
			names[strings.ToLower(m.Spec.Name)] = true
		}
	}
	return len(names)
}

// Pay records an on-chain payment of flux FLUX (decimal text) to the
// message hash and returns its txid. Like the chain, it takes a second
// payment of the same hash too (and the network ignores it); Payments shows
// every one. A registration paid less than the consensus minimum is burned
// at the next block (Burned).
func (s *Server) Pay(hash, flux string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.temp {
		if m.Hash == hash {
			v, err := strconv.ParseFloat(flux, 64)
			if err != nil || v <= 0 || v > 1e9 {
				return "", fmt.Errorf("fluxtest: pay %s: amount %q is not a positive FLUX amount", hash, flux)
			}
			sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", hash, len(s.payments)))
			txid := hex.EncodeToString(sum[:])
			s.payments = append(s.payments, Payment{Hash: hash, TxID: txid, FLUX: flux})
			if m.TxID == "" {
				m.TxID, m.PaidSat = txid, int64(math.Round(v*1e8))
			}
			return txid, nil
		}
	}
	return "", fmt.Errorf("fluxtest: no temporary message %s to pay", hash)
}

// Burned returns the hashes of registrations paid below the consensus
// minimum, which the network dropped.
func (s *Server) Burned() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.burned)
}

// Payments returns every payment received, in order.
func (s *Server) Payments() []Payment {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.payments)
}

// Paid reports the txid of the first payment of hash, if any.
func (s *Server) Paid(hash string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.payments {
		if p.Hash == hash {
			return p.TxID, true
		}
	}
	return "", false
}

// Handler serves the API as the load balancer's node (Options.LBPeers).
func (s *Server) Handler() http.Handler { return s.handler(s.lbPeers) }

// handler serves the API as a node with the given peers.
func (s *Server) handler(peers Peers) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /apps/deploymentinformation", s.handleDeploymentInfo)
	mux.HandleFunc("GET /daemon/getblockcount", func(w http.ResponseWriter, r *http.Request) { success(w, s.Height()) })
	mux.HandleFunc("POST /apps/calculatefiatandfluxprice", s.textPlain(s.handlePrice))
	mux.HandleFunc("POST /apps/verifyappregistrationspecifications", s.textPlain(s.handleVerify(false)))
	mux.HandleFunc("POST /apps/verifyappupdatespecifications", s.textPlain(s.handleVerify(true)))
	mux.HandleFunc("POST /apps/appregister", s.textPlain(s.handleMessage("fluxappregister", peers)))
	mux.HandleFunc("POST /apps/appupdate", s.textPlain(s.handleMessage("fluxappupdate", peers)))
	mux.HandleFunc("GET /daemon/viewdeterministiczelnodelist", s.handleNodeList)
	mux.HandleFunc("GET /flux/connectedpeersinfo", func(w http.ResponseWriter, r *http.Request) { success(w, peerInfos(peers.Outgoing)) })
	mux.HandleFunc("GET /flux/incomingconnectionsinfo", func(w http.ResponseWriter, r *http.Request) { success(w, peerInfos(peers.Incoming)) })
	mux.HandleFunc("GET /apps/appspecifications/{name}", s.handleSpec)
	mux.HandleFunc("GET /apps/location/{name}", s.handleLocation)
	mux.HandleFunc("GET /apps/temporarymessages", s.handleTemp)
	mux.HandleFunc("GET /apps/temporarymessages/{hash}", s.handleTemp)
	mux.HandleFunc("GET /apps/permanentmessages", s.handlePermanent)
	mux.HandleFunc("GET /apps/permanentmessages/{hash}", s.handlePermanent)
	mux.HandleFunc("POST /__fake/pay", s.handlePay)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Debug("fluxtest request", "method", r.Method, "path", r.URL.Path)
		if !s.Delay(r.Context()) {
			return
		}
		if s.TakeRateLimit() {
			w.Header().Set("Retry-After", "1")
			fakekit.WriteJSON(w, http.StatusTooManyRequests, map[string]any{"status": "error",
				"data": map[string]any{"code": 429, "name": "TooManyRequests", "message": "Too many requests, please try again later."}})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func success(w http.ResponseWriter, data any) {
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"status": "success", "data": data})
}

// fail answers FluxOS's error envelope, with HTTP 200 as FluxOS does.
func fail(w http.ResponseWriter, name, msg string, code any) {
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"status": "error", "data": map[string]any{"code": code, "name": name, "message": msg}})
}

func unauthorized(w http.ResponseWriter) {
	fail(w, "Unauthorized", "Unauthorized. Access denied.", 401)
}

// textPlain reads a bounded text/plain body for h.
func (s *Server) textPlain(h func(http.ResponseWriter, *http.Request, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			fail(w, "Error", "fake: FluxOS reads this body as a raw text/plain stream; with Content-Type "+ct+" the real handler hangs", nil)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, fakekit.MaxRequestBytes+1))
		if err != nil || len(body) > fakekit.MaxRequestBytes {
			fail(w, "Error", "request body too large", nil)
			return
		}
		h(w, r, body)
	}
}

func (s *Server) handleDeploymentInfo(w http.ResponseWriter, r *http.Request) {
	success(w, map[string]any{
		"price":                   []any{chainPrice},
		"address":                 DeploymentAddress,
		"portMin":                 31000,
		"portMax":                 39999,
		"enterprisePorts":         []any{[]int{0, 1023}, 8080, 8081, 8443, 6667},
		"bannedPorts":             []any{"16100-16299", "26100-26299", "30000-30099", 8384, 27017, 22, 23, 25, 3389, 5900, 5800, 161, 512, 513, 5901, 3388, 4444, 123, 53},
		"maxImageSize":            2000000000,
		"minimumInstances":        s.minInstances,
		"maximumInstances":        100,
		"blocksLasting":           22000,
		"minBlocksAllowance":      minBlocksAllowance,
		"maxBlocksAllowance":      maxBlocksAllowance,
		"blocksAllowanceInterval": blocksAllowanceInterval,
	})
}

func (s *Server) priceLocked(sp fspec) float64 {
	if a := s.apps[strings.ToLower(sp.Name)]; a != nil && a.Spec.Owner == sp.Owner {
		remaining := float64(max(0, a.Height+a.Spec.Expire-s.height)) / float64(a.Spec.Expire)
		return max(0.01, round2(usd(sp, 0)-usd(a.Spec, 0)*remaining))
	}
	return usd(sp, 0.99)
}

func (s *Server) handlePrice(w http.ResponseWriter, r *http.Request, body []byte) {
	sp, err := decodeSpec(body)
	if err != nil {
		fail(w, "Error", err.Error(), nil)
		return
	}
	s.mu.Lock()
	v := s.priceLocked(sp)
	s.mu.Unlock()
	flux := float64(int64(v/s.fluxUSD*0.95*1e8)) / 1e8
	success(w, map[string]any{"usd": v, "flux": flux, "fluxDiscount": 5})
}

func (s *Server) handleVerify(update bool) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		sp, err := s.check(body, update)
		if err != nil {
			fail(w, "Error", err.Error(), nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":%s}`, stringify(sp))
	}
}

// check decodes and validates a spec for registration or update.
func (s *Server) check(raw []byte, update bool) (fspec, error) {
	sp, err := decodeSpec(raw)
	if err != nil {
		return sp, err
	}
	if err := s.validate(sp, update); err != nil {
		return sp, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[strings.ToLower(sp.Name)]
	if update {
		if a == nil {
			return sp, message("Application %s not found", sp.Name)
		}
		if a.Spec.Owner != sp.Owner {
			return sp, message("Flux App owner can only be changed by the current owner")
		}
		return sp, nil
	}
	if a != nil {
		return sp, message("Flux App %s already registered. Flux App has to be registered under different name.", sp.Name)
	}
	for _, m := range s.temp {
		if isRegister(m.Type) && strings.EqualFold(m.Spec.Name, sp.Name) && m.Spec.Owner != sp.Owner {
			return sp, message("Flux App %s is already in the process of registration.", sp.Name)
		}
	}
	return sp, nil
}

// session checks a zelidauth header as verifyUserSession does for a
// self-issued login phrase, JSON or query-string encoded.
func (s *Server) session(r *http.Request) bool {
	h := r.Header.Get("zelidauth")
	if h == "" {
		return false
	}
	var auth struct {
		Zelid       string `json:"zelid"`
		Signature   string `json:"signature"`
		LoginPhrase string `json:"loginPhrase"`
	}
	if json.Unmarshal([]byte(h), &auth) != nil {
		q, err := url.ParseQuery(h)
		if err != nil {
			return false
		}
		auth.Zelid, auth.Signature, auth.LoginPhrase = q.Get("zelid"), q.Get("signature"), q.Get("loginPhrase")
	}
	p := auth.LoginPhrase
	if auth.Zelid == "" || auth.Signature == "" || len(p) < 40 || len(p) > 70 {
		return false
	}
	ms, err := strconv.ParseInt(p[:13], 10, 64)
	now := s.now().UnixMilli()
	if err != nil || ms < now-16*3600*1000 || ms > now {
		return false
	}
	return btcmsg.Verify(auth.Zelid, []byte(p), auth.Signature) == nil
}

func (s *Server) handleMessage(kind string, peers Peers) func(http.ResponseWriter, *http.Request, []byte) {
	update := kind == "fluxappupdate"
	what := "registration"
	if update {
		what = "update"
	}
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		if !s.session(r) {
			unauthorized(w)
			return
		}
		// A node short of peers refuses (registryManager.js
		// registerAppGlobalyApi, advancedWorkflows.js updateAppGlobalyApi).
		if peers.Outgoing < MinOutgoingPeers {
			fail(w, "Error", "Sorry, This Flux does not have enough outgoing peers for safe application "+what, nil)
			return
		}
		if peers.Incoming < MinIncomingPeers {
			fail(w, "Error", "Sorry, This Flux does not have enough incoming peers for safe application "+what, nil)
			return
		}
		var msg struct {
			Type             string          `json:"type"`
			Version          int64           `json:"version"`
			AppSpecification json.RawMessage `json:"appSpecification"`
			Timestamp        int64           `json:"timestamp"`
			Signature        string          `json:"signature"`
		}
		if err := json.Unmarshal(body, &msg); err != nil || len(msg.AppSpecification) == 0 || msg.Timestamp == 0 || msg.Signature == "" || msg.Type == "" || msg.Version == 0 {
			fail(w, "Error", "Incomplete message received. Check if appSpecification, type, version, timestamp and signature are provided.", nil)
			return
		}
		legacy := map[string]string{"fluxappregister": "zelappregister", "fluxappupdate": "zelappupdate"}[kind]
		if msg.Type != kind && msg.Type != legacy {
			fail(w, "Error", "Invalid type of message", nil)
			return
		}
		if msg.Version != 1 {
			fail(w, "Error", "Invalid version of message", nil)
			return
		}
		now := s.now().UnixMilli()
		if msg.Timestamp < now-3600*1000 {
			fail(w, "Error", "Message timestamp is over 1 hour old, not valid. Check if your computer clock is synced and restart the registration process.", nil)
			return
		}
		if msg.Timestamp > now+5*60*1000 {
			fail(w, "Error", "Message timestamp from future, not valid. Check if your computer clock is synced and restart the registration process.", nil)
			return
		}
		sp, err := s.check(msg.AppSpecification, update)
		if err != nil {
			fail(w, "Error", err.Error(), nil)
			return
		}
		signer := sp.Owner
		if update {
			s.mu.Lock()
			if a := s.apps[strings.ToLower(sp.Name)]; a != nil {
				signer = a.Spec.Owner
			}
			s.mu.Unlock()
		}
		formatted := string(stringify(sp))
		ts := strconv.FormatInt(msg.Timestamp, 10)
		if err := btcmsg.Verify(signer, []byte(msg.Type+"1"+formatted+ts), msg.Signature); err != nil {
			fail(w, "Error", "Received message is invalid: "+err.Error(), nil)
			return
		}
		if !update && s.TakeLaunchFailure() {
			fail(w, "Error", "Unable to register application on the network. Try again later.", nil)
			return
		}
		sum := sha256.Sum256([]byte(msg.Type + "1" + formatted + ts + msg.Signature))
		hash := hex.EncodeToString(sum[:])
		s.mu.Lock()
		if !slices.ContainsFunc(s.temp, func(m *tempMsg) bool { return m.Hash == hash }) {
			s.temp = append(s.temp, &tempMsg{Type: msg.Type, Spec: sp, Hash: hash, Timestamp: msg.Timestamp, Signature: msg.Signature, Received: s.now()})
		}
		s.mu.Unlock()
		if !update && s.TakeLaunchLoss() {
			http.Error(w, "<html><head><title>502 Bad Gateway</title></head></html>", http.StatusBadGateway)
			return
		}
		success(w, hash)
	}
}

func (s *Server) handleSpec(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.apps[strings.ToLower(r.PathValue("name"))]
	if a == nil {
		fail(w, "Error", "Application not found", nil)
		return
	}
	// The published spec carries hash and height after the formatted fields.
	out := strings.TrimSuffix(string(stringify(a.Spec)), "}") + fmt.Sprintf(`,"hash":%q,"height":%d}`, a.Hash, a.Height)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"status":"success","data":%s}`, out)
}

func (s *Server) handleLocation(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	locs := []any{}
	if a := s.apps[strings.ToLower(r.PathValue("name"))]; a != nil {
		now := s.now().UTC()
		for i := int64(0); i < a.Locations; i++ {
			locs = append(locs, map[string]any{
				"name": a.Spec.Name, "hash": a.Hash, "ip": fmt.Sprintf("203.0.113.%d:16127", 10+i),
				"broadcastedAt": now.Format(time.RFC3339), "expireAt": now.Add(125 * time.Minute).Format(time.RFC3339),
				"runningSince": now.Format(time.RFC3339), "osUptime": 86400, "staticIp": false,
			})
		}
	}
	success(w, locs)
}

func tempJSON(m *tempMsg) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"type":%q,"version":1,"appSpecifications":%s,"hash":%q,"timestamp":%d,"signature":%q,"arcaneSender":false}`,
		m.Type, stringify(m.Spec), m.Hash, m.Timestamp, m.Signature))
}

func (s *Server) handleTemp(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	hash := r.PathValue("hash")
	out := []json.RawMessage{}
	now := s.now()
	for _, m := range s.temp {
		if (hash == "" || m.Hash == hash) && now.Sub(m.Received) < tempTTL {
			out = append(out, tempJSON(m))
		}
	}
	success(w, out)
}

func (s *Server) handlePermanent(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	hash := cmpOr(r.PathValue("hash"), q.Get("hash"))
	name, owner := q.Get("appname"), q.Get("owner")
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []json.RawMessage{}
	for _, m := range s.permanent {
		if hash != "" && m.Hash != hash || name != "" && !strings.EqualFold(m.Spec.Name, name) || owner != "" && m.Spec.Owner != owner {
			continue
		}
		out = append(out, json.RawMessage(fmt.Sprintf(`{"type":%q,"version":1,"appSpecifications":%s,"hash":%q,"timestamp":%d,"signature":%q,"txid":%q,"height":%d,"valueSat":%d}`,
			m.Type, stringify(m.Spec), m.Hash, m.Timestamp, m.Signature, m.TxID, m.Height, m.ValueSat)))
	}
	success(w, out)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (s *Server) handlePay(w http.ResponseWriter, r *http.Request) {
	// The body is flux.PayRequest; hash, the amount and resumed matter here.
	var b struct {
		Hash    string `json:"hash"`
		PayFLUX string `json:"payFlux"`
		Resumed bool   `json:"resumed"`
	}
	if err := fakekit.ReadJSONLoose(r, &b); err != nil {
		fail(w, "Error", "fake pay: "+err.Error(), nil)
		return
	}
	if b.Resumed {
		if txid, ok := s.Paid(b.Hash); ok {
			success(w, map[string]string{"txid": txid})
			return
		}
	}
	txid, err := s.Pay(b.Hash, b.PayFLUX)
	if err != nil {
		fail(w, "Error", err.Error(), nil)
		return
	}
	success(w, map[string]string{"txid": txid})
}
