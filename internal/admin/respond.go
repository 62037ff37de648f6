package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
)

// The v3 response envelopes. Struct fields keep APISIX's key order stable in the output.
type (
	// itemEnvelope answers a single GET and is one element of a list.
	itemEnvelope struct {
		Key           string `json:"key"`
		Value         any    `json:"value"`
		CreatedIndex  int64  `json:"createdIndex"`
		ModifiedIndex int64  `json:"modifiedIndex"`
	}
	// writeEnvelope answers PUT, POST and PATCH.
	writeEnvelope struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	}
	listEnvelope struct {
		List  []itemEnvelope `json:"list"`
		Total int            `json:"total"`
	}
	deleteEnvelope struct {
		Deleted string `json:"deleted"`
		Key     string `json:"key"`
	}
)

// notFoundBody is etcd's answer for a missing key, which APISIX passes through (note `message`).
var notFoundBody = map[string]string{"message": "Key not found"}

func errorBody(msg string) map[string]string { return map[string]string{"error_msg": msg} }

// encodeJSON marshals v without HTML escaping (APISIX's cjson writes '<', '>' and '&' as is),
// followed by a newline as core.response.exit does for tables.
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// marshalValue is encodeJSON without the trailing newline, for values stored in etcd.
func marshalValue(v any) ([]byte, error) {
	b, err := encodeJSON(v)
	if err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b, []byte("\n")), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := encodeJSON(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error_msg":"failed to encode response"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeText answers with a bare string, as APISIX does for core.response.exit(code, "string")
// (e.g. "page_size must be between 10 and 500", "done").
func writeText(w http.ResponseWriter, status int, s string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(s)))
	w.WriteHeader(status)
	_, _ = w.Write([]byte(s))
}

// writeForbiddenHTML mimics nginx's `deny all` page, which is what an APISIX client outside
// allow_admin receives.
func writeForbiddenHTML(w http.ResponseWriter) {
	const page = "<html>\r\n<head><title>403 Forbidden</title></head>\r\n<body>\r\n" +
		"<center><h1>403 Forbidden</h1></center>\r\n<hr><center>sluice</center>\r\n</body>\r\n</html>\r\n"
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(http.StatusForbidden)
	_, _ = w.Write([]byte(page))
}
