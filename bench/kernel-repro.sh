#!/bin/bash
# kernel-repro.sh checks by hand that the tuned kernel is reproducible: it
# builds the pinned source again from scratch in another folder, with the
# cached build's .config and the same KBUILD_BUILD_* settings, and compares
# the bzImage and every module with the cached kernel stage.
# It takes as long as a cold kernel build (about 20-30 min on two cores).
set -euo pipefail
cache=${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}
stage=${BERTH_KERNEL_STAGE:-$(ls -td "$cache"/stage/kernel/*/ | head -1)}
stage=${stage%/}
ver=$(ls "$cache/work/kernel" | grep -v '\.lock$' | head -1)
tree="$cache/work/kernel/$ver"
stamp=$(sed -n 's/.*"timestamp":"\([^"]*\)".*/\1/p' "$tree/.berth-source")
sha=$(sed -n 's/.*"sha256":"\([^"]*\)".*/\1/p' "$tree/.berth-source")
work=${1:-$(mktemp -d /tmp/berth-kernel-repro.XXXXXX)}
echo "kernel-repro: stage $stage, source $ver ($stamp), rebuilding in $work"
mkdir -p "$work/src"
ar p "$cache/dl/$sha" data.tar.xz | tar -xJO --wildcards '*/linux-source-*.tar.xz' | tar -xJ --strip-components=1 -C "$work/src"
cp "$stage/config" "$work/src/.config"
# The module signing key, where CONFIG_MODULE_SIG_KEY names it (kernel/signing.go).
keypath=$(sed -n 's/^CONFIG_MODULE_SIG_KEY="\(.*\)"$/\1/p' "$stage/config")
cp "${BERTH_MODULE_SIGNING_KEY:-$cache/keys/kernel-module-signing.pem}" "$work/src/$keypath"
cd "$work/src"
export KBUILD_BUILD_TIMESTAMP="$stamp" KBUILD_BUILD_USER=berth KBUILD_BUILD_HOST=berth KBUILD_BUILD_VERSION=1 LC_ALL=C TZ=UTC
# As kernel/build.go: the build folder (another one here) out of the debug info.
src=$(realpath "$work/src")
export KCFLAGS="-fdebug-prefix-map=$src=/usr/src/linux -fno-var-tracking" KAFLAGS="-fdebug-prefix-map=$src=/usr/src/linux"
make -s olddefconfig
cmp -s .config "$stage/config" || { echo "kernel-repro: olddefconfig changed the config"; exit 1; }
start=$(date +%s)
make -s -j"$(nproc)" bzImage modules
make -s modules_install INSTALL_MOD_PATH="$work/modules" INSTALL_MOD_STRIP=1
echo "kernel-repro: built in $(( $(date +%s) - start ))s"
a=$(sha256sum < arch/x86/boot/bzImage | cut -d' ' -f1)
b=$(sha256sum < "$stage/vmlinuz" | cut -d' ' -f1)
echo "bzImage: $a (rebuilt) $b (cached)"
diffs=0
while read -r m; do
	rel=${m#"$stage/modules/"}
	if ! cmp -s "$m" "$work/modules/$rel"; then echo "differs: $rel"; diffs=$((diffs+1)); fi
done < <(find "$stage/modules" -name '*.ko')
n=$(find "$stage/modules" -name '*.ko' | wc -l)
echo "modules: $n compared, $diffs differ"
[ "$a" = "$b" ] && [ "$diffs" -eq 0 ] && echo "kernel-repro: reproducible" || { echo "kernel-repro: NOT reproducible"; exit 1; }
