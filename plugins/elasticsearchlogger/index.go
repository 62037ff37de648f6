package elasticsearchlogger

import (
	"strconv"
	"strings"
	"time"

	"github.com/sluicegw/sluice/internal/vartemplate"
	"github.com/sluicegw/sluice/plugin"
)

// indexTemplate is a compiled field.index: `{<strftime format>}` segments (a `{` not preceded
// by `$`) are replaced by the current local time, then `$var` / `${var}` references are
// resolved, as APISIX's resolve_index_vars does.
type indexTemplate struct {
	static  string // the index when it has neither segments nor variables
	dynamic bool
	parts   []indexPart
}

type indexPart struct {
	time string                // a strftime format, or
	tpl  *vartemplate.Template // a text with variables
}

func compileIndex(s string) *indexTemplate {
	it := &indexTemplate{}
	var parts []indexPart
	lit := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '{' || (i > 0 && s[i-1] == '$') {
			continue
		}
		end := strings.IndexByte(s[i+1:], '}')
		if end < 0 {
			break
		}
		if lit < i {
			parts = append(parts, indexPart{tpl: vartemplate.Compile(s[lit:i])})
		}
		parts = append(parts, indexPart{time: s[i+1 : i+1+end]})
		i += end + 1
		lit = i + 1
	}
	if lit < len(s) {
		parts = append(parts, indexPart{tpl: vartemplate.Compile(s[lit:])})
	}
	for _, p := range parts {
		if p.tpl == nil {
			it.dynamic = true
		} else if _, ok := p.tpl.Static(); !ok {
			it.dynamic = true
		}
	}
	if !it.dynamic {
		it.static = s
		return it
	}
	it.parts = parts
	return it
}

// resolve renders the index for one request (log phase).
func (it *indexTemplate) resolve(vars plugin.Vars, now time.Time) string {
	if !it.dynamic {
		return it.static
	}
	var b []byte
	for _, p := range it.parts {
		if p.tpl == nil {
			b = strftime(b, p.time, now)
			continue
		}
		b, _ = p.tpl.Append(b, vars)
	}
	return string(b)
}

var (
	shortDays   = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays    = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	shortMonths = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	longMonths  = []string{"January", "February", "March", "April", "May", "June", "July", "August",
		"September", "October", "November", "December"}
)

// strftime appends t formatted as C's strftime (Lua's os.date) does for the common
// conversions; an unknown conversion is copied as written.
func strftime(dst []byte, format string, t time.Time) []byte {
	pad := func(dst []byte, n, width int) []byte {
		s := strconv.Itoa(n)
		for i := len(s); i < width; i++ {
			dst = append(dst, '0')
		}
		return append(dst, s...)
	}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' || i+1 == len(format) {
			dst = append(dst, c)
			continue
		}
		i++
		switch format[i] {
		case 'Y':
			dst = pad(dst, t.Year(), 4)
		case 'y':
			dst = pad(dst, t.Year()%100, 2)
		case 'm':
			dst = pad(dst, int(t.Month()), 2)
		case 'd':
			dst = pad(dst, t.Day(), 2)
		case 'e':
			if t.Day() < 10 {
				dst = append(dst, ' ')
			}
			dst = strconv.AppendInt(dst, int64(t.Day()), 10)
		case 'H':
			dst = pad(dst, t.Hour(), 2)
		case 'I':
			dst = pad(dst, (t.Hour()+11)%12+1, 2)
		case 'M':
			dst = pad(dst, t.Minute(), 2)
		case 'S':
			dst = pad(dst, t.Second(), 2)
		case 'j':
			dst = pad(dst, t.YearDay(), 3)
		case 'p':
			if t.Hour() < 12 {
				dst = append(dst, "AM"...)
			} else {
				dst = append(dst, "PM"...)
			}
		case 'a':
			dst = append(dst, shortDays[t.Weekday()]...)
		case 'A':
			dst = append(dst, longDays[t.Weekday()]...)
		case 'b', 'h':
			dst = append(dst, shortMonths[t.Month()-1]...)
		case 'B':
			dst = append(dst, longMonths[t.Month()-1]...)
		case 'u':
			dst = strconv.AppendInt(dst, int64((int(t.Weekday())+6)%7+1), 10)
		case 'w':
			dst = strconv.AppendInt(dst, int64(t.Weekday()), 10)
		case 'F':
			dst = strftime(dst, "%Y-%m-%d", t)
		case 'T':
			dst = strftime(dst, "%H:%M:%S", t)
		case 'D':
			dst = strftime(dst, "%m/%d/%y", t)
		case 's':
			dst = strconv.AppendInt(dst, t.Unix(), 10)
		case 'z':
			dst = t.AppendFormat(dst, "-0700")
		case 'Z':
			dst = t.AppendFormat(dst, "MST")
		case 'V':
			_, w := t.ISOWeek()
			dst = pad(dst, w, 2)
		case 'G':
			y, _ := t.ISOWeek()
			dst = pad(dst, y, 4)
		case '%':
			dst = append(dst, '%')
		default:
			dst = append(dst, '%', format[i])
		}
	}
	return dst
}
