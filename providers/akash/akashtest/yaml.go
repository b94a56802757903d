package akashtest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Limits of ParseYAML.
const (
	maxYAMLLines = 20000
	maxYAMLDepth = 64
)

// ParseYAML parses the block-style YAML subset SDLs are written in: nested
// mappings and sequences by indentation (spaces), plain, single- and
// double-quoted scalars, "# comments", "---" document markers, and flow
// forms only as "[]", "{}" or a one-line list of plain scalars ("[a, b]").
// Anchors, aliases, tags, multi-line scalars and multiple documents are
// rejected. Mappings become map[string]any, sequences []any, scalars
// string (quoted) or their plain text (string; callers convert). It exists
// so the fake needs no YAML dependency; it is not a general YAML parser.
func ParseYAML(src string) (any, error) {
	var lines []yline
	for i, raw := range strings.Split(src, "\n") {
		if len(lines) >= maxYAMLLines {
			return nil, errors.New("yaml: too many lines")
		}
		raw = strings.TrimRight(raw, " \r")
		text := strings.TrimLeft(raw, " ")
		if strings.HasPrefix(text, "\t") {
			return nil, fmt.Errorf("yaml: line %d: tab indentation", i+1)
		}
		text = stripComment(text)
		if text == "" || text == "---" && len(lines) == 0 {
			continue
		}
		if text == "---" || text == "..." {
			return nil, fmt.Errorf("yaml: line %d: only one document is supported", i+1)
		}
		lines = append(lines, yline{indent: len(raw) - len(strings.TrimLeft(raw, " ")), text: text, num: i + 1})
	}
	if len(lines) == 0 {
		return nil, errors.New("yaml: empty document")
	}
	p := &yparser{lines: lines}
	v, err := p.node(lines[0].indent, 0)
	if err != nil {
		return nil, err
	}
	if p.i < len(p.lines) {
		return nil, fmt.Errorf("yaml: line %d: unexpected indentation", p.lines[p.i].num)
	}
	return v, nil
}

type yline struct {
	indent int
	text   string
	num    int
}

type yparser struct {
	lines []yline
	i     int
}

func stripComment(s string) string {
	inS, inD := false, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inD:
			i++
		case c == '"' && !inS:
			inD = !inD
		case c == '\'' && !inD:
			inS = !inS
		case c == '#' && !inS && !inD && (i == 0 || s[i-1] == ' '):
			return strings.TrimRight(s[:i], " ")
		}
	}
	return s
}

func isItem(text string) bool { return text == "-" || strings.HasPrefix(text, "- ") }

func (p *yparser) node(indent, depth int) (any, error) {
	if depth > maxYAMLDepth {
		return nil, errors.New("yaml: nesting too deep")
	}
	if isItem(p.lines[p.i].text) {
		return p.seq(indent, depth)
	}
	return p.mapping(indent, depth)
}

func (p *yparser) seq(indent, depth int) ([]any, error) {
	out := []any{}
	for p.i < len(p.lines) && p.lines[p.i].indent == indent && isItem(p.lines[p.i].text) {
		l := p.lines[p.i]
		rest := strings.TrimLeft(strings.TrimPrefix(l.text, "-"), " ")
		if rest == "" {
			p.i++
			if p.i < len(p.lines) && p.lines[p.i].indent > indent {
				v, err := p.node(p.lines[p.i].indent, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			} else {
				out = append(out, nil)
			}
			continue
		}
		if _, _, isKey := splitKey(rest); isKey || isItem(rest) {
			// "- key: value" starts a mapping (or "- - x" a sequence)
			// whose column is that of its first key.
			col := indent + len(l.text) - len(rest)
			p.lines[p.i] = yline{indent: col, text: rest, num: l.num}
			v, err := p.node(col, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			continue
		}
		v, err := scalar(rest, l.num)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.i++
	}
	return out, nil
}

func (p *yparser) mapping(indent, depth int) (map[string]any, error) {
	out := map[string]any{}
	for p.i < len(p.lines) && p.lines[p.i].indent == indent && !isItem(p.lines[p.i].text) {
		l := p.lines[p.i]
		key, val, ok := splitKey(l.text)
		if !ok {
			return nil, fmt.Errorf("yaml: line %d: want \"key: value\", got %q", l.num, clip(l.text))
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("yaml: line %d: duplicate key %q", l.num, key)
		}
		p.i++
		var v any
		var err error
		switch {
		case val != "":
			v, err = scalar(val, l.num)
		case p.i < len(p.lines) && p.lines[p.i].indent > indent:
			v, err = p.node(p.lines[p.i].indent, depth+1)
		case p.i < len(p.lines) && p.lines[p.i].indent == indent && isItem(p.lines[p.i].text):
			v, err = p.seq(indent, depth+1)
		}
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	if p.i < len(p.lines) && p.lines[p.i].indent > indent {
		return nil, fmt.Errorf("yaml: line %d: unexpected indentation", p.lines[p.i].num)
	}
	return out, nil
}

// splitKey splits "key: value" / "key:" (key possibly quoted).
func splitKey(s string) (key, val string, ok bool) {
	if s == "" {
		return "", "", false
	}
	var rest string
	if s[0] == '"' || s[0] == '\'' {
		end := closingQuote(s)
		if end < 0 {
			return "", "", false
		}
		k, err := scalar(s[:end+1], 0)
		if err != nil {
			return "", "", false
		}
		key, rest = k.(string), s[end+1:]
		if !strings.HasPrefix(rest, ":") {
			return "", "", false
		}
		rest = rest[1:]
	} else {
		i := strings.Index(s, ": ")
		switch {
		case i >= 0:
			key, rest = s[:i], s[i+1:]
		case strings.HasSuffix(s, ":"):
			key, rest = s[:len(s)-1], ""
		default:
			return "", "", false
		}
		if strings.ContainsAny(key, "{}[]\"'") {
			return "", "", false
		}
	}
	if rest != "" && rest[0] != ' ' {
		return "", "", false
	}
	return strings.TrimSpace(key), strings.TrimSpace(rest), key != ""
}

func closingQuote(s string) int {
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			return i
		}
	}
	return -1
}

func scalar(s string, line int) (any, error) {
	switch {
	case s == "[]":
		return []any{}, nil
	case s == "{}":
		return map[string]any{}, nil
	case s[0] == '"':
		if closingQuote(s) != len(s)-1 {
			return nil, fmt.Errorf("yaml: line %d: bad double-quoted scalar", line)
		}
		v, err := strconv.Unquote(s)
		if err != nil {
			return nil, fmt.Errorf("yaml: line %d: %v", line, err)
		}
		return v, nil
	case s[0] == '\'':
		if closingQuote(s) != len(s)-1 {
			return nil, fmt.Errorf("yaml: line %d: bad single-quoted scalar", line)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	case s[0] == '[' && s[len(s)-1] == ']':
		var out []any
		for _, f := range strings.Split(s[1:len(s)-1], ",") {
			f = strings.TrimSpace(f)
			if f == "" || strings.ContainsAny(f, "[]{}\"'") {
				return nil, fmt.Errorf("yaml: line %d: only flat flow lists of plain scalars are supported", line)
			}
			out = append(out, f)
		}
		return out, nil
	case strings.ContainsAny(s[:1], "{[&*!|>%@`"):
		return nil, fmt.Errorf("yaml: line %d: unsupported YAML construct %q", line, clip(s))
	}
	return s, nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
