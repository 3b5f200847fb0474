package journalfile

import (
	"encoding/binary"
	"math/bits"
)

// The hashes systemd stores in DATA objects (journal_file_hash_data):
// siphash24 keyed by the file id when the header has KEYED_HASH, else
// Jenkins' lookup3 hashlittle2 folded to 64 bits. They are small, fixed,
// and have to match systemd bit for bit, so they are written out here; the
// corpus test checks every DATA object of every file against them.

// hashData returns the hash systemd would store for payload in a file with
// header h.
func hashData(h *Header, payload []byte) uint64 {
	if h.KeyedHash() {
		return siphash24(payload, &h.FileID)
	}
	return jenkinsHash64(payload)
}

// jenkinsHash64 is systemd's jenkins_hash64: hashlittle2 with both seeds 0,
// the primary result in the high half.
func jenkinsHash64(k []byte) uint64 {
	c, b := hashlittle2(k, 0, 0)
	return uint64(c)<<32 | uint64(b)
}

// hashlittle2 is Bob Jenkins' lookup3 hashlittle2 (public domain), reading
// the key as little-endian words, which is what the byte-wise and the
// aligned variants of the original all compute.
func hashlittle2(k []byte, pc, pb uint32) (uint32, uint32) {
	a := 0xdeadbeef + uint32(len(k)) + pc
	b, c := a, a+pb
	for len(k) > 12 {
		a += binary.LittleEndian.Uint32(k)
		b += binary.LittleEndian.Uint32(k[4:])
		c += binary.LittleEndian.Uint32(k[8:])
		// mix
		a -= c
		a ^= bits.RotateLeft32(c, 4)
		c += b
		b -= a
		b ^= bits.RotateLeft32(a, 6)
		a += c
		c -= b
		c ^= bits.RotateLeft32(b, 8)
		b += a
		a -= c
		a ^= bits.RotateLeft32(c, 16)
		c += b
		b -= a
		b ^= bits.RotateLeft32(a, 19)
		a += c
		c -= b
		c ^= bits.RotateLeft32(b, 4)
		b += a
		k = k[12:]
	}
	if len(k) == 0 {
		return c, b
	}
	var tail [12]byte
	copy(tail[:], k)
	a += binary.LittleEndian.Uint32(tail[0:])
	b += binary.LittleEndian.Uint32(tail[4:])
	c += binary.LittleEndian.Uint32(tail[8:])
	// final
	c ^= b
	c -= bits.RotateLeft32(b, 14)
	a ^= c
	a -= bits.RotateLeft32(c, 11)
	b ^= a
	b -= bits.RotateLeft32(a, 25)
	c ^= b
	c -= bits.RotateLeft32(b, 16)
	a ^= c
	a -= bits.RotateLeft32(c, 4)
	b ^= a
	b -= bits.RotateLeft32(a, 14)
	c ^= b
	c -= bits.RotateLeft32(b, 24)
	return c, b
}

// siphash24 is SipHash-2-4 with a 128-bit key, as systemd's siphash24().
func siphash24(m []byte, key *ID128) uint64 {
	k0 := binary.LittleEndian.Uint64(key[0:])
	k1 := binary.LittleEndian.Uint64(key[8:])
	v0 := k0 ^ 0x736f6d6570736575
	v1 := k1 ^ 0x646f72616e646f6d
	v2 := k0 ^ 0x6c7967656e657261
	v3 := k1 ^ 0x7465646279746573
	n := len(m)
	for len(m) >= 8 {
		w := binary.LittleEndian.Uint64(m)
		v3 ^= w
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
		v0 ^= w
		m = m[8:]
	}
	var tail [8]byte
	copy(tail[:], m)
	tail[7] = byte(n)
	w := binary.LittleEndian.Uint64(tail[:])
	v3 ^= w
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0 ^= w
	v2 ^= 0xff
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	v0, v1, v2, v3 = sipRound(v0, v1, v2, v3)
	return v0 ^ v1 ^ v2 ^ v3
}

func sipRound(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}
