// SPDX-License-Identifier: Apache-2.0

package main

import "runtime/debug"

// version overrides the version found in the build information; set it with
// -ldflags "-X main.version=v1.2.3" (scripts/release.sh does).
var version = ""

// versionString is what --version prints.
func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(version, bi)
}

// versionFrom picks the version to report: the -ldflags override, else the
// main module's version (a release tag, or the pseudo-version the go command
// derives from the VCS revision), else the VCS revision itself, else "dev"
// when nothing is known.
func versionFrom(override string, bi *debug.BuildInfo) string {
	if override != "" {
		return override
	}
	if bi == nil {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "devel-" + rev
	if modified == "true" {
		v += "-dirty"
	}
	return v
}
