package akash

import (
	"slices"
	"strings"

	"github.com/aurora-federation/aurora/providers"
)

// Akash has no region of its own: a provider describes its place with
// attributes (console config/provider-attributes.json). "location-region" is
// required and takes one of the UN-geoscheme values below; "country" (ISO
// 3166-1 alpha-2) is optional; older providers set a free-form "region"
// ("us-west", "westcoast", "europe", ...). The Console also geolocates each
// provider's IP (ipCountryCode).

// locationRegions maps Akash's location-region values to Aurora regions.
// Where an Akash region straddles Aurora ones the larger part wins (as-east
// holds CN, HK, TW, MN and JP, KR: ap-east); a country attribute decides
// instead when there is one.
var locationRegions = map[string]string{
	"na-ca-west": "ca-central", "na-ca-central": "ca-central", "na-ca-prairie": "ca-central",
	"na-ca-atlantic": "ca-central", "na-ca-north": "ca-central",

	// The US states in each, per the schema; see providers.RegionForPlace.
	"na-us-west":      "us-west",    // CA OR WA ID MT WY UT CO NV AK HI
	"na-us-southwest": "us-central", // AZ NM TX OK
	"na-us-midwest":   "us-central", // ND SD NE KS MN IA MO WI IL MI IN OH
	"na-us-southeast": "us-east",    // AR LA MS AL TN KY WV VA NC SC GA FL
	"na-us-northeast": "us-east",    // PA NY VT NH ME MA RI CT NJ DE MD

	"central-america": "na-south", "caribbean": "na-south",
	"sa-north": "sa-east", "sa-west": "sa-east", "sa-south": "sa-east", "sa-brazil": "sa-east",

	"eu-central": "eu-central", "eu-east": "eu-east", "eu-north": "eu-north", "eu-west": "eu-west",
	"eu-south": "eu-south", "eu-southeast": "eu-south", "eu-southwest": "eu-south",

	"af-east": "af-south", "af-middle": "af-south", "af-north": "af-south", "af-south": "af-south", "af-west": "af-south",

	"as-central": "ap-south", "as-east": "ap-east", "as-southeast": "ap-southeast", "as-south": "ap-south",
	"as-west": "me-central",

	"oc-aus": "oc-southeast", "oc-nz": "oc-southeast", "oc-mel": "oc-southeast", "oc-mic": "oc-southeast",
	"oc-pol": "oc-southeast",
}

// Location is where the adapter places an Akash provider.
type Location struct {
	Region  string // Aurora region; "" = the provider says nowhere
	Country string // ISO 3166-1 alpha-2 as the provider or Console gave it; "" = unknown
}

// String returns "region/country", "region", or "anywhere".
func (l Location) String() string {
	switch {
	case l.Region == "":
		return "anywhere"
	case l.Country == "":
		return l.Region
	}
	return l.Region + "/" + l.Country
}

// Locate places a provider from its attributes (key → value) and the
// Console's IP geolocation, in this order of trust:
//
//  1. a "country" attribute that is an assigned code decides the region
//     (providers.RegionForCountry), except for a country spanning several
//     regions (the US), where location-region or the legacy region
//     attribute picks among that country's regions;
//  2. else "location-region", through the table above;
//  3. else the legacy attribute (regionAttr, default "region") when its
//     value, lowercased, is an Aurora region name ("us-west"; free text
//     like "westcoast" is ignored);
//  4. else ipCountryCode, the host's IP geolocation.
//
// A provider with none of these has no location: Region "".
func Locate(attrs map[string]string, regionAttr, ipCountryCode string) Location {
	if regionAttr == "" {
		regionAttr = "region"
	}
	fromLocation := locationRegions[strings.ToLower(strings.TrimSpace(attrs["location-region"]))]
	legacy := strings.ToLower(strings.TrimSpace(attrs[regionAttr]))
	if !providers.ValidRegion(legacy) {
		legacy = ""
	}
	if cc := strings.TrimSpace(attrs["country"]); providers.RegionForCountry(cc) != "" {
		// A finer attribute may pick another of the country's regions.
		for _, r := range []string{fromLocation, legacy} {
			if r != "" && slices.Contains(providers.CountriesIn(r), strings.ToUpper(cc)) {
				return Location{Region: r, Country: cc}
			}
		}
		return Location{Region: providers.RegionForCountry(cc), Country: cc}
	}
	switch {
	case fromLocation != "":
		return Location{Region: fromLocation}
	case legacy != "":
		return Location{Region: legacy}
	}
	if cc := strings.TrimSpace(ipCountryCode); providers.RegionForCountry(cc) != "" {
		return Location{Region: providers.RegionForCountry(cc), Country: cc}
	}
	return Location{}
}
