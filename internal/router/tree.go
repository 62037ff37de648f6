package router

import "bytes"

// tree is a compressed byte-wise radix tree that answers "which stored keys are prefixes of
// this key", shortest first. It is built once and then only read.
type tree[T any] struct {
	root tnode[T]
}

type tnode[T any] struct {
	label    string // edge label from the parent
	has      bool
	val      T
	indices  []byte // first byte of each child's label
	children []*tnode[T]
}

// node returns the node for key, creating it (and splitting edges) as needed.
func (t *tree[T]) node(key string) *tnode[T] {
	n := &t.root
	for key != "" {
		i := bytes.IndexByte(n.indices, key[0])
		if i < 0 {
			child := &tnode[T]{label: key}
			n.indices = append(n.indices, key[0])
			n.children = append(n.children, child)
			return child
		}
		ch := n.children[i]
		l := commonPrefix(ch.label, key)
		if l < len(ch.label) {
			mid := &tnode[T]{label: ch.label[:l], indices: []byte{ch.label[l]}, children: []*tnode[T]{ch}}
			ch.label = ch.label[l:]
			n.children[i] = mid
			ch = mid
		}
		key = key[l:]
		n = ch
	}
	return n
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	i := 0
	for i < n && a[i] == b[i] {
		i++
	}
	return i
}

// prefixes appends to out the nodes holding a value whose key is a prefix of key, shortest
// first. With out backed by a caller's array it does not allocate.
func (t *tree[T]) prefixes(key []byte, out []*tnode[T]) []*tnode[T] {
	n := &t.root
	if n.has {
		out = append(out, n)
	}
	for len(key) > 0 {
		i := bytes.IndexByte(n.indices, key[0])
		if i < 0 {
			break
		}
		ch := n.children[i]
		if len(key) < len(ch.label) || string(key[:len(ch.label)]) != ch.label {
			break
		}
		key = key[len(ch.label):]
		n = ch
		if n.has {
			out = append(out, n)
		}
	}
	return out
}
