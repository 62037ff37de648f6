package trafficsplit

import (
	"math/rand/v2"
	"slices"
	"sync/atomic"
)

// wrr is lua-resty-roundrobin's interleaved weighted round robin (what APISIX's traffic-split
// uses): rounds with a current weight cw from the largest weight down to gcd in steps of gcd;
// each round yields, in order, every entry whose weight is at least cw. Weight 0 is never
// chosen unless every weight is 0 (then all take turns); a lone entry is always chosen.
//
// The sequence is periodic (period = sum of weights / gcd), so instead of the Lua object's
// mutable cursor a request takes a position from one atomic counter and computes its entry:
// no lock is shared between requests, and any window of one period has exact counts.
type wrr struct {
	period uint64
	bands  []band
	next   atomic.Uint64
}

// band is a run of rounds that yield the same entries: the rounds whose cw lies between two
// neighbouring distinct weights.
type band struct {
	span  uint64 // rounds × len(elig)
	elig  []int  // entry indexes, in configured order
	count uint64 // len(elig)
}

func newWRR(weights []int64) *wrr {
	w := &wrr{}
	var g int64
	for _, x := range weights {
		g = gcd(g, x)
	}
	if g == 0 { // every weight 0: lua-resty-roundrobin's cw is 0, which every entry meets
		all := make([]int, len(weights))
		for i := range all {
			all[i] = i
		}
		w.bands = []band{{span: uint64(len(all)), elig: all, count: uint64(len(all))}}
		w.period = uint64(len(all))
	} else {
		var levels []int64
		for _, x := range weights {
			if x > 0 && !slices.Contains(levels, x/g) {
				levels = append(levels, x/g)
			}
		}
		slices.Sort(levels)
		slices.Reverse(levels)
		for j, lv := range levels {
			lower := int64(0)
			if j+1 < len(levels) {
				lower = levels[j+1]
			}
			var elig []int
			for i, x := range weights {
				if x/g >= lv {
					elig = append(elig, i)
				}
			}
			b := band{elig: elig, count: uint64(len(elig))}
			b.span = uint64(lv-lower) * b.count
			w.bands = append(w.bands, b)
			w.period += b.span
		}
	}
	// lua-resty-roundrobin starts each object at a random entry.
	w.next.Store(rand.Uint64N(w.period))
	return w
}

// pick returns the entry index for the next request.
func (w *wrr) pick() int {
	return w.at(w.next.Add(1) - 1)
}

// at returns the entry at position k of the sequence.
func (w *wrr) at(k uint64) int {
	k %= w.period
	for i := range w.bands {
		b := &w.bands[i]
		if k < b.span {
			return b.elig[k%b.count]
		}
		k -= b.span
	}
	return w.bands[0].elig[0] // unreachable: the spans add up to the period
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
