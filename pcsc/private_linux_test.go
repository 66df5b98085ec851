//go:build linux

package pcsc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/puce-id/puce/pcsc/virtual"
)

// A private pcscd lets a test kill and restart the daemon, or start it with
// a new reader configuration, without disturbing the shared pcscd that
// make test started for every package. pcscd 1.9.9 has its socket path
// compiled in (/run/pcscd/pcscd.comm), so the private one runs in a mount
// namespace of its own (unshare) where a temporary directory is bound on
// /run/pcscd; clients reach it by setting PCSCLITE_CSOCK_NAME to the socket
// in that directory, which libpcsclite reads once per process: the client
// side of these tests is a child process. Its vpcd driver listens on a
// free port, given by a reader.conf in a directory of its own (pcscd -c).
type privatePCSCD struct {
	bin  string
	dir  string
	port int // vpcd's first slot; the second is port+1
	cmd  *exec.Cmd
	exit chan error
	log  *os.File
}

// newPrivatePCSCD prepares a private pcscd, not yet started. It skips
// without PUCE_PCSCD, and without the means to make a mount namespace.
func newPrivatePCSCD(t *testing.T) *privatePCSCD {
	t.Helper()
	if os.Getenv("PUCE_PCSCD") == "" {
		t.Skipf("SKIPPING %s: PUCE_PCSCD is unset (make test starts pcscd)", t.Name())
	}
	bin := os.Getenv("PUCE_PCSCD_BIN")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("pcscd"); err != nil {
			bin = "/usr/sbin/pcscd"
		}
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("PUCE_PCSCD=1 but there is no pcscd binary (%v): set PUCE_PCSCD_BIN", err)
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skipf("SKIPPING %s: a private pcscd needs unshare (util-linux): %v", t.Name(), err)
	}
	d := &privatePCSCD{bin: bin, dir: t.TempDir(), port: freePortPair(t)}
	for _, sub := range []string{"run", "conf"} {
		if err := os.Mkdir(filepath.Join(d.dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if d.log, err = os.Create(filepath.Join(d.dir, "pcscd.log")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.kill()
		d.log.Close()
		if t.Failed() {
			b, _ := os.ReadFile(d.log.Name())
			t.Logf("private pcscd log:\n%s", b)
		}
	})
	return d
}

func (d *privatePCSCD) socket() string { return filepath.Join(d.dir, "run", "pcscd.comm") }

// freePortPair finds a loopback port p with p+1 free too, for vpcd's two
// slots.
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free pair of loopback ports")
	return 0
}

var libpathRE = regexp.MustCompile(`(?m)^\s*LIBPATH\s+(\S+)`)

// addVPCD writes the vpcd reader configuration, taking the driver's path
// from the one vsmartcard-vpcd installed.
func (d *privatePCSCD) addVPCD(t *testing.T) {
	t.Helper()
	lib := "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
	if b, err := os.ReadFile("/etc/reader.conf.d/vpcd"); err == nil {
		if m := libpathRE.FindSubmatch(b); m != nil {
			lib = string(m[1])
		}
	}
	conf := fmt.Sprintf("FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME /dev/null:0x%X\nLIBPATH %s\nCHANNELID 0x%X\n", d.port, lib, d.port)
	if err := os.WriteFile(filepath.Join(d.dir, "conf", "vpcd"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// start runs pcscd in its own mount namespace and waits for its socket.
func (d *privatePCSCD) start(t *testing.T) {
	t.Helper()
	var args []string
	if os.Geteuid() != 0 {
		// Without root, a user namespace grants the mount.
		args = append(args, "--user", "--map-root-user")
	}
	args = append(args, "--mount", "--propagation", "private", "sh", "-c",
		`mkdir -p /run/pcscd && mount --bind "$0" /run/pcscd && exec "$1" --foreground -c "$2"`,
		filepath.Join(d.dir, "run"), d.bin, filepath.Join(d.dir, "conf"))
	cmd := exec.Command("unshare", args...)
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		t.Skipf("SKIPPING %s: cannot start a private pcscd: %v", t.Name(), err)
	}
	d.cmd, d.exit = cmd, make(chan error, 1)
	go func() { d.exit <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-d.exit:
			d.cmd = nil
			b, _ := os.ReadFile(d.log.Name())
			if strings.Contains(string(b), "unshare:") || strings.Contains(string(b), "mount:") {
				t.Skipf("SKIPPING %s: no mount namespace here for a private pcscd (%v): %s", t.Name(), err, b)
			}
			t.Fatalf("private pcscd exited: %v\n%s", err, b)
		default:
		}
		if c, err := net.Dial("unix", d.socket()); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("private pcscd did not open %s", d.socket())
}

// kill ends the private pcscd the hard way, as a crash would.
func (d *privatePCSCD) kill() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exit
	d.cmd = nil
}

// child runs this test binary as a PC/SC client of d in the given mode and
// calls react with each line it prints; it returns every line.
func (d *privatePCSCD) child(t *testing.T, mode string, react func(line string)) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"PUCE_PCSC_CHILD="+mode,
		"PCSCLITE_CSOCK_NAME="+d.socket(),
		fmt.Sprintf("PUCE_PCSC_VPCD=127.0.0.1:%d", d.port))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if react != nil {
			react(line)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client process (%s): %v; it said:\n%s", mode, err, strings.Join(lines, "\n"))
	}
	return lines
}

func lineWith(lines []string, prefix string) string {
	for _, l := range lines {
		if s, ok := strings.CutPrefix(l, prefix); ok {
			return s
		}
	}
	return ""
}

func TestPCSCDRestartSurvived(t *testing.T) {
	d := newPrivatePCSCD(t)
	d.addVPCD(t)
	d.start(t)
	lines := d.child(t, "restart", func(line string) {
		if line == "ready" {
			d.kill()
			time.Sleep(300 * time.Millisecond)
			d.start(t)
		}
	})
	first, recovered := lineWith(lines, "error "), lineWith(lines, "recovered ")
	if recovered == "" {
		t.Fatalf("the client did not report recovering:\n%s", strings.Join(lines, "\n"))
	}
	t.Logf("puce: a caller that retries survived pcscd killed (SIGKILL) and restarted: the transmit in flight failed with %q, APDUs round-tripped again %s later (private pcscd %s, socket %s)",
		first, recovered, d.bin, d.socket())
	if down := lineWith(lines, "down "); down != "" {
		t.Logf("while pcscd was down, Establish said: %s", down)
	}
}

func TestPCSCDReadersAppear(t *testing.T) {
	d := newPrivatePCSCD(t)
	d.start(t) // no reader configured
	lines := d.child(t, "appear", func(line string) {
		if line == "waiting" {
			time.Sleep(300 * time.Millisecond) // let the client block in its wait
			d.kill()
			d.addVPCD(t)
			d.start(t)
		}
	})
	if none := lineWith(lines, "noreaders "); none == "" {
		t.Fatalf("the client did not report ErrNoReaders first:\n%s", strings.Join(lines, "\n"))
	}
	appeared := lineWith(lines, "appeared ")
	if !strings.Contains(appeared, vpcdReader) || lineWith(lines, "card ") == "" {
		t.Fatalf("the client did not see the reader and card appear:\n%s", strings.Join(lines, "\n"))
	}
	t.Logf("puce: a caller waiting for readers saw %s appear when pcscd came back with the vpcd driver, then a card in it (%s)", appeared, lineWith(lines, "card "))
}

// runChild is the client side of the private pcscd tests; it reports by
// printing lines, and its exit status says whether it got what it waited for.
func runChild(mode string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var err error
	switch mode {
	case "restart":
		err = childRestart(ctx)
	case "appear":
		err = childAppear(ctx)
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Println("fail", err)
		return 1
	}
	return 0
}

// bridge attaches a virtual echo card to the private pcscd's vpcd.
func bridge(ctx context.Context) (*virtual.Card, error) {
	vc, err := virtual.NewCard(virtual.Config{}, virtual.NewEchoApplet())
	if err != nil {
		return nil, err
	}
	go func() {
		_ = (&virtual.Bridge{Card: vc, Addr: os.Getenv("PUCE_PCSC_VPCD"), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}).Run(ctx)
	}()
	return vc, nil
}

// connect is the retrying caller: establish, wait for the card, connect,
// select, until it works or ctx ends. It reports the first ErrServiceDown
// it meets on a "down" line.
func connect(ctx context.Context) (*Context, *Card, error) {
	saidDown := false
	for {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		pc, err := Establish(ctx)
		if err != nil {
			if errors.Is(err, ErrServiceDown) && !saidDown {
				fmt.Println("down", err)
				saidDown = true
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		card, err := func() (*Card, error) {
			wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			if _, err := pc.WaitForCard(wctx, vpcdReader); err != nil {
				return nil, err
			}
			card, err := pc.Connect(ctx, vpcdReader, nil)
			if err != nil {
				return nil, err
			}
			if _, err := card.Do(ctx, echoSelect); err != nil {
				card.Close()
				return nil, err
			}
			return card, nil
		}()
		if err == nil {
			return pc, card, nil
		}
		pc.Close()
		time.Sleep(50 * time.Millisecond)
	}
}

func childRestart(ctx context.Context) error {
	if _, err := bridge(ctx); err != nil {
		return err
	}
	pc, card, err := connect(ctx)
	if err != nil {
		return fmt.Errorf("first connection: %w", err)
	}
	if _, err := card.Do(ctx, echoCmd(virtual.EchoINSCounter, 0, nil, 1)); err != nil {
		return err
	}
	fmt.Println("ready")
	var first error
	for first == nil {
		if ctx.Err() != nil {
			return errors.New("pcscd was never killed")
		}
		_, first = card.Do(ctx, echoCmd(virtual.EchoINSCounter, 0, nil, 1))
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("error", first)
	if !errors.Is(first, ErrServiceDown) && !errors.Is(first, ErrCardRemoved) && !errors.Is(first, ErrReaderUnavailable) {
		return fmt.Errorf("the daemon's death gave an untyped error: %w", first)
	}
	card.Close()
	pc.Close()
	start := time.Now()
	pc, card, err = connect(ctx)
	if err != nil {
		return fmt.Errorf("reconnecting after the restart: %w", err)
	}
	defer pc.Close()
	defer card.Close()
	if _, err := card.Do(ctx, echoCmd(virtual.EchoINSCounter, 0, nil, 1)); err != nil {
		return err
	}
	fmt.Println("recovered", time.Since(start).Round(time.Millisecond))
	return nil
}

func childAppear(ctx context.Context) error {
	pc, err := Establish(ctx)
	if err != nil {
		return err
	}
	_, err = pc.Readers(ctx)
	if !errors.Is(err, ErrNoReaders) {
		return fmt.Errorf("readers before any is configured: %v, want ErrNoReaders", err)
	}
	fmt.Println("noreaders", err)
	fmt.Println("waiting")
	names, err := pc.WaitForReaders(ctx, nil)
	if err != nil {
		return fmt.Errorf("waiting for readers: %w", err)
	}
	pc.Close()
	if !slices.Contains(names, vpcdReader) {
		return fmt.Errorf("readers %q lack %q", names, vpcdReader)
	}
	fmt.Printf("appeared %q\n", names)
	// The restart killed pc: a new Context for the card.
	pc, err = Establish(ctx)
	if err != nil {
		return err
	}
	defer pc.Close()
	vc, err := bridge(ctx)
	if err != nil {
		return err
	}
	st, err := pc.WaitForCard(ctx, "")
	if err != nil {
		return err
	}
	if !slices.Equal(st.ATR, vc.ATR()) {
		return fmt.Errorf("card with ATR % X, want % X", st.ATR, vc.ATR())
	}
	fmt.Printf("card %v\n", st)
	return nil
}
