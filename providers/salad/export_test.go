package salad

import "time"

// ParseAll runs every response parser over b; it must not panic.
func ParseAll(b []byte) {
	if classes, err := parseGPUClasses(b); err == nil {
		for _, c := range classes {
			vramMiB(c.Name)
			for _, p := range c.Prices {
				splitOfferID(OfferID(c.ID, p.Priority, "us"))
				splitOfferID(c.ID + ":" + p.Priority + "@" + c.Name)
			}
		}
	}
	parseAvailability(b)
	if g, err := parseGroup(b); err == nil {
		_ = State(g.CurrentState.Status, g.CurrentState.Counts.Running) // exercised for panics only
		c := &Client{now: func() time.Time { return time.Time{} }}
		c.status(g)
	}
}
