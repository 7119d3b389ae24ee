package spool

import (
	"fmt"
	"strconv"
	"strings"
)

// dirName maps a sink name to the name of its directory. The mapping is
// reversible (see sinkName) so that Open can report the backlog of every sink
// before any of them is used, and injective so that two sinks never share a
// queue. Letters, digits, '_' and '-' are kept, '.' too except in front (no
// ".", ".." or hidden directories); every other byte becomes %XX.
func dirName(sink string) string {
	var sb strings.Builder
	for i := 0; i < len(sink); i++ {
		c := sink[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
			sb.WriteByte(c)
		case c == '.' && i > 0:
			sb.WriteByte(c)
		default:
			fmt.Fprintf(&sb, "%%%02X", c)
		}
	}
	return sb.String()
}

// sinkName reverses dirName.
func sinkName(dir string) (string, error) {
	var sb strings.Builder
	for i := 0; i < len(dir); i++ {
		if dir[i] != '%' {
			sb.WriteByte(dir[i])
			continue
		}
		if i+2 >= len(dir) {
			return "", fmt.Errorf("bad escape in spool directory name %q", dir)
		}
		c, err := strconv.ParseUint(dir[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("bad escape in spool directory name %q: %w", dir, err)
		}
		sb.WriteByte(byte(c))
		i += 2
	}
	if dirName(sb.String()) != dir {
		return "", fmt.Errorf("%q is not a spool directory name", dir)
	}
	return sb.String(), nil
}
