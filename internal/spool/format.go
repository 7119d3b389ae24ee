package spool

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/metricwrap/metricwrap/internal/batch"
)

// An entry file is one header line followed by two sections:
//
//	metricwrap-spool 1 <meta bytes> <families bytes> <crc32c hex>\n
//	<batch metadata as JSON><metric families, protobuf varint-delimited>
//
// The checksum (CRC-32C) covers both sections. The lengths make a truncated
// file detectable even when its tail happens to be valid protobuf. A reader
// refuses any version it does not know rather than guessing, so an older
// binary quarantines entries written by a newer one instead of mangling them.
const (
	magic         = "metricwrap-spool"
	formatVersion = 1
	maxHeaderLen  = 128
)

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli)
	// familyFormat keeps UTF-8 metric and label names as they are, so that
	// what is replayed is exactly what was spooled.
	familyFormat = expfmt.NewFormat(expfmt.TypeProtoDelim).WithEscapingScheme(model.NoEscaping)
)

// errCorrupt marks an entry that cannot be decoded: bad checksum, truncated,
// unknown version. Such entries are quarantined, never retried.
var errCorrupt = errors.New("corrupt spool entry")

// encode serializes b into the entry format.
func encode(b *batch.Batch) ([]byte, error) {
	meta, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode batch metadata: %w", err)
	}
	var fams bytes.Buffer
	enc := expfmt.NewEncoder(&fams, familyFormat)
	for _, mf := range b.Families {
		if err := enc.Encode(mf); err != nil {
			return nil, fmt.Errorf("encode metric family %q: %w", mf.GetName(), err)
		}
	}
	crc := crc32.Update(crc32.Checksum(meta, crcTable), crcTable, fams.Bytes())
	header := fmt.Sprintf("%s %d %d %d %08x\n", magic, formatVersion, len(meta), fams.Len(), crc)
	out := make([]byte, 0, len(header)+len(meta)+fams.Len())
	out = append(out, header...)
	out = append(out, meta...)
	out = append(out, fams.Bytes()...)
	return out, nil
}

// decode parses an entry written by encode. Every error wraps errCorrupt.
func decode(data []byte) (*batch.Batch, error) {
	nl := bytes.IndexByte(data[:min(len(data), maxHeaderLen)], '\n')
	if nl < 0 {
		return nil, fmt.Errorf("%w: no header line", errCorrupt)
	}
	fields := strings.Fields(string(data[:nl]))
	if len(fields) < 2 || fields[0] != magic {
		return nil, fmt.Errorf("%w: not a spool entry", errCorrupt)
	}
	if fields[1] != strconv.Itoa(formatVersion) {
		return nil, fmt.Errorf("%w: unknown format version %q", errCorrupt, fields[1])
	}
	if len(fields) != 5 {
		return nil, fmt.Errorf("%w: malformed header", errCorrupt)
	}
	metaLen, err1 := strconv.ParseUint(fields[2], 10, 32)
	famLen, err2 := strconv.ParseUint(fields[3], 10, 32)
	crc, err3 := strconv.ParseUint(fields[4], 16, 32)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: malformed header: %w", errCorrupt, err)
	}
	body := data[nl+1:]
	if uint64(len(body)) != metaLen+famLen {
		return nil, fmt.Errorf("%w: body is %d bytes, header says %d", errCorrupt, len(body), metaLen+famLen)
	}
	if got := crc32.Checksum(body, crcTable); uint64(got) != crc {
		return nil, fmt.Errorf("%w: checksum %08x, header says %08x", errCorrupt, got, crc)
	}
	b := &batch.Batch{}
	if err := json.Unmarshal(body[:metaLen], b); err != nil {
		return nil, fmt.Errorf("%w: metadata: %w", errCorrupt, err)
	}
	if err := checkFrames(body[metaLen:]); err != nil {
		return nil, fmt.Errorf("%w: metric families: %w", errCorrupt, err)
	}
	dec := expfmt.NewDecoder(bytes.NewReader(body[metaLen:]), familyFormat)
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: metric families: %w", errCorrupt, err)
		}
		b.Families = append(b.Families, mf)
	}
	return b, nil
}

// checkFrames verifies that the family section is a run of varint-delimited
// messages that each fit in what is left of it. The protobuf decoder sizes
// its buffer from a message's length prefix before reading it, so an entry
// whose checksum matches but whose prefix claims terabytes (found by
// FuzzDecode) would otherwise exhaust memory instead of being quarantined.
func checkFrames(b []byte) error {
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 {
			return errors.New("bad length prefix")
		}
		b = b[k:]
		if n > uint64(len(b)) {
			return fmt.Errorf("a message claims %d bytes, %d are left", n, len(b))
		}
		b = b[n:]
	}
	return nil
}
