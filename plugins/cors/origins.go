package cors

import (
	"regexp"
	"strings"

	"github.com/sluicegw/sluice/internal/model"
)

type ruleKind uint8

const (
	ruleAny     ruleKind = iota // "*"
	ruleEcho                    // "**": the request Origin, "*" without one
	ruleList                    // "a,b": the request Origin when it is one of them
	ruleLiteral                 // a single origin (or "null"), sent as configured
	ruleRegex                   // *_by_regex: the request Origin when the joined rules match
)

// originRule is one compiled origins setting (allow_origins, a metadata entry,
// timing_allow_origins or a *_by_regex list).
type originRule struct {
	kind    ruleKind
	set     map[string]struct{}
	literal string
	re      *regexp.Regexp
}

// outcome is what an origin rule yields for a request.
type outcome uint8

const (
	outNone   outcome = iota // nil in APISIX: no header
	outStar                  // "*"
	outOrigin                // the request Origin itself
	outOther                 // some other configured value: never sent (it is not the Origin)
)

func newOriginRule(s string) originRule {
	switch {
	case s == "*":
		return originRule{kind: ruleAny}
	case s == "**":
		return originRule{kind: ruleEcho}
	case strings.Contains(s, ","):
		r := originRule{kind: ruleList, set: map[string]struct{}{}}
		for _, o := range strings.Split(s, ",") {
			if o != "" {
				r.set[o] = struct{}{}
			}
		}
		return r
	}
	return originRule{kind: ruleLiteral, literal: s}
}

// newRegexRule joins the rules with '|' as APISIX does; each must be a valid RE2 regex.
func newRegexRule(rules []string) (originRule, error) {
	for _, r := range rules {
		if err := model.CheckRegex(r); err != nil {
			return originRule{}, err
		}
	}
	re, err := regexp.Compile(strings.Join(rules, "|"))
	if err != nil {
		return originRule{}, err
	}
	return originRule{kind: ruleRegex, re: re}, nil
}

// eval applies the rule to the request Origin (has: the header was present). matched is
// APISIX's match_origins(req_origin, result): the result equals the Origin (nil equal to an
// absent Origin) or is "*".
func (r *originRule) eval(origin string, has bool) (out outcome, matched bool) {
	switch r.kind {
	case ruleAny:
		return outStar, true
	case ruleEcho:
		if has {
			return outOrigin, true
		}
		return outStar, true
	case ruleList:
		if _, ok := r.set[origin]; ok && has {
			return outOrigin, true
		}
		return outNone, !has
	case ruleLiteral:
		if has && r.literal == origin {
			return outOrigin, true
		}
		return outOther, false
	default: // ruleRegex
		if has && r.re.MatchString(origin) {
			return outOrigin, true
		}
		return outNone, !has
	}
}
