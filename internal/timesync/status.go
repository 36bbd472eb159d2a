package timesync

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Status is what the ntp service last knew, as it writes it to StatusPath.
type Status struct {
	// Enabled is false when ntp.enabled is false.
	Enabled bool `json:"enabled"`
	// Synchronised: the last poll got a usable answer and the clock was
	// set or is being slewed from it.
	Synchronised bool `json:"synchronised"`
	// Sources are the configured servers and pools.
	Sources []string `json:"sources,omitempty"`
	// Source is the server the clock follows (as configured: a pool's
	// name), Address the address that answered, and Stratum its stratum.
	Source  string `json:"source,omitempty"`
	Address string `json:"address,omitempty"`
	Stratum int    `json:"stratum,omitempty"`
	// Offset is how far the clock was from the server at the last poll
	// (positive: the clock was behind), Delay the round trip.
	Offset Seconds `json:"offset"`
	Delay  Seconds `json:"delay"`
	// Stepped is the last step of the clock (0 when it was only slewed)
	// and SteppedAt when it was made.
	Stepped   Seconds   `json:"stepped,omitempty"`
	SteppedAt time.Time `json:"stepped_at,omitzero"`
	// LastSync is the time of the last good answer; Poll the interval to
	// the next poll.
	LastSync time.Time `json:"last_sync,omitzero"`
	Poll     Seconds   `json:"poll"`
	// Leap is a leap second the server announced: "insert", "delete" or "".
	Leap string `json:"leap,omitempty"`
	// Error says why the last poll gave nothing.
	Error string `json:"error,omitempty"`
	// Updated is when this status was written.
	Updated time.Time `json:"updated"`
}

// Seconds is a duration that JSON shows as seconds.
type Seconds float64

// Duration converts d.
func Duration(d time.Duration) Seconds { return Seconds(d.Seconds()) }

// Duration converts s back.
func (s Seconds) Duration() time.Duration { return time.Duration(float64(s) * float64(time.Second)) }

// ReadStatus reads the service's status file.
func ReadStatus(path string) (Status, error) {
	var s Status
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("read time service status: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("read %s: %w", path, err)
	}
	return s, nil
}
