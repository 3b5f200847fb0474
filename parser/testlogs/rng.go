package testlogs

// rng is SplitMix64: small, fast, and integer-only, so that a seed gives the
// same bytes on every Go version and architecture (math/rand/v2's derived
// methods are not promised stable, and floating point may fuse differently
// on other architectures; nothing here uses floats).
type rng struct{ s uint64 }

func newRNG(seed uint64) rng { return rng{s: mix64(seed ^ 0x6c6f6773706f6f6c)} }

func (r *rng) u64() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// mix64 is SplitMix64's finaliser, a bijection on uint64.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// n returns a number in [0, n), n < 2^32.
func (r *rng) n(n int) int { return int((r.u64() >> 32) * uint64(n) >> 32) }

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.n(hi-lo+1) }

// chance is true per mille times in a thousand.
func (r *rng) chance(perMille int) bool { return r.n(1000) < perMille }

// skew returns a number in [0, n) drawn towards 0: the minimum of k uniform
// draws, so the first few values of a list ordered by popularity dominate,
// as client addresses, paths and user agents do in real traffic.
func (r *rng) skew(n, k int) int {
	m := r.n(n)
	for i := 1; i < k; i++ {
		m = min(m, r.n(n))
	}
	return m
}

// pick returns a skewed element of a list ordered by popularity.
func pick[T any](r *rng, list []T) T { return list[r.skew(len(list), 3)] }

// any returns a uniform element.
func anyOf[T any](r *rng, list []T) T { return list[r.n(len(list))] }

// geometric returns k >= 0 with probability 2^-(k+1): the number of trailing
// zero bits of a random word.
func (r *rng) geometric() int {
	u := r.u64() | 1<<63
	k := 0
	for u&1 == 0 {
		u >>= 1
		k++
	}
	return k
}

// heavy returns a long-tailed number around typical: typical scaled by a
// factor from 1/4 up to about 2^10, most often near 1.
func (r *rng) heavy(typical int) int {
	v := typical/4 + r.n(typical)
	for k := r.geometric(); k > 0 && v < typical<<10; k-- {
		v += r.n(v + 1)
	}
	return v
}
