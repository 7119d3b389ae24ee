package spool

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"
)

// FuzzDecode feeds entry files to decode, which reads whatever is on disk
// after a crash, a full disk or a newer binary. It must never panic, must
// class every failure as errCorrupt (so the entry is quarantined, never
// retried forever), and what it accepts must encode and decode back to the
// same batch, so a replayed entry is what was spooled.
//
// With sealed set, meta and fams get a correct header and checksum, so the
// fuzzer reaches the JSON and protobuf decoding behind the checksum; without
// it they are decoded as they are, which exercises the header.
func FuzzDecode(f *testing.F) {
	good, err := encode(testBatch("run-1"))
	if err != nil {
		f.Fatal(err)
	}
	nl := bytes.IndexByte(good, '\n')
	f.Add(good, []byte(nil), false)
	f.Add(good[:len(good)-1], []byte(nil), false)
	f.Add([]byte("metricwrap-spool 1 2 0 00000000\n{}"), []byte(nil), false)
	f.Add([]byte(`{"id":"x","start":"2026-11-23T12:00:00Z"}`), good[nl+1+metaLen(f, good):], true)
	f.Add([]byte(`{"id":"x","duration":-1,"params":{"":""}}`), []byte{0x02, 0x0a, 0x00}, true)
	f.Add([]byte(`null`), []byte{0xff, 0xff, 0xff, 0xff, 0x0f}, true)
	f.Fuzz(func(t *testing.T, meta, fams []byte, sealed bool) {
		data := append(append([]byte(nil), meta...), fams...)
		if sealed {
			data = seal(meta, fams)
		}
		b, err := decode(data)
		if err != nil {
			if !errors.Is(err, errCorrupt) {
				t.Fatalf("decode error %v does not wrap errCorrupt", err)
			}
			return
		}
		again, err := encode(b)
		if err != nil {
			// Only what encode itself wrote has to survive a second trip.
			return
		}
		back, err := decode(again)
		if err != nil {
			t.Fatalf("a decoded entry, encoded again, does not decode: %v", err)
		}
		assertBatch(t, b, back)
	})
}

// seal wraps meta and fams in a header with the right lengths and checksum.
func seal(meta, fams []byte) []byte {
	crc := crc32.Update(crc32.Checksum(meta, crcTable), crcTable, fams)
	header := fmt.Sprintf("%s %d %d %d %08x\n", magic, formatVersion, len(meta), len(fams), crc)
	return append(append([]byte(header), meta...), fams...)
}

// metaLen reads the metadata length from an entry's header.
func metaLen(tb testing.TB, entry []byte) int {
	tb.Helper()
	var version, n, m int
	var crc string
	var word string
	if _, err := fmt.Sscanf(string(entry), "%s %d %d %d %s", &word, &version, &n, &m, &crc); err != nil {
		tb.Fatal(err)
	}
	return n
}
