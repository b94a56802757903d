package render_test

import (
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/aurora-federation/aurora/providers/render"
	"github.com/aurora-federation/aurora/providers/render/rendertest"
)

// The adapter's canonical string and the fake's independent one must agree
// wherever the adapter accepts the input (keys that mix characters above
// U+FFFF with U+E000–U+FFFF sort differently by design and are skipped).
func FuzzCanonicalStringCrossCheck(f *testing.F) {
	f.Add("GET", "/v1/jobs", "page=1&limit=10", []byte(nil))
	f.Add("POST", "/v1/jobs", "", []byte(`{"title":"é","b":[1,{"z":null,"a":true}],"n":-1.5e3}`))
	f.Add("PUT", "/v1/jobs/x/cancel", "a=%20&a=+&b=~", []byte(`{"reason":"\u007f</>&\u2028"}`))
	f.Add("GET", "/v1/compute/offers", "filter%5Bgpu_name%5D=RTX+4090", []byte(" "))
	f.Fuzz(func(t *testing.T, method, path, query string, body []byte) {
		in := render.SigningInput{PublicKey: "pk", TimeMS: 1, Nonce: "n", Method: method, Path: path, RawQuery: query, Body: body}
		got, err := render.CanonicalString(in)
		if err != nil {
			return
		}
		for _, r := range string(body) + query {
			if r >= 0xe000 || r == utf8.RuneError {
				return
			}
		}
		want, err := rendertest.FakeCanonicalString("pk", strconv.Itoa(1), "n", method, path, query, body)
		if err != nil {
			t.Fatalf("fake refused what the adapter accepted: %v", err)
		}
		if got != want {
			t.Fatalf("canonical strings differ\nadapter %q\nfake    %q", got, want)
		}
	})
}
