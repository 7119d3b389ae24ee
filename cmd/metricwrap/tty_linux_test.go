package main

import (
	"os"
	"testing"
)

// TestIsTerminal: the original tool's isatty rule; /dev/null is a
// character device but no terminal.
func TestIsTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if isTerminal(null) {
		t.Error("/dev/null counted as a terminal")
	}
	if !isTerminal(terminal(t)) {
		t.Error("a pseudo-terminal not counted as a terminal")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if isTerminal(r) {
		t.Error("a pipe counted as a terminal")
	}
}
