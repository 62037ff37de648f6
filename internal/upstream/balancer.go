package upstream

import (
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

type balancerKind uint8

const (
	kindRoundRobin balancerKind = iota
	kindCHash
	kindLeastConn
	kindEWMA
)

func parseKind(s string) (balancerKind, error) {
	switch s {
	case "", "roundrobin":
		return kindRoundRobin, nil
	case "chash":
		return kindCHash, nil
	case "least_conn":
		return kindLeastConn, nil
	case "ewma":
		return kindEWMA, nil
	}
	return 0, fmt.Errorf("invalid balancer type: %s", s)
}

// Attempt is one request's balancer state across its tries. The caller owns it (pool it),
// calls Reset before reusing it, and sets HashKey before the first Pick of a chash upstream.
// The zero value is ready to use.
type Attempt struct {
	// HashKey is the chash key the caller resolved from hash_on/key (APISIX falls back to
	// remote_addr when the configured source is absent; that fallback is the caller's).
	HashKey []byte

	up      *Upstream
	cur     *Node // picked and not finished
	tier    int   // index into up.tiers of the tier being tried
	tries   int
	ringPos int // chash: ring index of the last pick in the current tier
	ringSet bool
	nTried  int
	tried0  uint64 // bitset of tried node indexes 0..63
	triedN  []uint64
}

// Reset ends the current try (without an EWMA sample) and clears the attempt, HashKey
// included, for reuse.
func (a *Attempt) Reset() {
	if a.cur != nil {
		a.cur.active.Add(-1)
	}
	clear(a.triedN)
	*a = Attempt{triedN: a.triedN[:0]}
}

// Tries is how many nodes Pick handed out since the last Reset.
func (a *Attempt) Tries() int { return a.tries }

// Current is the node of the try in progress, or nil.
func (a *Attempt) Current() *Node { return a.cur }

// Finish ends the try in progress: the node's active count drops, and for an ewma upstream
// rtt (connect + response time, as APISIX measures it) is recorded when positive. Call it once
// the response was handed to the client; a retry's Pick finishes the failed try by itself.
func (a *Attempt) Finish(rtt time.Duration) {
	n := a.cur
	if n == nil {
		return
	}
	a.cur = nil
	n.active.Add(-1)
	if rtt > 0 && n.up.kind == kindEWMA {
		n.ewma.record(rtt, monoNow())
	}
}

func (a *Attempt) isTried(n *Node) bool {
	if a.nTried == 0 {
		return false
	}
	i := n.idx
	if i < 64 {
		return a.tried0&(1<<uint(i)) != 0
	}
	w := (i - 64) / 64
	return w < len(a.triedN) && a.triedN[w]&(1<<uint(i%64)) != 0
}

func (a *Attempt) markTried(n *Node) {
	if a.isTried(n) {
		return
	}
	a.nTried++
	i := n.idx
	if i < 64 {
		a.tried0 |= 1 << uint(i)
		return
	}
	w := (i - 64) / 64
	for len(a.triedN) <= w {
		a.triedN = append(a.triedN, 0)
	}
	a.triedN[w] |= 1 << uint(i%64)
}

// Pick returns the node for the next try of a, or nil when none is left (for the first try:
// no node at all, which the proxy answers with 503). A retry never returns a node a already
// tried; the nodes of a lower priority tier are used only once every node of the higher tiers
// was tried. Weight 0 nodes are never picked, except that a one-node upstream always returns
// its node, as APISIX does. Pick takes no lock shared between upstreams and allocates nothing.
func (u *Upstream) Pick(a *Attempt) *Node {
	if a.up != u {
		key := a.HashKey
		a.Reset()
		a.up, a.HashKey = u, key
	}
	if c := a.cur; c != nil { // a retry: the previous try failed
		a.cur = nil
		c.active.Add(-1)
		a.markTried(c)
	}
	if u.checks != nil {
		if !u.checking.Load() {
			u.startChecks()
		}
		return u.pickHealthy(a)
	}
	return u.pick(a)
}

// pickHealthy is pick over the healthy nodes (also for retries: once they were tried there is
// none left); only when no node is healthy are they all candidates, as APISIX's
// fetch_health_nodes does.
func (u *Upstream) pickHealthy(a *Attempt) *Node {
	if !u.anyHealthy() {
		return u.pick(a)
	}
	for range u.nodes {
		n := u.pick(a)
		if n == nil || !n.down.Load() {
			return n
		}
		// skip it for this request, as a tried node
		a.cur, a.tries = nil, a.tries-1
		n.active.Add(-1)
		a.markTried(n)
	}
	return nil
}

// anyHealthy reports a node the checks find healthy that can take traffic (weight, or the only
// node).
func (u *Upstream) anyHealthy() bool {
	for _, n := range u.nodes {
		if !n.down.Load() && (n.Weight > 0 || len(u.nodes) == 1) {
			return true
		}
	}
	return false
}

// pick is Pick's balancer step.
func (u *Upstream) pick(a *Attempt) *Node {
	var n *Node
	switch len(u.nodes) {
	case 0:
		return nil
	case 1:
		n = u.nodes[0]
	default:
		for a.tier < len(u.tiers) {
			if n = u.tiers[a.tier].pick(u.kind, a); n != nil {
				break
			}
			a.tier++
			a.ringSet = false
		}
		if n == nil {
			return nil
		}
	}
	n.active.Add(1)
	a.cur = n
	a.tries++
	return n
}

// tier is the nodes of one priority with their balancer state.
type tier struct {
	priority int
	nodes    []*Node // weight > 0, spec order

	// roundrobin: sched is one full period of nginx's smooth weighted round robin, walked
	// with an atomic counter; when the period is too long, cw drives SWRR under mu instead.
	sched []*Node
	next  atomic.Uint64
	mu    sync.Mutex
	cw    []int64

	// chash
	ring []ringPoint
}

type ringPoint struct {
	hash uint32
	node *Node
}

const (
	maxSchedule   = 4096    // longest precomputed SWRR period
	chashPoints   = 160     // ring points per unit of weight (lua-resty-chash)
	maxRingPoints = 1 << 18 // bound on ring size for very large weights
	ewmaDecay     = 10e9    // ns; APISIX DECAY_TIME 10 s
)

func buildTiers(kind balancerKind, nodes []*Node) []*tier {
	byPrio := map[int]*tier{}
	var prios []int
	for _, n := range nodes {
		t := byPrio[n.Priority]
		if t == nil {
			t = &tier{priority: n.Priority}
			byPrio[n.Priority] = t
			prios = append(prios, n.Priority)
		}
		if n.Weight > 0 {
			t.nodes = append(t.nodes, n)
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(prios)))
	tiers := make([]*tier, 0, len(prios))
	for _, p := range prios {
		t := byPrio[p]
		switch kind {
		case kindRoundRobin:
			t.sched = swrrSchedule(t.nodes)
			if t.sched == nil {
				t.cw = make([]int64, len(t.nodes))
			}
		case kindCHash:
			t.ring = buildRing(t.nodes)
		}
		tiers = append(tiers, t)
	}
	return tiers
}

func (t *tier) pick(kind balancerKind, a *Attempt) *Node {
	if len(t.nodes) == 0 {
		return nil
	}
	if a.nTried > 0 && t.allTried(a) {
		return nil
	}
	switch kind {
	case kindCHash:
		return t.pickCHash(a)
	case kindLeastConn:
		return t.pickLeastConn(a)
	case kindEWMA:
		return t.pickEWMA(a)
	}
	return t.pickRoundRobin(a)
}

func (t *tier) allTried(a *Attempt) bool {
	for _, n := range t.nodes {
		if !a.isTried(n) {
			return false
		}
	}
	return true
}

// pickRoundRobin walks the SWRR sequence, skipping nodes this request tried (as APISIX's
// roundrobin picker does, so a retry also advances the shared sequence).
func (t *tier) pickRoundRobin(a *Attempt) *Node {
	if t.sched == nil {
		return t.swrrLocked(a)
	}
	l := uint64(len(t.sched))
	for range t.sched {
		n := t.sched[(t.next.Add(1)-1)%l]
		if !a.isTried(n) {
			return n
		}
	}
	return nil
}

// swrrLocked is nginx's ngx_http_upstream_get_peer: every untried peer gains its weight, the
// largest current weight wins (first on ties) and loses the total.
func (t *tier) swrrLocked(a *Attempt) *Node {
	t.mu.Lock()
	best, total := -1, int64(0)
	for i, n := range t.nodes {
		if a.isTried(n) {
			continue
		}
		t.cw[i] += int64(n.Weight)
		total += int64(n.Weight)
		if best < 0 || t.cw[i] > t.cw[best] {
			best = i
		}
	}
	if best < 0 {
		t.mu.Unlock()
		return nil
	}
	t.cw[best] -= total
	t.mu.Unlock()
	return t.nodes[best]
}

// swrrSchedule returns one period of the SWRR sequence for nodes, or nil when it is longer
// than maxSchedule. Scaling every weight by the same factor yields the same sequence, so the
// period is sum(weights)/gcd(weights).
func swrrSchedule(nodes []*Node) []*Node {
	if len(nodes) == 0 {
		return nil
	}
	g := 0
	for _, n := range nodes {
		g = gcd(g, n.Weight)
	}
	var sum int64
	w := make([]int64, len(nodes))
	for i, n := range nodes {
		w[i] = int64(n.Weight / g)
		sum += w[i]
	}
	if sum > maxSchedule {
		return nil
	}
	cw := make([]int64, len(nodes))
	sched := make([]*Node, sum)
	for s := range sched {
		best := 0
		for i := range nodes {
			cw[i] += w[i]
			if cw[i] > cw[best] {
				best = i
			}
		}
		cw[best] -= sum
		sched[s] = nodes[best]
	}
	return sched
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func buildRing(nodes []*Node) []ringPoint {
	var sum int64
	for _, n := range nodes {
		sum += int64(n.Weight)
	}
	if sum == 0 {
		return nil
	}
	var ring []ringPoint
	for _, n := range nodes {
		pts := int64(n.Weight) * chashPoints
		if sum*chashPoints > maxRingPoints {
			pts = max(1, int64(n.Weight)*maxRingPoints/sum)
		}
		base := uint64(crc32.ChecksumIEEE([]byte(n.Addr))) << 32
		for i := int64(0); i < pts; i++ {
			ring = append(ring, ringPoint{hash: uint32(mix64(base|uint64(i)) >> 32), node: n})
		}
	}
	sort.Slice(ring, func(i, j int) bool {
		if ring[i].hash != ring[j].hash {
			return ring[i].hash < ring[j].hash
		}
		return ring[i].node.idx < ring[j].node.idx
	})
	return ring
}

// mix64 is the splitmix64 finalizer: it spreads crc32's linear output over the ring.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashKey maps a chash key to its ring position. It depends only on the key, so every
// gateway node maps a key to the same node.
func hashKey(key []byte) uint32 {
	return uint32(mix64(uint64(crc32.ChecksumIEEE(key))) >> 32)
}

// pickCHash returns the node owning the key's ring position; a retry walks on along the ring
// to the next node not tried yet (APISIX picker:next).
func (t *tier) pickCHash(a *Attempt) *Node {
	r := t.ring
	pos := 0
	if a.ringSet {
		pos = a.ringPos + 1
	} else {
		h := hashKey(a.HashKey)
		lo, hi := 0, len(r)
		for lo < hi {
			m := int(uint(lo+hi) >> 1)
			if r[m].hash < h {
				lo = m + 1
			} else {
				hi = m
			}
		}
		pos = lo
	}
	for range r {
		if pos >= len(r) {
			pos = 0
		}
		if n := r[pos].node; !a.isTried(n) {
			a.ringPos, a.ringSet = pos, true
			return n
		}
		pos++
	}
	return nil
}

// pickLeastConn returns the untried node with the lowest (active+1)/weight; ties go to the
// first from a random start so that idle nodes share sequential traffic.
func (t *tier) pickLeastConn(a *Attempt) *Node {
	l := len(t.nodes)
	start := 0
	if l > 1 {
		start = int(rand.Uint32N(uint32(l)))
	}
	var best *Node
	var bestActive int64
	for k := 0; k < l; k++ {
		i := start + k
		if i >= l {
			i -= l
		}
		n := t.nodes[i]
		if a.isTried(n) {
			continue
		}
		act := n.active.Load() + 1
		// act/w < bestActive/bestW without division
		if best == nil || act*int64(best.Weight) < bestActive*int64(n.Weight) {
			best, bestActive = n, act
		}
	}
	return best
}

// pickEWMA is APISIX's ewma picker: the better of two random untried nodes by decayed
// latency EWMA (power of two choices). Weights do not enter, as in APISIX.
func (t *tier) pickEWMA(a *Attempt) *Node {
	untried := len(t.nodes)
	if a.nTried > 0 {
		untried = 0
		for _, n := range t.nodes {
			if !a.isTried(n) {
				untried++
			}
		}
	}
	if untried == 1 {
		return t.nthUntried(a, 0)
	}
	i := int(rand.Uint32N(uint32(untried)))
	j := int(rand.Uint32N(uint32(untried - 1)))
	if j >= i {
		j++
	}
	x, y := t.nthUntried(a, i), t.nthUntried(a, j)
	now := monoNow()
	if x.ewma.score(now) > y.ewma.score(now) {
		return y
	}
	return x
}

func (t *tier) nthUntried(a *Attempt, k int) *Node {
	if a.nTried == 0 {
		return t.nodes[k]
	}
	for _, n := range t.nodes {
		if a.isTried(n) {
			continue
		}
		if k == 0 {
			return n
		}
		k--
	}
	return nil
}

// ewmaState is a node's latency EWMA in nanoseconds, decayed with a 10 s time constant.
type ewmaState struct {
	mu    sync.Mutex // serialises updates; reads are lock-free
	value atomic.Uint64
	stamp atomic.Int64 // monoNow of the last sample; 0: none yet
}

func (e *ewmaState) score(now int64) float64 {
	last := e.stamp.Load()
	if last == 0 {
		return 0
	}
	v := math.Float64frombits(e.value.Load())
	return v * math.Exp(-float64(max(now-last, 0))/ewmaDecay)
}

func (e *ewmaState) record(rtt time.Duration, now int64) {
	e.mu.Lock()
	v := float64(rtt)
	if last := e.stamp.Load(); last != 0 {
		w := math.Exp(-float64(max(now-last, 0)) / ewmaDecay)
		v = math.Float64frombits(e.value.Load())*w + float64(rtt)*(1-w)
	}
	e.value.Store(math.Float64bits(v))
	e.stamp.Store(now)
	e.mu.Unlock()
}

var monoBase = time.Now()

// monoNow is monotonic nanoseconds since package start, never 0. It reads only the monotonic
// clock: about half the cost of time.Now, which also reads the wall clock.
func monoNow() int64 { return int64(time.Since(monoBase)) + 1 }

// MonoNow is monoNow for callers that hand one reading to AcquireAt and ReleaseAt and time
// with it too (differences of two readings are durations in nanoseconds).
func MonoNow() int64 { return monoNow() }
