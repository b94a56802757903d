package akashtest

import "net/http"

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
