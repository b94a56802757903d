package akashtest

import (
	"net/http"
	"strings"
)

// Constraint is one published rule of the Akash Console API that the fake
// keeps: the request Method Path Body (placeholders below) sent to a fake
// built with Options (nil = defaults) is answered with Status, and the body
// contains Contains. constraints_test.go checks every row. Source names the
// repository, commit and file the rule comes from.
//
// Placeholders: {sdl} is a valid SDL as a JSON string, {active} the dseq of
// an active deployment, {closed} that of a closed one. Requests carry the
// fake's API key unless Header says otherwise (a "" value deletes it).
type Constraint struct {
	Name, Source       string
	Options            func(*Options)
	Method, Path, Body string
	Header             map[string]string
	Status             int
	Contains           string
}

// console is the Console source the rows were read from.
const console = "akash-network/console@d84c9e93d7904ec9cbbfd2d62b79994209bea297 "

// Constraints returns the table. The slice is new on each call.
func Constraints() []Constraint {
	const deployments = "/v1/deployments"
	return []Constraint{
		{Name: "create body is wrapped in data", Source: console + "apps/api/src/deployment/http-schemas/deployment.schema.ts CreateDeploymentRequestSchema",
			Method: http.MethodPost, Path: deployments, Body: `{"sdl":{sdl}}`, Status: http.StatusBadRequest},
		{Name: "deposit is deprecated and optional with managed deposits", Source: console + "apps/api/src/deployment/http-schemas/deployment.schema.ts (deposit: optional, deprecated); services/deployment-writer/deployment-writer.service.ts resolveDepositInDollars",
			Method: http.MethodPost, Path: deployments, Body: `{"data":{"sdl":{sdl}}}`, Status: http.StatusCreated},
		{Name: "deposit is required without managed deposits", Source: console + "apps/api/src/deployment/services/deployment-writer/deployment-writer.service.ts resolveDepositInDollars",
			Options: func(o *Options) { o.RequireDeposit = true },
			Method:  http.MethodPost, Path: deployments, Body: `{"data":{"sdl":{sdl}}}`, Status: http.StatusBadRequest, Contains: "deposit is required"},
		{Name: "deposit is a number of dollars", Source: console + "apps/api/src/deployment/http-schemas/deployment.schema.ts (deposit: z.number())",
			Method: http.MethodPost, Path: deployments, Body: `{"data":{"sdl":{sdl},"deposit":"5"}}`, Status: http.StatusBadRequest},
		{Name: "an SDL that does not parse is refused", Source: console + "apps/api/src/deployment/services/deployment-writer/deployment-writer.service.ts #parseManifest (400 Invalid SDL)",
			Method: http.MethodPost, Path: deployments, Body: `{"data":{"sdl":"services: ["}}`, Status: http.StatusBadRequest, Contains: "Invalid SDL"},
		{Name: "x-api-key and Authorization are mutually exclusive", Source: console + "apps/api/src/auth/services/auth.interceptor.ts",
			Method: http.MethodGet, Path: deployments + "/{active}", Header: map[string]string{"Authorization": "Bearer " + DefaultAPIKey},
			Status: http.StatusBadRequest, Contains: "mutually exclusive"},
		{Name: "deployments need credentials", Source: console + "apps/api/src/auth/services/auth.interceptor.ts",
			Method: http.MethodGet, Path: deployments + "/{active}", Header: map[string]string{"x-api-key": ""}, Status: http.StatusUnauthorized},
		{Name: "an unknown deployment is 404", Source: console + "apps/api/src/deployment/services/deployment-reader/deployment-reader.service.ts findByWalletAndDseq",
			Method: http.MethodGet, Path: deployments + "/99999999", Status: http.StatusNotFound},
		{Name: "closing an unknown deployment is 404", Source: console + "apps/api/src/deployment/services/deployment-writer/deployment-writer.service.ts close → findByWalletAndDseq",
			Method: http.MethodDelete, Path: deployments + "/99999999", Status: http.StatusNotFound},
		{Name: "closing a closed deployment is a successful no-op", Source: console + "apps/api/src/deployment/services/deployment-writer/deployment-writer.service.ts close (idempotent close)",
			Method: http.MethodDelete, Path: deployments + "/{closed}", Status: http.StatusOK, Contains: `"success":true`},
		{Name: "the lease body is not wrapped in data", Source: console + "apps/api/src/deployment/http-schemas/lease.schema.ts CreateLeaseRequestSchema",
			Method: http.MethodPost, Path: "/v1/leases", Body: `{"data":{"manifest":"[]","leases":[{"dseq":"{active}","gseq":1,"oseq":1,"provider":"akash1x"}]}}`,
			Status: http.StatusBadRequest},
		{Name: "lease gseq and oseq are numbers", Source: console + "apps/api/src/deployment/http-schemas/lease.schema.ts CreateLeaseRequestSchema (gseq, oseq: z.number())",
			Method: http.MethodPost, Path: "/v1/leases", Body: `{"manifest":"[]","leases":[{"dseq":"{active}","gseq":"1","oseq":"1","provider":"akash1x"}]}`,
			Status: http.StatusBadRequest},
	}
}

// SDLConstraint is one rule of Akash's SDL parser the fake keeps: Edit
// breaks it in a valid SDL with a persistent volume and registry
// credentials (../testdata/sdl-features.yaml), and the fake answers the
// create with 400 Invalid SDL, as the Console does for an SDL its parser
// refuses (deployment-writer.service.ts #parseManifest).
// sdl_constraints_test.go checks every row.
type SDLConstraint struct {
	Name, Source string
	Edit         func(sdl string) string
}

// SDLConstraints returns the table. The slice is new on each call.
func SDLConstraints() []SDLConstraint {
	replace := func(old, new string) func(string) string {
		return func(s string) string { return strings.Replace(s, old, new, 1) }
	}
	const pw = `      password: "ghp_token123"` + "\n"
	return []SDLConstraint{
		{"credentials need a host", chainSDK + "go/sdl/v2.go v2ServiceCredentials.validate (errCredentialNoHost)",
			replace(`      host: "ghcr.io"`+"\n", "")},
		{"credentials need a username", chainSDK + "go/sdl/v2.go v2ServiceCredentials.validate (errCredentialNoUsername)",
			replace(`      username: "acme"`, `      username: " "`)},
		{"credentials need a password", chainSDK + "go/sdl/v2.go v2ServiceCredentials.validate (errCredentialNoPassword)",
			replace(pw, "")},
		{"a password has at least 6 characters", chainSDK + "go/sdl/sdl-input.schema.yaml credentials.password minLength 6",
			replace(`"ghp_token123"`, `"12345"`)},
		{"credentials take no other field", chainSDK + "go/sdl/sdl-input.schema.yaml credentials additionalProperties: false",
			replace(pw, pw+`      token: "x"`+"\n")},
		{"a persistent volume is mounted", chainSDK + "go/sdl/v2.go validate (persistent=true requires params.storage mount)",
			replace("    params:\n      storage:\n        data:\n          mount: \"/var/lib/postgresql/data\"\n          readOnly: false\n", "")},
		{"a mount is an absolute path", chainSDK + "go/sdl/v2.go validate (expected absolute path)",
			replace(`mount: "/var/lib/postgresql/data"`, `mount: "var/lib/data"`)},
		{"a mount names a volume of the profile", chainSDK + "go/sdl/v2.go validate (references to no-existing compute volume)",
			replace("        data:\n          mount:", "        other:\n          mount:")},
		{"volume names are unique", chainSDK + "go/sdl/storage.go errStorageDuplicatedVolumeName",
			replace("          - size: 1024Mi\n", "          - size: 1024Mi\n          - name: data\n            size: 1Gi\n")},
		{"a class is one of the storage classes", chainSDK + "go/sdl/storage.go allowedStorageClasses",
			replace(`class: "beta3"`, `class: "ssd"`)},
		{"a ram volume cannot be persistent", chainSDK + "go/sdl/storage.go errStorageRAMClass",
			replace(`class: "beta3"`, `class: "ram"`)},
		{"an ephemeral volume sets no class", chainSDK + "go/sdl/storage.go errStorageEphemeralClass",
			replace("persistent: true", "persistent: false")},
		{"only persistent and class attributes", chainSDK + "go/sdl/storage.go errUnsupportedStorageAttribute",
			replace(`class: "beta3"`, `class: "beta3"`+"\n              iops: \"high\"")},
	}
}
