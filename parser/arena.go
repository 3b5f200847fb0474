package parser

import "github.com/logspool/logspool/internal/freelist"

// Arena chunk sizes: a decoder starts with a small chunk, so that the many
// decoders of quiet files hold little memory, and doubles up to the largest.
const (
	arenaFirstChunk = 4 << 10
	arenaChunk      = 64 << 10
)

// arena hands out the memory of record documents. Until its first recycle,
// chunks are never reused: a document stays valid and unchanged for as long
// as anyone references it, and a chunk is garbage once all its documents
// are. After recycle (Decoder.Recycle: the caller holds no document any
// more), chunks come from and go back to chunks, shared by every decoder,
// so that a decoder between batches holds no chunk at all.
type arena struct {
	chunk     []byte
	used      int
	room      int // capacity handed out by the last begin; -1 for an own allocation
	next      int // size of the next chunk
	recycling bool
	held      []*[]byte // pooled chunks handed out since the last recycle
}

// chunks holds chunks of arenaChunk bytes for recycling arenas: enough for
// the batches of a few readers at once (a batch of 256 KiB of input takes
// about five).
var chunks = freelist.New[*[]byte](32)

// begin returns an empty slice to append one document of about want bytes
// to. A document may grow past want (append then moves it to a fresh
// allocation, which commit accepts).
func (a *arena) begin(want int) []byte {
	if want > arenaChunk/4 {
		a.room = -1
		return make([]byte, 0, want)
	}
	if len(a.chunk)-a.used < want {
		if a.recycling {
			p, _ := chunks.Get()
			if p == nil {
				b := make([]byte, arenaChunk)
				p = &b
			}
			a.held = append(a.held, p)
			a.chunk = *p
		} else {
			if a.next == 0 {
				a.next = arenaFirstChunk
			}
			a.chunk = make([]byte, max(a.next, 2*want))
			a.next = min(2*a.next, arenaChunk)
		}
		a.used = 0
	}
	a.room = len(a.chunk) - a.used
	return a.chunk[a.used:a.used:len(a.chunk)]
}

// commit finishes the document b that was appended to the slice of begin
// and returns it with its capacity capped, so that appending to it can never
// overwrite the next document.
func (a *arena) commit(b []byte) []byte {
	if a.room >= 0 && cap(b) == a.room {
		// Still in the chunk: append never grew past the capacity handed out.
		a.used += len(b)
	}
	return b[:len(b):len(b)]
}

// recycle gives every chunk back: no document handed out so far is
// referenced any more.
func (a *arena) recycle() {
	a.recycling = true
	for i, p := range a.held {
		chunks.Put(p)
		a.held[i] = nil
	}
	a.held = a.held[:0]
	a.chunk, a.used = nil, 0
}

// free returns the bytes of the current chunk not handed out yet.
func (a *arena) free() int { return len(a.chunk) - a.used }

// drop lets go of the current chunk (documents already handed out stay
// valid) and starts the next one small again.
func (a *arena) drop() {
	// A recycling arena's chunks stay in held until recycle (the batch's
	// documents may live in them); only the current one is let go.
	a.chunk, a.used = nil, 0
	if !a.recycling {
		a.next = 0
	}
}
