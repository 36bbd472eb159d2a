// Package test holds Berth's QEMU end-to-end tests. They live behind the
// "qemu" build tag, so `go test ./...` stays fast; `make test` (and CI)
// runs them with `go test -tags qemu ./test/`. They are never skipped: a
// missing QEMU or firmware is a failure.
//
// One build serves every test: TestMain builds images/berth.yaml once,
// using the normal build cache. Image variants (variant) are that spec with
// an overlay, built with the same cache, so only what the overlay changes
// is made again.
//
// The suite is one test, TestQEMU, over the list of scenarios in
// suite_test.go. A scenario is a VM that runs many checks as subtests (or
// a build, for Reproducible). The scheduler (package sched) runs them
// longest first, never more at once than -berth.cores allows, each under
// a deadline; the suite prints a timing table. TestAssets makes what the
// scenarios use into the cache first, with the network; make qemu-test
// runs the suite with only loopback. Scenarios that need
// no first boot of their own fork the saved ready machine (fork): ForkBase
// boots once, reaches ready and saves the machine with QEMU's migration;
// each fork resumes it over a qcow2 overlay of its own.
//
//	go test -tags qemu -run 'TestQEMU/(ForkBase|SSHKeysOnly)$' -v ./test/
package test
