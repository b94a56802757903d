package render_test

import (
	"fmt"

	"github.com/aurora-federation/aurora/providers/render"
)

// The canonical string of the documentation's example request; X-Signature
// is its HMAC-SHA256 under the secret key, in lowercase hex.
func ExampleCanonicalString() {
	s, err := render.CanonicalString(render.SigningInput{
		PublicKey: "pk_abc123",
		TimeMS:    1706918400000,
		Nonce:     "a1b2c3d4e5f6a7b8",
		Method:    "GET",
		Path:      "/v1/jobs",
		RawQuery:  "page=1&limit=10",
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(s)
	// Output:
	// pk_abc123|1706918400000|a1b2c3d4e5f6a7b8|GET|/v1/jobs|limit=10&page=1|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
}
