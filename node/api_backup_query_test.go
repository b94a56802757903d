package node

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/aurora-federation/aurora/node/store"
)

// FuzzBackupQuery: any query string of POST /v1/ledger/backup either
// parses to values that print back to the same parameters, or is a 400
// naming a field.
func FuzzBackupQuery(f *testing.F) {
	for _, q := range []string{"", "since=0", "since=18446744073709551615", "since=01", "since=1&after_key=a2V5&after_version=2",
		"after_key=a2V5", "after_key=%2B%2F&after_version=1", "since=1&since=2", "x=1", "since=5&after_key=a2V5&after_version=4"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/ledger/backup", nil)
		r.URL.RawQuery = q
		w := httptest.NewRecorder()
		since, cur, ok := parseBackupQuery(w, r)
		if !ok {
			var eb ErrorBody
			if w.Code != http.StatusBadRequest || json.Unmarshal(w.Body.Bytes(), &eb) != nil || eb.Error.Field == "" {
				t.Fatalf("query %q: %d %s, want a 400 naming a field", q, w.Code, w.Body)
			}
			return
		}
		v := r.URL.Query()
		if v.Has("since") && v.Get("since") != strconv.FormatUint(since, 10) || !v.Has("since") && since != 0 {
			t.Fatalf("query %q: since %d", q, since)
		}
		if cur.IsZero() {
			if v.Has("after_key") {
				t.Fatalf("query %q: no cursor", q)
			}
			return
		}
		if len(cur.Key) > store.MaxBackupCursorKey || cur.Version < since || base64.RawURLEncoding.EncodeToString(cur.Key) != v.Get("after_key") ||
			strconv.FormatUint(cur.Version, 10) != v.Get("after_version") {
			t.Fatalf("query %q: cursor %q@%d, since %d", q, cur.Key, cur.Version, since)
		}
	})
}
