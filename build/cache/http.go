package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// ErrStalled means a download received nothing for StallTimeout: a server
// or a proxy that holds the connection open and sends nothing would
// otherwise hang the build for ever.
var ErrStalled = errors.New("stalled")

// StallTimeout is how long a download may wait for its response, or
// between two reads of its body, before it is abandoned. A slow download
// that makes progress is never cut.
var StallTimeout = 60 * time.Second

// httpClient bounds each step of a connection; Get bounds the waits for
// data.
var httpClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   30 * time.Second,
	ResponseHeaderTimeout: 60 * time.Second,
	IdleConnTimeout:       90 * time.Second,
	ForceAttemptHTTP2:     true,
}}

// Get fetches url. The response must come, and then each read of its body
// must bring data, within StallTimeout; otherwise the request ends with an
// error that wraps ErrStalled. The caller closes the body.
func Get(ctx context.Context, url string) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	stall := StallTimeout
	timer := time.AfterFunc(stall, func() {
		cancel(fmt.Errorf("no data for %s: %w", stall, ErrStalled))
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		timer.Stop()
		cancel(nil)
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		timer.Stop()
		if cause := context.Cause(ctx); errors.Is(cause, ErrStalled) {
			err = cause
		}
		cancel(nil)
		return nil, err
	}
	timer.Reset(stall)
	resp.Body = &stallBody{ReadCloser: resp.Body, ctx: ctx, cancel: cancel, timer: timer, stall: stall}
	return resp, nil
}

// stallBody moves the stall timer on at each read that brings data.
type stallBody struct {
	io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	stall  time.Duration
}

func (b *stallBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.timer.Reset(b.stall)
	}
	if err != nil && err != io.EOF {
		if cause := context.Cause(b.ctx); errors.Is(cause, ErrStalled) {
			err = cause
		}
	}
	return n, err
}

func (b *stallBody) Close() error {
	b.timer.Stop()
	err := b.ReadCloser.Close()
	b.cancel(nil)
	return err
}
