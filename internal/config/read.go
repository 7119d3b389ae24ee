package config

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
)

// Bounds on reading a config file: no config is anywhere near MaxFileBytes,
// and a reload must not hang on a file system that stopped answering.
const (
	MaxFileBytes = 4 << 20
	ReadTimeout  = 5 * time.Second
)

// readFile reads a config file that must be a regular file (symlinks to
// one are followed: a Kubernetes ConfigMap mount is made of them). A FIFO,
// a device or a directory is refused without blocking: the open does not
// wait for a FIFO's writer, and the type is checked on the open file.
func readFile(filename string) ([]byte, error) {
	return readFileWithin(filename, ReadTimeout)
}

func readFileWithin(filename string, timeout time.Duration) ([]byte, error) {
	return readWithin(func() ([]byte, error) { return readRegular(filename) }, filename, timeout)
}

// readWithin runs read, giving up after timeout.
func readWithin(read func() ([]byte, error), filename string, timeout time.Duration) ([]byte, error) {
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := read()
		done <- result{data, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.data, r.err
	case <-t.C:
		// The read goes on in the background until the file system
		// answers; its result is dropped.
		return nil, fmt.Errorf("%s: not read within %s; is it on a file system that stopped answering?", filename, timeout)
	}
}

func readRegular(filename string) ([]byte, error) {
	f, err := os.OpenFile(filename, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		what := "not a regular file"
		switch {
		case st.IsDir():
			what = "a directory"
		case st.Mode()&os.ModeNamedPipe != 0:
			what = "a named pipe (FIFO)"
		case st.Mode()&os.ModeDevice != 0:
			what = "a device"
		case st.Mode()&os.ModeSocket != 0:
			what = "a socket"
		}
		return nil, fmt.Errorf("%s is %s; point --config.file at a regular YAML file", filename, what)
	}
	if st.Size() > MaxFileBytes {
		return nil, tooBig(filename)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, tooBig(filename)
	}
	return data, nil
}

func tooBig(filename string) error {
	return fmt.Errorf("%s is larger than %d bytes; that is not a metricwrap config", filename, MaxFileBytes)
}
