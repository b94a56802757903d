package policy

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"

	"github.com/aurora-federation/aurora/policy/sdk"
)

// EmbedManifest is the last step of building a policy: it instantiates raw
// (a module fresh from the Go toolchain, with no manifest section) in a
// throwaway sandbox, reads the manifest the guest's fp_manifest export
// writes (the one its sdk.Register call declared), checks it, and returns
// the module with the manifest appended as the fedpolicy.manifest custom
// section. The result is a function of raw alone.
func EmbedManifest(ctx context.Context, raw []byte) ([]byte, *sdk.Manifest, error) {
	secs, err := scanSections(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: embed manifest: %w", err)
	}
	if len(customSections(secs, sdk.ManifestSection)) > 0 {
		return nil, nil, fmt.Errorf("policy: embed manifest: the module already has a %s section", sdk.ManifestSection)
	}
	rt, err := newRuntime(ctx, nil, MaxMemoryPages)
	if err != nil {
		return nil, nil, err
	}
	defer rt.Close(ctx)
	cm, err := rt.CompileModule(ctx, raw)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: embed manifest: compile: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, DefaultInitTimeout)
	defer cancel()
	mc := wazero.NewModuleConfig().WithName("").WithStartFunctions()
	if _, ok := cm.ExportedFunctions()["_initialize"]; ok {
		mc = mc.WithStartFunctions("_initialize")
	}
	mod, err := rt.InstantiateModule(cctx, cm, mc)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: embed manifest: instantiate: %w", describeCallError(err))
	}
	fn, out := mod.ExportedFunction("fp_manifest"), mod.ExportedFunction("fp_output_ptr")
	if fn == nil || out == nil {
		return nil, nil, fmt.Errorf("policy: embed manifest: the module lacks fp_manifest or fp_output_ptr (is it built with policy/sdk?)")
	}
	s := []uint64{0}
	if err := out.CallWithStack(cctx, s); err != nil {
		return nil, nil, fmt.Errorf("policy: embed manifest: fp_output_ptr: %w", describeCallError(err))
	}
	ptr := uint32(s[0])
	if err := fn.CallWithStack(cctx, s); err != nil {
		return nil, nil, fmt.Errorf("policy: embed manifest: fp_manifest: %w", describeCallError(err))
	}
	n := int32(uint32(s[0]))
	if n <= 0 || n > sdk.MaxManifestLen {
		return nil, nil, fmt.Errorf("policy: embed manifest: fp_manifest returned %d (did the guest call sdk.Register?)", n)
	}
	payload, ok := mod.Memory().Read(ptr, uint32(n))
	if !ok {
		return nil, nil, fmt.Errorf("policy: embed manifest: manifest outside memory")
	}
	payload = append([]byte(nil), payload...)
	mf, err := ParseManifest(payload)
	if err != nil {
		return nil, nil, fmt.Errorf("policy: embed manifest: %w", err)
	}
	return appendCustomSection(raw, sdk.ManifestSection, payload), mf, nil
}
