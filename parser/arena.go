package parser

// arenaChunk is the size of the chunks documents are allocated from.
const arenaChunk = 64 << 10

// arenaMinRoom is the free space below which a chunk is abandoned for a new
// one rather than risk a document overflowing it (up to 1/32 of a chunk is
// wasted, in exchange for one allocation per ~100 records).
const arenaMinRoom = 2 << 10

// arena hands out the memory of record documents. Chunks are never reused:
// a document stays valid and unchanged for as long as anyone references it,
// and a chunk is garbage once all its documents are.
type arena struct {
	chunk []byte
	used  int
	room  int // capacity handed out by the last begin
}

// begin returns an empty slice to append one document to. want is the
// expected size; a document may grow past it (append then moves it to a
// fresh allocation, which commit accepts).
func (a *arena) begin(want int) []byte {
	if want > arenaChunk/4 {
		a.room = -1
		return make([]byte, 0, want)
	}
	if len(a.chunk)-a.used < max(want, arenaMinRoom) {
		a.chunk = make([]byte, arenaChunk)
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
