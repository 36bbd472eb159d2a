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
// a build, for Reproducible). A pool of -berth.vms workers runs them longest
// first; the suite prints a timing table and fails, naming its slowest
// scenarios, when it takes longer than -berth.budget. Scenarios that need
// no first boot of their own fork the saved ready machine (fork): ForkBase
// boots once, reaches ready and saves the machine with QEMU's migration;
// each fork resumes it over a qcow2 overlay of its own.
//
//	go test -tags qemu -run 'TestQEMU/(ForkBase|SSHKeysOnly)$' -v ./test/
package test
