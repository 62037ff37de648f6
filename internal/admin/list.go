package admin

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// filterItems keeps the list entries matching every filter given (APISIX's v3_adapter.filter):
// name (regex search in value.name), label (has that label key), uri (regex search in uri or
// any of uris) and filter (URL-encoded k=v pairs compared with service_id / upstream_id).
func filterItems(items []itemEnvelope, q url.Values) []itemEnvelope {
	var preds []func(map[string]any) bool
	if name, ok := queryArg(q, "name"); ok {
		re, err := regexp.Compile(name)
		preds = append(preds, func(v map[string]any) bool {
			s, ok := v["name"].(string)
			return err == nil && ok && re.MatchString(s)
		})
	}
	if label, ok := queryArg(q, "label"); ok {
		preds = append(preds, func(v map[string]any) bool {
			labels, _ := v["labels"].(map[string]any)
			_, has := labels[label]
			return has
		})
	}
	if uri, ok := queryArg(q, "uri"); ok {
		re, err := regexp.Compile(uri)
		preds = append(preds, func(v map[string]any) bool {
			if err != nil {
				return false
			}
			if s, ok := v["uri"].(string); ok && re.MatchString(s) {
				return true
			}
			uris, _ := v["uris"].([]any)
			for _, u := range uris {
				if s, ok := u.(string); ok && re.MatchString(s) {
					return true
				}
			}
			return false
		})
	}
	if raw, ok := queryArg(q, "filter"); ok {
		pairs, _ := url.ParseQuery(raw)
		for _, field := range []string{"service_id", "upstream_id"} {
			want, ok := pairs[field]
			if !ok || len(want) == 0 {
				continue
			}
			preds = append(preds, func(v map[string]any) bool {
				got, ok := idString(v[field])
				return ok && got == want[0]
			})
		}
	}
	if len(preds) == 0 {
		return items
	}
	out := items[:0:0]
next:
	for _, it := range items {
		v, _ := it.Value.(map[string]any)
		for _, p := range preds {
			if !p(v) {
				continue next
			}
		}
		out = append(out, it)
	}
	return out
}

func queryArg(q url.Values, name string) (string, bool) {
	v, ok := q[name]
	if !ok || len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// paginate applies page/page_size when both are numbers; page_size must be 10–500 and a page
// below 1 means the first.
func paginate(items []itemEnvelope, q url.Values) ([]itemEnvelope, *errResponse) {
	rawPage, ok1 := queryArg(q, "page")
	rawSize, ok2 := queryArg(q, "page_size")
	if !ok1 || !ok2 {
		return items, nil
	}
	page, err1 := strconv.ParseFloat(strings.TrimSpace(rawPage), 64)
	size, err2 := strconv.ParseFloat(strings.TrimSpace(rawSize), 64)
	if err1 != nil || err2 != nil {
		return items, nil
	}
	if size < 10 || size > 500 {
		return nil, &errResponse{http.StatusBadRequest, "page_size must be between 10 and 500"}
	}
	if page < 1 {
		page = 1
	}
	n := int(size)
	from := (int(page) - 1) * n
	if from >= len(items) {
		return []itemEnvelope{}, nil
	}
	return items[from:min(from+n, len(items))], nil
}
