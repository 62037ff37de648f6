package accesslog

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/sluicegw/sluice/plugin/plugintest"
)

func newCtx() *plugintest.Ctx {
	c := plugintest.New()
	c.ReqHeader.Set("User-Agent", `curl "7"`)
	c.ReqHeader.Set("Authorization", "Basic amFjazpwdw==") // jack:pw
	c.Info.Start = time.Now().Add(-1500 * time.Millisecond)
	c.Info.UpAddr, c.Info.UpStatus, c.Info.UpLatency = "127.0.0.1:1980", 200, 1200*time.Millisecond
	return c
}

func TestDefaultFormatLine(t *testing.T) {
	l := &Log{segs: compile(DefaultFormat)}
	got := string(l.format(nil, newCtx()))
	// $http_host is absent (plugintest has no Host header): "-"; the upstream request
	// variables are empty without accesslog.Extra
	want := regexp.MustCompile(`^127\.0\.0\.1 - jack \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] - "GET / " 200 0 1\.5\d\d "-" "curl \\x227\\x22" 127\.0\.0\.1:1980 200 1\.200 "://"$`)
	if !want.MatchString(got) {
		t.Errorf("line:\n%s\ndoes not match\n%s", got, want)
	}
}

func TestEscapesAndVariables(t *testing.T) {
	c := newCtx()
	c.ReqHeader.Set("X-Odd", "a\"b\\c\td\xff")
	for esc, want := range map[escape]string{
		escapeDefault: `a\x22b\x5Cc\x09d\xFF|$-|-`,
		escapeJSON:    `a\"b\\c\td` + "\xff" + `|$|`, // absent: nothing, as nginx's json escaping
		escapeNone:    "a\"b\\c\td\xff|$|",
	} {
		l := &Log{segs: compile(`$http_x_odd|$${x}|${http_missing}`), esc: esc}
		if got := string(l.format(nil, c)); got != want {
			t.Errorf("escape %d: %q, want %q", esc, got, want)
		}
	}
}

func TestFileReopenAfterRotate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "logs", "access.log")
	l, err := Open(Options{Path: path, Format: "$status $remote_addr"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.Record(newCtx(), 1)
	l.Flush()
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	c := newCtx()
	c.StatusV = 404
	l.Record(c, 2)
	if err := l.Reopen(); err != nil { // flushes the 404 into the rotated file first
		t.Fatal(err)
	}
	c.StatusV = 502
	l.Record(c, 3)
	l.Flush()
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if string(old) != "200 127.0.0.1\n404 127.0.0.1\n" || string(cur) != "502 127.0.0.1\n" {
		t.Errorf("rotated %q, current %q", old, cur)
	}
}

func BenchmarkRecordDefaultFormat(b *testing.B) {
	l, err := Open(Options{Path: filepath.Join(b.TempDir(), "access.log")})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c := newCtx()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.Record(c, uint64(i))
	}
}
