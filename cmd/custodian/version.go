package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/custodian-id/custodian/storage"
)

// buildInfo is what `custodian version` reports, read from the build information the Go
// toolchain embeds in every binary: the module version (a release tag, a pseudo-version
// made from the commit, or "(devel)"), the VCS commit, its time and whether the tree had
// uncommitted changes (stamped when the binary is built from a git checkout), and the Go
// version. Schema is the newest database migration the binary carries.
type buildInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit"`
	CommitTime string `json:"commitTime"`
	Dirty      bool   `json:"dirty"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
	Schema     string `json:"schema"`
}

// readBuildInfo turns the embedded build information (debug.ReadBuildInfo) into a
// buildInfo. Values the build did not record are empty.
func readBuildInfo(bi *debug.BuildInfo, ok bool) buildInfo {
	out := buildInfo{
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
		Schema:    storage.FormatVersion(storage.NewestMigration()),
	}
	if !ok || bi == nil {
		return out
	}
	out.Version = bi.Main.Version
	if bi.GoVersion != "" {
		out.GoVersion = bi.GoVersion
	}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			out.Commit = s.Value
		case "vcs.time":
			out.CommitTime = s.Value
		case "vcs.modified":
			out.Dirty = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		out.Platform = goos + "/" + goarch
	}
	return out
}

func (c *cli) version(name string, args []string) int {
	fs := c.flagSet(name, "[--json]",
		"Prints the version of this binary as KEY=VALUE lines: version (module version), commit, commit_time,\n"+
			"dirty (uncommitted changes at build time), go, platform and schema (the newest database migration\n"+
			"it applies; it refuses a database migrated further)", nil)
	asJSON := fs.Bool("json", false, "print one JSON object instead")
	if _, code, ok := c.parse(fs, args); !ok {
		return code
	}
	info := readBuildInfo(debug.ReadBuildInfo())
	if *asJSON {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(info); err != nil {
			return c.fail(exitFailure, err)
		}
		return exitOK
	}
	for _, kv := range [][2]string{
		{"version", info.Version},
		{"commit", info.Commit},
		{"commit_time", info.CommitTime},
		{"dirty", fmt.Sprint(info.Dirty)},
		{"go", info.GoVersion},
		{"platform", info.Platform},
		{"schema", info.Schema},
	} {
		fmt.Fprintf(c.stdout, "%s=%s\n", kv[0], kv[1])
	}
	return exitOK
}
