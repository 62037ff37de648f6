package plugin

import (
	"bytes"
	"encoding/json"
)

// JSON encodes v as APISIX's core.response.exit encodes a table body: JSON without HTML
// escaping, followed by a newline. Build constant bodies once, in New.
func JSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("plugin.JSON: " + err.Error()) // only unencodable Go values; a programming error
	}
	return b.Bytes()
}

// Message is APISIX's usual error body, {"message": msg} plus a newline.
func Message(msg string) []byte { return JSON(map[string]string{"message": msg}) }
