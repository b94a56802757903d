package fluxtest

// Constraint is one published FluxOS rule the fake enforces: Refuse edits a
// valid v8 specification so that it breaks the rule, and the fake must then
// refuse it (constraints_test.go checks every row). Source names the
// repository, commit and file the rule comes from.
type Constraint struct {
	Name   string
	Source string
	Refuse func(sp *fspec)
}

// fluxOS is the FluxOS source the rows were read from.
const fluxOS = "RunOnFlux/flux@845aa9b6ad7954c8763858bdd4b03e44a4b9cdd5 "

// Constraints returns the table. The slice is new on each call.
func Constraints() []Constraint {
	return []Constraint{
		{"component names are strictly alphanumeric", fluxOS + "ZelBack/src/services/utils/appConstants.js APP_NAME_REGEX_LEGACY; appRequirements/appValidator.js",
			func(sp *fspec) { sp.Compose[0].Name = "aur-component" }},
		{"v8 app names: alphanumeric with internal hyphens", fluxOS + "ZelBack/src/services/utils/appConstants.js APP_NAME_REGEX",
			func(sp *fspec) { sp.Name = "-aurora" }},
		{"app names may not start with zel or flux", fluxOS + "ZelBack/src/services/appRequirements/appValidator.js",
			func(sp *fspec) { sp.Name = "fluxaurora" }},
		{"app names at most 63 characters", fluxOS + "ZelBack/src/services/appRequirements/appValidator.js",
			func(sp *fspec) { sp.Name = "a123456789012345678901234567890123456789012345678901234567890123" }},
		{"image tag is explicit", fluxOS + "ZelBack/src/services/appRequirements/appValidator.js (repotag)",
			func(sp *fspec) { sp.Compose[0].Repotag = "nginx" }},
		{"environment parameters are KEY=value", fluxOS + "ZelBack/src/services/appRequirements/appValidator.js",
			func(sp *fspec) { sp.Compose[0].EnvironmentParameters = []string{"novalue"} }},
		{"geolocation rules ac<CONT>[_<CC>[_<REGION>]] or a!c…", fluxOS + "ZelBack/src/services/appRequirements/appValidator.js (geolocation)",
			func(sp *fspec) { sp.Geolocation = []string{"EU"} }},
		{"at most 100 instances", fluxOS + "ZelBack/config/default.js (maximumInstances)",
			func(sp *fspec) { sp.Instances = 101 }},
		{"expire within the blocks allowance", fluxOS + "ZelBack/config/default.js (minBlocksAllowance, maxBlocksAllowance)",
			func(sp *fspec) { sp.Expire = 2_000_000 }},
		{"only version 8 specifications", "notes/PROVIDER_APIS.md §6 (v8 spec shape via flux-cloud-mcp spec.ts)",
			func(sp *fspec) { sp.Version = 7 }},
		{"private repositories only in enterprise apps", fluxOS + "ZelBack/src/services/appRequirements/appValidator.js L793-796 (v8: repoauth on a non-enterprise app)",
			func(sp *fspec) { sp.Compose[0].Repoauth = "user:password" }},
		{"a sync flag is r, g or s", fluxOS + "ZelBack/src/services/utils/mountParser.js parseMountFlags, parseMountDefinition (Invalid primary mount syntax)",
			func(sp *fspec) { sp.Compose[0].ContainerData = "x:/data" }},
		{"mount paths are absolute", fluxOS + "ZelBack/src/services/utils/mountParser.js validateMountPath",
			func(sp *fspec) { sp.Compose[0].ContainerData = "r:data" }},
		{"mount paths have no ..", fluxOS + "ZelBack/src/services/utils/mountParser.js validateMountPath",
			func(sp *fspec) { sp.Compose[0].ContainerData = "/data/../etc" }},
		{"a data folder is required", fluxOS + "ZelBack/src/services/appRequirements/appValidator.js L771-773 (containerData.length < 2)",
			func(sp *fspec) { sp.Compose[0].ContainerData = "/" }},
	}
}
