package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Data files; see FORMAT.md ("Data files").
const (
	dataDirName    = "data"
	dataFileMagic  = "LSPDATA\x00"
	dataHeaderLen  = 8 + 2 + 16 + 8 // magic, version, spool id, fid
	dataVersion    = 1
	entryHeaderLen = 8 // crc32c[4] len[4]
	// maxEntryLen bounds one entry (a segment or a dead-letter entry).
	maxEntryLen = 1 << 30
)

// ref locates an entry in a data file.
type ref struct {
	fid uint64
	off int64
	len int64 // the whole entry, header included
}

func (r ref) valid() bool { return r.fid != 0 }

// dataLog is one family of append-only data files (".seg" segments or ".dlq"
// dead-letter entries) in DIR/data. Entries are written with pwrite (never
// through a memory map, so a full disk is an error, not a SIGBUS) and made
// durable by sync, which the spool's barrier calls before it commits anything
// that points at them.
type dataLog struct {
	dir     string
	ext     string
	id      [16]byte
	maxFile int64

	mu      sync.Mutex
	files   map[uint64]*dataFile
	cur     *dataFile
	nextFid uint64
	dirty   map[uint64]*dataFile // written since the last sync
	newDir  bool                 // a file was created since the last sync
	dying   []uint64             // dead files, unlinked after the next barrier
	bytes   int64                // allocated bytes of every file (4 KiB rounded)

	// quarantine, when set (Salvage), makes open repair a damaged file
	// header instead of refusing the file: the header's raw bytes are copied
	// into this directory and a good one is written (repaired lists them);
	// the entries after it are checked one by one as usual.
	quarantine string
	repaired   []SalvagedDamage

	// testHookSynced runs after syncFile synced a file (crash-state tests).
	testHookSynced func(path string)
}

type dataFile struct {
	fid    uint64
	path   string
	f      *os.File
	size   int64 // end of the written entries
	live   int64 // bytes of referenced entries
	liveN  int   // referenced entries
	sealed bool  // no more appends
	// badHeader is why the file's header did not check out at Open.
	badHeader error
}

func fileAlloc(n int64) int64 { return (n + 4095) &^ 4095 }

func newDataLog(dir, ext string, id [16]byte, maxFile int64) *dataLog {
	return &dataLog{dir: dir, ext: ext, id: id, maxFile: maxFile,
		files: make(map[uint64]*dataFile), dirty: make(map[uint64]*dataFile), nextFid: 1}
}

func (l *dataLog) fileName(fid uint64) string {
	return filepath.Join(l.dir, fmt.Sprintf("%08d%s", fid, l.ext))
}

// listDataFiles returns the file ids of dir's files with extension ext.
func listDataFiles(dir, ext string) ([]uint64, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var fids []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ext)
		if !ok {
			continue
		}
		fid, err := strconv.ParseUint(name, 10, 64)
		if err != nil || fid == 0 {
			continue
		}
		fids = append(fids, fid)
	}
	slices.Sort(fids)
	return fids, nil
}

// open opens the existing files (read-only unless rw) without scanning them;
// every file is sealed: appends go to a new file.
func (l *dataLog) open(rw bool) error {
	fids, err := listDataFiles(l.dir, l.ext)
	if err != nil {
		return fmt.Errorf("listing %s: %w", l.dir, err)
	}
	flag := os.O_RDONLY
	if rw {
		flag = os.O_RDWR
	}
	for _, fid := range fids {
		p := l.fileName(fid)
		f, err := os.OpenFile(p, flag, 0)
		if err != nil {
			l.closeAll()
			return fmt.Errorf("opening %s: %w", p, err)
		}
		fi, err := f.Stat()
		if err != nil {
			_ = f.Close()
			l.closeAll()
			return fmt.Errorf("reading the size of %s: %w", p, err)
		}
		df := &dataFile{fid: fid, path: p, f: f, size: fi.Size(), sealed: true}
		if err := checkDataHeader(f, l.id, fid); err != nil && l.quarantine != "" && rw {
			d, rerr := repairDataHeader(f, p, l.id, fid, l.quarantine, err)
			if rerr != nil {
				_ = f.Close()
				l.closeAll()
				return rerr
			}
			l.repaired = append(l.repaired, d)
			df.size = max(df.size, dataHeaderLen)
		} else if err != nil {
			if errors.Is(err, errForeign) {
				_ = f.Close()
				l.closeAll()
				return &DamageError{File: p, Offset: 0, Reason: err.Error()}
			}
			// A header that never reached the disk (a file created just
			// before a power loss) or a damaged one: every entry that the
			// index points into this file fails its check below.
			df.badHeader = err
		}
		l.files[fid] = df
		l.bytes += fileAlloc(fi.Size())
		l.nextFid = fid + 1
	}
	return nil
}

// dataHeader is the header of data file fid of spool id.
func dataHeader(id [16]byte, fid uint64) [dataHeaderLen]byte {
	var h [dataHeaderLen]byte
	copy(h[:], dataFileMagic)
	binary.LittleEndian.PutUint16(h[8:], dataVersion)
	copy(h[10:], id[:])
	binary.LittleEndian.PutUint64(h[26:], fid)
	return h
}

func checkDataHeader(f *os.File, id [16]byte, fid uint64) error {
	var h [dataHeaderLen]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		return fmt.Errorf("reading the file header: %v", err)
	}
	switch {
	case string(h[:8]) != dataFileMagic:
		return errors.New("not a logspool data file (bad magic)")
	case binary.LittleEndian.Uint16(h[8:]) != dataVersion:
		return fmt.Errorf("data file version %d, this build reads %d", binary.LittleEndian.Uint16(h[8:]), dataVersion)
	case [16]byte(h[10:26]) != id:
		return errForeign
	case binary.LittleEndian.Uint64(h[26:]) != fid:
		return fmt.Errorf("the header says file %d", binary.LittleEndian.Uint64(h[26:]))
	}
	return nil
}

var errForeign = errors.New("the file belongs to another spool (spool id mismatch)")

// repairDataHeader (Salvage) copies the damaged header of the data file f
// (why: what checkDataHeader found) raw into qdir and writes the header the
// file must have, synced: the entries after it carry their own checksums
// and keys, so a damaged header alone must not cost them.
func repairDataHeader(f *os.File, p string, id [16]byte, fid uint64, qdir string, why error) (SalvagedDamage, error) {
	d := SalvagedDamage{File: p, Offset: 0, Bytes: dataHeaderLen, Reason: fmt.Sprintf("damaged file header (%v): rewritten", why)}
	q, err := quarantineBytes(qdir, p, 0, dataHeaderLen)
	if err != nil {
		return d, fmt.Errorf("quarantining the damaged header of %s: %w", p, err)
	}
	d.Quarantined = q
	h := dataHeader(id, fid)
	if _, err := f.WriteAt(h[:], 0); err != nil {
		return d, fmt.Errorf("rewriting the header of %s: %w", p, err)
	}
	if err := syncFile(f); err != nil {
		return d, fmt.Errorf("syncing %s: %w", p, err)
	}
	return d, nil
}

func (l *dataLog) closeAll() {
	for _, df := range l.files {
		_ = df.f.Close()
	}
	l.files = make(map[uint64]*dataFile)
	l.cur = nil
}

// close closes every file.
func (l *dataLog) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closeAll()
}

// rotateLocked seals the current file and creates the next one.
func (l *dataLog) rotateLocked() error {
	if err := os.MkdirAll(l.dir, 0o750); err != nil {
		return fmt.Errorf("creating %s: %w", l.dir, err)
	}
	fid := l.nextFid
	p := l.fileName(fid)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return fmt.Errorf("creating %s: %w", p, err)
	}
	h := dataHeader(l.id, fid)
	if _, err := f.WriteAt(h[:], 0); err != nil {
		_ = f.Close()
		_ = os.Remove(p)
		return fmt.Errorf("writing the header of %s: %w", p, err)
	}
	l.nextFid++
	old := l.cur
	df := &dataFile{fid: fid, path: p, f: f, size: dataHeaderLen}
	l.files[fid] = df
	l.cur = df
	if old != nil {
		old.sealed = true
		l.maybeDyingLocked(old)
	}
	l.dirty[fid] = df
	l.newDir = true
	l.bytes += fileAlloc(dataHeaderLen)
	return nil
}

// appendEntry encodes key and value as one entry into buf (appending).
func appendEntry(buf, key, value []byte) []byte {
	start := len(buf)
	buf = append(buf, make([]byte, entryHeaderLen)...)
	buf = binary.AppendUvarint(buf, uint64(len(key)))
	buf = append(buf, key...)
	buf = append(buf, value...)
	n := len(buf) - start
	binary.LittleEndian.PutUint32(buf[start+4:], uint32(n))
	binary.LittleEndian.PutUint32(buf[start:], crc32.Checksum(buf[start+4:], castagnoli))
	return buf
}

// write appends buf (whole entries, as appendEntry built them) to the
// current file and returns the refs of the entries at offs within buf (the
// others, checkpoint entries, are not referenced). Nothing is
// recorded when the write fails: the bytes past the old end are garbage that
// the next write overwrites.
func (l *dataLog) write(buf []byte, offs []int) ([]ref, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil || (l.cur.size+int64(len(buf)) > l.maxFile && l.cur.size > dataHeaderLen) {
		if err := l.rotateLocked(); err != nil {
			return nil, err
		}
	}
	df := l.cur
	if _, err := df.f.WriteAt(buf, df.size); err != nil {
		return nil, fmt.Errorf("writing %d bytes to %s at offset %d: %w", len(buf), df.path, df.size, err)
	}
	refs := make([]ref, len(offs))
	for i, o := range offs {
		refs[i] = ref{fid: df.fid, off: df.size + int64(o), len: int64(binary.LittleEndian.Uint32(buf[o+4:]))}
		df.live += refs[i].len
		df.liveN++
	}
	old := fileAlloc(df.size)
	df.size += int64(len(buf))
	l.bytes += fileAlloc(df.size) - old
	l.dirty[df.fid] = df
	return refs, nil
}

// read reads the entry at r, checks it, and returns its key and value
// (sub-slices of buf, which is grown as needed).
func (l *dataLog) read(r ref, buf []byte) (key, value, out []byte, err error) {
	l.mu.Lock()
	df := l.files[r.fid]
	l.mu.Unlock()
	if df == nil {
		return nil, nil, buf, &DamageError{File: l.fileName(r.fid), Offset: r.off, Reason: "the data file is missing"}
	}
	if df.badHeader != nil {
		return nil, nil, buf, &DamageError{File: df.path, Offset: 0, Reason: df.badHeader.Error()}
	}
	return readEntry(df.f, df.path, r, buf)
}

func readEntry(f io.ReaderAt, path string, r ref, buf []byte) (key, value, out []byte, err error) {
	if r.len < entryHeaderLen+1 || r.len > maxEntryLen {
		return nil, nil, buf, &DamageError{File: path, Offset: r.off, Reason: fmt.Sprintf("bad entry length %d in the index", r.len)}
	}
	buf = slices.Grow(buf[:0], int(r.len))[:r.len]
	n, err := f.ReadAt(buf, r.off)
	if n < len(buf) {
		if err == nil || errors.Is(err, io.EOF) {
			return nil, nil, buf, &DamageError{File: path, Offset: r.off, Reason: fmt.Sprintf("the file ends %d bytes into a %d-byte entry (truncated)", n, r.len)}
		}
		return nil, nil, buf, fmt.Errorf("reading %s at offset %d: %w", path, r.off, err)
	}
	if got := int64(binary.LittleEndian.Uint32(buf[4:])); got != r.len {
		return nil, nil, buf, &DamageError{File: path, Offset: r.off, Reason: fmt.Sprintf("entry length %d, the index says %d", got, r.len)}
	}
	if want, got := binary.LittleEndian.Uint32(buf), crc32.Checksum(buf[4:], castagnoli); want != got {
		return nil, nil, buf, &DamageError{File: path, Offset: r.off, Reason: fmt.Sprintf("entry checksum mismatch (stored %08x, computed %08x)", want, got)}
	}
	body := buf[entryHeaderLen:]
	kl, k := binary.Uvarint(body)
	if k <= 0 || kl > uint64(len(body)-k) {
		return nil, nil, buf, &DamageError{File: path, Offset: r.off, Reason: "bad key length"}
	}
	return body[k : k+int(kl)], body[k+int(kl):], buf, nil
}

// release drops one reference to r; a sealed file without references dies
// and is unlinked after the next barrier.
func (l *dataLog) release(r ref) {
	l.mu.Lock()
	defer l.mu.Unlock()
	df := l.files[r.fid]
	if df == nil {
		return
	}
	df.live -= r.len
	df.liveN--
	if df == l.cur && df.liveN <= 0 && df.size >= l.maxFile/8 {
		// Everything in the current file is acked: start the next one so
		// that this one's space comes back (a spool at its cap waits for it).
		l.cur = nil
		df.sealed = true
	}
	l.maybeDyingLocked(df)
}

// retain counts a reference found at Open.
func (l *dataLog) retain(r ref) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if df := l.files[r.fid]; df != nil {
		df.live += r.len
		df.liveN++
	}
}

func (l *dataLog) maybeDyingLocked(df *dataFile) {
	if df.sealed && df.liveN <= 0 && df != l.cur {
		if !slices.Contains(l.dying, df.fid) {
			l.dying = append(l.dying, df.fid)
		}
	}
}

// sealAll marks every file dead that has no references (after Open).
func (l *dataLog) sealAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, df := range l.files {
		df.sealed = true
		l.maybeDyingLocked(df)
	}
}

// syncPrepare returns what a barrier must sync and the files that were dead
// when it started (unlinked once it completed).
func (l *dataLog) syncPrepare() (files []*os.File, dir bool, dying []uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for fid, df := range l.dirty {
		files = append(files, df.f)
		delete(l.dirty, fid)
	}
	dir, l.newDir = l.newDir, false
	dying, l.dying = l.dying, nil
	return files, dir, dying
}

// unlink deletes dead files (after the barrier that made their deletion
// durable).
func (l *dataLog) unlink(fids []uint64) error {
	var errs []error
	for _, fid := range fids {
		l.mu.Lock()
		df := l.files[fid]
		if df == nil || df.liveN > 0 || df == l.cur {
			l.mu.Unlock()
			continue
		}
		delete(l.files, fid)
		delete(l.dirty, fid)
		l.bytes -= fileAlloc(df.size)
		l.mu.Unlock()
		_ = df.f.Close()
		if err := os.Remove(df.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("deleting %s: %w", df.path, err))
		}
	}
	return errors.Join(errs...)
}

// allocated is the disk space of the family's files (4 KiB blocks).
func (l *dataLog) allocated() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bytes
}

// fileOf reports the path of fid.
func (l *dataLog) pathOf(fid uint64) string { return l.fileName(fid) }

// DamageError reports damage in a spool file: which file, where, and what.
type DamageError struct {
	File    string
	Offset  int64
	Records int64 // records affected, when known
	Reason  string
}

func (e *DamageError) Error() string {
	s := fmt.Sprintf("spool: %s is damaged at offset %d: %s", e.File, e.Offset, e.Reason)
	if e.Records > 0 {
		s += fmt.Sprintf(" (%d records affected)", e.Records)
	}
	return s
}

// Is makes errors.Is(err, ErrCorrupt) true for a *DamageError.
func (e *DamageError) Is(target error) bool { return target == ErrCorrupt }

// syncFile fsyncs one file now (dead letters are synced before the unit
// that points at them is written).
func (l *dataLog) syncFile(fid uint64) error {
	l.mu.Lock()
	df := l.files[fid]
	newDir := l.newDir
	l.mu.Unlock()
	if df == nil {
		return nil
	}
	if err := syncFile(df.f); err != nil {
		return fmt.Errorf("syncing %s: %w", df.path, err)
	}
	if newDir {
		if err := fsyncPath(l.dir); err != nil {
			return err
		}
	}
	if hook := l.testHookSynced; hook != nil {
		hook(df.path)
	}
	return nil
}
