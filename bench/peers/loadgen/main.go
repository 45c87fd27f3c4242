// Command loadgen sends the same OTLP/protobuf trace request (a template written by bench/peers/run.ts)
// to one OTLP/HTTP endpoint from N keep-alive connections and reports the spans acknowledged per second.
// Each request gets trace ids of its own and span times moved to now (the bytes are patched in place,
// as bench/workload.ts does), so a store that de-duplicates or orders by time sees fresh traces.
// Only the standard library: the generator must cost the same for every target.
package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type layout struct {
	TraceIDOffsets [][]int  `json:"traceIdOffsets"`
	TimeOffsets    []int    `json:"timeOffsets"`
	Times          []string `json:"times"`
	EndNs          string   `json:"endNs"`
	Spans          int      `json:"spans"`
}

type result struct {
	URL             string  `json:"url"`
	Connections     int     `json:"connections"`
	SpansPerRequest int     `json:"spansPerRequest"`
	PayloadBytes    int     `json:"payloadBytes"`
	Seconds         float64 `json:"seconds"`
	AckedSpans      int64   `json:"ackedSpans"`
	MeasuredSpans   int64   `json:"measuredSpans"`
	SpansPerSecond  float64 `json:"spansPerSecond"`
	Requests        int64   `json:"requests"`
	Refused         int64   `json:"refused"`
	Failed          int64   `json:"failed"`
	P50Ms           float64 `json:"p50Ms"`
	P99Ms           float64 `json:"p99Ms"`
}

func main() {
	dir := flag.String("template", "", "directory with payload.bin and layout.json")
	url := flag.String("url", "http://127.0.0.1:4318/v1/traces", "OTLP/HTTP traces endpoint")
	conns := flag.Int("connections", 8, "concurrent keep-alive connections")
	seconds := flag.Float64("seconds", 20, "measured seconds")
	warmup := flag.Float64("warmup", 3, "warm-up seconds (sent, not counted)")
	first := flag.Uint64("first-request", 1, "number of the first request (its trace ids derive from it)")
	flag.Parse()
	payload, err := os.ReadFile(filepath.Join(*dir, "payload.bin"))
	check(err)
	raw, err := os.ReadFile(filepath.Join(*dir, "layout.json"))
	check(err)
	var l layout
	check(json.Unmarshal(raw, &l))
	times := make([]uint64, len(l.Times))
	for i, t := range l.Times {
		times[i], err = strconv.ParseUint(t, 10, 64)
		check(err)
	}
	endNs, err := strconv.ParseUint(l.EndNs, 10, 64)
	check(err)

	var next atomic.Uint64
	next.Store(*first)
	var acked, measured, requests, refused, failed atomic.Int64
	start := time.Now()
	warmEnd := start.Add(time.Duration(*warmup * float64(time.Second)))
	end := warmEnd.Add(time.Duration(*seconds * float64(time.Second)))
	latencies := make([][]time.Duration, *conns)
	var wg sync.WaitGroup
	for c := 0; c < *conns; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1, MaxIdleConnsPerHost: 1, DisableCompression: true}}
			body := make([]byte, len(payload))
			for time.Now().Before(end) {
				n := next.Add(1) - 1
				copy(body, payload)
				for t, offsets := range l.TraceIDOffsets {
					for _, o := range offsets {
						binary.BigEndian.PutUint32(body[o:], traceIDHead(uint32(n), uint32(t)))
						binary.BigEndian.PutUint32(body[o+4:], uint32(n))
						binary.BigEndian.PutUint16(body[o+8:], uint16(t))
					}
				}
				shift := uint64(time.Now().UnixNano()) - endNs
				for i, o := range l.TimeOffsets {
					binary.LittleEndian.PutUint64(body[o:], times[i]+shift)
				}
				t0 := time.Now()
				req, _ := http.NewRequest("POST", *url, bytes.NewReader(body))
				req.Header.Set("content-type", "application/x-protobuf")
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					time.Sleep(100 * time.Millisecond)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				requests.Add(1)
				switch {
				case res.StatusCode == 200:
					acked.Add(int64(l.Spans))
					if !t0.Before(warmEnd) {
						measured.Add(int64(l.Spans))
						latencies[c] = append(latencies[c], time.Since(t0))
					}
				case res.StatusCode == 429 || res.StatusCode == 503:
					refused.Add(1)
					time.Sleep(100 * time.Millisecond)
				default:
					failed.Add(1)
				}
			}
		}(c)
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				if now.Before(warmEnd) {
					fmt.Fprintf(os.Stderr, "  warming up… %d spans\n", acked.Load())
				} else {
					fmt.Fprintf(os.Stderr, "  %.0fs: %.0f spans/s\n", now.Sub(warmEnd).Seconds(), float64(measured.Load())/now.Sub(warmEnd).Seconds())
				}
			}
		}
	}()
	wg.Wait()
	close(done)
	elapsed := time.Since(warmEnd).Seconds()
	var all []time.Duration
	for _, ls := range latencies {
		all = append(all, ls...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(p / 100 * float64(len(all)))
		if i >= len(all) {
			i = len(all) - 1
		}
		return float64(all[i].Microseconds()) / 1000
	}
	out, _ := json.Marshal(result{
		URL: *url, Connections: *conns, SpansPerRequest: l.Spans, PayloadBytes: len(payload), Seconds: elapsed,
		AckedSpans: acked.Load(), MeasuredSpans: measured.Load(), SpansPerSecond: float64(measured.Load()) / elapsed,
		Requests: requests.Load(), Refused: refused.Load(), Failed: failed.Load(), P50Ms: pct(50), P99Ms: pct(99),
	})
	fmt.Println(string(out))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
}

// traceIDHead is the first 4 bytes of a trace id, as bench/workload.ts's traceIdHead computes them:
// murmur3's finalizer of the request number and the trace's index, so ids spread as random ones do.
func traceIDHead(n, t uint32) uint32 {
	h := n ^ (t * 0x9e3779b9)
	h = (h ^ (h >> 16)) * 0x85ebca6b
	h = (h ^ (h >> 13)) * 0xc2b2ae35
	return h ^ (h >> 16)
}
