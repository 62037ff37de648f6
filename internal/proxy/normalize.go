package proxy

import "bytes"

// URI normalization. Two paths come out of one request target:
//
//   - the upstream path: the client's raw path with dot segments ("." and "..", also
//     spelled "%2e", "%2E%2e" ...) removed and everything else as sent — "%2F" stays "%2F";
//   - the match path ($uri): the upstream path percent-decoded with slashes merged, dot
//     segments removed again (a decoded "%2F" can form new ones, as in nginx), then the node
//     options applied (normalize_uri_like_servlet, delete_uri_tail_slash).
//
// With match_uri_encoded_slash "%2F" stays encoded in the match path, so a parameter capture
// can hold it.

// splitTarget returns the path and the query (without '?') of a request target; an
// absolute-form target loses its scheme and authority.
func splitTarget(t []byte) (path, query []byte) {
	if len(t) > 0 && t[0] != '/' {
		if i := bytes.Index(t, []byte("://")); i >= 0 {
			t = t[i+3:]
			if j := bytes.IndexAny(t, "/?"); j >= 0 {
				t = t[j:]
			} else {
				t = nil
			}
		}
	}
	if i := bytes.IndexByte(t, '?'); i >= 0 {
		path, query = t[:i], t[i+1:]
	} else {
		path = t
	}
	if len(path) == 0 || path[0] != '/' {
		path = slash
	}
	return path, query
}

var slash = []byte("/")

// dotKind classifies a raw segment: 1 for ".", 2 for "..", 0 otherwise; "%2e" counts as ".".
func dotKind(seg []byte) int {
	n := 0
	for i := 0; i < len(seg); {
		switch {
		case seg[i] == '.':
			i++
		case i+2 < len(seg) && seg[i] == '%' && seg[i+1] == '2' && (seg[i+2] == 'e' || seg[i+2] == 'E'):
			i += 3
		default:
			return 0
		}
		n++
		if n > 2 {
			return 0
		}
	}
	return n
}

// removeDotSegments appends p (which starts with '/') with dot segments resolved (RFC 3986
// §5.2.4) to dst. ".." at the root stays at the root, as in nginx. A trailing "." or ".."
// leaves a trailing slash ("/a/b/.." → "/a/").
func removeDotSegments(dst, p []byte) []byte {
	start := len(dst)
	for len(p) > 0 {
		p = p[1:] // the '/' before the segment
		var seg []byte
		i := bytes.IndexByte(p, '/')
		last := i < 0
		if last {
			seg, p = p, nil
		} else {
			seg, p = p[:i], p[i:]
		}
		switch dotKind(seg) {
		case 1:
			if last {
				dst = append(dst, '/')
			}
		case 2:
			// drop the last output segment, with its '/'
			j := len(dst) - 1
			for j >= start && dst[j] != '/' {
				j--
			}
			if j < start {
				j = start
			}
			dst = dst[:j]
			if last {
				dst = append(dst, '/')
			}
		default:
			dst = append(dst, '/')
			dst = append(dst, seg...)
		}
	}
	if len(dst) == start {
		dst = append(dst, '/')
	}
	return dst
}

// decodePath appends the percent-decoded p to dst with slashes merged (nginx merge_slashes);
// with keepSlash, "%2F" stays encoded. The target was validated, so escapes are well-formed.
func decodePath(dst, p []byte, keepSlash bool) []byte {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) {
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if d == '/' && keepSlash {
				dst = append(dst, p[i:i+3]...)
				i += 2
				continue
			}
			c = d
			i += 2
		}
		if c == '/' && len(dst) > 0 && dst[len(dst)-1] == '/' {
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// servletNormalize strips ";params" from every segment as a servlet container does. A
// segment that becomes "." or "..", or an empty one before the end, is refused (APISIX
// normalize_uri_like_servlet answers 400), so ';' cannot hide a dot segment from matching.
func servletNormalize(dst, p []byte) ([]byte, bool) {
	if bytes.IndexByte(p, ';') < 0 {
		return append(dst, p...), true
	}
	first := true
	for len(p) > 0 || first {
		var seg []byte
		i := bytes.IndexByte(p, '/')
		last := i < 0
		if last {
			seg, p = p, nil
		} else {
			seg, p = p[:i], p[i+1:]
		}
		if j := bytes.IndexByte(seg, ';'); j >= 0 {
			seg = seg[:j]
			if string(seg) == "." || string(seg) == ".." || len(seg) == 0 && !last {
				return dst, false
			}
		}
		if !first {
			dst = append(dst, '/')
		}
		dst = append(dst, seg...)
		first = false
		if last {
			break
		}
	}
	return dst, true
}

// matchPath appends $uri for the upstream path up to dst: decoded, slashes merged, dot
// segments a decoded "%2F" formed resolved, then the node options. It fails only for
// normalize_uri_like_servlet's refusals (400).
func matchPath(dst, up []byte, o *Options) ([]byte, bool) {
	start := len(dst)
	dst = decodePath(dst, up, o.MatchURIEncodedSlash)
	if bytes.Contains(dst[start:], dotSlash) {
		n := len(dst)
		dst = removeDotSegments(dst, dst[start:n])
		dst = append(dst[:start], dst[n:]...)
	}
	if o.NormalizeURILikeServlet {
		n := len(dst)
		var ok bool
		if dst, ok = servletNormalize(dst, dst[start:n]); !ok {
			return dst[:start], false
		}
		dst = append(dst[:start], dst[n:]...)
	}
	if o.DeleteURITailSlash && len(dst)-start > 1 && dst[len(dst)-1] == '/' {
		dst = dst[:len(dst)-1]
	}
	return dst, true
}

var dotSlash = []byte("/.")
