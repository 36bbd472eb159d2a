// Package test holds Berth's QEMU end-to-end tests. They live behind the
// "qemu" build tag, so `go test ./...` stays fast; `make test` (and CI)
// runs them with `go test -tags qemu ./test/`. They are never skipped: a
// missing QEMU or firmware is a failure.
//
// One build serves every test: TestMain builds images/berth.yaml once,
// using the normal build cache, then each test boots an artifact under TCG
// and checks over the serial console what a user would check.
package test
