package akash

import "time"

// LocationRegions exposes the location-region table to tests.
var LocationRegions = locationRegions

// ParseAll runs every response parser over b; it must not panic.
func ParseAll(b []byte) {
	p, _ := NewPricer(6*time.Second, "2.5", nil)
	if prices, err := parseGPUPrices(b); err == nil {
		for _, m := range prices.Models {
			ramMiB(m.RAM)
		}
	}
	if provs, err := parseProviders(b); err == nil {
		c := &Client{}
		for i := range provs {
			c.locate(&provs[i])
		}
	}
	if d, err := parseDeployment(b); err == nil {
		d.State()
		for _, l := range d.Leases {
			p.PerHour(l.Price.Amount, l.Price.Denom)
		}
	}
	if list, err := parseDeploymentList(b); err == nil {
		for _, d := range list.Deployments {
			d.State()
		}
	}
	parseCreated(b)
	if bids, err := parseBids(b); err == nil {
		for _, x := range bids {
			p.PerHour(x.Bid.Price.Amount, x.Bid.Price.Denom)
		}
	}
}
