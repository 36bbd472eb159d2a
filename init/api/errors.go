package api

import (
	"errors"
	"net/http"

	"github.com/berth-os/berth/internal/errkind"
)

// Error is the body of a failed request. Its HTTP status carries the
// error's kind (see statuses).
type Error struct {
	Error string `json:"error"`
}

// statuses carries error kinds across the socket: the server answers an
// error of a kind with its status, and the client turns the status back
// into the kind.
var statuses = map[error]int{
	errkind.ErrInvalidConfig: http.StatusUnprocessableEntity,
	errkind.ErrNotFound:      http.StatusNotFound,
	errkind.ErrUnavailable:   http.StatusServiceUnavailable,
}

// statusOf is the HTTP status that answers err: that of its kind, the
// first in errkind.Kinds that it wraps, as for an exit status.
func statusOf(err error) int {
	for _, k := range errkind.Kinds {
		if s, ok := statuses[k.Err]; ok && errors.Is(err, k.Err) {
			return s
		}
	}
	return http.StatusInternalServerError
}

// kindOf is the error kind of an HTTP status, nil for none. 400 is an
// invalid request body, or an invalid value from a host of before 422.
func kindOf(status int) error {
	if status == http.StatusBadRequest {
		return errkind.ErrInvalidConfig
	}
	for kind, s := range statuses {
		if s == status {
			return kind
		}
	}
	return nil
}

// writeError answers err with the status of its kind.
func writeError(w http.ResponseWriter, err error) {
	writeJSON(w, statusOf(err), Error{Error: err.Error()})
}

// BadRequest marks an error the request caused (an invalid key or value)
// as invalid configuration, answered 422.
func BadRequest(err error) error { return errkind.Mark(errkind.ErrInvalidConfig, err) }

// remoteError is an error the host answered: its message, and the kind its
// status carried.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }
