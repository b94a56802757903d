package vastai

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
	}
	if page, err := parseInstances(b); err == nil {
		for _, in := range page.Instances {
			State(in.ActualStatus, in.IntendedStatus)
		}
	}
}
