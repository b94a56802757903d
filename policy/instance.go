package policy

import (
	"context"
	"errors"
	"fmt"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/aurora-federation/aurora/policy/sdk"
)

// instance is one guest instance with its buffers resolved. It is used by
// one goroutine at a time (the pool hands it out).
type instance struct {
	mod       api.Module
	mem       api.Memory
	eval      api.Function
	stack     []uint64
	inPtr     uint32
	inCap     uint32
	outPtr    uint32
	outCap    uint32
	maxBatch  int
	recycleAt uint32 // bytes of linear memory past which the instance is replaced
	pages     uint32 // the memory limit it runs under
	slot      *slot  // the watchdog's view of this instance
}

func (in *instance) close(ctx context.Context) {
	_ = in.mod.Close(ctx)
	in.slot.release()
}

// newInstance instantiates m under the runtime for pages, checks its ABI
// answers and, when configure is set, hands it params. Failures are
// *LoadError; the instance is closed on failure.
func (e *Engine) newInstance(ctx context.Context, m *module, pages uint32, configure bool, params []byte) (*instance, error) {
	ictx, cancel := context.WithTimeout(ctx, e.cfg.InitTimeout)
	defer cancel()
	in := m.takeSpare(pages)
	if in == nil {
		var err error
		if in, err = e.instantiate(ictx, m, pages); err != nil {
			return nil, err
		}
	}
	if configure {
		if err := in.configure(ictx, m, params); err != nil {
			in.close(ctx)
			return nil, err
		}
		// A first fp_eval, on a zero record (schema 0, so the guest answers
		// Indeterminate), runs a Go guest's first-call setup here, under the
		// init timeout, instead of in the first order's deadline.
		zero, ok := in.mem.Read(in.inPtr, sdk.RecordSize)
		if !ok {
			in.close(ctx)
			return nil, &LoadError{Module: m.cid, Check: CheckABI, Detail: "input region outside memory"}
		}
		clear(zero)
		s := []uint64{1}
		if err := in.eval.CallWithStack(ictx, s); err != nil {
			in.close(ctx)
			return nil, &LoadError{Module: m.cid, Check: CheckInstantiate, Detail: "first fp_eval", Err: describeCallError(err)}
		}
	}
	return in, nil
}

// takeSpare returns the unconfigured instance Load left for pages, if any.
func (m *module) takeSpare(pages uint32) *instance {
	m.mu.Lock()
	defer m.mu.Unlock()
	in := m.spare
	if in == nil || in.pages != pages {
		return nil
	}
	m.spare = nil
	return in
}

// instantiate creates an instance of m under the runtime for pages and
// checks its ABI answers. ctx carries the init timeout.
func (e *Engine) instantiate(ictx context.Context, m *module, pages uint32) (*instance, error) {
	ctx := context.WithoutCancel(ictx)
	cm, err := e.compiled(ctx, m, pages)
	if err != nil {
		return nil, err
	}
	rt, err := e.runtimeFor(ctx, pages)
	if err != nil {
		return nil, err
	}
	mc := wazero.NewModuleConfig().WithName("").WithStartFunctions()
	if m.hasInit {
		mc = mc.WithStartFunctions("_initialize")
	}
	mod, err := rt.InstantiateModule(ictx, cm, mc)
	if err != nil {
		return nil, &LoadError{Module: m.cid, Check: CheckInstantiate, Detail: "instantiate (and _initialize)", Err: describeCallError(err)}
	}
	in := &instance{mod: mod, mem: mod.Memory(), eval: mod.ExportedFunction("fp_eval"), stack: make([]uint64, 1), pages: pages}
	in.slot = e.wd.register()
	fail := func(c Check, format string, args ...any) (*instance, error) {
		in.close(ctx)
		return nil, &LoadError{Module: m.cid, Check: c, Detail: fmt.Sprintf(format, args...)}
	}
	if in.mem == nil {
		return fail(CheckExports, "no memory")
	}
	get := func(name string) (uint32, error) {
		s := []uint64{0}
		if err := mod.ExportedFunction(name).CallWithStack(ictx, s); err != nil {
			return 0, fmt.Errorf("%s: %w", name, describeCallError(err))
		}
		return uint32(s[0]), nil
	}
	var vals [5]uint32
	for i, name := range []string{"fp_abi_version", "fp_input_ptr", "fp_input_cap", "fp_output_ptr", "fp_output_cap"} {
		v, err := get(name)
		if err != nil {
			in.close(ctx)
			return nil, &LoadError{Module: m.cid, Check: CheckInstantiate, Detail: "ABI query trapped", Err: err}
		}
		vals[i] = v
	}
	abi := vals[0]
	in.inPtr, in.inCap, in.outPtr, in.outCap = vals[1], vals[2], vals[3], vals[4]
	mmajor, mminor, _ := sdk.ParseABI(m.manifest.ABI)
	if abi>>16 != sdk.ABIMajor || abi != uint32(mmajor<<16|mminor) {
		return fail(CheckABI, "fp_abi_version answers %d.%d but the manifest says %s and this host runs major %d",
			abi>>16, abi&0xffff, m.manifest.ABI, sdk.ABIMajor)
	}
	size := uint64(in.mem.Size())
	switch {
	case in.inCap < sdk.RecordSize || uint64(in.inPtr)+uint64(in.inCap) > size:
		return fail(CheckABI, "input region [%d, +%d) does not hold a record inside memory of %d bytes", in.inPtr, in.inCap, size)
	case in.outCap < 4 || uint64(in.outPtr)+uint64(in.outCap) > size:
		return fail(CheckABI, "output region [%d, +%d) does not hold a word inside memory of %d bytes", in.outPtr, in.outCap, size)
	case in.inPtr < in.outPtr+in.outCap && in.outPtr < in.inPtr+in.inCap:
		return fail(CheckABI, "input and output regions overlap")
	}
	in.maxBatch = min(int(in.inCap/sdk.RecordSize), int(in.outCap/4), sdk.MaxBatch)
	in.recycleAt = uint32(min(uint64(pages)*65536*3/4, 1<<32-1))
	return in, nil
}

// configure hands the params to fp_configure.
func (in *instance) configure(ctx context.Context, m *module, params []byte) error {
	if !m.hasConfigure {
		if len(params) > 0 {
			return &LoadError{Module: m.cid, Check: CheckParams, Detail: "the module takes no params (no fp_configure) but params were given"}
		}
		return nil
	}
	if uint32(len(params)) > in.inCap {
		return &LoadError{Module: m.cid, Check: CheckParams, Detail: fmt.Sprintf("params are %d bytes, the module's input region %d", len(params), in.inCap)}
	}
	if !in.mem.Write(in.inPtr, params) {
		return &LoadError{Module: m.cid, Check: CheckParams, Detail: "cannot write params into the input region"}
	}
	s := []uint64{uint64(len(params))}
	if err := in.mod.ExportedFunction("fp_configure").CallWithStack(ctx, s); err != nil {
		return &LoadError{Module: m.cid, Check: CheckParams, Detail: "fp_configure failed", Err: describeCallError(err)}
	}
	if ret := int32(uint32(s[0])); ret < 0 {
		n := min(uint32(-int64(ret)), in.outCap, 1024)
		msg, _ := in.mem.Read(in.outPtr, n)
		return &LoadError{Module: m.cid, Check: CheckParams, Detail: fmt.Sprintf("the module refused its params (code %d): %q", ret, printableOnly(msg))}
	}
	return nil
}

func printableOnly(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c >= 0x20 && c < 0x7f {
			out = append(out, c)
		} else {
			out = append(out, '?')
		}
	}
	return string(out)
}

// describeCallError turns a wazero call error into one that says whether the
// guest was killed at its deadline, exited, or trapped.
func describeCallError(err error) error {
	var ee *sys.ExitError
	if errors.As(err, &ee) {
		switch ee.ExitCode() {
		case sys.ExitCodeDeadlineExceeded:
			return fmt.Errorf("killed at the deadline: %w", err)
		case sys.ExitCodeContextCanceled:
			return fmt.Errorf("canceled: %w", err)
		}
		return fmt.Errorf("guest exited with code %d: %w", ee.ExitCode(), err)
	}
	return fmt.Errorf("trap: %w", err)
}

func causeOf(err error) Cause {
	var ee *sys.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() == sys.ExitCodeDeadlineExceeded {
			return CauseDeadline
		}
		return CauseExit
	}
	return CauseTrap
}

// evalChunk writes len(facts) ≤ maxBatch records into the input region,
// calls fp_eval under the deadline and copies the words into words. An
// error means the instance must be discarded.
func (in *instance) evalChunk(wd *watchdog, deadline int64, facts []Facts, words []uint32) (Cause, error) {
	n := len(facts)
	buf, ok := in.mem.Read(in.inPtr, uint32(n*sdk.RecordSize))
	if !ok {
		return CauseABI, errors.New("input region outside memory")
	}
	for i := range facts {
		facts[i].Put(buf[i*sdk.RecordSize:])
	}
	in.stack[0] = uint64(n)
	wd.begin(in.slot, deadline)
	err := in.eval.CallWithStack(in.slot.ctx, in.stack)
	wd.end(in.slot)
	if err != nil {
		return causeOf(err), describeCallError(err)
	}
	if ret := int32(uint32(in.stack[0])); ret != int32(n) {
		return CauseABI, fmt.Errorf("fp_eval(%d) returned %d", n, ret)
	}
	out, ok := in.mem.Read(in.outPtr, uint32(n*4))
	if !ok {
		return CauseABI, errors.New("output region outside memory")
	}
	for i := range words[:n] {
		words[i] = sdk.Word(out[i*4:])
	}
	return "", nil
}

// worn reports whether the instance's memory grew past its recycle mark: Go
// guests never shrink their linear memory, so a grown one is replaced.
func (in *instance) worn() bool { return in.mem.Size() > in.recycleAt }

// pool is a bounded set of configured instances of one (module, params,
// limits). Instances are created lazily up to size; a broken instance is
// closed and its place freed, never returned.
type pool struct {
	free chan *instance
	sem  chan struct{} // one token per live instance
	make func(ctx context.Context) (*instance, error)
}

func newPool(size int, mk func(ctx context.Context) (*instance, error)) *pool {
	return &pool{free: make(chan *instance, size), sem: make(chan struct{}, size), make: mk}
}

func (p *pool) get(ctx context.Context) (*instance, error) {
	select {
	case in := <-p.free:
		return in, nil
	default:
	}
	select {
	case in := <-p.free:
		return in, nil
	case p.sem <- struct{}{}:
		in, err := p.make(ctx)
		if err != nil {
			<-p.sem
			return nil, err
		}
		return in, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put returns a healthy instance.
func (p *pool) put(in *instance) { p.free <- in }

// discard closes a broken or worn instance and frees its place.
func (p *pool) discard(ctx context.Context, in *instance) {
	in.close(ctx)
	<-p.sem
}

// close closes the idle instances. Callers guarantee no instance is in use.
func (p *pool) close(ctx context.Context) {
	for {
		select {
		case in := <-p.free:
			p.discard(ctx, in)
		default:
			return
		}
	}
}
