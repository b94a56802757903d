package providers

import (
	"fmt"
	"slices"
	"strings"
)

// Aurora regions.
//
// Orders, treaties, laws and offers name places with the lowercase Aurora
// region names below, so that an order for eu-west is comparable across
// every network. Adapters translate what their network reports (Vast.ai's
// "Texas, US", Salad's country codes, Akash provider attributes) with
// RegionForCountry and RegionForPlace and keep the raw country in
// Offer.Country.
//
// The canonical set, with the ISO 3166-1 alpha-2 countries in each:
//
//	us-east       United States: the eastern states and DC; Puerto Rico, US Virgin Islands
//	us-central    United States: AR IA IL KS LA MN MO ND NE OK SD TX WI
//	us-west       United States: the western states, Alaska, Hawaii; US Pacific territories
//	ca-central    Canada (one region: the networks report no province)
//	na-south      Mexico, Central America, the Caribbean, and the rest of North America
//	sa-east       South America
//	eu-west       GB IE FR BE NL LU MC and the Crown Dependencies
//	eu-central    DE AT CH LI PL CZ SK HU SI, and the rest of Europe
//	eu-north      the Nordics and the Baltics
//	eu-south      IT ES PT GR MT CY and the Balkans, RO BG
//	eu-east       RU UA BY MD TR and the Caucasus
//	me-central    the Gulf, the Levant, Iraq, Iran
//	af-south      Africa
//	ap-south      South Asia and Central Asia
//	ap-southeast  South-East Asia, and the rest of Asia
//	ap-east       CN HK MO TW MN
//	ap-northeast  JP KR KP
//	oc-southeast  Australia, New Zealand, and the rest of Oceania
//
// There is no separate UK region: like every major cloud, Aurora files
// London under Western Europe; a law that must tell the UK from the EU
// reads Offer.Country. Antarctica and its islands map to no region.
//
// A country-level report cannot place a host inside a country that spans
// several regions. RegionForCountry("US") is us-east (the largest US
// concentration of data-center GPUs and the conventional default);
// RegionForPlace refines it from the state when the network names one.

// countryRegion names the region of countries that host GPU capacity or
// sit apart from their continent's default (continentRegion).
var countryRegion = map[string]string{
	// North America.
	"US": "us-east", "PR": "us-east", "VI": "us-east",
	"GU": "us-west", "MP": "us-west", "AS": "us-west", "UM": "us-west",
	"CA": "ca-central",
	"MX": "na-south",
	// Europe.
	"GB": "eu-west", "IE": "eu-west", "FR": "eu-west", "BE": "eu-west", "NL": "eu-west", "LU": "eu-west",
	"MC": "eu-west", "IM": "eu-west", "JE": "eu-west", "GG": "eu-west",
	"DE": "eu-central", "AT": "eu-central", "CH": "eu-central", "LI": "eu-central", "PL": "eu-central",
	"CZ": "eu-central", "SK": "eu-central", "HU": "eu-central", "SI": "eu-central",
	"SE": "eu-north", "NO": "eu-north", "FI": "eu-north", "DK": "eu-north", "IS": "eu-north",
	"EE": "eu-north", "LV": "eu-north", "LT": "eu-north", "FO": "eu-north", "AX": "eu-north", "SJ": "eu-north",
	"IT": "eu-south", "ES": "eu-south", "PT": "eu-south", "GR": "eu-south", "MT": "eu-south", "CY": "eu-south",
	"SM": "eu-south", "VA": "eu-south", "AD": "eu-south", "GI": "eu-south", "HR": "eu-south", "BA": "eu-south",
	"RS": "eu-south", "ME": "eu-south", "MK": "eu-south", "AL": "eu-south", "RO": "eu-south", "BG": "eu-south",
	"RU": "eu-east", "UA": "eu-east", "BY": "eu-east", "MD": "eu-east", "TR": "eu-east",
	"GE": "eu-east", "AM": "eu-east", "AZ": "eu-east",
	// Middle East.
	"AE": "me-central", "SA": "me-central", "QA": "me-central", "KW": "me-central", "BH": "me-central",
	"OM": "me-central", "YE": "me-central", "IL": "me-central", "PS": "me-central", "JO": "me-central",
	"LB": "me-central", "SY": "me-central", "IQ": "me-central", "IR": "me-central",
	// Asia.
	"IN": "ap-south", "PK": "ap-south", "BD": "ap-south", "LK": "ap-south", "NP": "ap-south", "BT": "ap-south",
	"MV": "ap-south", "AF": "ap-south", "KZ": "ap-south", "KG": "ap-south", "TJ": "ap-south", "TM": "ap-south",
	"UZ": "ap-south",
	"CN": "ap-east", "HK": "ap-east", "MO": "ap-east", "TW": "ap-east", "MN": "ap-east",
	"JP": "ap-northeast", "KR": "ap-northeast", "KP": "ap-northeast",
	"SG": "ap-southeast", "MY": "ap-southeast", "TH": "ap-southeast", "VN": "ap-southeast", "ID": "ap-southeast",
	"PH": "ap-southeast",
	// Oceania.
	"AU": "oc-southeast", "NZ": "oc-southeast",
	// South America and Africa: their continent default.
	"BR": "sa-east", "AR": "sa-east", "CL": "sa-east", "CO": "sa-east",
	"ZA": "af-south", "NG": "af-south", "KE": "af-south", "EG": "af-south", "MA": "af-south",
}

// continentCountries lists every officially assigned ISO 3166-1 alpha-2
// code by continent; a country absent from countryRegion gets its
// continent's region (continentRegion).
var continentCountries = map[string]string{
	"AF": "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW IO KE KM LR LS LY MA MG ML MR MU " +
		"MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW",
	"AN": "AQ BV GS HM TF",
	"AS": "AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM MN MO MV MY " +
		"NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE",
	"EU": "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU LV MC " +
		"MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA",
	"NA": "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI PA PM PR " +
		"SV SX TC TT US VC VG VI",
	"OC": "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS",
	"SA": "AR BO BR CL CO EC FK GF GY PE PY SR UY VE",
}

// continentRegion is each continent's default region; Antarctica has none.
var continentRegion = map[string]string{
	"AF": "af-south", "AN": "", "AS": "ap-southeast", "EU": "eu-central",
	"NA": "na-south", "OC": "oc-southeast", "SA": "sa-east",
}

// usStates maps US state postal codes and names (lowercase) to regions.
var usStates = func() map[string]string {
	m := map[string]string{}
	add := func(region string, states ...string) {
		for i := 0; i+1 < len(states); i += 2 {
			m[strings.ToLower(states[i])] = region
			m[states[i+1]] = region
		}
	}
	add("us-west", "AK", "alaska", "AZ", "arizona", "CA", "california", "CO", "colorado", "HI", "hawaii",
		"ID", "idaho", "MT", "montana", "NV", "nevada", "NM", "new mexico", "OR", "oregon", "UT", "utah",
		"WA", "washington", "WY", "wyoming")
	add("us-central", "AR", "arkansas", "IA", "iowa", "IL", "illinois", "KS", "kansas", "LA", "louisiana",
		"MN", "minnesota", "MO", "missouri", "ND", "north dakota", "NE", "nebraska", "OK", "oklahoma",
		"SD", "south dakota", "TX", "texas", "WI", "wisconsin")
	add("us-east", "AL", "alabama", "CT", "connecticut", "DC", "district of columbia", "DE", "delaware",
		"FL", "florida", "GA", "georgia", "IN", "indiana", "KY", "kentucky", "MA", "massachusetts",
		"MD", "maryland", "ME", "maine", "MI", "michigan", "MS", "mississippi", "NC", "north carolina",
		"NH", "new hampshire", "NJ", "new jersey", "NY", "new york", "OH", "ohio", "PA", "pennsylvania",
		"RI", "rhode island", "SC", "south carolina", "TN", "tennessee", "VA", "virginia", "VT", "vermont",
		"WV", "west virginia")
	return m
}()

// regionIndex holds the tables inverted: country → region and region →
// countries (sorted), built once from the literals above.
type regionIndex struct {
	country   map[string]string
	countries map[string][]string
	regions   []string
}

var regionIdx = func() *regionIndex {
	ix := &regionIndex{country: map[string]string{}, countries: map[string][]string{}}
	for cont, codes := range continentCountries {
		for _, cc := range strings.Fields(codes) {
			r, ok := countryRegion[cc]
			if !ok {
				r = continentRegion[cont]
			}
			ix.country[cc] = r
		}
	}
	for cc, r := range ix.country {
		if r != "" {
			ix.countries[r] = append(ix.countries[r], cc)
		}
	}
	// The United States spans three regions; its hosts are in each.
	for _, r := range []string{"us-central", "us-west"} {
		ix.countries[r] = append(ix.countries[r], "US")
	}
	for r, list := range ix.countries {
		slices.Sort(list)
		ix.regions = append(ix.regions, r)
	}
	slices.Sort(ix.regions)
	return ix
}()

// Regions returns the canonical Aurora region names, sorted. The slice is
// the caller's.
func Regions() []string { return slices.Clone(regionIdx.regions) }

// ValidRegion reports whether r is a canonical Aurora region name (exactly
// as Regions spells it: lowercase). A name that merely passes the treaty's
// syntax check, such as "mars-north", is not valid here.
func ValidRegion(r string) bool {
	_, ok := slices.BinarySearch(regionIdx.regions, r)
	return ok
}

// RegionForCountry returns the Aurora region of an ISO 3166-1 alpha-2
// country code, in any case ("de", "DE"), or "" for a string that is not an
// assigned code (surrounding spaces included) and for Antarctica. A country
// that spans several regions gets its default one (the US: us-east); see
// RegionForPlace.
func RegionForCountry(cc string) string {
	cc, ok := upperCode(cc)
	if !ok {
		return ""
	}
	return regionIdx.country[cc]
}

// RegionForPlace is RegionForCountry refined by places inside the country
// when the country spans several regions: for cc "US", a state name or
// postal code ("Texas", "tx", "District of Columbia") gives us-east,
// us-central or us-west. Places are tried in order and the first one known
// decides, so a caller holding "Washington, DC" passes "DC" first. No known
// place, or any other country, gives RegionForCountry(cc).
func RegionForPlace(cc string, places ...string) string {
	r := RegionForCountry(cc)
	if code, _ := upperCode(cc); code != "US" {
		return r
	}
	for _, p := range places {
		if s, ok := usStates[strings.ToLower(strings.TrimSpace(p))]; ok {
			return s
		}
	}
	return r
}

// CountriesIn returns the ISO 3166-1 alpha-2 codes (upper case, sorted) of
// the countries with hosts in region: those RegionForCountry maps there,
// and the United States in each of us-east, us-central and us-west. It is
// nil for a name that is not in Regions. The slice is the caller's.
func CountriesIn(region string) []string {
	return slices.Clone(regionIdx.countries[region])
}

// ParseRegions checks an operator's region restriction (an adapter's
// Config.Regions): it returns the list without duplicates, in order, or an
// error naming the first entry that is not an Aurora region. nil stays nil
// (anywhere).
func ParseRegions(list []string) ([]string, error) {
	var out []string
	for _, r := range list {
		if !ValidRegion(r) {
			return nil, fmt.Errorf("providers: region %q is not an Aurora region (one of %s)", r, strings.Join(regionIdx.regions, ", "))
		}
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// NarrowRegions returns the regions an offer query may be served in under
// an operator's restriction: with no query regions, the restriction itself
// (nil = anywhere); otherwise the query's Aurora regions (names that are
// not are ignored) within the restriction, if any. ok is false when nothing
// can match. The result may share storage with configured.
func NarrowRegions(query, configured []string) (regions []string, ok bool) {
	if len(query) == 0 {
		return configured, true
	}
	for _, r := range query {
		if ValidRegion(r) && (len(configured) == 0 || slices.Contains(configured, r)) && !slices.Contains(regions, r) {
			regions = append(regions, r)
		}
	}
	return regions, len(regions) > 0
}

// upperCode returns s upper-cased if it is two ASCII letters.
func upperCode(s string) (string, bool) {
	if len(s) != 2 {
		return "", false
	}
	var b [2]byte
	for i := range 2 {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c < 'A' || c > 'Z':
			return "", false
		}
		b[i] = c
	}
	if b[0] == s[0] && b[1] == s[1] {
		return s, true
	}
	return string(b[:]), true
}

// SearchRegions returns the regions a query may use under an operator's
// restriction, comparing names case-insensitively (networks whose own
// region codes are not Aurora regions): the query's regions within the
// configured ones, either alone when the other is empty. ok is false when
// the query asks only for regions outside the configured ones.
func SearchRegions(configured, asked []string) (regions []string, ok bool) {
	if len(asked) == 0 {
		return configured, true
	}
	if len(configured) == 0 {
		return asked, true
	}
	for _, r := range asked {
		if slices.ContainsFunc(configured, func(c string) bool { return strings.EqualFold(c, r) }) {
			regions = append(regions, r)
		}
	}
	return regions, len(regions) > 0
}

// RegionConfigured reports whether r is within the operator's restriction
// (case-insensitively; an empty restriction allows every region).
func RegionConfigured(configured []string, r string) bool {
	return len(configured) == 0 || slices.ContainsFunc(configured, func(c string) bool { return strings.EqualFold(c, r) })
}
