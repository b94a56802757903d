package fluxtest

import (
	"net/http/httptest"
	"testing"

	"github.com/aurora-federation/aurora/providers"
)

func FuzzSession(f *testing.F) {
	f.Add(`{"zelid":"1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH","signature":"IF8nHqFr3K2UKYahhX3soVeoW8W1ECNbr0wfck7lzyXjCS5Q16Ek45zyBuy1Fiy9sTPKVgsqqOuPvbycuVSSVl8=","loginPhrase":"1764072000000abababababababababababababababab"}`)
	f.Add(`zelid=1&signature=2&loginPhrase=3`)
	f.Add(`{"loginPhrase":"x"}`)
	s := NewServer(Options{Now: providers.NewVirtualClock(epoch).Now})
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("POST", "/apps/appregister", nil)
		r.Header.Set("zelidauth", header)
		_ = s.session(r) // must not panic; acceptance needs a real signature
	})
}
