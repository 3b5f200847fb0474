package systemd

import (
	"encoding/base64"
	"math/bits"
	"strings"
	"unicode/utf8"

	"github.com/logspool/logspool/spool/record"
	"github.com/logspool/logspool/systemd/journalfile"
)

// DefaultMaxFieldBytes is the default cap on one field value in a document.
const DefaultMaxFieldBytes = 1 << 20

// maxRealtime is 9999-12-31T23:59:59.999999Z in microseconds.
const maxRealtime = 253402300799999999

// docNode is a node of the document tree: an object with children, or a leaf.
type docNode struct {
	name     string // JSON key, pre-quoted: `"name":`
	children []*docNode
	slot     int       // leaf: index into leafSpecs; -1 for objects
	mask     [2]uint64 // slots at or under this node
}

var (
	docRoot     *docNode
	eventNode   *docNode // docRoot's "event" and "host": the boot's members
	hostNode    *docNode
	slotByField map[string]int // journal field name -> slot
	slotPath    []string       // slot -> document path (base64/truncated keys)
	numSlots    = len(leafSpecs)
)

func init() {
	if numSlots > 128 {
		panic("systemd: too many document leaves")
	}
	docRoot = &docNode{slot: -1}
	slotByField = make(map[string]int, numSlots)
	slotPath = make([]string, numSlots)
	for i, ls := range leafSpecs {
		if ls.journal != "" {
			slotByField[ls.journal] = i
			slotPath[i] = ls.path
		}
		n := docRoot
		parts := strings.Split(ls.path, ".")
		for k, p := range parts {
			n.mask[i/64] |= 1 << (i % 64)
			var c *docNode
			for _, x := range n.children {
				if x.name == `"`+p+`":` {
					c = x
				}
			}
			if c == nil {
				c = &docNode{name: `"` + p + `":`, slot: -1}
				n.children = append(n.children, c)
			}
			if k == len(parts)-1 {
				c.slot = i
			}
			n = c
		}
		n.mask[i/64] |= 1 << (i % 64)
	}
	for i, c := range docRoot.children {
		switch c.name {
		case `"event":`:
			eventNode = c
		case `"host":`:
			hostNode = c
			if i == 0 || docRoot.children[i-1] != eventNode {
				panic("systemd: host does not follow event in the document")
			}
		}
	}
	if eventNode == nil || hostNode == nil || docRoot.children[0].name != `"@timestamp":` {
		panic("systemd: the document has no event and host after @timestamp")
	}
}

// slotTable is an open-addressing table from journal field name to slot,
// cheaper than a map for the ~20 short names of every entry.
const slotMask = 511

var slotTable [slotMask + 1]struct {
	name string
	slot int
}

func nameHash(s string) uint {
	n := uint(len(s))
	if n == 0 {
		return 0
	}
	return (n*131 + uint(s[0])*31 + uint(s[n-1])*7 + uint(s[n/2])*3 + uint(s[n/3])) & slotMask
}

func lookupSlot(name string) (int, bool) {
	for h := nameHash(name); ; h = (h + 1) & slotMask {
		e := &slotTable[h]
		if e.name == "" {
			return 0, false
		}
		if e.name == name {
			return e.slot, true
		}
	}
}

func init() {
	for name, slot := range slotByField {
		h := nameHash(name)
		for slotTable[h].name != "" {
			h = (h + 1) & slotMask
		}
		slotTable[h].name, slotTable[h].slot = name, slot
	}
}

// normalizeName is Filebeat's custom field naming: leading underscores
// trimmed, lower-cased; dots (object separators in Elasticsearch) become
// underscores and an empty result becomes "_empty_".
func normalizeName(name string) string {
	s := strings.ToLower(strings.TrimLeft(name, "_"))
	s = strings.ReplaceAll(s, ".", "_")
	s = strings.ToValidUTF8(s, "\ufffd") // so that names JSON would render alike merge
	if s == "" {
		s = "_empty_"
	}
	return s
}

// value is one field value of the entry being encoded.
type value struct {
	b    []byte
	next int32 // next value of the same field, -1 at the end
}

// customField is a journal field without a document slot.
type customField struct {
	name    string
	first   int32
	last    int32
	invalid bool // some value is not valid UTF-8
	cut     bool // some value was truncated
}

// Encoder turns journal entries into ECS JSON documents (see doc.go for
// the layout). It reuses its scratch space: one Encoder per goroutine.
type Encoder struct {
	node     string
	maxField int

	vals      []value
	first     [128]int32
	last      [128]int32
	present   [2]uint64
	invalid   [2]uint64 // slots with a value that is not valid UTF-8
	cut       [2]uint64 // slots with a truncated value
	custom    []customField
	customIdx map[string]int
	normCache map[string]string
	cursor    []byte
	bootID    journalfile.ID128
	ts        uint64
	flagUTF8  bool
	flagCut   bool
	flagTS    bool
	flagDmg   bool
	// metaStart and metaEnd locate, in the document last encoded (relative
	// to its start), the members a boot shares: event and host.
	metaStart, metaEnd int

	// Fields whose name systemd would refuse (validFieldName): their exact
	// NAME=value payloads, end offsets into badBuf.
	badBuf  []byte
	badEnds []int
	badCut  bool
}

// maxFieldName is the longest field name systemd accepts.
const maxFieldName = 64

// validFieldName reports whether name is a field name systemd itself
// accepts (journal_field_valid): 1 to 64 bytes of A-Z, 0-9 and '_', not
// starting with a digit. journald and systemd-journal-remote refuse any
// other, so one in a file comes from damage (or a foreign writer); it could
// be any bytes, up to kilobytes: Elasticsearch refuses such keys or they
// swell its mapping, so they are kept out of the document's keys.
func validFieldName(name string) bool {
	if len(name) == 0 || len(name) > maxFieldName || '0' <= name[0] && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// NewEncoder returns an Encoder that names the node nodeName in host.name
// (left out when empty) and cuts field values longer than maxFieldBytes
// (DefaultMaxFieldBytes when 0; negative means no limit).
func NewEncoder(nodeName string, maxFieldBytes int) *Encoder {
	if maxFieldBytes == 0 {
		maxFieldBytes = DefaultMaxFieldBytes
	}
	e := &Encoder{node: nodeName, maxField: maxFieldBytes, customIdx: make(map[string]int), normCache: make(map[string]string)}
	for i := range e.first {
		e.first[i], e.last[i] = -1, -1
	}
	return e
}

// Record encodes ent as a record: ID from RecordID, Time and Doc from the
// document.
func (e *Encoder) Record(ent *journalfile.Entry) record.Record {
	doc, ts := e.Encode(nil, ent)
	return record.Record{ID: RecordID(e.node, &ent.EntryMeta), Time: ts, Doc: doc}
}

// Encode appends the document of ent to dst and returns it with the
// @timestamp in Unix nanoseconds. The cursor it used stays available
// through LastCursor until the next call.
func (e *Encoder) Encode(dst []byte, ent *journalfile.Entry) ([]byte, int64) {
	e.reset()
	e.cursor = CursorOf(&ent.EntryMeta).AppendTo(e.cursor[:0])
	e.bootID = ent.BootID
	e.ts = ent.Realtime
	srcTS, hasSrcTS := uint64(0), false
	for i := range ent.Fields {
		f := &ent.Fields[i]
		switch f.Name {
		case "_BOOT_ID":
			continue // taken from the entry header, as journalctl does
		case "_SOURCE_REALTIME_TIMESTAMP":
			if v, ok := parseUint(f.Value); ok && v > 0 && v <= maxRealtime && !hasSrcTS {
				srcTS, hasSrcTS = v, true
				continue
			}
		}
		e.add(f.Name, f.Value)
	}
	if hasSrcTS {
		e.ts = srcTS
	}
	if e.ts > maxRealtime {
		e.ts = maxRealtime
		e.flagTS = true
	}
	e.set(slotOf(kindTimestamp))
	e.set(slotOf(kindDataset))
	e.set(slotOf(kindEventKind))
	if e.node != "" {
		e.set(slotOf(kindHostName))
	}
	e.set(slotOf(kindBootID))
	e.set(slotOf(kindCursor))
	if len(e.custom) > 0 {
		e.set(slotOf(kindCustom))
	}
	if len(e.badEnds) > 0 {
		e.set(slotOf(kindInvalidFields))
	}
	e.flagUTF8 = e.invalid != [2]uint64{} || e.customInvalid()
	e.flagCut = e.cut != [2]uint64{} || e.customCut() || e.badCut
	if e.flagUTF8 {
		e.set(slotOf(kindBase64))
	}
	if e.flagCut {
		e.set(slotOf(kindTruncated))
	}
	e.flagDmg = ent.Damaged
	if e.flagUTF8 || e.flagCut || e.flagTS || e.flagDmg || len(e.badEnds) > 0 {
		e.set(slotOf(kindFlags))
	}
	start := len(dst)
	e.metaStart, e.metaEnd = 0, 0
	dst = e.writeRoot(dst)
	e.metaStart -= start
	e.metaEnd -= start
	return dst, int64(e.ts) * 1000
}

// MetaSpan returns where, in the document last encoded, the members that
// every entry of a boot shares are: doc[start:end] is
// ,"event":{...},"host":{...} (host.name, the entry's _HOSTNAME and
// _MACHINE_ID, the boot id). An input stores them as the records'
// record.Meta, spliced back in at start.
func (e *Encoder) MetaSpan() (start, end int) { return e.metaStart, e.metaEnd }

// writeRoot is writeObject for the document root; it notes the span of
// event and host (see MetaSpan).
func (e *Encoder) writeRoot(dst []byte) []byte {
	n := docRoot
	dst = append(dst, '{')
	first := true
	for _, c := range n.children {
		if c.mask[0]&e.present[0] == 0 && c.mask[1]&e.present[1] == 0 {
			continue
		}
		if c == eventNode {
			e.metaStart = len(dst)
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, c.name...)
		if c.slot >= 0 && len(c.children) == 0 {
			dst = e.writeLeaf(dst, c.slot)
		} else {
			dst = e.writeObject(dst, c)
		}
		if c == hostNode {
			e.metaEnd = len(dst)
		}
	}
	if e.metaEnd <= e.metaStart {
		e.metaStart, e.metaEnd = 0, 0
	}
	return append(dst, '}')
}

// LastCursor returns the cursor of the entry last encoded (valid until the
// next Encode).
func (e *Encoder) LastCursor() []byte { return e.cursor }

var virtualSlot [kindInvalidFields + 1]int

func init() {
	for i, ls := range leafSpecs {
		if ls.journal == "" {
			virtualSlot[ls.kind] = i
		}
	}
}

func slotOf(k fieldKind) int { return virtualSlot[k] }

func (e *Encoder) set(slot int) { e.present[slot/64] |= 1 << (slot % 64) }

func has(m [2]uint64, slot int) bool { return m[slot/64]&(1<<(slot%64)) != 0 }

func (e *Encoder) reset() {
	for w := 0; w < 2; w++ {
		for m := e.present[w]; m != 0; m &= m - 1 {
			i := w*64 + trailingZeros(m)
			e.first[i], e.last[i] = -1, -1
		}
	}
	e.present, e.invalid, e.cut = [2]uint64{}, [2]uint64{}, [2]uint64{}
	e.vals = e.vals[:0]
	if len(e.custom) > 0 {
		e.custom = e.custom[:0]
		clear(e.customIdx)
	}
	e.flagUTF8, e.flagCut, e.flagTS, e.flagDmg = false, false, false, false
	if len(e.badEnds) > 0 || cap(e.badBuf) > 1<<20 {
		e.badEnds = e.badEnds[:0]
		e.badBuf = e.badBuf[:0]
		if cap(e.badBuf) > 1<<20 {
			e.badBuf = nil // a huge damaged field: do not keep its memory
		}
		e.badCut = false
	}
}

func trailingZeros(x uint64) int { return bits.TrailingZeros64(x) }

// clip applies the field size cap; it cuts at a UTF-8 boundary when it can.
func (e *Encoder) clip(v []byte) ([]byte, bool) {
	if e.maxField < 0 || len(v) <= e.maxField {
		return v, false
	}
	n := e.maxField
	for k := 0; k < 3 && n > 0 && v[n]&0xC0 == 0x80; k++ {
		n--
	}
	return v[:n], true
}

func (e *Encoder) add(name string, v []byte) {
	slot, known := lookupSlot(name)
	if !known && !validFieldName(name) {
		e.addInvalid(name, v)
		return
	}
	v, cut := e.clip(v)
	if known {
		switch leafSpecs[slot].kind {
		case kindInt, kindIntString:
			if _, ok := parseIntPrefix(v); !ok {
				known = false // not a number: keep it as text under journald.custom
			}
		}
	}
	bad := !utf8.Valid(v)
	idx := int32(len(e.vals))
	e.vals = append(e.vals, value{b: v, next: -1})
	if !known {
		e.addCustom(name, idx, bad, cut)
		return
	}
	if e.first[slot] < 0 {
		e.first[slot] = idx
	} else {
		e.vals[e.last[slot]].next = idx
	}
	e.last[slot] = idx
	e.set(slot)
	if bad {
		e.invalid[slot/64] |= 1 << (slot % 64)
	}
	if cut {
		e.cut[slot/64] |= 1 << (slot % 64)
	}
}

// addInvalid keeps a field with an invalid name as its exact NAME=value
// payload (cut to the field cap), for journald.invalid_fields.
func (e *Encoder) addInvalid(name string, v []byte) {
	start := len(e.badBuf)
	e.badBuf = append(e.badBuf, name...)
	e.badBuf = append(e.badBuf, '=')
	e.badBuf = append(e.badBuf, v...)
	if e.maxField >= 0 && len(e.badBuf)-start > e.maxField {
		e.badBuf = e.badBuf[:start+e.maxField]
		e.badCut = true
	}
	e.badEnds = append(e.badEnds, len(e.badBuf))
}

// InvalidFieldNames returns how many fields of the entry last encoded had a
// name systemd would refuse (kept in journald.invalid_fields).
func (e *Encoder) InvalidFieldNames() int { return len(e.badEnds) }

func (e *Encoder) addCustom(name string, idx int32, bad, cut bool) {
	k, ok := e.customIdx[name]
	if !ok {
		norm := e.normalized(name)
		// Two journal names can normalise to one key ("_FOO", "FOO"): merge them.
		for i := range e.custom {
			if e.custom[i].name == norm {
				k, ok = i, true
				break
			}
		}
		if !ok {
			k = len(e.custom)
			e.custom = append(e.custom, customField{name: norm, first: idx, last: idx})
			e.customIdx[name] = k
			e.custom[k].invalid, e.custom[k].cut = bad, cut
			return
		}
		e.customIdx[name] = k
	}
	c := &e.custom[k]
	e.vals[c.last].next = idx
	c.last = idx
	c.invalid = c.invalid || bad
	c.cut = c.cut || cut
}

// maxNormCache bounds the cache of normalised custom names.
const maxNormCache = 4096

// normalized is normalizeName with a cache (custom names repeat across entries).
func (e *Encoder) normalized(name string) string {
	if n, ok := e.normCache[name]; ok {
		return n
	}
	n := normalizeName(name)
	if len(e.normCache) < maxNormCache {
		e.normCache[name] = n
	}
	return n
}

func (e *Encoder) customInvalid() bool {
	for i := range e.custom {
		if e.custom[i].invalid {
			return true
		}
	}
	return false
}

func (e *Encoder) customCut() bool {
	for i := range e.custom {
		if e.custom[i].cut {
			return true
		}
	}
	return false
}

func (e *Encoder) writeObject(dst []byte, n *docNode) []byte {
	dst = append(dst, '{')
	first := true
	for _, c := range n.children {
		if c.mask[0]&e.present[0] == 0 && c.mask[1]&e.present[1] == 0 {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, c.name...)
		if c.slot >= 0 && len(c.children) == 0 {
			dst = e.writeLeaf(dst, c.slot)
		} else {
			dst = e.writeObject(dst, c)
		}
	}
	return append(dst, '}')
}

func (e *Encoder) writeLeaf(dst []byte, slot int) []byte {
	switch k := leafSpecs[slot].kind; k {
	case kindTimestamp:
		dst = append(dst, '"')
		dst = appendRFC3339Micro(dst, e.ts)
		return append(dst, '"')
	case kindDataset:
		return append(dst, `"journald"`...)
	case kindEventKind:
		return append(dst, `"event"`...)
	case kindHostName:
		return appendJSONString(dst, []byte(e.node))
	case kindBootID:
		dst = append(dst, '"')
		dst = hexAppend(dst, e.bootID[:])
		return append(dst, '"')
	case kindCursor:
		dst = append(dst, '"')
		dst = append(dst, e.cursor...)
		return append(dst, '"')
	case kindFlags:
		dst = append(dst, '[')
		sep := false
		for _, f := range [...]struct {
			on   bool
			name string
		}{{e.flagUTF8, `"invalid_utf8"`}, {e.flagCut, `"truncated"`}, {e.flagTS, `"invalid_timestamp"`},
			{e.flagDmg, `"damaged_entry"`}, {len(e.badEnds) > 0, `"invalid_field_name"`}} {
			if f.on {
				if sep {
					dst = append(dst, ',')
				}
				dst = append(dst, f.name...)
				sep = true
			}
		}
		return append(dst, ']')
	case kindCustom:
		dst = append(dst, '{')
		for i := range e.custom {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, []byte(e.custom[i].name))
			dst = append(dst, ':')
			dst = e.writeValues(dst, e.custom[i].first, kindText)
		}
		return append(dst, '}')
	case kindInvalidFields:
		dst = append(dst, '[')
		start := 0
		for i, end := range e.badEnds {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, e.badBuf[start:end])
			dst = append(dst, '"')
			start = end
		}
		return append(dst, ']')
	case kindBase64:
		return e.writeBase64(dst)
	case kindTruncated:
		return e.writeTruncated(dst)
	default:
		return e.writeValues(dst, e.first[slot], k)
	}
}

func (e *Encoder) writeValues(dst []byte, first int32, k fieldKind) []byte {
	multi := e.vals[first].next >= 0
	if multi {
		dst = append(dst, '[')
	}
	for i := first; i >= 0; i = e.vals[i].next {
		if i != first {
			dst = append(dst, ',')
		}
		v := e.vals[i].b
		switch k {
		case kindInt:
			n, _ := parseIntPrefix(v)
			dst = append(dst, n...)
		case kindIntString:
			n, _ := parseIntPrefix(v)
			dst = append(dst, '"')
			dst = append(dst, n...)
			dst = append(dst, '"')
		default:
			dst = appendJSONString(dst, v)
		}
	}
	if multi {
		dst = append(dst, ']')
	}
	return dst
}

func (e *Encoder) writeBase64(dst []byte) []byte {
	dst = append(dst, '{')
	sep := false
	one := func(prefix, name string, first int32) {
		if sep {
			dst = append(dst, ',')
		}
		sep = true
		dst = appendPathKey(dst, prefix, name)
		dst = append(dst, ':')
		multi := e.vals[first].next >= 0
		if multi {
			dst = append(dst, '[')
		}
		for i := first; i >= 0; i = e.vals[i].next {
			if i != first {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, e.vals[i].b)
			dst = append(dst, '"')
		}
		if multi {
			dst = append(dst, ']')
		}
	}
	for slot := 0; slot < numSlots; slot++ {
		if has(e.invalid, slot) {
			one("", slotPath[slot], e.first[slot])
		}
	}
	for i := range e.custom {
		if e.custom[i].invalid {
			one(customPath, e.custom[i].name, e.custom[i].first)
		}
	}
	return append(dst, '}')
}

func (e *Encoder) writeTruncated(dst []byte) []byte {
	dst = append(dst, '[')
	sep := false
	for slot := 0; slot < numSlots; slot++ {
		if has(e.cut, slot) {
			if sep {
				dst = append(dst, ',')
			}
			sep = true
			dst = appendPathKey(dst, "", slotPath[slot])
		}
	}
	for i := range e.custom {
		if e.custom[i].cut {
			if sep {
				dst = append(dst, ',')
			}
			sep = true
			dst = appendPathKey(dst, customPath, e.custom[i].name)
		}
	}
	if e.badCut {
		if sep {
			dst = append(dst, ',')
		}
		dst = append(dst, `"journald.invalid_fields"`...)
	}
	return append(dst, ']')
}

// customPath is the document path of the custom fields.
const customPath = "journald.custom."

// appendPathKey appends the JSON string prefix+name (name is valid UTF-8).
func appendPathKey(dst []byte, prefix, name string) []byte {
	dst = appendJSONString(dst, []byte(prefix+name))
	return dst
}

// parseUint parses a plain decimal number.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parseIntPrefix validates a canonical decimal integer (what strconv would
// print back: no sign but '-', no leading zeros, at most 18 digits) and
// returns its digits. Anything else is not a number for the document and
// stays text, so that nothing is lost in the conversion.
func parseIntPrefix(b []byte) ([]byte, bool) {
	d := b
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 18 {
		return nil, false
	}
	if d[0] == '0' && (len(d) > 1 || len(d) != len(b)) {
		return nil, false // leading zero, or "-0"
	}
	for _, c := range d {
		if c < '0' || c > '9' {
			return nil, false
		}
	}
	return b, true
}

const hexDigits = "0123456789abcdef"

func hexAppend(dst, b []byte) []byte {
	for _, c := range b {
		dst = append(dst, hexDigits[c>>4], hexDigits[c&15])
	}
	return dst
}

// appendJSONString appends v as a JSON string. Bytes that are not valid
// UTF-8 become U+FFFD (callers keep the exact bytes elsewhere).
func appendJSONString(dst, v []byte) []byte { return record.AppendString(dst, v) }

// appendRFC3339Micro appends usec (microseconds since the epoch) as
// 2006-01-02T15:04:05.000000Z.
func appendRFC3339Micro(dst []byte, usec uint64) []byte {
	return record.AppendRFC3339(dst, int64(usec/1e6), int64(usec%1e6)*1000, 6)
}
