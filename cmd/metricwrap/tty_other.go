//go:build !linux

package main

import "os"

// isTerminal reports whether f looks like a terminal; off Linux a character
// device that is not /dev/null counts.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}
