// Package cloudconfig is Berth's host configuration: the cloud-init keys a
// container host can honour plus Berth's own berth: namespace (after
// RancherOS's rancher:), decoded strictly and validated completely, merged
// from layers with provenance, read from datasources at boot and applied.
//
// A configuration comes in layers, lowest first:
//
//	image defaults → datasource user-data → local (hostctl config set) → kernel command line
//
// Every key declares in the schema (the effect struct tag) what changing it
// takes: it applies live, restarts a named service, needs a reboot, or is
// stored for a mechanism a later release brings.
package cloudconfig
