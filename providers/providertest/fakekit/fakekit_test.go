package fakekit

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFaultsCounters(t *testing.T) {
	var f Faults
	f.RateLimitNext(2)
	f.FailNextLaunch(1)
	f.LoseNextLaunch(3)
	f.LoseNextLaunch(1) // replaces, does not add
	got := []bool{f.TakeRateLimit(), f.TakeRateLimit(), f.TakeRateLimit(), f.TakeLaunchFailure(), f.TakeLaunchFailure(), f.TakeLaunchLoss(), f.TakeLaunchLoss()}
	want := []bool{true, true, false, true, false, true, false}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("take sequence = %v, want %v", got, want)
		}
	}
	f.RateLimitNext(5)
	f.RateLimitNext(0)
	if f.TakeRateLimit() {
		t.Error("RateLimitNext(0) did not clear the count")
	}
}

func TestDelayHonoursContext(t *testing.T) {
	var f Faults
	f.SetLatency(time.Hour)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if f.Delay(ctx) {
		t.Error("Delay with a cancelled context said to answer")
	}
	f.SetLatency(0)
	if !f.Delay(t.Context()) {
		t.Error("Delay without latency said not to answer")
	}
	r := httptest.NewRequest("POST", "/", strings.NewReader(`{"a":1}`))
	if !f.DelayRequest(r) {
		t.Fatal("DelayRequest without latency said not to answer")
	}
	var v struct{ A int }
	if err := ReadJSON(r, &v); err != nil || v.A != 1 {
		t.Errorf("body after DelayRequest: %+v, %v", v, err)
	}
}

func TestReadJSON(t *testing.T) {
	tests := []struct {
		body    string
		strict  bool
		wantErr bool
	}{
		{`{"a":1}`, true, false},
		{`{"a":1,"b":2}`, true, true},
		{`{"a":1,"b":2}`, false, false},
		{`{"a":1}{}`, false, true},
		{`{"a":"x"}`, false, true},
		{`{"a":` + strings.Repeat(" ", MaxRequestBytes) + `1}`, false, true},
	}
	for i, tt := range tests {
		var v struct {
			A int `json:"a"`
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
		var err error
		if tt.strict {
			err = ReadJSON(r, &v)
		} else {
			err = ReadJSONLoose(r, &v)
		}
		if (err != nil) != tt.wantErr {
			t.Errorf("case %d: err = %v, wantErr %v", i, err, tt.wantErr)
		}
	}
}
