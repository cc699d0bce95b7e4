package conf

import (
	"bytes"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The shipped sample configuration and its man page are generated from
// Keys by the functions below: go test ./conf -update rewrites them, and
// the tests fail when the checked-in files are stale.
const (
	samplePath = "../packaging/audisp-backlog.conf"
	manPath    = "../packaging/audisp-backlog.conf.5"
)

var sectionTitles = map[string]string{
	SectionGeneral: "General",
	SectionOTLP:    "OTLP (emitters = otlp)",
	SectionStatsD:  "DogStatsD (emitters = statsd)",
}

// wrap splits text into lines of at most width bytes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

func sampleConfig() []byte {
	var b bytes.Buffer
	b.WriteString(`# ` + DefaultPath + `: settings of audisp-backlog, the auditd
# plugin that reports the peak depth of the kernel's audit backlog. See
# audisp-backlog.conf(5).
#
# Each setting is "key = value" on a line of its own. A line whose first
# non-blank character is '#' is a comment; a '#' after a value is part of
# the value, so comments cannot follow a setting. Every key is listed below
# with its default value; a key left out or commented out takes its
# default. Keys that are empty by default are shown commented out, with an
# example value. Any error stops the whole file from being used:
# audisp-backlog -check -config FILE lists every error at once.
`)
	section := ""
	for _, k := range Keys() {
		if k.Section != section {
			section = k.Section
			b.WriteString("\n## " + sectionTitles[section] + "\n")
		}
		b.WriteString("\n")
		for _, l := range wrap(k.Doc, 76) {
			b.WriteString("# " + l + "\n")
		}
		for _, l := range wrap("Allowed: "+k.Allowed+".", 76) {
			b.WriteString("# " + l + "\n")
		}
		if k.Default == "" {
			b.WriteString("# Empty by default. Example:\n#" + k.Name + " = " + k.Example + "\n")
		} else {
			b.WriteString(k.Name + " = " + k.Default + "\n")
		}
	}
	return b.Bytes()
}

// roff escapes text for a man page: backslashes, and a leading dot or
// apostrophe that roff would take for a request.
func roff(text string) string {
	text = strings.ReplaceAll(text, `\`, `\e`)
	if strings.HasPrefix(text, ".") || strings.HasPrefix(text, "'") {
		text = `\&` + text
	}
	return text
}

// roffCode escapes a literal value, whose '-' must stay a minus sign.
func roffCode(text string) string {
	return strings.ReplaceAll(roff(text), "-", `\-`)
}

// sentences puts each sentence of text on a line of its own, as roff
// expects.
func sentences(text string) string {
	parts := strings.Split(text, ". ")
	for i, s := range parts {
		parts[i] = roff(s)
	}
	return strings.Join(parts, ".\n")
}

func manPage() []byte {
	var b bytes.Buffer
	b.WriteString(`.\" Generated from the key table in conf/keys.go by go test ./conf -update.
.\" Edit conf/keys.go or conf/docs_test.go, not this file.
.TH AUDISP-BACKLOG.CONF 5 "" "audisp-backlog" "File Formats"
.nh
.ad l
.SH NAME
audisp-backlog.conf \- settings of the audisp-backlog auditd plugin
.SH SYNOPSIS
.I ` + DefaultPath + `
.SH DESCRIPTION
.BR audisp-backlog (8)
is an
.BR auditd (8)
plugin that reports the peak depth of the kernel's audit backlog in each
interval, with other kernel audit figures, to an OTLP collector or a
DogStatsD agent.
This file holds its settings.
Every key has a default, so the file may be empty.
.PP
Each line is blank, a comment, or a setting
.IR key " = " value .
A line whose first non-blank character is
.B #
is a comment.
Comments take whole lines only: a
.B #
after a value is part of the value (header values may contain it), so
.B "interval = 60 # seconds"
is an error.
Spaces and tabs around keys and values are ignored, and there is no
quoting: the value is the rest of the line after the first
.BR = .
Keys are lower case, and each may be given only once.
Words such as
.B yes
or
.B kernel
may be written in any case.
.PP
The file must be UTF-8 text without control characters other than tabs;
lines may end in CR LF and the file may start with a byte order mark.
A line may hold at most ` + strconv.Itoa(MaxLineLen) + ` bytes, a value at most ` + strconv.Itoa(MaxValueLen) + `, and the file at most ` + strconv.Itoa(MaxFileSize>>20) + ` MiB.
.SS Values
.TP
.I duration
A whole number of seconds
.RB ( 60 ),
or a number with a unit: ns, us, ms, s, m or h
.RB ( 100ms ", " 1m30s ).
.TP
.I boolean
.BR yes ", " no ", " true ", " false ", " 1 " or " 0 .
.TP
.I list
Items separated by commas; spaces around items are ignored and empty items
are errors.
.TP
.I pairs
A list of
.IB name = value
items.
A value runs from the first
.B =
to the next comma and is taken literally, so it may contain
.B =
and
.B #
but not a comma.
.SH KEYS
`)
	section := ""
	for _, k := range Keys() {
		if k.Section != section {
			section = k.Section
			b.WriteString(".SS " + roff(sectionTitles[section]) + "\n")
		}
		b.WriteString(".TP\n")
		if k.Default == "" {
			b.WriteString(`\fB` + k.Name + `\fR = (empty)` + "\n")
		} else {
			b.WriteString(`\fB` + k.Name + `\fR = \fB` + roffCode(k.Default) + `\fR` + "\n")
		}
		b.WriteString(sentences(k.Doc) + "\n")
		b.WriteString(".IP\nAllowed: " + roff(k.Allowed) + ".\n")
		if k.Example != "" {
			b.WriteString(".br\nExample: \\fB" + k.Name + " = " + roffCode(k.Example) + "\\fR\n")
		}
	}
	b.WriteString(`.SH ERRORS
Unknown keys, keys given twice, lines without
.BR = ,
bad values and values that conflict with other keys are errors.
All errors in the file are reported at once (up to ` + strconv.Itoa(MaxErrors) + `), one per line, as
.IP
.IB file : line ": " key ": " message " (allowed: " values )
.PP
for example
.IP
/etc/audit/audisp\-backlog.conf:4: method: "both" is not a valid value
(allowed: ` + methodKey().Allowed + `)
.PP
A file with any error is not used at all: the plugin does not start, and a
reload on SIGHUP keeps the settings already in force.
.B audisp\-backlog \-check
reports the errors, or prints the effective settings with secrets
redacted.
.SH SECURITY
When the plugin runs as root it refuses a file that is not owned by root
or that group or others can write, and a file that sets
.B otlp_headers
while others can read it.
Mode 0600 or 0640 suits both.
.SH EXAMPLES
Send to a local DogStatsD agent every 30 seconds, with tags:
.PP
.RS
.nf
interval = 30s
emitters = statsd
statsd_tags = env:prod,team:security
.fi
.RE
.PP
Send OTLP over HTTPS to a collector that wants a token:
.PP
.RS
.nf
emitters = otlp
otlp_protocol = http/protobuf
otlp_endpoint = https://otel.example.com:4318
otlp_headers = authorization=Bearer 0123abcd
.fi
.RE
.SH FILES
.TP
.I ` + DefaultPath + `
This file.
.TP
.I /etc/audit/plugins.d/audisp\-backlog.conf
The auditd plugin entry that starts the plugin; see
.BR auditd\-plugins (5).
.SH SEE ALSO
.BR audisp\-backlog (8),
.BR auditd (8),
.BR auditd.conf (5),
.BR auditd\-plugins (5)
`)
	return b.Bytes()
}

func TestSampleConfig(t *testing.T) {
	compareFile(t, samplePath, sampleConfig())

	f, err := os.Open(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := Parse(f, samplePath)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := plain(*c), Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("%s parses to\n%+v\nwant Default()\n%+v", samplePath, got, want)
	}
	if c.HasSecrets() {
		t.Errorf("%s holds secrets", samplePath)
	}
	data, err := os.ReadFile(samplePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		re := regexp.MustCompile(`(?m)^#?` + k.Name + ` = `)
		if !re.Match(data) {
			t.Errorf("%s does not show key %s", samplePath, k.Name)
		}
	}
}

func TestManPage(t *testing.T) {
	compareFile(t, manPath, manPage())

	data, err := os.ReadFile(manPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		if !bytes.Contains(data, []byte(`\fB`+k.Name+`\fR`)) {
			t.Errorf("%s does not name key %s", manPath, k.Name)
		}
	}
}

// TestManPageRenders formats the man page the way man(1) does and fails
// on any warning from groff.
func TestManPageRenders(t *testing.T) {
	man, err := exec.LookPath("man")
	if err != nil {
		t.Skip("man(1) is not installed (apt-get install man-db); cannot check the man page renders")
	}
	cmd := exec.Command(man, "--warnings", "-l", manPath)
	cmd.Env = append(os.Environ(), "MANWIDTH=80", "MANPAGER=cat", "PAGER=cat", "LC_ALL=C.UTF-8")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("man: %v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("man --warnings: %s", stderr.String())
	}
	for _, k := range Keys() {
		if !strings.Contains(stdout.String(), k.Name) {
			t.Errorf("rendered page lacks key %s", k.Name)
		}
	}
}

// methodKey is the method key, whose values the ERRORS example lists.
func methodKey() Key {
	for _, k := range Keys() {
		if k.Name == "method" {
			return k
		}
	}
	panic("no method key")
}
