// Package version says which Berth this binary is. The build sets Berth
// with -ldflags "-X github.com/berth-os/berth/internal/version.Berth=...".
package version

// Berth is the Berth release, or a development version.
var Berth = "0.1.0-dev"
