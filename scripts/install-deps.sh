#!/bin/sh
# install-deps.sh installs the Debian 12 packages that building and testing
# Berth needs on the host. The image's own contents (kernel source, bootloaders,
# udev, sshd, busybox) are not installed here: the build fetches pinned .debs.
# It is idempotent and quiet when everything is present.
set -eu

pkgs="build-essential flex bison bc libelf-dev libssl-dev dwarves kmod cpio
xz-utils zstd squashfs-tools xorriso mtools dosfstools e2fsprogs
qemu-system-x86 qemu-utils ovmf seabios libseccomp-dev pkg-config
git curl ca-certificates openssh-client iproute2 unzip grub-common locales
mmdebstrap dpkg-dev libxml2-utils genisoimage sbsigntool systemd-boot-efi shim-unsigned"

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "install-deps: need root to run apt-get; run as root: apt-get install -y$missing" >&2
		exit 1
	fi
else
	SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq -o APT::Update::Error-Mode=any 2>/dev/null || $SUDO apt-get update -qq || true
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
