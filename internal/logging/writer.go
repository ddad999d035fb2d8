// Package logging holds the server's log plumbing.
package logging

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// Writer buffers log lines and writes them out in batches: when the buffer
// fills, every interval, and on Close. A denial under load then costs a
// memory copy instead of a write system call, and a line still reaches the
// log within one interval.
type Writer struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

// NewWriter starts a Writer over w that flushes every interval.
func NewWriter(w io.Writer, interval time.Duration) *Writer {
	lw := &Writer{buf: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go lw.loop(interval)
	return lw
}

func (w *Writer) loop(interval time.Duration) {
	defer close(w.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.Flush()
		case <-w.stop:
			return
		}
	}
}

// Write buffers p. Log handlers write one whole line per call, so lines are
// never interleaved.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

// Flush writes out what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Flush()
}

// Close stops the background flushing and flushes what is left.
func (w *Writer) Close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		<-w.done
	}
	return w.Flush()
}
