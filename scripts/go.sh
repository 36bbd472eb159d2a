#!/bin/sh
# go.sh prints the path of a Go toolchain new enough for Berth (go.mod's
# toolchain line). It uses `go` from PATH when that is new enough; otherwise
# (Debian 12 ships Go 1.19) it fetches the pinned golang.org/toolchain module
# from the Go module proxy, checks its sha256, and unpacks it under the cache.
set -eu

want_minor=26
version=go1.26.8
zip_sha256=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
proxy=${GOPROXY:-https://proxy.golang.org}
proxy=${proxy%%,*}
[ "$proxy" = direct ] || [ "$proxy" = off ] && proxy=https://proxy.golang.org

if command -v go >/dev/null 2>&1; then
	v=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null || go version | awk '{print $3}')
	minor=$(echo "$v" | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
	if [ -n "$minor" ] && [ "$minor" -ge "$want_minor" ]; then
		command -v go
		exit 0
	fi
fi

cache=${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}
root=$cache/toolchain/$version
if [ ! -x "$root/bin/go" ]; then
	mkdir -p "$cache/toolchain"
	tmp=$(mktemp -d "$cache/toolchain/.fetch.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	url="$proxy/golang.org/toolchain/@v/v0.0.1-$version.linux-amd64.zip"
	echo "go.sh: fetching $version from $url" >&2
	curl -sSfL -o "$tmp/go.zip" "$url"
	echo "$zip_sha256  $tmp/go.zip" | sha256sum -c --quiet - >&2
	(cd "$tmp" && unzip -q go.zip)
	rm -rf "$root"
	mv "$tmp/golang.org/toolchain@v0.0.1-$version.linux-amd64" "$root"
	chmod +x "$root/bin/"* "$root/pkg/tool/"*/* 2>/dev/null || true
fi
echo "$root/bin/go"
