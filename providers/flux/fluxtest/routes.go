package fluxtest

// Route is a FluxOS endpoint the fake serves, with the line of
// RunOnFlux/flux @ 845aa9b6ad7954c8763858bdd4b03e44a4b9cdd5
// ZelBack/src/routes.js that declares it. Prefix marks a route whose path
// continues with parameters (":appname", ":hash?").
type Route struct {
	Method, Path string
	Prefix       bool
	Line         int
}

// Routes lists every FluxOS route the fake serves; the fake serves no other
// (apart from the fake-only /__fake/pay). There is no
// /apps/placementlocations in FluxOS: the fake does not serve it. The slice
// is new on each call.
func Routes() []Route {
	return []Route{
		{"GET", "/daemon/viewdeterministiczelnodelist", true, 99},
		{"GET", "/daemon/getblockcount", false, 126},
		{"GET", "/flux/connectedpeersinfo", false, 349},
		{"GET", "/flux/incomingconnectionsinfo", false, 355},
		{"GET", "/apps/temporarymessages", true, 396},
		{"GET", "/apps/permanentmessages", true, 399},
		{"GET", "/apps/appspecifications/", true, 411},
		{"GET", "/apps/location/", true, 426},
		{"POST", "/apps/calculatefiatandfluxprice", false, 447},
		{"POST", "/apps/verifyappregistrationspecifications", false, 453},
		{"POST", "/apps/verifyappupdatespecifications", false, 456},
		{"GET", "/apps/deploymentinformation", false, 459},
		{"POST", "/apps/appregister", false, 1383},
		{"POST", "/apps/appupdate", false, 1386},
	}
}

// IsFluxOSRoute reports whether method and path name a route in Routes.
func IsFluxOSRoute(method, path string) bool {
	for _, r := range Routes() {
		if r.Method == method && (path == r.Path || r.Prefix && len(path) > len(r.Path) && path[:len(r.Path)] == r.Path) {
			return true
		}
	}
	return false
}
