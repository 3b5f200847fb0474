package parser

// Retained returns the bytes the decoder holds between lines, besides the
// documents it handed out: its pending partial messages (joined lines
// waiting for their end, up to MaxLineBytes per stream), the unused rest of
// its current arena chunk and its scratch buffers. The tailer counts it in
// the input memory budget (internal/membudget).
func (d *Decoder) Retained() int {
	n := d.arena.free() + cap(d.scratch) + cap(d.scratchTail) + cap(d.extra)
	for i := range d.pend {
		p := &d.pend[i]
		n += cap(p.buf) + cap(p.extra) + cap(p.orig) + cap(p.stream)
	}
	return n
}

// Trim gives back the memory Retained counts that is not needed to go on:
// the arena chunk, the scratch buffers and the buffers of streams with no
// pending message. Pending partial messages are kept (they are the
// decoder's state). The tailer calls it when a file goes idle, so that
// thousands of quiet files hold almost nothing.
func (d *Decoder) Trim() {
	d.arena.drop()
	d.scratch, d.scratchTail, d.extra = nil, nil, nil
	for i := range d.pend {
		if p := &d.pend[i]; !p.active {
			p.buf, p.extra, p.orig = nil, nil, nil
		}
	}
}
