package providers

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRegionsCanonical(t *testing.T) {
	want := []string{
		"af-south", "ap-east", "ap-northeast", "ap-south", "ap-southeast", "ca-central",
		"eu-central", "eu-east", "eu-north", "eu-south", "eu-west", "me-central",
		"na-south", "oc-southeast", "sa-east", "us-central", "us-east", "us-west",
	}
	if diff := cmp.Diff(want, Regions()); diff != "" {
		t.Errorf("Regions() (-want +got):\n%s", diff)
	}
	// Treaty names: validated as [a-z0-9][a-z0-9._-]*.
	treatyName := regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	for _, r := range want {
		if !ValidRegion(r) || !treatyName.MatchString(r) {
			t.Errorf("%q: ValidRegion = %v, treaty syntax = %v", r, ValidRegion(r), treatyName.MatchString(r))
		}
	}
	got := Regions()
	got[0] = "mutated"
	if Regions()[0] != "af-south" {
		t.Error("Regions() returned shared storage")
	}
	for _, r := range []string{"", "EU-WEST", "eu-west ", "eu", "us-east-1", "zz-nowhere-9", "uk-south", "mutated"} {
		if ValidRegion(r) {
			t.Errorf("ValidRegion(%q) = true", r)
		}
	}
}

func TestRegionForCountry(t *testing.T) {
	tests := []struct {
		cc, want string
	}{
		// Countries with GPU capacity, named in the table.
		{"US", "us-east"}, {"us", "us-east"}, {"Us", "us-east"},
		{"CA", "ca-central"}, {"MX", "na-south"}, {"BR", "sa-east"}, {"AR", "sa-east"},
		{"GB", "eu-west"}, {"IE", "eu-west"}, {"FR", "eu-west"}, {"NL", "eu-west"}, {"BE", "eu-west"},
		{"DE", "eu-central"}, {"de", "eu-central"}, {"PL", "eu-central"}, {"CH", "eu-central"}, {"CZ", "eu-central"},
		{"SE", "eu-north"}, {"FI", "eu-north"}, {"NO", "eu-north"}, {"EE", "eu-north"},
		{"IT", "eu-south"}, {"ES", "eu-south"}, {"PT", "eu-south"}, {"GR", "eu-south"}, {"RO", "eu-south"},
		{"RU", "eu-east"}, {"UA", "eu-east"}, {"TR", "eu-east"},
		{"AE", "me-central"}, {"IL", "me-central"}, {"SA", "me-central"},
		{"IN", "ap-south"}, {"KZ", "ap-south"},
		{"SG", "ap-southeast"}, {"VN", "ap-southeast"}, {"TH", "ap-southeast"}, {"PH", "ap-southeast"},
		{"JP", "ap-northeast"}, {"KR", "ap-northeast"},
		{"CN", "ap-east"}, {"HK", "ap-east"}, {"TW", "ap-east"},
		{"AU", "oc-southeast"}, {"NZ", "oc-southeast"},
		{"ZA", "af-south"}, {"NG", "af-south"},
		// US territories keep US jurisdiction.
		{"PR", "us-east"}, {"GU", "us-west"},
		// Continent defaults.
		{"BO", "sa-east"}, {"GH", "af-south"}, {"FJ", "oc-southeast"}, {"JM", "na-south"},
		{"LA", "ap-southeast"}, {"RS", "eu-south"}, {"LU", "eu-west"}, {"BA", "eu-south"}, {"IS", "eu-north"},
		{"AD", "eu-south"}, {"GL", "na-south"},
		// Not a region.
		{"AQ", ""}, {"TF", ""},
		// Not an assigned code, or not a code at all.
		{"", ""}, {"U", ""}, {"USA", ""}, {" US", ""}, {"US ", ""}, {"ZZ", ""}, {"XK", ""}, {"UK", ""},
		{"EU", ""}, {"U1", ""}, {"1U", ""}, {"u\x00", ""}, {"\xff\xfe", ""}, {"ı", ""},
	}
	for _, tt := range tests {
		if got := RegionForCountry(tt.cc); got != tt.want {
			t.Errorf("RegionForCountry(%q) = %q, want %q", tt.cc, got, tt.want)
		}
	}
}

func TestRegionForPlace(t *testing.T) {
	tests := []struct {
		cc, place, want string
	}{
		{"US", "Texas", "us-central"},
		{"us", "tx", "us-central"},
		{"US", "California", "us-west"},
		{"US", " oregon ", "us-west"},
		{"US", "Washington", "us-west"},
		{"US", "WA", "us-west"},
		{"US", "Hawaii", "us-west"},
		{"US", "Virginia", "us-east"},
		{"US", "West Virginia", "us-east"},
		{"US", "District of Columbia", "us-east"},
		{"US", "New York", "us-east"},
		{"US", "Illinois", "us-central"},
		{"US", "", "us-east"},         // no place: the country's default
		{"US", "Atlantis", "us-east"}, // unknown place: the country's default
		{"CA", "British Columbia", "ca-central"},
		{"DE", "Texas", "eu-central"}, // states refine the US only
		{"DE", "Bavaria", "eu-central"},
		{"ZZ", "Texas", ""},
		{"", "Texas", ""},
	}
	for _, tt := range tests {
		if got := RegionForPlace(tt.cc, tt.place); got != tt.want {
			t.Errorf("RegionForPlace(%q, %q) = %q, want %q", tt.cc, tt.place, got, tt.want)
		}
	}
	// The first known place decides.
	if got := RegionForPlace("US", "Dallas", "DC", "Washington"); got != "us-east" {
		t.Errorf(`RegionForPlace("US", "Dallas", "DC", "Washington") = %q, want us-east`, got)
	}
	if got := RegionForPlace("US"); got != "us-east" {
		t.Errorf(`RegionForPlace("US") = %q, want us-east`, got)
	}
	// Every state (and DC) is mapped, by code and by name.
	regions := map[string]int{}
	for k, r := range usStates {
		if !ValidRegion(r) || !strings.HasPrefix(r, "us-") {
			t.Errorf("state %q → %q", k, r)
		}
		if len(k) == 2 {
			regions[r]++
		}
	}
	if diff := cmp.Diff(map[string]int{"us-west": 13, "us-central": 13, "us-east": 25}, regions); diff != "" {
		t.Errorf("states per region (-want +got):\n%s", diff)
	}
}

// TestRegionTables checks the tables against each other: every assigned
// ISO 3166-1 alpha-2 code once, every region reachable, CountriesIn the
// inverse of RegionForCountry.
func TestRegionTables(t *testing.T) {
	seen := map[string]string{}
	for cont, codes := range continentCountries {
		list := strings.Fields(codes)
		if !slices.IsSorted(list) {
			t.Errorf("continent %s: codes not sorted", cont)
		}
		for _, cc := range list {
			if prev, dup := seen[cc]; dup {
				t.Errorf("%s listed in %s and %s", cc, prev, cont)
			}
			seen[cc] = cont
		}
	}
	if len(seen) != 249 {
		t.Errorf("%d codes, want the 249 assigned ISO 3166-1 alpha-2 codes", len(seen))
	}
	for cc, r := range countryRegion {
		if _, ok := seen[cc]; !ok {
			t.Errorf("countryRegion names %s, which no continent lists", cc)
		}
		if !ValidRegion(r) {
			t.Errorf("countryRegion[%s] = %q, not canonical", cc, r)
		}
	}
	for cont, r := range continentRegion {
		if r != "" && !ValidRegion(r) {
			t.Errorf("continentRegion[%s] = %q, not canonical", cont, r)
		}
	}
	for _, r := range Regions() {
		in := CountriesIn(r)
		if len(in) == 0 {
			t.Errorf("region %s has no country", r)
		}
		if !slices.IsSorted(in) {
			t.Errorf("CountriesIn(%s) not sorted: %v", r, in)
		}
		for _, cc := range in {
			if got := RegionForCountry(cc); got != r && cc != "US" {
				t.Errorf("CountriesIn(%s) has %s, which maps to %q", r, cc, got)
			}
		}
	}
	for cc := range seen {
		r := RegionForCountry(cc)
		if r == "" {
			if seen[cc] != "AN" {
				t.Errorf("%s maps to no region", cc)
			}
			continue
		}
		if !slices.Contains(CountriesIn(r), cc) {
			t.Errorf("%s maps to %s but CountriesIn(%s) lacks it", cc, r, r)
		}
	}
	for _, r := range []string{"us-east", "us-central", "us-west"} {
		if !slices.Contains(CountriesIn(r), "US") {
			t.Errorf("CountriesIn(%s) lacks US", r)
		}
	}
	if got := CountriesIn("eu-west"); !slices.Equal(got, []string{"BE", "FR", "GB", "GG", "IE", "IM", "JE", "LU", "MC", "NL"}) {
		t.Errorf("CountriesIn(eu-west) = %v", got)
	}
	if CountriesIn("mars-north") != nil || CountriesIn("") != nil {
		t.Error("CountriesIn of an unknown region is not nil")
	}
}

func TestParseRegions(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string
		wantErr bool
	}{
		{"nil is anywhere", nil, nil, false},
		{"deduplicated in order", []string{"us-west", "eu-central", "us-west"}, []string{"us-west", "eu-central"}, false},
		{"country code", []string{"eu-west", "US"}, nil, true},
		{"cloud region", []string{"us-east-1"}, nil, true},
		{"upper case", []string{"EU-WEST"}, nil, true},
		{"empty", []string{""}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRegions(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseRegions(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseRegions(%q) (-want +got):\n%s", tt.in, diff)
			}
			if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in[len(tt.in)-1])) {
				t.Errorf("error %q does not name the bad entry", err)
			}
		})
	}
}

func TestNarrowRegions(t *testing.T) {
	tests := []struct {
		name              string
		query, configured []string
		want              []string
		wantOK            bool
	}{
		{"anything anywhere", nil, nil, nil, true},
		{"the restriction when the query names none", nil, []string{"eu-west"}, []string{"eu-west"}, true},
		{"the query when unrestricted", []string{"us-east", "eu-west", "us-east"}, nil, []string{"us-east", "eu-west"}, true},
		{"the intersection", []string{"us-east", "eu-west"}, []string{"eu-west", "eu-central"}, []string{"eu-west"}, true},
		{"disjoint", []string{"us-east"}, []string{"eu-west"}, nil, false},
		{"names that are not regions match nothing", []string{"US", "zz-nowhere-9"}, nil, nil, false},
	}
	for _, tt := range tests {
		got, ok := NarrowRegions(tt.query, tt.configured)
		if ok != tt.wantOK {
			t.Errorf("%s: ok = %v, want %v", tt.name, ok, tt.wantOK)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s: (-want +got):\n%s", tt.name, diff)
		}
	}
}

func FuzzRegionForCountry(f *testing.F) {
	for _, s := range []string{"US", "de", "Gb", "", "ZZ", "AQ", " U", "ı", "\xff\xff"} {
		f.Add(s, "Texas")
	}
	f.Add("us", "district of columbia")
	f.Add("US", "WA")
	f.Fuzz(func(t *testing.T, cc, place string) {
		r := RegionForCountry(cc)
		if r != "" && !ValidRegion(r) {
			t.Fatalf("RegionForCountry(%q) = %q, not canonical", cc, r)
		}
		if r != "" {
			if _, ok := upperCode(cc); !ok {
				t.Fatalf("RegionForCountry(%q) = %q for a non-code", cc, r)
			}
			if !slices.Contains(CountriesIn(r), strings.ToUpper(cc)) {
				t.Fatalf("CountriesIn(%q) lacks %q", r, cc)
			}
		}
		if lo, up := RegionForCountry(strings.ToLower(cc)), RegionForCountry(strings.ToUpper(cc)); isASCII(cc) && (lo != r || up != r) {
			t.Fatalf("case matters for %q: %q %q %q", cc, r, lo, up)
		}
		p := RegionForPlace(cc, place)
		switch {
		case (p == "") != (r == ""):
			t.Fatalf("RegionForPlace(%q, %q) = %q but RegionForCountry = %q", cc, place, p, r)
		case !strings.EqualFold(cc, "US") && p != r:
			t.Fatalf("RegionForPlace(%q, %q) = %q refines a country other than the US (%q)", cc, place, p, r)
		case strings.EqualFold(cc, "US") && !strings.HasPrefix(p, "us-"):
			t.Fatalf("RegionForPlace(%q, %q) = %q, outside the US", cc, place, p)
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func ExampleRegionForPlace() {
	// Vast.ai reports "Texas, US"; Salad only "us".
	fmt.Println(RegionForPlace("US", "Texas"))
	fmt.Println(RegionForCountry("us"))
	fmt.Println(RegionForCountry("DE"), RegionForCountry("gb"), RegionForCountry("ZZ") == "")
	fmt.Println(CountriesIn("eu-north"))
	// Output:
	// us-central
	// us-east
	// eu-central eu-west true
	// [AX DK EE FI FO IS LT LV NO SE SJ]
}

func TestSearchRegions(t *testing.T) {
	tests := []struct {
		name              string
		configured, asked []string
		want              []string
		ok                bool
	}{
		{"no query: the restriction", []string{"eu-west"}, nil, []string{"eu-west"}, true},
		{"no restriction: the query", nil, []string{"EU-West"}, []string{"EU-West"}, true},
		{"case-insensitive overlap", []string{"eu-west", "us-east"}, []string{"US-EAST", "ap-south"}, []string{"US-EAST"}, true},
		{"no overlap", []string{"eu-west"}, []string{"ap-south"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := SearchRegions(tt.configured, tt.asked)
			if ok != tt.ok || !slices.Equal(got, tt.want) {
				t.Fatalf("SearchRegions = %v, %v; want %v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	if !RegionConfigured(nil, "anywhere") || !RegionConfigured([]string{"eu-west"}, "EU-WEST") || RegionConfigured([]string{"eu-west"}, "us-east") {
		t.Fatal("RegionConfigured")
	}
}
