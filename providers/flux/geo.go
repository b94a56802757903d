package flux

import "strings"

// FluxOS publishes no network-wide table of where its nodes are: its routes
// (RunOnFlux/flux @ 845aa9b6ad7954c8763858bdd4b03e44a4b9cdd5
// ZelBack/src/routes.js) have GET /flux/geolocation, the answering node's
// own place (services/geolocationService.js: ip-api continentCode and
// countryCode), and /daemon/viewdeterministicfluxnodelist, every node's IP
// without a place; there is no /apps/placementlocations. A region is
// therefore turned into a geolocation rule from the region alone, and
// whether nodes are there shows when the app does or does not get its
// instances. Nodes name their place with ip-api's continent codes (AF AN AS
// EU NA OC SA) and ISO 3166-1 alpha-2 countries, so the rules are
// ac<CONT>_<CC> and ac<CONT> (appRequirements/appValidator.js checks the
// form).

// continentOf maps ISO 3166-1 alpha-2 codes to continent codes as ip-api
// assigns them. It repeats providers' own continent table (unexported
// there).
var continentOf = func() map[string]string {
	m := map[string]string{}
	for ct, list := range map[string]string{
		"AF": "AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW IO KE KM LR LS LY MA MG ML MR MU " +
			"MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TG TN TZ UG YT ZA ZM ZW",
		"AN": "AQ BV GS HM TF",
		"AS": "AE AF AM AZ BD BH BN BT CC CN CX GE HK ID IL IN IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM MN MO MV MY " +
			"NP OM PH PK PS QA SA SG SY TH TJ TL TM TR TW UZ VN YE",
		"EU": "AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI LT LU LV MC " +
			"MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM UA VA XK",
		"NA": "AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI PA PM PR " +
			"SV SX TC TT US VC VG VI",
		"OC": "AS AU CK FJ FM GU KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV UM VU WF WS",
		"SA": "AR BO BR CL CO EC FK GF GY PE PY SR UY VE",
	} {
		for _, cc := range strings.Fields(list) {
			m[cc] = ct
		}
	}
	return m
}()

// continents are the continent codes FluxOS nodes report.
var continents = map[string]bool{"AF": true, "AN": true, "AS": true, "EU": true, "NA": true, "OC": true, "SA": true}

// regionRule maps a region to a geolocation rule: an ISO country code (any
// case) to ac<CONT>_<CC>, a continent code that is not also a country code
// (EU, OC, AN) to ac<CONT>, and a rule ("acEU", "acNA_US") to itself.
// Continents whose code is a country too (AF Afghanistan, AS American
// Samoa, NA Namibia, SA Saudi Arabia) are named in rule form. ok is false
// for anything else.
func regionRule(region string) (rule string, ok bool) {
	if strings.HasPrefix(region, "ac") && geoRule.MatchString(region) {
		if !continents[strings.SplitN(region[2:], "_", 2)[0]] {
			return "", false
		}
		return region, true
	}
	up := strings.ToUpper(region)
	if len(up) != 2 {
		return "", false
	}
	if ct, ok := continentOf[up]; ok {
		return "ac" + ct + "_" + up, true
	}
	if continents[up] {
		return "ac" + up, true
	}
	return "", false
}
