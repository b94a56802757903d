//go:build unix

package store

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
)

// crashDirEnv names the DB directory the crash child writes to; the child
// test skips itself without it.
const crashDirEnv = "AURORA_STORE_CRASH_DIR"

func crashKey(i int) ds.Key { return ds.NewKey(fmt.Sprintf("/crash/%08d", i)) }

func crashValue(i int) []byte { return []byte(fmt.Sprintf("value-%d", i)) }

// TestHelperChild is the child process of TestCrashSIGKILL: it writes keys
// forever with SyncWrites and prints "committed N" after each commit
// returns, until the parent kills it.
func TestHelperChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("crash child: run by TestCrashSIGKILL")
	}
	db, err := Open(Config{Dir: dir, SyncWrites: true})
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(2)
	}
	s := db.Datastore()
	ctx := t.Context()
	for i := 0; ; i++ {
		if err := s.Put(ctx, crashKey(i), crashValue(i)); err != nil {
			fmt.Println("put failed:", err)
			os.Exit(2)
		}
		// fmt.Printf writes straight to the stdout pipe: once the parent
		// reads the line, the commit had returned.
		fmt.Printf("committed %d\n", i)
	}
}

func TestCrashSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	const want = 400
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	killed := false
	defer func() {
		if !killed {
			_ = cmd.Process.Kill()
			for range lines { // lets the reader reach EOF
			}
			_ = cmd.Wait()
		}
	}()
	committed := -1
	timeout := time.After(2 * time.Minute) // only bounds a hung child
	for committed < want {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("child exited after committing %d keys", committed+1)
			}
			n, found := strings.CutPrefix(line, "committed ")
			if !found {
				t.Logf("child: %s", line)
				continue
			}
			i, err := strconv.Atoi(n)
			if err != nil || i != committed+1 {
				t.Fatalf("child reported %q after %d", line, committed)
			}
			committed = i
		case <-timeout:
			t.Fatalf("child committed only %d keys", committed+1)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed = true
	// Drain what the child printed before it died: those commits returned
	// too.
	for line := range lines {
		if n, found := strings.CutPrefix(line, "committed "); found {
			if i, err := strconv.Atoi(n); err == nil && i == committed+1 {
				committed = i
			}
		}
	}
	err = cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v", err)
	}

	db := openDB(t, Config{Dir: dir})
	s := db.Datastore()
	for i := 0; i <= committed; i++ {
		got, err := s.Get(t.Context(), crashKey(i))
		if err != nil || string(got) != string(crashValue(i)) {
			t.Fatalf("key %d of %d committed keys: got %q, %v", i, committed+1, got, err)
		}
	}
	t.Logf("all %d committed keys survived SIGKILL", committed+1)
}
