// Package aethir is the Aurora adapter for Aethir, which has no public
// compute API: Aethir Earth (bare-metal AI GPUs) and Atmosphere (cloud
// gaming) capacity is ordered by hand in the Aethir Cloud customer portal
// ("Aethir Tenant Console", app.aethir.com), where orders go through To Be
// Paid → In Service → Cancelled/Completed and are paid from a wallet
// balance. The only documented HTTP API is a partner-only query of checker
// licence rewards, which has nothing to do with compute.
//
// So the adapter says so: Capabilities reports ManualOnly, and every call
// returns providers.ErrNotSupported with a message naming the portal. It
// holds no credential and makes no network calls.
package aethir

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aurora-federation/aurora/providers"
)

// Name is the adapter's name.
const Name = "aethir"

// PortalURL is where Aethir compute is ordered.
const PortalURL = "https://app.aethir.com"

// Config configures a Client; the zero value works.
type Config struct {
	// Name is the provider's name in routes, offers, reputation and
	// metrics: the [[providers]] entry's name. Default Name ("aethir").
	Name string
	// Logger receives one debug line per refused call; nil discards them.
	Logger *slog.Logger
}

// Client is the Aethir adapter. It is safe for concurrent use.
type Client struct {
	name string // Config.Name
	log  *slog.Logger
}

var _ providers.Provider = (*Client)(nil)

// New returns a Client.
func New(cfg Config) (*Client, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{name: nameOr(cfg.Name), log: log}, nil
}

// Name returns Config.Name, by default "aethir".
func (c *Client) Name() string { return c.name }

// Capabilities reports ManualOnly and nothing else.
func (c *Client) Capabilities() providers.Capabilities {
	return providers.Capabilities{ManualOnly: true}
}

func (c *Client) refuse(ctx context.Context, what string) error {
	c.log.DebugContext(ctx, "aethir has no public compute API", "call", what)
	return fmt.Errorf("aethir: %s: Aethir has no public compute API; order GPUs by hand in the Aethir Cloud customer portal (%s): %w",
		what, PortalURL, providers.ErrNotSupported)
}

// Offers returns providers.ErrNotSupported: Aethir publishes no offer list
// (pricing is quoted per enterprise order).
func (c *Client) Offers(ctx context.Context, _ providers.Query) ([]providers.Offer, error) {
	return nil, c.refuse(ctx, "offers")
}

// Launch returns providers.ErrNotSupported.
func (c *Client) Launch(ctx context.Context, _ providers.LaunchSpec) (providers.Lease, error) {
	return providers.Lease{}, c.refuse(ctx, "launch")
}

// Status returns providers.ErrNotSupported.
func (c *Client) Status(ctx context.Context, _ string) (providers.Status, error) {
	return providers.Status{}, c.refuse(ctx, "status")
}

// Terminate returns providers.ErrNotSupported.
func (c *Client) Terminate(ctx context.Context, _ string) error {
	return c.refuse(ctx, "terminate")
}

var _ providers.NoLogs = (*Client)(nil)

// NoLogsReason says why the adapter reads no logs (providers.NoLogs).
func (c *Client) NoLogsReason() string {
	return "Aethir has no public compute API (portal only): there is nothing to read logs from"
}

// nameOr is name, or Name when it is empty.
func nameOr(name string) string {
	if name == "" {
		return Name
	}
	return name
}
