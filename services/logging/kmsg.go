package logging

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-os/berth/internal/atomicfile"
)

const (
	// kernelFile is the file the kernel log goes to.
	kernelFile = "kernel"
	// seqFile remembers the last record written to kernelFile, as
	// "<boot id> <seq>\n", so that a restarted service does not write the
	// ring buffer again.
	seqFile = ".kernel.seq"
	// kmsgReadSize holds any /dev/kmsg record (a read with a smaller
	// buffer than the record fails with EINVAL).
	kmsgReadSize = 16 << 10
)

// kmsgRecord is one record of /dev/kmsg:
//
//	PRI,SEQ,TSUSEC,FLAGS[,...];MESSAGE
type kmsgRecord struct {
	Seq uint64
	TS  uint64 // microseconds since boot
	Msg string
}

// errContinuation marks the " KEY=VALUE" lines that follow some records.
var errContinuation = errors.New("continuation line")

// parseKmsg parses one line of /dev/kmsg.
func parseKmsg(line string) (kmsgRecord, error) {
	if strings.HasPrefix(line, " ") {
		return kmsgRecord{}, errContinuation
	}
	prefix, msg, ok := strings.Cut(line, ";")
	if !ok {
		return kmsgRecord{}, fmt.Errorf("parse kernel record %.40q: no ';'", line)
	}
	f := strings.Split(prefix, ",")
	if len(f) < 3 {
		return kmsgRecord{}, fmt.Errorf("parse kernel record %.40q: want PRI,SEQ,TSUSEC", line)
	}
	var nums [3]uint64
	for i := range nums {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return kmsgRecord{}, fmt.Errorf("parse kernel record %.40q: field %d: %w", line, i+1, err)
		}
		nums[i] = n
	}
	return kmsgRecord{Seq: nums[1], TS: nums[2], Msg: msg}, nil
}

// format is the line written to the kernel file: the wall time of the
// record, then its time since boot as dmesg shows it.
func (r kmsgRecord) format(boot time.Time) string {
	wall := boot.Add(time.Duration(r.TS) * time.Microsecond)
	return fmt.Sprintf("%s [%5d.%06d] %s\n", stamp(wall), r.TS/1e6, r.TS%1e6, clean(r.Msg))
}

// readKmsg reads kernel log records from r and sends them on out until r
// ends or fails, or stop is closed. /dev/kmsg returns one record per read,
// starting with the oldest in the ring buffer, and fails a read with EPIPE
// when the next record was overwritten before it was read; the read after
// that goes on with the oldest record left. A plain file (as tests use)
// returns many records per read, so the input is split into lines either
// way. Continuation lines (" KEY=VALUE") and lines that are not records are
// skipped.
func readKmsg(r io.Reader, out chan<- kmsgRecord, stop <-chan struct{}, logger *log.Logger) error {
	buf := make([]byte, kmsgReadSize)
	var partial []byte
	bad := 0
	emit := func(line []byte) bool {
		rec, err := parseKmsg(string(line))
		switch {
		case errors.Is(err, errContinuation):
			return true
		case err != nil:
			if bad == 0 {
				logger.Printf("kernel log: skipping malformed records: %v", err)
			}
			bad++
			return true
		}
		select {
		case out <- rec:
			return true
		case <-stop:
			return false
		}
	}
	for {
		n, err := r.Read(buf)
		data := buf[:n]
		if len(partial) > 0 {
			partial = append(partial, data...)
			data = partial
		}
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			if !emit(data[:i]) {
				return nil
			}
			data = data[i+1:]
		}
		if len(data) > kmsgReadSize {
			data = nil // no record is this long: not a kernel log
		}
		partial = append(partial[:0], data...)
		switch {
		case err == nil:
		case errors.Is(err, syscall.EPIPE):
			// Records were overwritten; kernelLog.add reports the gap.
		case errors.Is(err, io.EOF):
			if len(partial) > 0 {
				emit(partial)
			}
			return nil
		default:
			return fmt.Errorf("read kernel log: %w", err)
		}
	}
}

// kernelLog writes kernel records to the kernel file once each, also across
// restarts of the service within one boot.
type kernelLog struct {
	files     *fileSet
	statePath string
	bootID    string    // "" if unknown: then nothing is remembered
	boot      time.Time // wall time at boot
	log       *log.Logger

	last        uint64 // seq of the last record in the file
	have        bool   // last is set
	dirty       bool   // last is not saved yet
	saveFailing bool
}

func newKernelLog(files *fileSet, dir, bootID string, boot time.Time, logger *log.Logger) *kernelLog {
	k := &kernelLog{
		files:     files,
		statePath: filepath.Join(dir, seqFile),
		bootID:    bootID,
		boot:      boot,
		log:       logger,
	}
	k.load()
	return k
}

// load reads where a previous run of this boot stopped.
func (k *kernelLog) load() {
	if k.bootID == "" {
		return
	}
	b, err := os.ReadFile(k.statePath)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		k.log.Printf("kernel log: %v; starting from the oldest record", err)
		return
	}
	id, seq, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil {
		k.log.Printf("kernel log: %s: malformed, want \"<boot id> <seq>\"; starting from the oldest record", k.statePath)
		return
	}
	if id != k.bootID {
		return // written in an earlier boot: this ring buffer is new
	}
	k.last, k.have = n, true
}

// add writes rec unless it is in the file already.
func (k *kernelLog) add(rec kmsgRecord) {
	if k.have {
		if rec.Seq <= k.last {
			return
		}
		if lost := rec.Seq - k.last - 1; lost > 0 {
			k.log.Printf("kernel log: %d records lost before seq %d (overwritten before they were read)", lost, rec.Seq)
		}
	}
	if err := k.files.Append(kernelFile, rec.format(k.boot)); err != nil {
		return // Append logs it
	}
	k.last, k.have, k.dirty = rec.Seq, true, true
}

// save syncs the kernel file, then records its last seq. In that order a
// crash can at worst write a record twice, never lose one.
func (k *kernelLog) save() {
	if !k.dirty || k.bootID == "" {
		return
	}
	err := k.files.Sync(kernelFile)
	if err == nil {
		err = atomicfile.Write(k.statePath, fmt.Appendf(nil, "%s %d\n", k.bootID, k.last), 0o640)
	}
	if err != nil {
		if !k.saveFailing {
			k.log.Printf("kernel log: save position: %v", err)
		}
		k.saveFailing = true
		return
	}
	k.dirty, k.saveFailing = false, false
}

// run writes the records of r until r ends or stop is closed. It saves the
// position after each burst of records, and when it returns.
func (k *kernelLog) run(r io.Reader, stop <-chan struct{}) error {
	recs := make(chan kmsgRecord, 256)
	errc := make(chan error, 1)
	go func() {
		errc <- readKmsg(r, recs, stop, k.log)
		close(recs)
	}()
	defer k.save()
	for {
		select {
		case rec, ok := <-recs:
			if !ok {
				err := <-errc
				select {
				case <-stop:
					return nil // the read failed because r was closed
				default:
					return err
				}
			}
			k.add(rec)
			if len(recs) == 0 {
				k.save()
			}
		case <-stop:
			// Take what was read; a read still pending is abandoned (it
			// fails when the caller closes r).
			for {
				select {
				case rec, ok := <-recs:
					if !ok {
						return nil
					}
					k.add(rec)
				default:
					return nil
				}
			}
		}
	}
}

// readBootID returns the id of this boot, or "" if it cannot be read.
func readBootID(path string, logger *log.Logger) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	id := strings.TrimSpace(string(b))
	if err == nil && id == "" {
		err = errors.New("empty")
	}
	if err != nil {
		logger.Printf("kernel log: read boot id: %v; a restart will write the kernel log again", err)
		return ""
	}
	return id
}

// bootTime is the wall time at which the machine booted.
func bootTime() (time.Time, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Time{}, fmt.Errorf("read boot clock: %w", err)
	}
	return time.Now().Add(-time.Duration(ts.Nano())).Round(0), nil
}
