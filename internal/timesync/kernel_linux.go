package timesync

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Kernel is the kernel's view of the clock, as adjtimex(2) reports it to
// anyone (reading needs no privilege).
type Kernel struct {
	// Synchronised is STA_UNSYNC clear: a time service said the clock is
	// right, and maxerror has not grown past 16 s since.
	Synchronised bool `json:"synchronised"`
	// State is adjtimex's return: TIME_OK, TIME_INS, TIME_DEL, TIME_OOP,
	// TIME_WAIT or TIME_ERROR (the clock is not synchronised).
	State string `json:"state"`
	// Status lists the status flags that are set (STA_PLL, STA_UNSYNC...).
	Status []string `json:"status"`
	// MaxError and EstError are the kernel's maximum and estimated error
	// (it adds 500 ppm a second to the maximum until told again).
	MaxError Seconds `json:"maxerror"`
	EstError Seconds `json:"esterror"`
	// Offset is what the kernel's PLL has left to slew, Freq its frequency
	// correction in ppm.
	Offset Seconds `json:"offset"`
	Freq   float64 `json:"freq_ppm"`
}

var stateNames = map[int]string{
	unix.TIME_OK: "TIME_OK", unix.TIME_INS: "TIME_INS", unix.TIME_DEL: "TIME_DEL",
	unix.TIME_OOP: "TIME_OOP", unix.TIME_WAIT: "TIME_WAIT", unix.TIME_ERROR: "TIME_ERROR",
}

var statusNames = []struct {
	bit  int32
	name string
}{
	{unix.STA_PLL, "STA_PLL"}, {unix.STA_PPSFREQ, "STA_PPSFREQ"}, {unix.STA_PPSTIME, "STA_PPSTIME"},
	{unix.STA_FLL, "STA_FLL"}, {unix.STA_INS, "STA_INS"}, {unix.STA_DEL, "STA_DEL"},
	{unix.STA_UNSYNC, "STA_UNSYNC"}, {unix.STA_FREQHOLD, "STA_FREQHOLD"}, {unix.STA_PPSSIGNAL, "STA_PPSSIGNAL"},
	{unix.STA_PPSJITTER, "STA_PPSJITTER"}, {unix.STA_PPSWANDER, "STA_PPSWANDER"}, {unix.STA_PPSERROR, "STA_PPSERROR"},
	{unix.STA_CLOCKERR, "STA_CLOCKERR"}, {unix.STA_NANO, "STA_NANO"}, {unix.STA_MODE, "STA_MODE"}, {unix.STA_CLK, "STA_CLK"},
}

// ReadKernel asks the kernel (adjtimex with no modes: a read).
func ReadKernel() (Kernel, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return Kernel{}, fmt.Errorf("adjtimex: %w", err)
	}
	return KernelFrom(&tx, state), nil
}

// KernelFrom reads adjtimex's answer.
func KernelFrom(tx *unix.Timex, state int) Kernel {
	k := Kernel{
		Synchronised: tx.Status&unix.STA_UNSYNC == 0,
		State:        stateNames[state],
		Status:       []string{},
		MaxError:     Seconds(float64(tx.Maxerror) / 1e6),
		EstError:     Seconds(float64(tx.Esterror) / 1e6),
		// freq is ppm with a 16-bit fraction.
		Freq: float64(tx.Freq) / 65536,
	}
	if k.State == "" {
		k.State = fmt.Sprintf("state %d", state)
	}
	if tx.Status&unix.STA_NANO != 0 {
		k.Offset = Seconds(float64(tx.Offset) / 1e9)
	} else {
		k.Offset = Seconds(float64(tx.Offset) / 1e6)
	}
	for _, s := range statusNames {
		if tx.Status&s.bit != 0 {
			k.Status = append(k.Status, s.name)
		}
	}
	return k
}
