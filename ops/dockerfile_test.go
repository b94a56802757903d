package ops

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

const dockerfilePath = "../testnet/Dockerfile"

// staticBuild is the node's release build; the Dockerfile must run exactly this (after RUN's --mount flags).
const staticBuild = "CGO_ENABLED=0 go build -trimpath -o /out/aurora ./cmd/aurora"

// instruction is one Dockerfile instruction as BuildKit's parser sees it.
type instruction struct {
	cmd   string   // lower case: from, run, copy, ...
	flags []string // --mount=..., --from=..., --interval=...
	args  []string // words, or the JSON array's elements
	json  bool     // exec form
	line  int
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from, name string
	ins        []instruction
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	f, err := os.Open(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", dockerfilePath, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: %s", dockerfilePath, w.Short)
	}
	var stages []stage
	for _, n := range res.AST.Children {
		in := instruction{cmd: strings.ToLower(n.Value), flags: n.Flags, json: n.Attributes["json"], line: n.StartLine}
		for a := n.Next; a != nil; a = a.Next {
			in.args = append(in.args, a.Value)
		}
		if in.cmd == "from" {
			s := stage{from: in.args[0]}
			if len(in.args) == 3 && strings.EqualFold(in.args[1], "as") {
				s.name = in.args[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if in.cmd != "arg" {
				t.Fatalf("%s:%d: %s before FROM", dockerfilePath, in.line, in.cmd)
			}
			continue
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	return stages
}

func TestDockerfile(t *testing.T) {
	stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}

	build := stages[0]
	if build.from != "golang:1.26" || build.name != "build" {
		t.Errorf("first stage FROM %s AS %s, want FROM golang:1.26 AS build", build.from, build.name)
	}
	var builds int
	for _, run := range build.all("run") {
		cmd := strings.Join(strings.Fields(strings.Join(run.args, " ")), " ")
		if strings.Contains(cmd, "go build") {
			builds++
			if cmd != staticBuild {
				t.Errorf("line %d: build command %q, want exactly %q", run.line, cmd, staticBuild)
			}
		}
	}
	if builds != 1 {
		t.Errorf("build stage runs %d go build commands, want exactly one", builds)
	}

	// The default target is the last stage: the node image.
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final stage FROM %s, want distroless/static or scratch", final.from)
	}
	var copied bool
	for _, c := range final.all("copy") {
		if slices.Contains(c.flags, "--from=build") && len(c.args) == 2 && c.args[0] == "/out/aurora" {
			copied = true
		}
	}
	if !copied {
		t.Error("final stage does not COPY --from=build /out/aurora")
	}

	last := func(cmd string) *instruction {
		ins := final.all(cmd)
		if len(ins) == 0 {
			t.Errorf("final stage has no %s", strings.ToUpper(cmd))
			return nil
		}
		return &ins[len(ins)-1]
	}
	if u := last("user"); u != nil {
		user, _, _ := strings.Cut(u.args[0], ":")
		if user == "" || user == "0" || user == "root" {
			t.Errorf("USER %s: want a non-root user", u.args[0])
		}
	}
	if v := last("volume"); v != nil && !slices.Equal(v.args, []string{"/data"}) {
		t.Errorf("VOLUME %q, want /data", v.args)
	}
	var exposed []string
	for _, e := range final.all("expose") {
		exposed = append(exposed, e.args...)
	}
	for _, want := range []string{"7070/tcp", "4001/tcp", "4001/udp"} {
		if !slices.Contains(exposed, want) {
			t.Errorf("EXPOSE %q lacks %s", exposed, want)
		}
	}
	if h := last("healthcheck"); h != nil {
		// BuildKit parses HEALTHCHECK CMD [...] as "CMD" followed by the JSON command.
		if len(h.args) < 3 || h.args[0] != "CMD" || h.args[1] != "aurora" || h.args[2] != "health" {
			t.Errorf("HEALTHCHECK %q: want CMD [\"aurora\", \"health\", ...] (no shell in the image)", h.args)
		}
	}
	if e := last("entrypoint"); e != nil && (!e.json || !slices.Equal(e.args, []string{"aurora"})) {
		t.Errorf(`ENTRYPOINT %q, want ["aurora"]`, e.args)
	}
	if c := last("cmd"); c != nil && (!c.json || !slices.Equal(c.args, []string{"run", "--home", "/data"})) {
		t.Errorf(`CMD %q, want ["run","--home","/data"]`, c.args)
	}

	// Targets the compose file builds must exist.
	names := map[string]bool{}
	for _, s := range stages {
		names[s.name] = true
	}
	for _, target := range composeBuildTargets(t) {
		if !names[target] {
			t.Errorf("docker-compose.yml builds target %q, which the Dockerfile lacks", target)
		}
	}
}
