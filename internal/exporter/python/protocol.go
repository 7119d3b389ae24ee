package python

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
)

// maxFrame bounds one message from the worker; a larger length means the
// stream is corrupt.
const maxFrame = 64 << 20

// request is a message to the worker: a run (with the child's stdout and
// stderr attached as SCM_RIGHTS) or a signal for a run's process group.
type request struct {
	Op   string   `json:"op"`
	ID   uint64   `json:"id"`
	Args []string `json:"args,omitempty"`
	Env  []string `json:"env,omitempty"`
	Dir  string   `json:"dir,omitempty"`
	Sig  int      `json:"sig,omitempty"`
}

// reply is a message from the worker. The first is ready or fatal; the
// others carry a run's id with its pid (or why it could not fork), then
// how it ended.
type reply struct {
	Ready  bool              `json:"ready"`
	Fatal  string            `json:"fatal"`
	Files  []fileStamp       `json:"files"`
	Failed map[string]string `json:"failed"`

	ID     uint64 `json:"id"`
	Pid    int    `json:"pid"`
	Error  string `json:"error"`
	Code   *int   `json:"code"`
	Signal int    `json:"signal"`
}

// fileStamp identifies the content of a module file the worker imported.
type fileStamp struct {
	Path    string `json:"path"`
	MtimeNs int64  `json:"mtime_ns"`
	Size    int64  `json:"size"`
}

// encodeFrame is msg as JSON after its 4-byte big-endian length.
func encodeFrame(msg any) ([]byte, error) {
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	frame := make([]byte, 4, 4+len(data))
	binary.BigEndian.PutUint32(frame, uint32(len(data)))
	return append(frame, data...), nil
}

// readFrame reads one message from r into msg.
func readFrame(r io.Reader, msg *reply) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxFrame {
		return fmt.Errorf("python worker sent a frame of %d bytes", n)
	}
	data := make([]byte, n)
	if _, err := io.ReadFull(r, data); err != nil {
		return err
	}
	*msg = reply{}
	return json.Unmarshal(data, msg)
}
