package freelist

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestAListKeepsWhatIsPutBackUpToItsBound(t *testing.T) {
	l := New[int](2)
	if _, ok := l.Get(); ok {
		t.Fatal("an empty list gave a value")
	}
	if !l.Put(1) || !l.Put(2) || l.Put(3) {
		t.Fatal("a list of 2 took the wrong values")
	}
	got := map[int]bool{}
	for i := 0; i < 2; i++ {
		v, ok := l.Get()
		if !ok {
			t.Fatal("the list lost a value")
		}
		got[v] = true
	}
	if !got[1] || !got[2] || l.Len() != 0 {
		t.Fatalf("got %v, %d left", got, l.Len())
	}
}

// TestAListSurvivesGarbageCollections is why the package exists: a
// sync.Pool is empty after two collections, a List in use is not.
func TestAListSurvivesGarbageCollections(t *testing.T) {
	l := New[*[]byte](4)
	for i := 0; i < 4; i++ {
		b := make([]byte, 1<<20)
		l.Put(&b)
	}
	for i := 0; i < 3; i++ {
		runtime.GC()
	}
	if n := l.Len(); n != 4 {
		t.Fatalf("after three collections the list holds %d values, want 4", n)
	}
}

func TestAnIdleListIsEmptiedAtAGarbageCollection(t *testing.T) {
	var mu sync.Mutex
	at := time.Unix(1000, 0)
	fake := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	clock.Store(&fake)
	defer clock.Store(nil)
	busy, idle := New[int](4), New[int](4)
	idle.Put(1)
	busy.Put(1)
	mu.Lock()
	at = at.Add(IdleAfter + time.Second)
	mu.Unlock()
	busy.Put(2) // used just now
	deadline := time.Now().Add(10 * time.Second)
	for idle.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle list was not emptied by the collections")
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
	if busy.Len() != 2 {
		t.Fatalf("the busy list holds %d values, want 2", busy.Len())
	}
}

// TestTrimIdleEmptiesTheListsUnusedThatLong: TrimIdle empties at once
// (no collection needed) the Lists unused for the given time, and only
// those.
func TestTrimIdleEmptiesTheListsUnusedThatLong(t *testing.T) {
	at := time.Unix(2000, 0)
	fake := func() time.Time { return at }
	clock.Store(&fake)
	defer clock.Store(nil)
	busy, idle := New[int](4), New[int](4)
	idle.Put(1)
	at = at.Add(10 * time.Second)
	busy.Put(1)
	at = at.Add(5 * time.Second)
	TrimIdle(10 * time.Second)
	if idle.Len() != 0 {
		t.Errorf("the list unused for 15 s holds %d values, want 0", idle.Len())
	}
	if busy.Len() != 1 {
		t.Errorf("the list used 5 s ago holds %d values, want 1", busy.Len())
	}
}
