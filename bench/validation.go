package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"runtime"
	"time"

	lprecord "github.com/libp2p/go-libp2p/core/record"

	"github.com/porchlight-mesh/porchlight/record"
)

// runValidation measures record.Open on one core against the floor of a
// bare Ed25519 verification of a message the size of what a record signs.
func runValidation(_ context.Context, e *env) (*section, error) {
	d, err := e.dataset()
	if err != nil {
		return nil, err
	}
	recs := d.recs[:min(1000, len(d.recs))]
	raws := make([][]byte, len(recs))
	for i, s := range recs {
		raws[i] = s.Raw
	}
	signed, err := signedLen(raws[0])
	if err != nil {
		return nil, err
	}

	// The floor: the same number of distinct signatures over messages of
	// the length the envelope signs (domain, payload type and payload).
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	msgs, sigs := make([][]byte, len(raws)), make([][]byte, len(raws))
	for i := range msgs {
		msgs[i] = make([]byte, signed)
		_, _ = rand.Read(msgs[i])
		sigs[i] = ed25519.Sign(priv, msgs[i])
	}

	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	now := time.Now()
	progress("record.Open, ed25519.Verify and record.DecodeTrusted on one core, %s each, interleaved", e.p.validateTime)
	ms, err := measureInterleaved(e.p.validateTime,
		func(i int) error {
			_, err := record.Open(raws[i%len(raws)], now)
			return err
		},
		func(i int) error {
			if !ed25519.Verify(pub, msgs[i%len(msgs)], sigs[i%len(sigs)]) {
				return fmt.Errorf("signature %d does not verify", i)
			}
			return nil
		},
		func(i int) error {
			_, err := record.DecodeTrusted(raws[i%len(raws)])
			return err
		},
	)
	if err != nil {
		return nil, err
	}
	open, floor, decode := ms[0], ms[1], ms[2]

	s := &section{title: "Validation"}
	s.add(row{
		metric:   "records verified/s, one core",
		result:   fmt.Sprintf("%.0f/s", open.rate()),
		baseline: fmt.Sprintf("%.0f/s", floor.rate()),
		ratio:    ratio(open.rate(), floor.rate()),
	})
	s.printf("GOMAXPROCS(1), one goroutine, %d distinct pre-signed post records of %d bytes (%d-byte text; the envelope signs %d bytes). "+
		"Each function runs for %s in all, in turns of %s, so that a change of machine speed during the run (a shared VM) hits all three alike.\n\n",
		len(raws), len(raws[0]), e.p.textLen, signed, e.p.validateTime, turn)
	s.printf("| | ops/s | µs/op | allocs/op | bytes/op |\n|---|---:|---:|---:|---:|\n")
	for _, r := range []struct {
		name string
		m    measurement
	}{
		{"`record.Open` (decode, verify, checks)", open},
		{"`crypto/ed25519.Verify` (floor)", floor},
		{"`record.DecodeTrusted` (decode only, no signature)", decode},
	} {
		s.printf("| %s | %.0f | %.1f | %.1f | %.0f |\n", r.name, r.m.rate(), r.m.perOp(), r.m.allocsPerOp(), r.m.bytesPerOp())
	}
	s.printf("\nrecord.Open reaches %s of the bare-verify rate; the %.1f µs it spends beyond the verification is decoding and checking.\n\n",
		ratio(open.rate(), floor.rate()), open.perOp()-floor.perOp())
	return s, nil
}

// signedLen is the length of the byte string a libp2p envelope signs:
// each of domain, payload type and payload prefixed by its uvarint length.
func signedLen(raw []byte) (int, error) {
	env, err := lprecord.UnmarshalEnvelope(raw)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, part := range []int{len(record.Domain), len(record.PayloadType), len(env.RawPayload)} {
		n += binary.PutUvarint(make([]byte, binary.MaxVarintLen64), uint64(part)) + part
	}
	return n, nil
}

type measurement struct {
	ops           int
	elapsed       time.Duration
	mallocs, byts uint64
}

func (m measurement) rate() float64  { return float64(m.ops) / m.elapsed.Seconds() }
func (m measurement) perOp() float64 { return m.elapsed.Seconds() * 1e6 / float64(m.ops) }
func (m measurement) allocsPerOp() float64 {
	return float64(m.mallocs) / float64(m.ops)
}
func (m measurement) bytesPerOp() float64 { return float64(m.byts) / float64(m.ops) }

// turn is how long each function of measureInterleaved runs at a time.
const turn = 20 * time.Millisecond

// measureInterleaved runs each f in turns of about turn, round-robin, until
// each has run for about d, after a short warm-up. f is called with 0, 1, 2...
func measureInterleaved(d time.Duration, fs ...func(int) error) ([]measurement, error) {
	out := make([]measurement, len(fs))
	for _, f := range fs {
		for i := range 100 {
			if err := f(i); err != nil {
				return nil, err
			}
		}
	}
	runtime.GC()
	var before, after runtime.MemStats
	for out[0].elapsed < d {
		for k, f := range fs {
			m := &out[k]
			runtime.ReadMemStats(&before)
			start := time.Now()
			for time.Since(start) < turn {
				for range 10 {
					if err := f(m.ops); err != nil {
						return nil, err
					}
					m.ops++
				}
			}
			m.elapsed += time.Since(start)
			runtime.ReadMemStats(&after)
			m.mallocs += after.Mallocs - before.Mallocs
			m.byts += after.TotalAlloc - before.TotalAlloc
		}
	}
	return out, nil
}
