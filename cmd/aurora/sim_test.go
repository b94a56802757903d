package main

import (
	"regexp"
	"testing"
)

// TestSimDeterministic: the same flags print the same decision digest; a
// different seed prints another.
func TestSimDeterministic(t *testing.T) {
	digest := regexp.MustCompile(`digest cheapest\s+([0-9a-f]{64})`)
	run := func(seed string) string {
		out, errs, code := runAurora(t, "sim", "--orders", "3000", "--seed", seed, "--fail", "0.2", "--strategy", "cheapest")
		if code != 0 {
			t.Fatalf("aurora sim: %s", errs)
		}
		m := digest.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no digest in:\n%s", out)
		}
		return m[1]
	}
	a, b, c := run("7"), run("7"), run("8")
	if a != b {
		t.Fatalf("same seed, different digests: %s vs %s", a, b)
	}
	if a == c {
		t.Fatal("different seeds, same digest")
	}
}
