package agent

// A page of a PDF, for the holder's window. The page hands the agent the
// PDF's bytes so the holder can see what they sign, not only its hash; the
// agent renders page 1, or the page a visible signature draws on, with
// poppler's pdftoppm when it is installed. The renderer runs on bytes a web page supplied, so it gets a
// private directory, a deadline and a bound on what it may return, and its
// failure only costs the picture: name, size and hash are still shown.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

const (
	// renderTimeout bounds pdftoppm on one page of a hostile or huge PDF.
	renderTimeout = 5 * time.Second
	// maxPagePNG bounds the rendered page kept in memory and sent inline.
	maxPagePNG = 4 << 20
	// pageResolution (dpi) keeps an A4 page about 500×700 pixels.
	pageResolution = "60"
	// maxRenders bounds the renderers running at once: any allowed page
	// may ask, and each request carries up to MaxDocument of PDF.
	maxRenders = 2
)

// errNoRenderer: pdftoppm is not on PATH.
var errNoRenderer = errors.New("agent: pdftoppm not found")

// renderPage renders page n (from 1) of pdf to PNG with pdftoppm.
func (a *Agent) renderPage(ctx context.Context, pdf []byte, n int) ([]byte, error) {
	bin, err := exec.LookPath("pdftoppm")
	if err != nil {
		return nil, errNoRenderer
	}
	ctx, cancel := context.WithTimeout(ctx, renderTimeout)
	defer cancel()
	select {
	case a.renders <- struct{}{}:
		defer func() { <-a.renders }()
	case <-ctx.Done():
		return nil, fmt.Errorf("agent: waiting for a renderer: %w", ctx.Err())
	}
	dir, err := os.MkdirTemp("", "puce-agent-page-") // mode 0700
	if err != nil {
		return nil, fmt.Errorf("agent: temp dir: %w", err)
	}
	defer os.RemoveAll(dir)
	in := filepath.Join(dir, "in.pdf")
	if err := os.WriteFile(in, pdf, 0o600); err != nil {
		return nil, fmt.Errorf("agent: write PDF: %w", err)
	}
	out := filepath.Join(dir, "page")
	page := strconv.Itoa(max(n, 1))
	cmd := exec.CommandContext(ctx, bin, "-png", "-f", page, "-l", page, "-r", pageResolution, "-singlefile", in, out)
	cmd.WaitDelay = time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4 << 10}
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("agent: pdftoppm: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	f, err := os.Open(out + ".png")
	if err != nil {
		return nil, fmt.Errorf("agent: pdftoppm output: %w", err)
	}
	defer f.Close()
	img, err := io.ReadAll(io.LimitReader(f, maxPagePNG+1))
	if err != nil {
		return nil, fmt.Errorf("agent: pdftoppm output: %w", err)
	}
	if len(img) > maxPagePNG {
		return nil, fmt.Errorf("agent: rendered page larger than %d bytes", maxPagePNG)
	}
	if _, err := png.DecodeConfig(bytes.NewReader(img)); err != nil {
		return nil, fmt.Errorf("agent: pdftoppm output is not a PNG: %w", err)
	}
	return img, nil
}

// limitedWriter keeps the first n bytes and drops the rest without failing
// the writer (pdftoppm would otherwise see a broken pipe).
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// pageDataURL is the rendered page as the window's <img> source.
func pageDataURL(img []byte) string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(img)
}
