package flux

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/aurora-federation/aurora/providers"
	"github.com/aurora-federation/aurora/providers/internal/httpx"
)

// PayHTTPConfig configures PayViaHTTP.
type PayHTTPConfig struct {
	// URL of the wallet service's pay endpoint (http or https). Required.
	URL string
	// Credential, if set, is sent as "Authorization: Bearer <secret>".
	Credential providers.Credential
	// HTTP tunes timeouts and limits; its zero value works. A payment is
	// never retried except on 429.
	HTTP httpx.Config
}

// PayRequest is the JSON body PayViaHTTP posts: the Quote, with USD in
// micro-dollars.
type PayRequest struct {
	Kind         string `json:"kind"`
	App          string `json:"app"`
	Hash         string `json:"hash"`
	Address      string `json:"address"`
	USDMicros    int64  `json:"usdMicros"`
	FLUX         string `json:"flux"`
	FLUXDiscount string `json:"fluxDiscount"`
	// MinimumFLUX is consensus's minimum; PayFLUX, the amount to send,
	// max(flux, minimumFlux). A payment below the minimum is lost.
	MinimumFLUX  string `json:"minimumFlux"`
	PayFLUX      string `json:"payFlux"`
	ExpireBlocks int64  `json:"expireBlocks"`
	Instances    int64  `json:"instances"`
	Resumed      bool   `json:"resumed"`
}

// PayViaHTTP returns a PayFunc that hands each Quote to a wallet service (a
// sidecar holding the funded FLUX key, or fluxtest's /__fake/pay) as a
// PayRequest and expects {"status":"success","data":{"txid":"..."}} back,
// FluxOS-style. The service must honour PayRequest.Resumed (pay a hash at
// most once). This keeps spending keys out of the Aurora node.
func PayViaHTTP(cfg PayHTTPConfig) (PayFunc, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("flux: pay URL %q: want http(s)://host/path", cfg.URL)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	if u.RawQuery != "" {
		path += "?" + u.RawQuery
	}
	cred := cfg.Credential
	api := httpx.API{Name: "flux-pay", BaseURL: u.Scheme + "://" + u.Host}
	if !cred.IsZero() {
		api.Authorize = func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+cred.Reveal())
			return nil
		}
	}
	h, err := httpx.New(cfg.HTTP, api)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, q Quote) (string, error) {
		req, err := httpx.JSON(http.MethodPost, path, PayRequest{
			Kind: q.Kind, App: q.AppName, Hash: q.Hash, Address: q.Address, USDMicros: int64(q.USD),
			FLUX: q.FLUX, FLUXDiscount: q.FLUXDiscount, MinimumFLUX: q.MinimumFLUX, PayFLUX: q.PayFLUX,
			ExpireBlocks: q.ExpireBlocks, Instances: q.Instances, Resumed: q.Resumed,
		})
		if err != nil {
			return "", err
		}
		req.Op, req.Retry = "pay", httpx.RetryRateLimitOnly
		resp, err := h.Do(ctx, req)
		if err != nil {
			return "", err
		}
		data, err := unwrapEnvelope("pay", resp.Body)
		if err != nil {
			return "", err
		}
		var out struct {
			TxID string `json:"txid"`
		}
		if err := json.Unmarshal(data, &out); err != nil || !isHash(out.TxID) {
			return "", errors.New("flux: pay: answer has no 64-hex txid")
		}
		return out.TxID, nil
	}, nil
}
