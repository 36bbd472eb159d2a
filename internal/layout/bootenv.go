package layout

// The boot chain's files on a disk's EFI partition, and the variables of
// its GRUB environment block: GRUB boots slot EnvGood, or EnvTry while
// EnvTries lasts (counting down at each boot); out of tries, it records
// the slot in EnvRejected and boots EnvGood again. PID 1 makes a tried
// slot the good one once the host is healthy.
const (
	GrubEnvPath = "/boot/grub/grubenv"

	EnvGood     = "berth_good"
	EnvTry      = "berth_try"
	EnvTries    = "berth_tries"
	EnvRejected = "berth_rejected"
)

// SlotBootCfg is a slot's boot.cfg on the EFI partition: the kernel
// arguments of its root (berth.verity and the image's command line), which
// grub.cfg sources as berth_args.
func SlotBootCfg(slot string) string { return "/berth/" + slot + "/boot.cfg" }

// SlotVersion is the file of the EFI partition that gives the OS version
// in a slot (one line): hostctl os status shows it.
func SlotVersion(slot string) string { return "/berth/" + slot + "/version" }

// SlotKernel and SlotInitrd are a slot's kernel and initrd on the EFI
// partition.
func SlotKernel(slot string) string { return "/berth/" + slot + "/vmlinuz" }
func SlotInitrd(slot string) string { return "/berth/" + slot + "/initrd.img" }

// SlotUKI is a slot's unified kernel image on the EFI partition: its
// kernel, initrd and command line in one image signed for Secure Boot,
// which the disk's GRUB for UEFI chainloads.
func SlotUKI(slot string) string { return "/berth/" + slot + "/berth.efi" }
