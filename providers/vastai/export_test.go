package vastai

import "github.com/aurora-federation/aurora/providers"

// ParseAll runs every response parser over b; it must not panic.
func ParseAll(b []byte) {
	if offers, err := parseOffers(b); err == nil {
		c := &Client{}
		for _, o := range offers {
			c.toOffer(o)
			Locate(o.Geolocation)
		}
	}
	if in, err := parseInstance(b); err == nil && in != nil {
		State(in.ActualStatus, in.IntendedStatus)
		endpoints(in)
	}
	if page, err := parseInstances(b); err == nil {
		for _, in := range page.Instances {
			State(in.ActualStatus, in.IntendedStatus)
		}
	}
}

// EndpointsOf parses a showInstance body and returns its endpoints.
func EndpointsOf(t interface{ Fatal(...any) }, b []byte) []providers.Endpoint {
	in, err := parseInstance(b)
	if err != nil || in == nil {
		t.Fatal("parse instance:", err)
	}
	return endpoints(in)
}
