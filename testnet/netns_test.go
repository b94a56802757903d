package testnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newTestLab makes a lab on a slot of its own (prefix "aut<slot>-") and
// removes it when the test ends; it skips the test, saying why, only when
// namespaces cannot be created here.
func newTestLab(t *testing.T) *Lab {
	t.Helper()
	if err := NetnsAvailable(t.Context(), "autprobe"); err != nil {
		t.Skipf("network namespaces cannot be created here (run as root with iproute2): %v", err)
	}
	prefix, release, err := LockLabPrefix("aut", 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(release)
	lab, err := NewLab(t.Context(), LabConfig{Prefix: prefix, Subnet: LabSlotSubnet(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := lab.Close(); err != nil {
			t.Errorf("lab close: %v", err)
		}
		if left := netnsWithPrefix(t, prefix); len(left) > 0 {
			t.Errorf("namespaces left after Close: %v", left)
		}
	})
	return lab
}

func netnsWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(strings.TrimSpace(l), " "); name != "" && strings.HasPrefix(name, prefix) {
			got = append(got, name)
		}
	}
	return got
}

// TestLabHelper is the server the lab tests run inside a namespace: with
// GO_TESTNET_LAB_HELPER=1 it serves, on the address after "--",
// /whoami (the client's address as the server sees it) and /bytes?n=N.
func TestLabHelper(t *testing.T) {
	if os.Getenv("GO_TESTNET_LAB_HELPER") != "1" {
		t.Skip("helper process")
	}
	args := os.Args
	for len(args) > 0 && args[0] != "--" {
		args = args[1:]
	}
	if len(args) < 2 {
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.RemoteAddr)
		io.WriteString(w, host)
	})
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Write(make([]byte, n))
	})
	http.Serve(ln, mux)
	os.Exit(4)
}

// startLabHelper runs TestLabHelper in h's namespace on h.Addr:port.
func startLabHelper(t *testing.T, h *LabHost, port int) string {
	t.Helper()
	addr := net.JoinHostPort(h.Addr.String(), strconv.Itoa(port))
	cmd := h.Command(os.Args[0], "-test.run=^TestLabHelper$", "--", addr)
	cmd.Env = append(os.Environ(), "GO_TESTNET_LAB_HELPER=1")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return "http://" + addr
}

func get(ctx context.Context, hc *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// eventually polls f every 50ms until it returns nil or d passes.
func eventually(t *testing.T, d time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > d {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLab builds two hosts on the bridge and one behind NAT and checks
// what a real network would show: addresses as seen by the server,
// masquerade, no way into the NAT, a cut and its heal, a tbf limit.
func TestLab(t *testing.T) {
	lab := newTestLab(t)
	ctx := t.Context()
	a, err := lab.AddHost(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := lab.AddHost(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	c, err := lab.AddNATHost(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if !lab.subnet.Contains(a.Addr) || !lab.subnet.Contains(b.Addr) || a.Addr == b.Addr || lab.subnet.Contains(c.Addr) || !lab.subnet.Contains(c.Public) {
		t.Fatalf("addresses: a %s b %s c %s (public %s) in %s", a.Addr, b.Addr, c.Addr, c.Public, lab.subnet)
	}
	if _, err := lab.AddHost(ctx, "a"); err == nil {
		t.Error("a second host named a was added")
	}
	if _, err := lab.AddHost(ctx, "Bad_Name"); err == nil {
		t.Error("a host named Bad_Name was added")
	}
	bURL := startLabHelper(t, b, 8080)
	cURL := startLabHelper(t, c, 8080)
	fromA, fromC := a.HTTPClient(2*time.Second), c.HTTPClient(2*time.Second)

	eventually(t, 10*time.Second, "a reaches b", func() error {
		got, err := get(ctx, fromA, bURL+"/whoami")
		if err == nil && got != a.Addr.String() {
			t.Fatalf("b sees a as %s, want %s", got, a.Addr)
		}
		return err
	})
	eventually(t, 10*time.Second, "c reaches b through its NAT", func() error {
		got, err := get(ctx, fromC, bURL+"/whoami")
		if err == nil && got != c.Public.String() {
			t.Fatalf("b sees c as %s, want its router %s (masquerade)", got, c.Public)
		}
		return err
	})
	eventually(t, 10*time.Second, "c serves itself", func() error { _, err := get(ctx, fromC, cURL+"/whoami"); return err })
	if _, err := get(ctx, fromA, cURL+"/whoami"); err == nil {
		t.Error("a reached c's private address behind its NAT")
	}
	if _, err := get(ctx, fromA, "http://"+net.JoinHostPort(c.Public.String(), "8080")+"/whoami"); err == nil {
		t.Error("a reached c through its router: the NAT forwards new connections in")
	}

	// A cut drops everything to and from the host; a heal restores it.
	for _, h := range []*LabHost{a, c} {
		if err := h.Cut(ctx); err != nil {
			t.Fatal(err)
		}
		hc := h.HTTPClient(time.Second)
		if _, err := get(ctx, hc, bURL+"/whoami"); err == nil {
			t.Errorf("%s reached b while cut", h.Name)
		}
		if err := h.Heal(ctx); err != nil {
			t.Fatal(err)
		}
		d := eventually(t, 10*time.Second, h.Name+" reaches b after the heal", func() error { _, err := get(ctx, hc, bURL+"/whoami"); return err })
		t.Logf("%s: reachable %v after the heal", h.Name, d.Round(time.Millisecond))
	}

	// An unplugged host's own dials fail at once; a heal restores them.
	if err := a.Unplug(ctx); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if _, err := get(ctx, a.HTTPClient(5*time.Second), bURL+"/whoami"); err == nil || !strings.Contains(err.Error(), "unreachable") || time.Since(begin) > time.Second {
		t.Errorf("an unplugged host's dial: %v after %v, want network unreachable at once", err, time.Since(begin))
	}
	if err := a.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a reaches b after the unplug heals", func() error { _, err := get(ctx, fromA, bURL+"/whoami"); return err })

	// Reject: both sides' dials fail at once.
	if err := a.Reject(ctx); err != nil {
		t.Fatal(err)
	}
	begin = time.Now()
	if _, err := get(ctx, a.HTTPClient(5*time.Second), bURL+"/whoami"); err == nil || time.Since(begin) > time.Second {
		t.Errorf("a rejected host's dial: %v after %v, want a failure at once", err, time.Since(begin))
	}
	begin = time.Now()
	if _, err := get(ctx, b.HTTPClient(5*time.Second), "http://"+net.JoinHostPort(a.Addr.String(), "9")+"/"); err == nil || !strings.Contains(err.Error(), "no route to host") || time.Since(begin) > time.Second {
		t.Errorf("a dial to a rejected host: %v after %v, want no route to host at once", err, time.Since(begin))
	}
	if err := a.Heal(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "a reaches b after the reject heals", func() error { _, err := get(ctx, fromA, bURL+"/whoami"); return err })

	// tbf: 512 KiB at 2 Mbit/s takes about 2 s; unshaped, a few ms.
	const n = 512 << 10
	fetch := func() time.Duration {
		hc := a.HTTPClient(30 * time.Second)
		start := time.Now()
		got, err := get(ctx, hc, bURL+"/bytes?n="+strconv.Itoa(n))
		if err != nil || len(got) != n {
			t.Fatalf("fetch: %d bytes, %v", len(got), err)
		}
		return time.Since(start)
	}
	if err := a.Shape(ctx, Shape{Rate: 2_000_000}); err != nil {
		t.Fatal(err)
	}
	shaped := fetch()
	if err := a.Unshape(ctx); err != nil {
		t.Fatal(err)
	}
	free := fetch()
	t.Logf("512 KiB: %v at 2 Mbit/s, %v unshaped", shaped.Round(time.Millisecond), free.Round(time.Millisecond))
	if shaped < 1500*time.Millisecond || free > shaped/3 {
		t.Errorf("512 KiB took %v shaped to 2 Mbit/s (want ≥ 1.5 s) and %v unshaped", shaped, free)
	}
	if err := a.Shape(ctx, Shape{}); err == nil {
		t.Error("a shape without a rate was accepted")
	}
}

// TestLabSweepsLeftovers: a lab that was never closed (an aborted run)
// leaves namespaces and a process; the next lab with its prefix removes
// both.
func TestLabSweepsLeftovers(t *testing.T) {
	if err := NetnsAvailable(t.Context(), "autprobe"); err != nil {
		t.Skipf("network namespaces cannot be created here (run as root with iproute2): %v", err)
	}
	prefix, release, err := LockLabPrefix("autsw", 64)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// A second lock on the same base gets another slot.
	other, release2, err := LockLabPrefix("autsw", 64)
	if err != nil {
		t.Fatal(err)
	}
	release2()
	if other == prefix {
		t.Fatalf("two live locks share the prefix %s", prefix)
	}
	old, err := NewLab(t.Context(), LabConfig{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	h, err := old.AddHost(t.Context(), "x")
	if err != nil {
		old.Close()
		t.Fatal(err)
	}
	sleeper := h.Command("sleep", "300")
	if err := sleeper.Start(); err != nil {
		old.Close()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- sleeper.Wait() }()
	// old is abandoned here, as by a killed test binary.
	lab, err := NewLab(t.Context(), LabConfig{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer lab.Close()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Errorf("the leftover process ended with %v, want SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		sleeper.Process.Kill()
		t.Fatal("the leftover process survived the sweep")
	}
	if got := netnsWithPrefix(t, prefix); len(got) != 1 || got[0] != prefix+"br" {
		t.Errorf("namespaces after the sweep: %v, want only the new bridge", got)
	}
	if err := lab.Close(); err != nil {
		t.Fatal(err)
	}
	if got := netnsWithPrefix(t, prefix); len(got) != 0 {
		t.Errorf("namespaces after Close: %v", got)
	}
}

func TestLabSlotSubnet(t *testing.T) {
	for prefix, want := range map[string]string{"aut0-": "10.77.0.0/24", "aut17-": "10.77.17.0/24", "x-": "10.77.0.0/24"} {
		if got := LabSlotSubnet(prefix); got != netip.MustParsePrefix(want) {
			t.Errorf("LabSlotSubnet(%q) = %s, want %s", prefix, got, want)
		}
	}
}
