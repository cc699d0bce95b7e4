package conf

// The value grammar: how each kind of value is parsed, checked and
// written back, shared by the keys of the table in keys.go.

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

var errEmpty = errors.New("empty value")

// parseDuration accepts a bare count of seconds or a time.ParseDuration
// string, never negative.
func parseDuration(v string) (time.Duration, error) {
	if v == "" {
		return 0, errEmpty
	}
	if isDigits(v) {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n > uint64(math.MaxInt64/time.Second) {
			return 0, fmt.Errorf("%s seconds is out of range", quote(v))
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s is not a duration", quote(v))
	}
	if d < 0 {
		return 0, fmt.Errorf("%s is negative", quote(v))
	}
	return d, nil
}

func durationIn(v string, lo, hi time.Duration) (time.Duration, error) {
	d, err := parseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < lo {
		return 0, fmt.Errorf("%s is shorter than %s", quote(v), formatDuration(lo))
	}
	if d > hi {
		return 0, fmt.Errorf("%s is longer than %s", quote(v), formatDuration(hi))
	}
	return d, nil
}

// formatDuration writes d the way the defaults are written: whole hours
// as 1h, else whole seconds as 60s, else milliseconds as 100ms.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return d.String()
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func intIn(v string, lo, hi int) (int, error) {
	if v == "" {
		return 0, errEmpty
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("%s is out of range", quote(v))
		}
		return 0, fmt.Errorf("%s is not an integer", quote(v))
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range", n)
	}
	return n, nil
}

// oneOf returns the canonical (lower-case) spelling of v among words,
// compared case-insensitively.
func oneOf(v string, words ...string) (string, error) {
	if v == "" {
		return "", errEmpty
	}
	for _, w := range words {
		if strings.EqualFold(v, w) {
			return w, nil
		}
	}
	return "", fmt.Errorf("%s is not a valid value", quote(v))
}

func parseBool(v string) (bool, error) {
	w, err := oneOf(v, "yes", "true", "1", "no", "false", "0")
	if err != nil {
		return false, err
	}
	return w == "yes" || w == "true" || w == "1", nil
}

func formatBool(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func parseLogLevel(c *Config, v string) error {
	w, err := oneOf(v, "debug", "info", "warn", "error")
	if err != nil {
		return err
	}
	switch w {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	}
	return nil
}

func formatLogLevel(l slog.Level) string {
	switch l {
	case slog.LevelDebug:
		return "debug"
	case slog.LevelInfo:
		return "info"
	case slog.LevelWarn:
		return "warn"
	case slog.LevelError:
		return "error"
	}
	return strings.ToLower(l.String())
}

// splitList splits a comma-separated list, trimming spaces around items.
// Empty items are errors; "" is an empty list.
func splitList(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	if strings.Count(v, ",") >= maxListItems {
		return nil, fmt.Errorf("more than %d items", maxListItems)
	}
	items := strings.Split(v, ",")
	for i, it := range items {
		items[i] = strings.TrimSpace(it)
		if items[i] == "" {
			return nil, fmt.Errorf("item %d is empty", i+1)
		}
	}
	return items, nil
}

func parseEmitters(c *Config, v string) error {
	if v == "" {
		return errEmpty
	}
	items, err := splitList(v)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(items))
	out := make([]string, 0, len(items))
	for _, it := range items {
		name, err := oneOf(it, emitterNames...)
		if err != nil {
			return fmt.Errorf("%s is not an emitter", quote(it))
		}
		if seen[name] {
			return fmt.Errorf("%s is listed twice", name)
		}
		seen[name] = true
		out = append(out, name)
	}
	c.Emitters = out
	return nil
}

func path(v string) (string, error) {
	if v != "" && !strings.HasPrefix(v, "/") {
		return "", fmt.Errorf("%s is not an absolute path", quote(v))
	}
	return v, nil
}

// parsePairs parses "k=v,k2=v2" into a map; "" is a nil map. With fold,
// names that differ only in case are duplicates (HTTP header names).
func parsePairs(v string, validName, validValue func(string) bool, fold bool) (map[string]string, error) {
	items, err := splitList(v)
	if err != nil || items == nil {
		return nil, err
	}
	m := make(map[string]string, len(items))
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		k, val, ok := strings.Cut(it, "=")
		k, val = strings.TrimSpace(k), strings.TrimSpace(val)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s has no '='", quote(it))
		case k == "":
			return nil, fmt.Errorf("%s has no name before '='", quote(it))
		case !validName(k):
			return nil, fmt.Errorf("%s is not a valid name", quote(k))
		case val == "":
			return nil, fmt.Errorf("%s has an empty value", quote(k))
		case !validValue(val):
			return nil, fmt.Errorf("the value of %s holds a character not allowed", quote(k))
		}
		id := k
		if fold {
			id = strings.ToLower(k)
		}
		if seen[id] {
			return nil, fmt.Errorf("%s is given twice", quote(k))
		}
		seen[id] = true
		m[k] = val
	}
	return m, nil
}

// formatPairs writes m sorted by key, with values hidden if redact.
func formatPairs(m map[string]string, redact bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		if redact {
			b.WriteString(redacted)
		} else {
			b.WriteString(m[k])
		}
	}
	return b.String()
}

// redacted replaces secret values in WriteTo's output.
const redacted = "<redacted>"

// validHeaderName reports whether s is an HTTP token (RFC 9110 5.6.2).
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

// validHeaderValue allows printable ASCII and spaces, which both gRPC
// metadata and HTTP accept.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func validAttrName(s string) bool {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || r == '=' {
			return false
		}
	}
	return true
}

func validAttrValue(s string) bool {
	for _, r := range s {
		if r < ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// hostPort checks host:port or [ipv6]:port with a port from 1 to 65535.
func hostPort(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%s is not host:port", quote(v))
	}
	if strings.HasPrefix(v, "[") {
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return fmt.Errorf("%s is not an IPv6 address", quote(host))
		}
	} else if err := checkHost(host); err != nil {
		return err
	}
	return checkPort(port)
}

func checkHost(host string) error {
	if host == "" {
		return errors.New("the host is empty")
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%s is not an IPv6 address", quote(host))
		}
		return nil
	}
	for _, r := range host {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("/?#@[]", r) {
			return fmt.Errorf("%s is not a host name", quote(host))
		}
	}
	return nil
}

func checkPort(port string) error {
	if !isDigits(port) {
		return fmt.Errorf("port %s is not a number", quote(port))
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("port %s is out of range", quote(port))
	}
	return nil
}

func parseEndpoint(c *Config, v string) error {
	if v == "" {
		return errEmpty
	}
	lower := strings.ToLower(v)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		if strings.Contains(v, "://") {
			return fmt.Errorf("%s: only http:// and https:// URLs are allowed", quote(v))
		}
		if err := hostPort(v); err != nil {
			return err
		}
		c.OTLP.Endpoint = v
		return nil
	}
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("%s is not a URL", quote(v))
	}
	switch {
	case u.User != nil:
		return errors.New("the URL holds credentials; put them in otlp_headers")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return errors.New("the URL has a query or fragment")
	}
	if err := checkHost(u.Hostname()); err != nil {
		return err
	}
	if p := u.Port(); p != "" || strings.HasSuffix(u.Host, ":") {
		if err := checkPort(p); err != nil {
			return err
		}
	}
	c.OTLP.Endpoint = v
	return nil
}

// endpointURL returns the parsed URL of an http(s) endpoint, or nil for
// host:port.
func endpointURL(endpoint string) *url.URL {
	lower := strings.ToLower(endpoint)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil
	}
	return u
}

func parseStatsDAddress(c *Config, v string) error {
	if v == "" {
		return errEmpty
	}
	if p, ok := strings.CutPrefix(v, "unix://"); ok {
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("%s: a unix socket needs an absolute path, unix:///path", quote(v))
		}
		c.StatsD.Address = v
		return nil
	}
	if strings.Contains(v, "://") {
		return fmt.Errorf("%s: only unix:// addresses are allowed as URLs", quote(v))
	}
	if err := hostPort(v); err != nil {
		return err
	}
	c.StatsD.Address = v
	return nil
}

func parseNamespace(c *Config, v string) error {
	for i := 0; i < len(v); i++ {
		ch := v[i]
		letter := 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z'
		if i == 0 && !letter {
			return fmt.Errorf("%s does not start with a letter", quote(v))
		}
		if !letter && !('0' <= ch && ch <= '9') && ch != '_' && ch != '.' {
			return fmt.Errorf("%s holds %s", quote(v), quote(string(rune(ch))))
		}
	}
	c.StatsD.Namespace = v
	return nil
}

func parseTags(c *Config, v string) error {
	items, err := splitList(v)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(items))
	for _, it := range items {
		k, val, ok := strings.Cut(it, ":")
		if !ok || k == "" || val == "" {
			return fmt.Errorf("%s is not key:value", quote(it))
		}
		for _, r := range it {
			if r <= ' ' || r == 0x7f || r == '|' {
				return fmt.Errorf("%s holds a space, a control character or '|'", quote(it))
			}
		}
		if seen[it] {
			return fmt.Errorf("%s is given twice", quote(it))
		}
		seen[it] = true
	}
	c.StatsD.Tags = items
	return nil
}

// quote quotes s for an error message, cut to a readable length.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		return strconv.Quote(s[:cut]) + "..."
	}
	return strconv.Quote(s)
}

func isRuneStart(b byte) bool { return b&0xc0 != 0x80 }
