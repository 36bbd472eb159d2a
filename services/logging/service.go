package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/berth-os/berth/internal/bytesize"
	"github.com/berth-os/berth/internal/notify"
)

// config is what the flags set. Every path is a parameter so that tests can
// root them in a temporary directory.
type config struct {
	dir     string   // where the log files go
	ingest  string   // stream socket for service output
	syslog  string   // datagram socket for syslog
	kmsg    string   // kernel log device; "" disables
	bootID  string   // file with the boot id
	maxSize byteSize // rotate before a file grows past this
	keep    int      // rotated files kept per log
	maxOpen int      // file handles kept open
}

func (c config) validate() error {
	var errs []error
	if c.dir == "" {
		errs = append(errs, errors.New("-dir: empty"))
	}
	if c.ingest == "" {
		errs = append(errs, errors.New("-ingest: empty"))
	}
	if c.syslog == "" {
		errs = append(errs, errors.New("-syslog: empty"))
	}
	if c.maxSize <= 0 {
		errs = append(errs, fmt.Errorf("-max-size: %d: not positive", c.maxSize))
	}
	if c.keep < 0 {
		errs = append(errs, fmt.Errorf("-keep: %d: negative", c.keep))
	}
	return errors.Join(errs...)
}

// byteSize is a flag value: a number of bytes, optionally with a binary
// unit (package bytesize).
type byteSize int64

func (s *byteSize) Set(v string) error {
	n, err := bytesize.Parse(v)
	if err != nil {
		return fmt.Errorf("parse size %q: want bytes like 1048576 or 1MiB", v)
	}
	*s = byteSize(n)
	return nil
}

// sizeUnits are the units String writes, largest first.
var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}

func (s *byteSize) String() string {
	n := int64(*s)
	for _, u := range sizeUnits {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// drainGrace is how long, on shutdown, connected clients may still deliver
// what they had already sent.
const drainGrace = 200 * time.Millisecond

// service holds what the three inputs share.
type service struct {
	log      *log.Logger
	files    *fileSet
	hostname func() string
}

// serve opens the sockets and the kernel log, reports readiness and logs
// until ctx is done. Then it drains the inputs, syncs and closes the files
// and removes the sockets.
func serve(ctx context.Context, cfg config, stderr io.Writer) error {
	logger := log.New(stderr, "logging: ", 0)
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return fmt.Errorf("create log directory: %w", err)
	}
	s := &service{
		log:      logger,
		files:    newFileSet(cfg.dir, int64(cfg.maxSize), cfg.keep, cfg.maxOpen, logger),
		hostname: hostname,
	}

	ingest, err := listenStream(cfg.ingest, 0o600)
	if err != nil {
		return err
	}
	defer removeSocket(cfg.ingest, logger)
	defer ingest.Close()
	syslog, err := listenDatagram(cfg.syslog, 0o666)
	if err != nil {
		return err
	}
	defer removeSocket(cfg.syslog, logger)
	defer syslog.Close()

	var kernel *kernelLog
	var kmsg *os.File
	if cfg.kmsg != "" {
		kmsg, err = os.Open(cfg.kmsg)
		if err != nil {
			return fmt.Errorf("open kernel log: %w", err)
		}
		defer kmsg.Close()
		boot, err := bootTime()
		if err != nil {
			return err
		}
		kernel = newKernelLog(s.files, cfg.dir, readBootID(cfg.bootID, logger), boot, logger)
	}

	if err := notify.Ready(""); err != nil {
		logger.Printf("report readiness: %v", err)
	}
	logger.Printf("ready: service output on %s, syslog on %s, kernel log from %q, files in %s",
		cfg.ingest, cfg.syslog, cfg.kmsg, cfg.dir)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.serveIngest(ingest, stop) })
	wg.Go(func() { s.serveSyslog(syslog, stop) })
	if kernel != nil {
		wg.Go(func() {
			if err := kernel.run(kmsg, stop); err != nil {
				logger.Printf("kernel log stopped: %v", err)
			}
		})
	}

	<-ctx.Done()
	logger.Printf("stopping")
	close(stop)
	if kmsg != nil {
		kmsg.Close() // unblocks a pending read of /dev/kmsg
	}
	wg.Wait()
	if err := s.files.Close(); err != nil {
		logger.Printf("%v", err)
	}
	return nil
}

// listenStream listens on a unix stream socket at path, replacing a stale one.
func listenStream(path string, mode os.FileMode) (*net.UnixListener, error) {
	if err := prepareSocket(path); err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return l, nil
}

// listenDatagram binds a unix datagram socket at path, replacing a stale one.
func listenDatagram(path string, mode os.FileMode) (*net.UnixConn, error) {
	if err := prepareSocket(path); err != nil {
		return nil, err
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, mode); err != nil {
		c.Close()
		os.Remove(path)
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return c, nil
}

// prepareSocket makes the parent directory of a socket and removes a socket
// a previous run left behind. Anything else at path is an error.
func prepareSocket(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("listen on %s: %w", path, err)
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("listen on %s: %w", path, err)
	case fi.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("listen on %s: exists and is not a socket", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

func removeSocket(path string, logger *log.Logger) {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		logger.Printf("remove socket: %v", err)
	}
}

// hostname names this host in syslog lines. It is read for every message,
// because the host name can change while the service runs.
func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
