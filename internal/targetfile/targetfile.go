// Package targetfile reads the list of real servers to drain from a file
// the operator writes: either a JSON array of clb.Target objects
//
//	[{"InstanceId":"ins-abc12345","Port":80},{"EniIp":"10.0.0.5","Port":8080}]
//
// or one target a line, in the form clb.Target.String prints:
//
//	# web tier, zone A
//	ins-abc12345:80
//	10.0.0.5:8080
//	[fd00::5]:8080
//
// A weight (host:port@50, or "Weight" in JSON) is refused: a drain keeps
// each target's own weight until it removes it, so a weight there would mean
// nothing. It checks syntax only; what the values mean (ID formats, port
// ranges) is checked by workflows.Validate.
package targetfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/clbdrain/clbdrain/internal/clb"
)

// maxValueLen bounds the text quoted back in an error, so that a binary
// file given by mistake does not flood the terminal.
const maxValueLen = 120

// Parse reads targets from r, in either format. A file whose first
// character (after spaces and a UTF-8 byte order mark) is "{", or "[" followed
// by "{" or "]", is JSON; anything else is one target a line, where blank
// lines and text after "#" are ignored (when a line cannot be read, the other
// lines' own problems are reported with it). Every bad line is reported at once,
// as a *clb.ValidationError whose problems name the line
// ("targets file line 3") and quote its text.
func Parse(r io.Reader) ([]clb.Target, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading targets: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if isJSON(data) {
		return parseJSON(data)
	}
	return parseLines(string(data))
}

// isJSON tells the formats apart: a line file may start with "[" too, for
// an IPv6 target such as [fd00::5]:80, but never with "[{" or "[]".
func isJSON(data []byte) bool {
	rest := bytes.TrimLeftFunc(data, unicode.IsSpace)
	if len(rest) == 0 {
		return false
	}
	if rest[0] == '{' {
		return true
	}
	if rest[0] != '[' {
		return false
	}
	rest = bytes.TrimLeftFunc(rest[1:], unicode.IsSpace)
	return len(rest) == 0 || rest[0] == '{' || rest[0] == ']'
}

func lineField(n int) string {
	return "targets file line " + strconv.Itoa(n)
}

func quoteValue(s string) string {
	if len(s) <= maxValueLen {
		return s
	}
	cut := maxValueLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

func parseLines(text string) ([]clb.Target, error) {
	var (
		targets  []clb.Target
		problems []clb.Problem
		syntax   bool
	)
	for i, line := range strings.Split(text, "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		t, reason := parseLine(line)
		if reason != "" {
			problems = append(problems, clb.Problem{Field: lineField(i + 1), Value: quoteValue(line), Reason: reason})
			syntax = true
			continue
		}
		targets = append(targets, t)
		problems = append(problems, clb.ValidateTarget(lineField(i+1), t)...)
	}
	if syntax {
		// The caller gets no targets to validate, so the other lines'
		// problems (an ID's format, a port's range) are reported here, by
		// line, and every problem of the file shows at once.
		return nil, clb.Err(problems)
	}
	return targets, nil
}

// parseLine parses one target written as clb.Target.String writes it:
// "ins-abc12345:80", "10.0.0.5:8080", "[fd00::5]:8080". The line must be
// trimmed and free of comments. On a syntax error it returns the reason,
// else "".
//
// A host in brackets, one with a colon, or one starting with a digit is an
// EniIp; one starting with a letter is an InstanceId; anything else (a
// quote, a brace) is a syntax error. A bracketed host must be an IPv6
// address. An unbracketed one with colons is accepted only as an
// IPv4-mapped address (::ffff:10.0.0.5), whose dotted end keeps the port
// apart and which is how clb.Target.Key writes it.
func parseLine(line string) (clb.Target, string) {
	var t clb.Target
	if strings.IndexFunc(line, unicode.IsSpace) >= 0 {
		return t, "has a space inside: write one target a line, as host:port"
	}
	if at := strings.LastIndexByte(line, '@'); at >= 0 {
		return t, "has a weight (@" + line[at+1:] + "): " + noWeight + ", so write host:port alone"
	}
	hostPort := line
	colon := strings.LastIndexByte(hostPort, ':')
	if colon < 0 {
		return t, "has no port: write host:port, such as ins-abc12345:80 or [fd00::5]:8080"
	}
	host, portText := hostPort[:colon], hostPort[colon+1:]
	port, err := strconv.ParseInt(portText, 10, 64)
	if err != nil {
		return t, "port " + strconv.Quote(portText) + " is not a number"
	}
	t.Port = port
	switch {
	case host == "":
		return t, "has no host before the port: write an InstanceId or an IP address"
	case host[0] == '[':
		inner, ok := strings.CutSuffix(host[1:], "]")
		addr, err := netip.ParseAddr(inner)
		if !ok || err != nil || !addr.Is6() {
			return t, "brackets must hold an IPv6 address, such as [fd00::5]:8080"
		}
		t.EniIp = inner
	case strings.Contains(host, ":"):
		if addr, err := netip.ParseAddr(host); err != nil || !addr.Is4In6() {
			return t, "an IPv6 address must be in brackets, such as [fd00::5]:8080"
		}
		t.EniIp = host
	case host[0] >= '0' && host[0] <= '9':
		t.EniIp = host
	case host[0] >= 'a' && host[0] <= 'z' || host[0] >= 'A' && host[0] <= 'Z':
		t.InstanceId = host
	default:
		return t, "host " + strconv.Quote(host) + " is neither an InstanceId (ins-abc12345) nor an IP address"
	}
	return t, ""
}

// exampleObject shows the expected shape of a JSON target in errors.
const exampleObject = `{"InstanceId":"ins-abc12345","Port":80} or {"EniIp":"10.0.0.5","Port":8080}`

// noWeight is why a weight is refused.
const noWeight = "a drain takes no weights (it reads each target's weight from the load balancer, to drain it and to put it back if cancelled)"

func parseJSON(data []byte) ([]clb.Target, error) {
	lineAt := func(offset int64) int {
		return 1 + bytes.Count(data[:min(int(offset), len(data))], []byte("\n"))
	}
	syntax := func(err error, offset int64) error {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			offset = se.Offset
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			offset = int64(len(data))
			err = errors.New("the JSON array is not closed with ]")
		}
		return clb.Err([]clb.Problem{{Field: lineField(lineAt(offset)), Value: quoteValue(strings.TrimSpace(lineText(data, offset))),
			Reason: strings.TrimPrefix(err.Error(), "json: ")}})
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntax(err, 0)
	}
	if tok != json.Delim('[') {
		return nil, syntax(errors.New("a JSON targets file is an array of targets, such as ["+exampleObject+"]"), 0)
	}
	targets := []clb.Target{}
	var problems []clb.Problem
	for n := 1; dec.More(); n++ {
		start := skipSeparators(data, dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntax(err, start)
		}
		t, err := decodeTarget(raw)
		if err != nil {
			problems = append(problems, clb.Problem{Field: lineField(lineAt(start)), Value: quoteValue(compact(raw)),
				Reason: "target " + strconv.Itoa(n) + ": " + err.Error()})
			continue
		}
		targets = append(targets, t)
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntax(err, dec.InputOffset())
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		end := skipSeparators(data, dec.InputOffset())
		return nil, syntax(errors.New("unexpected text after the JSON array"), end)
	}
	if err := clb.Err(problems); err != nil {
		return nil, err
	}
	return targets, nil
}

// decodeTarget decodes one array element strictly: an object with only the
// fields of clb.Target (a null Weight is no weight).
func decodeTarget(raw json.RawMessage) (clb.Target, error) {
	var t struct {
		clb.Target
		Weight *json.Number `json:"Weight"`
	}
	if raw[0] != '{' {
		return t.Target, errors.New("must be an object such as " + exampleObject)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t.Target, errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	if t.Weight != nil {
		return t.Target, errors.New("has a Weight (" + t.Weight.String() + "): " + noWeight + ", so leave Weight out")
	}
	return t.Target, nil
}

// skipSeparators returns the offset of the first byte at or after offset
// that is neither a space nor a comma: where the decoder's next value starts.
func skipSeparators(data []byte, offset int64) int64 {
	for offset < int64(len(data)) {
		switch data[offset] {
		case ' ', '\t', '\r', '\n', ',':
			offset++
		default:
			return offset
		}
	}
	return offset
}

// lineText is the line of data that holds offset.
func lineText(data []byte, offset int64) string {
	offset = min(offset, int64(len(data)))
	start := bytes.LastIndexByte(data[:offset], '\n') + 1
	end := bytes.IndexByte(data[offset:], '\n')
	if end < 0 {
		return string(data[start:])
	}
	return string(data[start : offset+int64(end)])
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
