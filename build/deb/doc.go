// Package deb reads Debian's archive for the build: it fetches the
// Packages indexes of a request's suites (authenticated by the suites'
// signed InRelease files), resolves package sets into a lock that pins
// every .deb by version and sha256, and extracts .deb files into the
// merged-/usr layout Berth uses.
package deb
