// Package gen writes a synthetic auditd record stream shaped like what a
// busy host's auditd dispatcher sends its plugins, for benchmarks of the
// plugin's stdin reader.
//
// The shapes are modelled on the real samples in /work/shared/corpus
// (go-libaudit's and audit-userspace's test logs) and on what auditd's
// distribute_event sends with log_format = ENRICHED: multi-record syscall
// events (SYSCALL, EXECVE, CWD, PATH, PROCTITLE and SOCKADDR sharing one
// serial, closed by EOE), PAM and login records with a quoted msg='...',
// AVC denials, hex-encoded fields, node= prefixes and \x1d-separated
// interpretation tails. Lines average about 210 bytes; a few EXECVE records
// come close to auditd's 8970-byte maximum.
//
// The stream also holds what a backlog_max_depth reader must not be fooled
// by: CONFIG_CHANGE records that look like a reset but are not
// (audit_backlog_limit, backlog_wait_time_actual, a failed reset, a rule
// change keyed "backlog_max_depth", the field only in the enriched tail) and
// other records that merely mention backlog_max_depth in a command line or
// a user message. Real, successful resets are rare, and each one is listed
// in the [Summary], so a test can check that a reader finds exactly those.
//
// The output depends only on the [Config]: the same seed gives the same
// bytes.
package gen

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
)

// MaxLine is auditd's largest record line: MAX_AUDIT_MESSAGE_LENGTH plus
// its header and ENRICHED tail.
const MaxLine = 8970

// Config says what to generate.
type Config struct {
	// Seed selects the stream; the same Config gives the same bytes.
	Seed uint64
	// Records is the number of lines to write. The last event may be cut
	// short, as a stream can be.
	Records int
	// ResetEvery is the mean number of lines between two real
	// backlog_max_depth resets; 0 writes none.
	ResetEvery int
	// Nodes are the names used in node= prefixes (auditd's name_format).
	// About half the events carry one, as on an aggregating auditd; with
	// no names, none do.
	Nodes []string
}

// Default is the busy host used by the benchmarks: a real reset about
// every 50,000 lines, two node names.
func Default(records int) Config {
	return Config{Seed: 1, Records: records, ResetEvery: 50000, Nodes: []string{"web-1", "db-2.example.net"}}
}

// Reset is one real backlog_max_depth reset in the stream, with the fields
// its CONFIG_CHANGE record carries.
type Reset struct {
	Node      string // "" without a node= prefix
	Sec       int64  // time stamp, seconds
	Msec      int    // time stamp, milliseconds
	Serial    uint64 // event serial
	Old       uint32 // old=, the high-water mark
	AUID, Ses uint32 // auid= and ses=; 4294967295 when unset
}

// Summary describes a generated stream.
type Summary struct {
	Lines, Bytes int
	MaxLine      int            // longest line, newline included
	LongLines    int            // lines of 8000 bytes or more
	Types        map[string]int // lines by record type
	Resets       []Reset        // the real resets, in stream order
	LookAlikes   int            // CONFIG_CHANGE records that are not resets
	Mentions     int            // other lines that mention backlog_max_depth
}

// Generate returns the stream for c and its summary.
func Generate(c Config) ([]byte, Summary) {
	var buf bytes.Buffer
	s, err := Write(&buf, c)
	if err != nil {
		panic(err) // bytes.Buffer does not fail
	}
	return buf.Bytes(), s
}

// Write writes the stream for c to w.
func Write(w io.Writer, c Config) (Summary, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	g := &generator{
		c:      c,
		rnd:    rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15)),
		w:      bw,
		sec:    1700000000,
		serial: 1000,
		sum:    Summary{Types: make(map[string]int)},
	}
	for g.sum.Lines < c.Records && g.err == nil {
		g.event()
	}
	if g.err != nil {
		return g.sum, fmt.Errorf("write corpus: %w", g.err)
	}
	if err := bw.Flush(); err != nil {
		return g.sum, fmt.Errorf("write corpus: %w", err)
	}
	return g.sum, nil
}

const unset = 4294967295

type generator struct {
	c   Config
	rnd *rand.Rand
	w   *bufio.Writer
	err error

	// The event being written.
	sec      int64
	msec     int
	serial   uint64
	node     string
	enriched bool

	typ  string // type of the line being built
	line []byte
	sum  Summary
}

// user is a login identity: auid and its name for the enriched tail.
type user struct {
	auid uint32
	name string
	ses  uint32
}

var users = []user{
	{unset, "unset", unset}, {unset, "unset", unset}, {unset, "unset", unset},
	{1000, "alice", 3}, {1001, "bob", 17}, {0, "root", 1}, {1002, "deploy", 240},
}

type program struct {
	comm, exe, subj string
	args            []string
}

var programs = []program{
	{"ls", "/usr/bin/ls", "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023", []string{"ls", "--color=auto", "-la", "/var/log"}},
	{"grep", "/usr/bin/grep", "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023", []string{"grep", "--color=auto", "mapping"}},
	{"python3", "/usr/bin/python3.12", "system_u:system_r:unconfined_service_t:s0", []string{"/usr/bin/python3", "-u", "/opt/agent/collect.py", "--interval", "10"}},
	{"sh", "/usr/bin/dash", "system_u:system_r:crond_t:s0-s0:c0.c1023", []string{"/bin/sh", "-c", "run-parts --report /etc/cron.hourly"}},
	{"git", "/usr/bin/git", "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023", []string{"git", "status", "--porcelain=v2"}},
	{"java", "/usr/lib/jvm/java-21-openjdk-amd64/bin/java", "system_u:system_r:unconfined_service_t:s0", []string{"java", "-Xmx2g", "-jar", "/srv/app/app.jar"}},
	{"postdrop", "/usr/sbin/postdrop", "system_u:system_r:postfix_postdrop_t:s0", []string{"/usr/sbin/postdrop", "-r"}},
	{"containerd-shim", "/usr/bin/containerd-shim-runc-v2", "system_u:system_r:container_runtime_t:s0", []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "k8s.io", "-id", "4f1c0de9a8b7"}},
}

var files = []string{
	"/etc/ld.so.cache", "/lib/x86_64-linux-gnu/libc.so.6", "/etc/passwd", "/var/log/app/access.log",
	"/home/alice/.bash_history", "/proc/self/status", "/srv/app/data/segment-000123.db", "/etc/shadow",
}

var cwds = []string{"/", "/root", "/home/alice", "/var/spool/postfix", "/srv/app", "/tmp/build 2024"}

// event writes one whole event, picked by weight.
func (g *generator) event() {
	g.next()
	if g.c.ResetEvery > 0 && g.rnd.IntN(g.c.ResetEvery) < 6 {
		// Events average about 6 lines, so a chance of 6/ResetEvery
		// per event gives about one reset per ResetEvery lines.
		g.reset()
		return
	}
	switch n := g.rnd.IntN(1000); {
	case n < 430:
		g.exec()
	case n < 700:
		g.open()
	case n < 780:
		g.connect()
	case n < 920:
		g.pam()
	case n < 950:
		g.avc()
	case n < 990:
		g.mention()
	case n < 998:
		g.lookAlike()
	default:
		g.misc()
	}
}

// next starts a new event: time, serial, node and format.
func (g *generator) next() {
	g.serial++
	g.msec += g.rnd.IntN(3)
	if g.msec >= 1000 {
		g.msec -= 1000
		g.sec++
	}
	g.node = ""
	if len(g.c.Nodes) > 0 && g.rnd.IntN(2) == 0 {
		g.node = g.c.Nodes[g.rnd.IntN(len(g.c.Nodes))]
	}
	g.enriched = g.rnd.IntN(10) < 8
}

// begin starts a line of type typ in the current event.
func (g *generator) begin(typ string) {
	g.line = g.line[:0]
	if g.node != "" {
		g.line = append(g.line, "node="...)
		g.line = append(g.line, g.node...)
		g.line = append(g.line, ' ')
	}
	g.line = fmt.Appendf(g.line, "type=%s msg=audit(%d.%03d:%d): ", typ, g.sec, g.msec, g.serial)
	g.typ = typ
}

func (g *generator) f(format string, args ...any) {
	g.line = fmt.Appendf(g.line, format, args...)
}

// tail appends an ENRICHED interpretation tail when the event has one.
func (g *generator) tail(format string, args ...any) {
	if g.enriched {
		g.line = append(g.line, 0x1d)
		g.f(format, args...)
	}
}

// end finishes the line and writes it, unless the stream is complete.
func (g *generator) end() {
	g.line = append(g.line, '\n')
	if g.sum.Lines >= g.c.Records || g.err != nil {
		return
	}
	if _, err := g.w.Write(g.line); err != nil {
		g.err = err
		return
	}
	g.sum.Lines++
	g.sum.Types[g.typ]++
	g.sum.Bytes += len(g.line)
	g.sum.MaxLine = max(g.sum.MaxLine, len(g.line))
	if len(g.line) >= 8000 {
		g.sum.LongLines++
	}
}

func (g *generator) pick(n int) int { return g.rnd.IntN(n) }

// syscall writes the SYSCALL record of an event.
func (g *generator) syscall(nr int, name string, exit int, items int, p program, u user) {
	pid := 1000 + g.pick(60000)
	uid, uname := 0, "root"
	if u.auid != unset && g.pick(2) == 0 {
		uid, uname = int(u.auid), u.name
	}
	success := "yes"
	if exit < 0 {
		success = "no"
	}
	tty := "(none)"
	if u.auid != unset {
		tty = fmt.Sprintf("pts%d", g.pick(8))
	}
	g.begin("SYSCALL")
	g.f("arch=c000003e syscall=%d success=%s exit=%d a0=%x a1=%x a2=%x a3=%x items=%d ppid=%d pid=%d auid=%d uid=%d gid=%d euid=%d suid=%d fsuid=%d egid=%d sgid=%d fsgid=%d tty=%s ses=%d comm=%q exe=%q subj=%s key=%s",
		nr, success, exit, g.rnd.Uint64()>>16, g.rnd.Uint64()>>16, g.rnd.Uint32(), g.pick(4096), items, pid-g.pick(900)-1, pid,
		u.auid, uid, uid, uid, uid, uid, uid, uid, uid, tty, u.ses, p.comm, p.exe, p.subj, g.key())
	g.tail(`ARCH=x86_64 SYSCALL=%s AUID="%s" UID="%s" GID="%s" EUID="%s" SUID="%s" FSUID="%s" EGID="%s" SGID="%s" FSGID="%s"`,
		name, u.name, uname, uname, uname, uname, uname, uname, uname, uname)
	g.end()
}

func (g *generator) key() string {
	switch g.pick(4) {
	case 0:
		return `"exec"`
	case 1:
		return `"user_commands"`
	default:
		return "(null)"
	}
}

func (g *generator) cwd() {
	g.begin("CWD")
	g.f("cwd=%s", encode(cwds[g.pick(len(cwds))]))
	g.end()
}

func (g *generator) path(item int, name string, nametype string) {
	ouid := 0
	if g.pick(4) == 0 {
		ouid = 1000
	}
	g.begin("PATH")
	g.f("item=%d name=%s inode=%d dev=fd:0%d mode=0100%o ouid=%d ogid=%d rdev=00:00 obj=system_u:object_r:bin_t:s0 nametype=%s cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0",
		item, encode(name), 100000+g.pick(9000000), g.pick(3), 0o644+g.pick(2)*0o111, ouid, ouid, nametype)
	name = "root"
	if ouid != 0 {
		name = "alice"
	}
	g.tail(`OUID="%s" OGID="%s"`, name, name)
	g.end()
}

func (g *generator) proctitle(args []string) {
	title := []byte{}
	for i, a := range args {
		if i > 0 {
			title = append(title, 0)
		}
		title = append(title, a...)
	}
	if len(title) > 128 { // the kernel's limit
		title = title[:128]
	}
	g.begin("PROCTITLE")
	if bytes.IndexByte(title, 0) < 0 && bytes.IndexByte(title, ' ') < 0 {
		g.f("proctitle=%q", title)
	} else {
		g.f("proctitle=%X", title)
	}
	g.end()
}

func (g *generator) eoe() {
	g.begin("EOE")
	g.end()
}

// exec is an execve event; a few carry a huge argument list.
func (g *generator) exec() {
	p := programs[g.pick(len(programs))]
	u := users[g.pick(len(users))]
	args := p.args
	if g.pick(1500) == 0 {
		g.syscall(59, "execve", 0, 2, p, u)
		g.longExecve()
	} else {
		g.syscall(59, "execve", 0, 2, p, u)
		g.execve(args)
	}
	g.cwd()
	g.path(0, p.exe, "NORMAL")
	g.path(1, "/lib64/ld-linux-x86-64.so.2", "NORMAL")
	g.proctitle(args)
	g.eoe()
}

func (g *generator) execve(args []string) {
	g.begin("EXECVE")
	g.f("argc=%d", len(args))
	for i, a := range args {
		g.f(" a%d=%s", i, encode(a))
	}
	g.end()
}

// longExecve writes an EXECVE record between 8800 and MaxLine bytes long:
// a command with many hex-encoded arguments, as kernels print them.
func (g *generator) longExecve() {
	target := 8800 + g.pick(MaxLine-8800+1)
	g.begin("EXECVE")
	start := len(g.line)
	g.f("argc=%d", 200+g.pick(16))
	for i := 0; ; i++ {
		arg := fmt.Appendf(nil, "--define=build.flag.%d=value with spaces %d", i, g.rnd.Uint32())
		field := fmt.Appendf(nil, " a%d=%X", i, arg)
		if len(g.line)+len(field)+1 > target {
			break
		}
		g.line = append(g.line, field...)
	}
	// Pad the last argument so the line is exactly target bytes.
	if pad := target - 1 - len(g.line); pad > 0 {
		if len(g.line) == start {
			g.f(" a0=")
			pad = target - 1 - len(g.line)
		}
		g.line = append(g.line, bytes.Repeat([]byte{'4'}, pad-pad%2)...)
		if pad%2 == 1 {
			g.line = append(g.line, ' ')
		}
	}
	g.end()
}

// open is a file access event.
func (g *generator) open() {
	p := programs[g.pick(len(programs))]
	u := users[g.pick(len(users))]
	exit := 3 + g.pick(40)
	if g.pick(5) == 0 {
		exit = -13
	}
	g.syscall(257, "openat", exit, 1, p, u)
	g.cwd()
	g.path(0, files[g.pick(len(files))], "NORMAL")
	if g.pick(2) == 0 {
		g.proctitle(p.args)
	}
	g.eoe()
}

// connect is a socket event with a hex sockaddr.
func (g *generator) connect() {
	p := programs[g.pick(len(programs))]
	u := users[g.pick(len(users))]
	g.syscall(42, "connect", 0, 0, p, u)
	g.begin("SOCKADDR")
	if g.pick(3) == 0 {
		g.f("saddr=01002F72756E2F73797374656D642F6A6F75726E616C2F736F636B657400000000000000000000000000000000000000000000000000000000000000000000")
		g.tail(`SADDR={ saddr_fam=local path=/run/systemd/journal/socket }`)
	} else {
		g.f("saddr=02000050%08X0000000000000000", g.rnd.Uint32())
		g.tail(`SADDR={ saddr_fam=inet laddr=10.%d.%d.%d lport=80 }`, g.pick(256), g.pick(256), g.pick(256))
	}
	g.end()
	g.proctitle(p.args)
	g.eoe()
}

var pamTypes = []string{"USER_AUTH", "USER_ACCT", "CRED_ACQ", "USER_START", "USER_END", "CRED_DISP", "USER_LOGIN", "USER_CMD", "CRED_REFR"}

// pam is a single user-space record with a quoted msg='...'.
func (g *generator) pam() {
	typ := pamTypes[g.pick(len(pamTypes))]
	u := users[3+g.pick(len(users)-3)]
	pid := 1000 + g.pick(60000)
	g.begin(typ)
	switch typ {
	case "USER_CMD":
		g.f(`pid=%d uid=%d auid=%d ses=%d subj=unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023 msg='cwd="/home/%s" cmd=%X exe="/usr/bin/sudo" terminal=pts/%d res=success'`,
			pid, u.auid, u.auid, u.ses, u.name, "systemctl restart nginx.service", g.pick(8))
	case "USER_LOGIN":
		g.f(`pid=%d uid=0 auid=%d ses=%d subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=login id=%d exe="/usr/sbin/sshd" hostname=? addr=10.%d.%d.%d terminal=sshd res=success'`,
			pid, u.auid, u.ses, u.auid, g.pick(256), g.pick(256), g.pick(256))
	default:
		g.f(`pid=%d uid=0 auid=%d ses=%d subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 msg='op=PAM:%s grantors=pam_unix,pam_permit acct="%s" exe="/usr/sbin/sshd" hostname=10.1.2.3 addr=10.1.2.3 terminal=ssh res=success'`,
			pid, u.auid, u.ses, "session_open", u.name)
	}
	g.tail(`UID="root" AUID="%s"`, u.name)
	g.end()
}

// avc is an SELinux or AppArmor denial with its syscall.
func (g *generator) avc() {
	p := programs[g.pick(len(programs))]
	g.begin("AVC")
	if g.pick(2) == 0 {
		g.f(`avc:  denied  { read write } for  pid=%d comm=%q name="maildrop" dev="dm-0" ino=%d scontext=%s tcontext=system_u:object_r:postfix_spool_maildrop_t:s0 tclass=dir permissive=0`,
			1000+g.pick(60000), p.comm, g.pick(1<<24), p.subj)
	} else {
		g.f(`apparmor="DENIED" operation="ptrace" profile="docker-default" pid=%d comm=%q requested_mask="trace" denied_mask="trace" peer="unconfined"`,
			1000+g.pick(60000), p.comm)
	}
	g.end()
	g.syscall(101, "ptrace", -13, 0, p, users[0])
	g.eoe()
}

// mention writes records that contain backlog_max_depth without being a
// reset: someone reading about it, or running the tool.
func (g *generator) mention() {
	u := users[3+g.pick(len(users)-3)]
	g.sum.Mentions++
	switch g.pick(3) {
	case 0:
		g.begin("USER")
		g.f(`pid=%d uid=0 auid=%d ses=%d msg='note backlog_max_depth=0 old=%d from the runbook'`, 1000+g.pick(60000), u.auid, u.ses, g.pick(9000))
		g.tail(`UID="root" AUID="%s"`, u.name)
		g.end()
	case 1:
		p := program{"grep", "/usr/bin/grep", "unconfined_u:unconfined_r:unconfined_t:s0-s0:c0.c1023",
			[]string{"grep", "-r", "backlog_max_depth=0 old=", "/var/log/audit"}}
		g.syscall(59, "execve", 0, 2, p, u)
		g.execve(p.args)
		g.cwd()
		g.proctitle(p.args)
		g.eoe()
	default:
		g.begin("USER_CMD")
		g.f(`pid=%d uid=%d auid=%d ses=%d msg='cwd="/root" cmd=%s exe="/usr/bin/sudo" terminal=pts/1 res=success'`,
			1000+g.pick(60000), u.auid, u.auid, u.ses, encode("auditctl -s | grep backlog_max_depth"))
		g.tail(`UID="root" AUID="%s"`, u.name)
		g.end()
	}
}

// lookAlike writes a CONFIG_CHANGE record that is not a successful
// backlog_max_depth reset.
func (g *generator) lookAlike() {
	u := users[g.pick(len(users))]
	g.begin("CONFIG_CHANGE")
	g.sum.LookAlikes++
	switch g.pick(6) {
	case 0:
		g.f("op=set audit_backlog_limit=8192 old=%d auid=%d ses=%d subj=unconfined res=1", 64+g.pick(8000), u.auid, u.ses)
	case 1:
		g.f("audit_backlog_limit=64 old=8192 auid=%d ses=%d res=1", u.auid, u.ses) // kernels without op=set
	case 2:
		g.f("op=set backlog_wait_time_actual=0 old=%d auid=%d ses=%d res=1", g.pick(100000), u.auid, u.ses)
	case 3:
		g.f("op=set backlog_max_depth=0 old=%d auid=%d ses=%d res=0", g.pick(9000), u.auid, u.ses) // failed
	case 4:
		g.f(`auid=%d ses=%d subj=unconfined_u:unconfined_r:unconfined_t:s0 op=add_rule key="backlog_max_depth" list=4 res=1`, u.auid, u.ses)
	default:
		g.f("op=set res=1")
		g.line = append(g.line, 0x1d)
		g.f("backlog_max_depth=0 old=%d", g.pick(9000))
	}
	g.tail(`AUID="%s"`, u.name)
	g.end()
	g.eoe()
}

// misc writes rarer single records, one of a type the reader does not
// know by name.
func (g *generator) misc() {
	switch g.pick(3) {
	case 0:
		g.begin("SERVICE_START")
		g.f(`pid=1 uid=0 auid=4294967295 ses=4294967295 msg='unit=apt-daily comm="systemd" exe="/usr/lib/systemd/systemd" hostname=? addr=? terminal=? res=success'`)
		g.tail(`UID="root" AUID="unset"`)
	case 1:
		g.begin("NETFILTER_CFG")
		g.f("table=filter:%d family=2 entries=%d op=xt_replace pid=%d subj=unconfined comm=\"iptables\"", g.pick(40), g.pick(200), 1000+g.pick(60000))
	default:
		g.begin("UNKNOWN[1338]")
		g.f("data=%X", g.rnd.Uint64())
	}
	g.end()
}

// reset writes a real reset: the CONFIG_CHANGE record, then the resetting
// task's SYSCALL (audit's netlink sendto) and PROCTITLE, then EOE.
func (g *generator) reset() {
	u := users[g.pick(len(users))]
	r := Reset{Node: g.node, Sec: g.sec, Msec: g.msec, Serial: g.serial, Old: uint32(g.pick(9000)), AUID: u.auid, Ses: u.ses}
	g.begin("CONFIG_CHANGE")
	if g.pick(4) == 0 {
		g.f("backlog_max_depth=0 old=%d auid=%d ses=%d res=1", r.Old, u.auid, u.ses) // older form, no op=set
	} else {
		g.f("op=set backlog_max_depth=0 old=%d auid=%d ses=%d subj=unconfined res=1", r.Old, u.auid, u.ses)
	}
	g.tail(`AUID="%s"`, u.name)
	if g.sum.Lines < g.c.Records {
		g.sum.Resets = append(g.sum.Resets, r)
	}
	g.end()
	p := program{"audisp-backlog", "/usr/sbin/audisp-backlog", "system_u:system_r:auditd_t:s0", []string{"/usr/sbin/audisp-backlog"}}
	g.syscall(44, "sendto", 48, 0, p, u)
	g.proctitle(p.args)
	g.eoe()
}

// encode prints a value the way the kernel's audit_log_untrustedstring
// does: quoted when plain, hex when it has a space, quote or control
// character.
func encode(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == '"' || c >= 0x7f {
			return fmt.Sprintf("%X", s)
		}
	}
	return `"` + s + `"`
}
