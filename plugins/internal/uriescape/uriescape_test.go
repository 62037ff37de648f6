package uriescape

import "testing"

func TestAppendURI(t *testing.T) {
	for in, want := range map[string]string{
		"/a b":      "/a%20b",
		"/a#b?c%d":  "/a%23b%3Fc%25d",
		"/中":        "/%E4%B8%AD",
		"/a/b~_-.":  "/a/b~_-.",
		"/\x7f\x01": "/%7F%01",
	} {
		if got := string(AppendURI(nil, []byte(in))); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
