// Package layering holds no code. Its test keeps Berth's imports pointing
// one way, as DESIGN.md draws them:
//
//	cmd → init, services → cloud-config, installer, sysctl → internal
//
// with the build pipeline (build/, kernel/, cmd/berth, bench/) on its own
// side: it may use everything it packs, and nothing that runs on a host
// imports it.
package layering
