package api

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// since drops the lines before it, then tail keeps the last of the rest; a
// line without a time is kept.
func TestLinesSince(t *testing.T) {
	lines := []string{
		"2026-12-01T10:00:00.000Z one",
		"2026-12-01T10:05:00.000Z two",
		"no time three",
		"2026-12-01T10:10:00.000Z four",
	}
	at := time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)
	if diff := cmp.Diff(lines[1:], LinesSince(lines, at, 0)); diff != "" {
		t.Errorf("since 10:05 (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(lines[3:], LinesSince(lines, at, 1)); diff != "" {
		t.Errorf("since 10:05, tail 1 (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff(lines, LinesSince(lines, time.Time{}, 1)); diff != "" {
		t.Errorf("no since: LogTail's lines as they are (-want +got)\n%s", diff)
	}
}

// logHost's lines have times.
type logHost struct{ fakeHost }

func (*logHost) LogTail(string, int) []string {
	return []string{"2026-12-01T10:00:00.000Z old", "2026-12-01T10:10:00.000Z new"}
}

// The logs route takes since; a bad one is a bad request naming it.
func TestLogsSinceRoute(t *testing.T) {
	c := serve(t, &logHost{})
	var buf bytes.Buffer
	if err := c.LogsSince(context.Background(), "udev", 0, false, time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC), &buf); err != nil || buf.String() != "2026-12-01T10:10:00.000Z new\n" {
		t.Errorf("logs since 10:05: %q %v", buf.String(), err)
	}
	_, err := c.send(context.Background(), "GET", "/v1/services/udev/logs?since=yesterday", nil)
	if err == nil || !strings.Contains(err.Error(), `since: expected an RFC 3339 time, got "yesterday"`) {
		t.Errorf("since=yesterday: %v", err)
	}
}
