package conf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"unicode/utf8"
)

// Limits that keep a hostile file from using much memory or flooding the
// log. They apply to Parse and Load alike.
const (
	MaxFileSize = 1 << 20  // bytes in a configuration file
	MaxLineLen  = 16 << 10 // bytes in one line, without its line ending
	// MaxValueLen bytes in one value. It leaves room for the longest key
	// and " = ", so that what WriteTo writes always parses again, even
	// when the file wrote "key=value" on a line of MaxLineLen bytes.
	MaxValueLen = MaxLineLen - 32
	MaxErrors   = 50 // errors reported before parsing stops
)

// Error is one problem in a configuration file. Parse and Load return all
// of a file's problems at once, joined with errors.Join; use errors.As to
// get the first, or the Unwrap() []error method of the joined error to get
// them all.
type Error struct {
	File    string
	Line    int    // 1-based; 0 when the problem concerns the whole file
	Key     string // the key concerned, "" if none; quoted if not a plain name
	Msg     string // what is wrong
	Allowed string // what the key accepts, "" if that does not apply
}

// Error formats e as "file:line: key: msg (allowed: ...)", leaving out the
// parts that are empty.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Allowed != "" {
		b.WriteString(" (allowed: ")
		b.WriteString(e.Allowed)
		b.WriteByte(')')
	}
	return b.String()
}

// Default returns the configuration used for every key the file leaves
// out: the Default of each key in Keys.
func Default() Config {
	var c Config
	for _, k := range Keys() {
		if err := k.parse(&c, k.Default); err != nil {
			panic("conf: invalid default of " + k.Name + ": " + err.Error())
		}
	}
	resolveDefaults(&c, func(string) bool { return false })
	return c
}

// Load reads the configuration file at path. When the process runs as
// root it first refuses a file that is not owned by root or that group or
// others can write, and then one that holds secrets (otlp_headers) while
// others can read it.
func Load(path string) (*Config, error) {
	return load(path, os.Geteuid() == 0)
}

func load(path string, asRoot bool) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close() // read-only: Close cannot lose data
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{File: path, Msg: "not a regular file"}
	}
	owner, hasOwner := fileOwner(fi)
	if asRoot && hasOwner {
		if msg := checkPerm(owner, fi.Mode(), false); msg != "" {
			return nil, &Error{File: path, Msg: msg}
		}
	}
	c, err := Parse(f, path)
	if err != nil {
		return nil, err
	}
	if asRoot && hasOwner && c.HasSecrets() {
		if msg := checkPerm(owner, fi.Mode(), true); msg != "" {
			return nil, &Error{File: path, Msg: msg}
		}
	}
	return c, nil
}

// checkPerm says what is wrong with a file owned by uid owner with the
// given mode, for a process running as root, or "" if nothing is. A file
// holding secrets must also be unreadable by others.
func checkPerm(owner uint32, mode os.FileMode, secrets bool) string {
	perm := mode.Perm()
	switch {
	case owner != 0:
		return fmt.Sprintf("owned by uid %d, not root; fix with chown root", owner)
	case perm&0o022 != 0:
		return fmt.Sprintf("writable by group or others (mode %04o); fix with chmod go-w", perm)
	case secrets && perm&0o004 != 0:
		return fmt.Sprintf("holds otlp_headers but others can read it (mode %04o); fix with chmod o-r", perm)
	}
	return ""
}

// Parse reads a configuration from r; name is the file name used in
// errors and in Config.File. It returns either a complete, valid
// configuration or every problem found (at most MaxErrors), never both.
func Parse(r io.Reader, name string) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileSize)}
	}
	p := parser{
		name:  name,
		cfg:   Default(),
		keys:  Keys(),
		lines: make(map[string]int),
		bad:   make(map[string]bool),
	}
	p.cfg.File = name
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	for n := 1; len(data) > 0; n++ {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		p.line(n, bytes.TrimSuffix(line, []byte("\r")))
		if len(p.errs) >= MaxErrors {
			p.errs = append(p.errs, &Error{File: name, Line: n, Msg: fmt.Sprintf("too many errors; stopped after %d", MaxErrors)})
			return nil, errors.Join(p.errs...)
		}
	}
	p.crossCheck()
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool {
			return p.errs[i].(*Error).Line < p.errs[j].(*Error).Line
		})
		return nil, errors.Join(p.errs...)
	}
	p.resolveDefaults()
	p.cfg.lines = p.lines
	for k := range p.lines {
		if g := p.key(k).given; g != nil {
			*g(&p.cfg) = true
		}
	}
	return &p.cfg, nil
}

type parser struct {
	name  string
	cfg   Config
	keys  []Key
	lines map[string]int  // line of each key given
	bad   map[string]bool // keys whose value was rejected
	errs  []error         // all *Error
	// listed is true once an error has listed the keys.
	listed bool
}

func (p *parser) key(name string) *Key {
	for i := range p.keys {
		if p.keys[i].Name == name {
			return &p.keys[i]
		}
	}
	return nil
}

func (p *parser) errorf(line int, key, allowed, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.name, Line: line, Key: key, Msg: fmt.Sprintf(format, args...), Allowed: allowed})
}

func (p *parser) line(n int, raw []byte) {
	if len(raw) > MaxLineLen {
		p.errorf(n, "", "", "line is longer than %d bytes", MaxLineLen)
		return
	}
	if !utf8.Valid(raw) {
		p.errorf(n, "", "", "line is not valid UTF-8")
		return
	}
	for _, r := range string(raw) {
		if r < ' ' && r != '\t' || r == 0x7f {
			p.errorf(n, "", "", "line holds control character %q", r)
			return
		}
	}
	s := strings.TrimSpace(string(raw))
	if s == "" || s[0] == '#' {
		return
	}
	k, v, ok := strings.Cut(s, "=")
	if !ok {
		p.errorf(n, "", "key = value, or a comment starting with #", "%s has no '='", quote(s))
		return
	}
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if k == "" {
		p.errorf(n, "", "key = value, or a comment starting with #", "no key before '='")
		return
	}
	key := p.key(k)
	if key == nil {
		p.unknown(n, k)
		return
	}
	if first, dup := p.lines[k]; dup {
		p.errorf(n, k, "", "duplicate key, first set on line %d", first)
		return
	}
	p.lines[k] = n
	if len(v) > MaxValueLen {
		p.bad[k] = true
		p.errorf(n, k, "", "value is longer than %d bytes", MaxValueLen)
		return
	}
	if err := key.parse(&p.cfg, v); err != nil {
		p.bad[k] = true
		msg := err.Error()
		if strings.Contains(v, "#") {
			msg += "; comments must be on a line of their own"
		}
		p.errorf(n, k, key.Allowed, "%s", msg)
	}
}

func (p *parser) unknown(n int, k string) {
	shown := k
	if !plainName(k) {
		shown = quote(k)
	}
	names := make([]string, len(p.keys))
	for i, key := range p.keys {
		names[i] = key.Name
	}
	// A suggestion is enough; else the keys are listed once, at the first
	// unknown key, not on every line of a file that is not ours.
	msg, allowed := "unknown key", ""
	switch s := suggest(k, names); {
	case s != "":
		msg += ", did you mean " + s + "?"
	case !p.listed:
		p.listed = true
		allowed = strings.Join(names, ", ")
	default:
		msg += " (the keys are listed above)"
	}
	p.errorf(n, shown, allowed, "%s", msg)
}

// plainName reports whether s looks like a key name and can be printed as
// it is.
func plainName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// suggest returns the name closest to k (case-insensitive, '-' as '_'),
// if it is within two edits, else "".
func suggest(k string, names []string) string {
	if len(k) > 64 {
		return ""
	}
	k = strings.ReplaceAll(strings.ToLower(k), "-", "_")
	best, bestDist := "", 3
	for _, name := range names {
		if d := editDistance(k, name); d < bestDist {
			best, bestDist = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// at says where key was set, for messages about two keys.
func (p *parser) at(key string) string {
	if n, ok := p.lines[key]; ok {
		return fmt.Sprintf("on line %d", n)
	}
	return "by default"
}

// crossErr reports a problem between keys at the line of key, which the
// caller knows was set.
func (p *parser) crossErr(key, format string, args ...any) {
	p.errorf(p.lines[key], key, p.key(key).Allowed, format, args...)
}

// crossCheck checks the rules between keys, skipping keys whose own value
// was already rejected.
func (p *parser) crossCheck() {
	c := &p.cfg
	good := func(keys ...string) bool {
		for _, k := range keys {
			if p.bad[k] {
				return false
			}
		}
		return true
	}
	set := func(k string) bool { _, ok := p.lines[k]; return ok }

	if set("sample_interval") && good("interval", "sample_interval") && c.SampleInterval != 0 && c.SampleInterval >= c.Interval {
		p.crossErr("sample_interval", "%s is not shorter than interval = %s %s",
			formatDuration(c.SampleInterval), formatDuration(c.Interval), p.at("interval"))
	}
	if set("record_wait") && good("interval", "record_wait") && c.RecordWait > c.Interval/2 {
		p.crossErr("record_wait", "%s is longer than half of interval = %s %s",
			formatDuration(c.RecordWait), formatDuration(c.Interval), p.at("interval"))
	}
	if set("otlp_timeout") && good("interval", "otlp_timeout") && c.OTLP.Timeout > c.Interval {
		p.crossErr("otlp_timeout", "%s is longer than interval = %s %s",
			formatDuration(c.OTLP.Timeout), formatDuration(c.Interval), p.at("interval"))
	}

	o := &c.OTLP
	if good("otlp_cert_file", "otlp_key_file") {
		if o.CertFile != "" && o.KeyFile == "" {
			p.crossErr("otlp_cert_file", "needs otlp_key_file as well")
		}
		if o.KeyFile != "" && o.CertFile == "" {
			p.crossErr("otlp_key_file", "needs otlp_cert_file as well")
		}
	}
	tlsFile := ""
	for _, k := range []string{"otlp_ca_file", "otlp_cert_file", "otlp_key_file"} {
		if set(k) && !p.bad[k] && p.key(k).format(c) != "" {
			tlsFile = k
			break
		}
	}
	u := endpointURL(o.Endpoint)
	if o.Insecure && !o.InsecureAuto && good("otlp_insecure") {
		if tlsFile != "" {
			p.crossErr("otlp_insecure", "yes turns off TLS, but %s is set %s", tlsFile, p.at(tlsFile))
		}
		if u != nil && strings.EqualFold(u.Scheme, "https") && good("otlp_endpoint") {
			p.crossErr("otlp_insecure", "yes turns off TLS, but otlp_endpoint is an https:// URL %s", p.at("otlp_endpoint"))
		}
	}
	if u != nil && good("otlp_endpoint") {
		if strings.EqualFold(u.Scheme, "http") && tlsFile != "" {
			p.crossErr("otlp_endpoint", "an http:// URL turns off TLS, but %s is set %s", tlsFile, p.at(tlsFile))
		}
		if o.Protocol == ProtocolGRPC && good("otlp_protocol") && u.Path != "" && u.Path != "/" {
			p.crossErr("otlp_endpoint", "a URL path needs otlp_protocol = http/protobuf, not grpc %s", p.at("otlp_protocol"))
		}
	}
	if len(c.StatsD.Tags) > 0 && c.StatsD.TagFormat == TagFormatNone && good("statsd_tag_format") {
		p.crossErr("statsd_tags", "tags cannot be sent with statsd_tag_format = none %s", p.at("statsd_tag_format"))
	}
}

// resolveDefaults adjusts the defaults of unset keys that depend on other
// keys, as their Doc says.
func (p *parser) resolveDefaults() {
	resolveDefaults(&p.cfg, func(k string) bool { _, ok := p.lines[k]; return ok })
}

// resolveDefaults adjusts c's values of the keys that set does not report
// set, where their defaults depend on other keys.
func resolveDefaults(c *Config, set func(key string) bool) {
	if !set("otlp_endpoint") && c.OTLP.Protocol == ProtocolHTTP {
		c.OTLP.Endpoint = "localhost:4318"
	}
	if !set("record_wait") && c.RecordWait > c.Interval/2 {
		c.RecordWait = c.Interval / 2
	}
	if !set("otlp_timeout") && c.OTLP.Timeout > c.Interval {
		c.OTLP.Timeout = c.Interval
	}
	if c.OTLP.InsecureAuto {
		c.OTLP.Insecure = insecureByDefault(&c.OTLP)
	}
}

// insecureByDefault is otlp_insecure = auto: plain text to a URL that says
// http://, or to a host:port on this host without TLS files; TLS
// otherwise.
func insecureByDefault(o *OTLP) bool {
	if u := endpointURL(o.Endpoint); u != nil {
		return strings.EqualFold(u.Scheme, "http")
	}
	if o.CAFile != "" || o.CertFile != "" || o.KeyFile != "" {
		return false
	}
	host, _, err := net.SplitHostPort(o.Endpoint)
	if err != nil {
		return false
	}
	return IsLoopback(host)
}

// IsLoopback reports whether host names this host without a DNS query:
// localhost and its subdomains (RFC 6761), or a loopback address.
func IsLoopback(host string) bool {
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.Unmap().IsLoopback()
}

// HasSecrets reports whether c holds values that must stay private: any
// key marked Secret (otlp_headers) with a non-empty value.
func (c *Config) HasSecrets() bool {
	for _, k := range Keys() {
		if k.Secret && k.format(c) != "" {
			return true
		}
	}
	return false
}

// WriteTo writes the effective configuration, every key in the order of
// Keys, as "key = value" lines that Parse accepts. Secret values are
// replaced by "<redacted>" (header names are kept). It implements
// io.WriterTo for the -check flag.
func (c *Config) WriteTo(w io.Writer) (int64, error) {
	return c.write(w, true)
}

func (c *Config) write(w io.Writer, redact bool) (int64, error) {
	var b strings.Builder
	for _, k := range Keys() {
		v := k.format(c)
		if redact && k.Secret && v != "" {
			v = k.redact(c)
		}
		b.WriteString(k.Name)
		b.WriteString(" =")
		if v != "" {
			b.WriteByte(' ')
			b.WriteString(v)
		}
		b.WriteByte('\n')
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}
