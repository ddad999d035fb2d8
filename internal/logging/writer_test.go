package logging

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWriterFlushesOnIntervalAndClose(t *testing.T) {
	out := &syncBuffer{}
	w := NewWriter(out, 10*time.Millisecond)
	w.Write([]byte("one\n"))
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "one\n" {
		if time.Now().After(deadline) {
			t.Fatalf("line not flushed by the ticker: %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	w.Write([]byte("two\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "one\ntwo\n" {
		t.Fatalf("after Close: %q", got)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWriterKeepsLinesWhole(t *testing.T) {
	out := &syncBuffer{}
	w := NewWriter(out, time.Hour)
	var wg sync.WaitGroup
	line := bytes.Repeat([]byte("x"), 1000)
	line = append(line, '\n')
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				w.Write(line)
			}
		}()
	}
	wg.Wait()
	w.Close()
	for i, l := range bytes.Split(bytes.TrimSuffix([]byte(out.String()), []byte("\n")), []byte("\n")) {
		if len(l) != 1000 {
			t.Fatalf("line %d has %d bytes", i, len(l))
		}
	}
}
