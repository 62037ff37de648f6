package uriblocker

import (
	"encoding/json"
	"regexp"
	"strings"

	"github.com/sluicegw/sluice/internal/model"
	"github.com/sluicegw/sluice/plugin"
)

type conf struct {
	BlockRules      []string `json:"block_rules"`
	RejectedCode    int      `json:"rejected_code"`
	RejectedMsg     *string  `json:"rejected_msg"`
	CaseInsensitive bool     `json:"case_insensitive"`
}

// URIBlocker is one compiled uri-blocker conf.
type URIBlocker struct {
	re   *regexp.Regexp
	code int
	body []byte // nil without rejected_msg: the exit carries nginx's page for code
}

var requestURI = plugin.ParseVar("request_uri")

// New compiles a conf (plugins.md §4 uri-blocker), applying the schema defaults.
func New(raw json.RawMessage, _ plugin.Env) (any, error) {
	c := conf{RejectedCode: 403}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, err
	}
	for _, r := range c.BlockRules {
		if err := model.CheckRegex(r); err != nil {
			return nil, err
		}
	}
	// APISIX joins the rules with '|' into one regex and prefixes (?i) when case_insensitive.
	expr := strings.Join(c.BlockRules, "|")
	if c.CaseInsensitive {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	p := &URIBlocker{re: re, code: c.RejectedCode}
	if c.RejectedMsg != nil {
		p.body = plugin.JSON(map[string]string{"error_msg": *c.RejectedMsg})
	}
	return p, nil
}

// Rewrite searches $request_uri (the raw target, query included) for any rule.
func (p *URIBlocker) Rewrite(c plugin.Ctx) {
	uri, _ := c.Lookup(&requestURI)
	if p.re.Match(uri) {
		c.Exit(p.code, p.body)
	}
}

var _ plugin.Rewriter = (*URIBlocker)(nil)
