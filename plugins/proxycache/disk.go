package proxycache

import (
	"bufio"
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// A cache file is the body followed by a trailer: meta | uint32 LE len(meta) | magic. Files are
// written under a temporary name and renamed into place when complete, and a file whose
// trailer does not check out is discarded on load, so a crash never serves a torn body.
const (
	fileMagic  = "SLUICEC1"
	trailerLen = 4 + 8 // length + magic
	tempPrefix = ".tmp-"
)

// filePath is nginx's layout: <path>/<levels of the md5's last hex digits>/<md5 of the key>.
func (z *zone) filePath(key string) string {
	sum := md5.Sum([]byte(key))
	h := hex.EncodeToString(sum[:])
	var b strings.Builder
	b.WriteString(z.spec.DiskPath)
	end := len(h)
	for _, n := range z.levels {
		b.WriteByte(os.PathSeparator)
		b.WriteString(h[end-n : end])
		end -= n
	}
	b.WriteByte(os.PathSeparator)
	b.WriteString(h)
	return b.String()
}

// diskWriter receives one response body on its way to the client.
type diskWriter struct {
	f   *os.File
	w   *bufio.Writer
	n   int64
	err error
}

func (z *zone) newDiskWriter() (*diskWriter, error) {
	f, err := os.CreateTemp(z.spec.DiskPath, tempPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("proxy-cache zone %s: %w", z.spec.Name, err)
	}
	return &diskWriter{f: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

func (d *diskWriter) write(p []byte) {
	if d.err != nil {
		return
	}
	n, err := d.w.Write(p)
	d.n += int64(n)
	d.err = err
}

// abort discards the partial file.
func (d *diskWriter) abort() {
	_ = d.f.Close()
	_ = os.Remove(d.f.Name())
}

// commit completes the file for e and stores it under base in z.
func (z *zone) commitDisk(d *diskWriter, base string, vary []string, e *entry) error {
	e.bodyLen = d.n
	meta := encodeMeta(base, vary, e)
	d.write(meta)
	var tl [trailerLen]byte
	binary.LittleEndian.PutUint32(tl[:4], uint32(len(meta)))
	copy(tl[4:], fileMagic)
	d.write(tl[:])
	if d.err == nil {
		d.err = d.w.Flush()
	}
	if err := d.f.Close(); d.err == nil {
		d.err = err
	}
	if d.err != nil {
		_ = os.Remove(d.f.Name())
		return d.err
	}
	e.path = z.filePath(e.key)
	e.size = d.n + int64(len(meta)) + trailerLen
	e.meta = metaCost(base, e)
	if err := os.MkdirAll(filepath.Dir(e.path), 0o700); err != nil {
		_ = os.Remove(d.f.Name())
		return err
	}
	tmp := d.f.Name()
	if err := z.insert(base, vary, e, func() error { return os.Rename(tmp, e.path) }); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// metaCost approximates the bytes an index entry holds in memory.
func metaCost(base string, e *entry) int64 {
	n := int64(200 + len(base) + len(e.key) + len(e.path))
	for _, h := range e.headers {
		n += int64(len(h.name) + len(h.value) + 40)
	}
	return n
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func encodeMeta(base string, vary []string, e *entry) []byte {
	b := make([]byte, 0, 256)
	b = appendString(b, e.key)
	b = appendString(b, base)
	b = binary.AppendUvarint(b, uint64(len(vary)))
	for _, v := range vary {
		b = appendString(b, v)
	}
	b = binary.AppendUvarint(b, uint64(e.status))
	b = binary.AppendVarint(b, e.stored)
	b = binary.AppendVarint(b, e.expires)
	b = binary.AppendVarint(b, int64(e.ttl))
	b = binary.AppendUvarint(b, uint64(e.bodyLen))
	b = binary.AppendUvarint(b, uint64(len(e.headers)))
	for _, h := range e.headers {
		b = appendString(b, h.name)
		b = appendString(b, h.value)
	}
	return b
}

type metaReader struct {
	b   []byte
	err error
}

func (r *metaReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errors.New("bad meta")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *metaReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errors.New("bad meta")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *metaReader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errors.New("bad meta")
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func decodeMeta(b []byte) (base string, vary []string, e *entry, err error) {
	r := &metaReader{b: b}
	e = &entry{}
	e.key = r.str()
	base = r.str()
	nv := r.uvarint()
	if nv > 1024 {
		return "", nil, nil, errors.New("bad meta")
	}
	for i := uint64(0); i < nv && r.err == nil; i++ {
		vary = append(vary, r.str())
	}
	e.status = int(r.uvarint())
	e.stored = r.varint()
	e.expires = r.varint()
	e.ttl = time.Duration(r.varint())
	e.bodyLen = int64(r.uvarint())
	nh := r.uvarint()
	if nh > 10000 {
		return "", nil, nil, errors.New("bad meta")
	}
	for i := uint64(0); i < nh && r.err == nil; i++ {
		h := header{name: r.str(), value: r.str()}
		e.headers = append(e.headers, h)
	}
	markRepeats(e.headers)
	return base, vary, e, r.err
}

// markRepeats flags the second and later headers of one name, to be replayed with Add.
func markRepeats(hs []header) {
	for i := range hs {
		for j := 0; j < i; j++ {
			if strings.EqualFold(hs[i].name, hs[j].name) {
				hs[i].add = true
				break
			}
		}
	}
}

// load rebuilds a disk zone's index from its files (nginx's cache loader), dropping partial
// files left by a crash and files whose trailer does not check out.
func (z *zone) load() error {
	if err := os.MkdirAll(z.spec.DiskPath, 0o700); err != nil {
		return err
	}
	return filepath.WalkDir(z.spec.DiskPath, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		name := d.Name()
		if strings.HasPrefix(name, tempPrefix) {
			_ = os.Remove(path)
			return nil
		}
		if len(name) != 32 || !isHex(name) {
			return nil // not ours: leave it
		}
		base, vary, e, err := readTrailer(path)
		if err != nil || z.filePath(e.key) != path {
			_ = os.Remove(path)
			return nil
		}
		e.path = path
		e.meta = metaCost(base, e)
		_ = z.insert(base, vary, e, nil)
		return nil
	})
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

func readTrailer(path string) (string, []string, *entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", nil, nil, err
	}
	size := st.Size()
	if size < trailerLen {
		return "", nil, nil, errors.New("short file")
	}
	var tl [trailerLen]byte
	if _, err := f.ReadAt(tl[:], size-trailerLen); err != nil {
		return "", nil, nil, err
	}
	if string(tl[4:]) != fileMagic {
		return "", nil, nil, errors.New("no trailer")
	}
	ml := int64(binary.LittleEndian.Uint32(tl[:4]))
	if ml > 1<<20 || ml > size-trailerLen {
		return "", nil, nil, errors.New("bad trailer")
	}
	meta := make([]byte, ml)
	if _, err := f.ReadAt(meta, size-trailerLen-ml); err != nil {
		return "", nil, nil, err
	}
	base, vary, e, err := decodeMeta(meta)
	if err != nil {
		return "", nil, nil, err
	}
	if e.bodyLen != size-trailerLen-ml {
		return "", nil, nil, errors.New("size mismatch")
	}
	e.size = size
	e.lastUse.Store(e.stored)
	return base, vary, e, nil
}

// fileBody streams a cached body from its file; the runtime closes it.
type fileBody struct {
	f *os.File
	r io.LimitedReader
}

func (b *fileBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *fileBody) Close() error               { return b.f.Close() }

// openBody opens e's body for streaming; an error means the file is gone.
func openBody(e *entry) (*fileBody, error) {
	f, err := os.Open(e.path)
	if err != nil {
		return nil, err
	}
	b := &fileBody{f: f}
	b.r = io.LimitedReader{R: f, N: e.bodyLen}
	return b, nil
}
