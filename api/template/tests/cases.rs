//! Data-driven cases written from Go text/template and Loki's documented behaviour
//! (Loki's "Template functions" page and line_format / label_format examples).

use balsa_template::{Context, Template};

struct Ctx<'a> {
    labels: &'a [(&'a str, &'a str)],
    line: &'a str,
    ts: i64,
    listable: bool,
}

impl Context for Ctx<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
    fn line(&self) -> &str {
        self.line
    }
    fn timestamp_ns(&self) -> i64 {
        self.ts
    }
    fn labels(&self) -> Option<Vec<(&str, &str)>> {
        if self.listable { Some(self.labels.to_vec()) } else { None }
    }
}

/// 2023-01-01T00:00:00.123456789Z
const TS: i64 = 1_672_531_200_123_456_789;
const LINE: &str = "GET /index.html 200 XYZ and XYZ";
const LABELS: &[(&str, &str)] = &[
    ("app", "foo"),
    ("level", "info"),
    ("path", "/api/v1/push"),
    ("cluster", "us-east-cluster"),
    ("n", "42"),
    ("f", "3.75"),
    ("empty", ""),
    ("json", r#"{"a":1,"b":"x","c":[1,2,3],"d":{"e":"f"},"n":null}"#),
    ("queries", r#"[{"query":"a"},{"query":"b"}]"#),
    ("ts", "2021-11-02T10:00:00Z"),
    ("createDate", "2021-11-02"),
    ("from", "1679577215"),
    ("dur", "1m30s"),
    ("size", "1.5 KiB"),
    ("b64", "aGVsbG8="),
    ("url", "a%20b+c"),
    ("method", "GET"),
    ("request_method", "get"),
    ("spaces", "  hi  "),
    ("err", "ErrTimeout"),
    ("some_label", "aabc"),
    ("timestamp", "ts=123"),
    ("message", "error in foo java.lang.NullPointerException: boom"),
    ("nowEpoch", "1700000000"),
    ("createDateEpoch", "1635811200"),
    ("x_forwarded_for", ""),
    ("hw", "hello world"),
];

struct Case {
    tmpl: String,
    labels: &'static [(&'static str, &'static str)],
    line: &'static str,
    ts: i64,
    want: Result<&'static str, &'static str>,
}

fn ok(tmpl: &str, want: &'static str) -> Case {
    Case { tmpl: tmpl.to_string(), labels: LABELS, line: LINE, ts: TS, want: Ok(want) }
}

fn err(tmpl: &str, contains: &'static str) -> Case {
    Case { tmpl: tmpl.to_string(), labels: LABELS, line: LINE, ts: TS, want: Err(contains) }
}

impl Case {
    fn labels(mut self, labels: &'static [(&'static str, &'static str)]) -> Case {
        self.labels = labels;
        self
    }
    fn line(mut self, line: &'static str) -> Case {
        self.line = line;
        self
    }
    fn ts(mut self, ts: i64) -> Case {
        self.ts = ts;
        self
    }
}

/// Renders `tmpl` and compares with the expected output or error substring.
fn check(case: &Case) -> Option<String> {
    let ctx = Ctx { labels: case.labels, line: case.line, ts: case.ts, listable: false };
    let got = Template::parse(&case.tmpl).and_then(|t| {
        let mut out = String::from("keep:");
        t.render(&ctx, &mut out).map(|()| out)
    });
    match (&case.want, got) {
        (Ok(w), Ok(g)) if g.strip_prefix("keep:") == Some(*w) => None,
        (Err(w), Err(e)) if e.to_string().contains(w) => None,
        (want, got) => Some(format!("template {:?}\n   want {:?}\n    got {:?}", case.tmpl, want, got)),
    }
}

fn cases() -> Vec<Case> {
    vec![
        // Text, fields, missing keys (missingkey=zero on map[string]string).
        ok("hello", "hello"),
        ok("", ""),
        ok("{{ .app }}", "foo"),
        ok("{{.app}}", "foo"),
        ok("{{ .missing }}", ""),
        ok("[{{ .missing }}]", "[]"),
        ok(r#"{{ index . "app" }}"#, "foo"),
        ok(r#"{{ index . "missing" }}"#, ""),
        ok("{{ $.app }}", "foo"),
        ok("{{ .app | len }}", "3"),
        // Comments and trimming.
        ok("{{/* comment */}}x", "x"),
        ok("a {{- /* c */ -}} b", "ab"),
        ok("a  {{- .app -}}  b", "afoob"),
        ok("a {{ .app }} b", "a foo b"),
        ok("{{ .app -}}\n\n x", "foox"),
        ok("a\n{{- if true }}\n  b\n{{- end }}\nc", "a\n  b\nc"),
        ok("{{-3}}", "-3"),
        ok("{{- 3 -}}", "3"),
        // __line__ and __timestamp__.
        ok("{{ __line__ }}", LINE),
        ok("{{ __line__ | lower }}", "get /index.html 200 xyz and xyz"),
        ok("{{ __timestamp__ }}", "2023-01-01 00:00:00.123456789 +0000 UTC"),
        ok(r#"{{ __timestamp__ | date "2006-01-02T15:04:05.00Z-07:00" }}"#, "2023-01-01T00:00:00.12Z+00:00"),
        ok("{{ __timestamp__ | unixEpoch }}", "1672531200"),
        ok("{{ __timestamp__ | unixEpochMillis }}", "1672531200123"),
        ok("{{ __timestamp__ | unixEpochNanos }}", "1672531200123456789"),
        ok("{{ __timestamp__.Unix }}", "1672531200"),
        ok("{{ __timestamp__.Year }}", "2023"),
        ok(r#"{{ __timestamp__.Format "15:04:05.000" }}"#, "00:00:00.123"),
        ok(r#"{{ (toDate "2006-01-02" "2021-11-02").Weekday }}"#, "Tuesday"),
        ok(r#"{{ date "Jan 2, 2006 at 3:04pm (MST)" __timestamp__ }}"#, "Jan 1, 2023 at 12:00am (UTC)").ts(TS),
        err("{{ __timestamp__.Nope }}", "can't evaluate field Nope in type time.Time"),
        // Pipelines.
        ok(r#"{{ .hw | replace " " "_" | trunc 5 | upper }}"#, "HELLO"),
        ok(r#"{{ .path | replace "/" "_" | trunc 5 | upper }}"#, "_API_"),
        ok(r#"{{ "x" | printf "%s-%s" "y" }}"#, "y-x"),
        ok(r#"{{ .app | printf "%s!" }}"#, "foo!"),
        ok(r#"{{ upper (lower (print "A" "B")) }}"#, "AB"),
        ok(r#"{{ (print "a" "b") }}"#, "ab"),
        ok("{{(unixEpoch now) | len}}", "10"),
        // if / else if / else.
        ok(r#"{{ if and (contains "he" "hello") (contains "llo" "hello") }} yes {{end}}"#, " yes "),
        ok(r#"{{ if or (contains "he" "hello") (contains "llo" "hello") }} yes {{end}}"#, " yes "),
        err(
            r#"{{ if or (contains "he" "hello") (contains("llo" "hello") }} yes {{end}}"#,
            r#"unexpected "(" in operand"#,
        ),
        err(r#"{{ (contains "a" "b" }}"#, "unclosed left paren"),
        ok(
            r#"{{ if contains .missing "ErrTimeout" }} timeout {{else if contains "he" "hello"}} yes {{else}} no {{end}}"#,
            " timeout ",
        ),
        ok(r#"{{ if contains "ErrTimeout" .err }} timeout {{end}}"#, " timeout "),
        ok(r#"{{ if hasSuffix .err "Timeout" }} timeout {{end}}"#, ""),
        ok(r#"{{ if hasPrefix "he" "hello" }} yes {{end}}"#, " yes "),
        ok(r#"{{ if eq "ErrTimeout" .err }} timeout {{end}}"#, " timeout "),
        ok(r#"{{ if eq .level "info" }}I{{ else if eq .level "warn" }}W{{ else }}O{{ end }}"#, "I"),
        ok(r#"{{ if eq .level "info" }}I{{ else if eq .level "warn" }}W{{ else }}O{{ end }}"#, "W")
            .labels(&[("level", "warn")]),
        ok(r#"{{ if eq .level "info" }}I{{ else if eq .level "warn" }}W{{ else }}O{{ end }}"#, "O")
            .labels(&[("level", "debug")]),
        ok("{{ if .missing }}a{{ else }}b{{ end }}", "b"),
        ok("{{ if .empty }}a{{ end }}", ""),
        ok("{{ if not .empty }}a{{ end }}", "a"),
        ok("{{ if 0 }}a{{ else }}b{{ end }}", "b"),
        ok("{{ if 1.5 }}a{{ end }}", "a"),
        ok("{{ if fromJson \"[]\" }}a{{ else }}b{{ end }}", "b"),
        // with.
        ok("{{ with .app }}[{{ . }}]{{ end }}", "[foo]"),
        ok("{{ with .missing }}[{{ . }}]{{ else }}none{{ end }}", "none"),
        ok("{{ with .missing }}a{{ else with .app }}{{ . }}{{ end }}", "foo"),
        ok("{{ with .app }}{{ $.level }}{{ end }}", "info"),
        ok("{{ with $x := .app }}{{ $x }}{{ end }}", "foo"),
        // Variables.
        ok("{{ $x := .app }}{{ $x }}", "foo"),
        ok(r#"{{ $x := "a" }}{{ $x = "b" }}{{ $x }}"#, "b"),
        ok("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}", "2"),
        ok("{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ end }}{{ $x }}", "1"),
        err("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}", r#"undefined variable "$y""#),
        err("{{ $x }}", r#"template: line:1: undefined variable "$x""#),
        ok(r#"{{ $x := fromJson "[1]" }}{{ $x }}"#, "[1]"),
        ok(r#"{{ $j := fromJson .json }}{{ $j.d.e }}"#, "f"),
        // range.
        ok(r#"{{ range $i, $e := fromJson "[\"a\",\"b\"]" }}{{ $i }}={{ $e }} {{ end }}"#, "0=a 1=b "),
        ok(r#"{{ range fromJson "[1,2,3]" }}{{ . }},{{ end }}"#, "1,2,3,"),
        ok(r#"{{ range $k, $v := fromJson "{\"b\":2,\"a\":1}" }}{{ $k }}:{{ $v }};{{ end }}"#, "a:1;b:2;"),
        ok(r#"{{ range fromJson "[]" }}x{{ else }}empty{{ end }}"#, "empty"),
        err(
            "{{ range .missing }}x{{ else }}empty{{ end }}",
            r#"line:1:9: executing "line" at <.missing>: range can't iterate over "#,
        ),
        ok("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ok("{{ range $i := 3 }}{{ $i }}{{ end }}", "012"),
        ok("{{ range 0 }}x{{ else }}none{{ end }}", "none"),
        err("{{ range $i, $e := 3 }}{{ end }}", "can't use 3 to iterate over more than one variable"),
        ok(r#"{{ range fromJson "[1,2,3,4]" }}{{ if eq . 3.0 }}{{ break }}{{ end }}{{ . }}{{ end }}"#, "12"),
        ok(r#"{{ range fromJson "[1,2,3]" }}{{ if eq . 2.0 }}{{ continue }}{{ end }}{{ . }}{{ end }}"#, "13"),
        err(r#"{{ range fromJson "[1,2]" }}{{ if eq . 2 }}{{ end }}{{ end }}"#, "incompatible types for comparison"),
        err("{{ range .app }}{{ end }}", "range can't iterate over foo"),
        ok("{{ range $q := fromJson .queries }} {{ $q.query }} {{ end }}", " a  b "),
        ok("{{ range (fromJson .json).c }}{{ . }}{{ end }}", "123"),
        ok(r#"{{ $s := "" }}{{ range fromJson "[\"a\",\"b\"]" }}{{ $s = print $s . }}{{ end }}{{ $s }}"#, "ab"),
        err("{{ break }}", "{{break}} outside {{range}}"),
        err("{{ if true }}{{ continue }}{{ end }}", "{{continue}} outside {{range}}"),
        // fromJson.
        ok(r#"{{fromJson "{\"foo\": 55}"}}"#, "map[foo:55]"),
        ok("{{ (fromJson .json).b }}", "x"),
        ok("{{ (fromJson .json).a }}", "1"),
        ok("{{ (fromJson .json).d.e }}", "f"),
        ok("{{ (fromJson .json).missing }}", "<no value>"),
        ok("{{ (fromJson .json).n }}", "<no value>"),
        ok(r#"{{ fromJson "not json" }}"#, "<no value>"),
        ok("{{ (fromJson .json).c }}", "[1 2 3]"),
        ok("{{ fromJson .json }}", "map[a:1 b:x c:[1 2 3] d:map[e:f] n:<nil>]"),
        ok(r#"{{ fromJson "1234567" }}"#, "1.234567e+06"),
        ok(r#"{{ printf "%v" (fromJson .json).missing }}"#, "<nil>"),
        err("{{ (fromJson .json).missing.x }}", "nil pointer evaluating interface {}.x"),
        err("{{ .app.x }}", "can't evaluate field x in type string"),
        ok("{{ index (fromJson .json).c 1 }}", "2"),
        err("{{ index (fromJson .json).c 5 }}", "error calling index: index out of range: 5"),
        ok(r#"{{ index (fromJson .json) "b" }}"#, "x"),
        ok("{{ len (fromJson .json).c }}", "3"),
        // Go builtins.
        ok("{{ len .app }}", "3"),
        ok(r#"{{ len "héllo" }}"#, "6"),
        err("{{ len 3 }}", "error calling len: len of type int"),
        ok(r#"{{ index "abc" 1 }}"#, "98"),
        err("{{ index .app 10 }}", "index out of range: 10"),
        err("{{ index . 1 }}", "value has type int; should be string"),
        ok(r#"{{ slice "abcdef" 1 3 }}"#, "bc"),
        ok("{{ slice .app 1 }}", "oo"),
        err(r#"{{ slice "abc" 2 1 }}"#, "invalid slice index: 2 > 1"),
        ok(r#"{{ slice (fromJson "[1,2,3]") 1 }}"#, "[2 3]"),
        ok(r#"{{ print "a" 1 2 "b" }}"#, "a1 2b"),
        ok(r#"{{ println "a" 1 }}"#, "a 1\n"),
        ok(r#"{{ html "<a href=\"x\">&'" }}"#, "&lt;a href=&#34;x&#34;&gt;&amp;&#39;"),
        ok(r#"{{ js "a'b\"c<d>\n=é" }}"#, r#"a\'b\"c\u003Cd\u003E\u000A\u003Dé"#),
        ok(r#"{{ urlquery "a b&c" }}"#, "a+b%26c"),
        ok("{{ eq 1 1 }}", "true"),
        ok(r#"{{ eq .level "warn" "info" }}"#, "true"),
        ok(r#"{{ eq .level "warn" "error" }}"#, "false"),
        err("{{ eq .n 42 }}", "error calling eq: incompatible types for comparison"),
        err("{{ eq 1 }}", "missing argument for comparison"),
        ok(r#"{{ ne .app "bar" }}"#, "true"),
        ok("{{ lt 1 2 }} {{ le 2 2 }} {{ gt 2.5 1.5 }} {{ ge 1 2 }}", "true true true false"),
        ok(r#"{{ lt "a" "b" }}"#, "true"),
        err("{{ lt true false }}", "invalid type for comparison"),
        err("{{ lt 1 1.5 }}", "incompatible types for comparison"),
        ok("{{ and 1 0 2 }}", "0"),
        ok(r#"{{ or 0 "" "x" }}"#, "x"),
        ok(r#"{{ or 0 "" }}"#, ""),
        ok("{{ and .missing (index .missing 1) }}", ""),
        ok(r#"{{ "a" | and true }}"#, "a"),
        err("{{ and }}", "wrong number of args for and: want at least 1 got 0"),
        ok("{{ not 0 }}", "true"),
        // printf verbs.
        ok(r#"{{ printf "%s-%d" .app 5 }}"#, "foo-5"),
        ok(r#"{{ printf "The IP address was %s" .ip }}"#, "The IP address was 129.168.1.1")
            .labels(&[("ip", "129.168.1.1")]),
        ok(r#"{{ printf "%05.2f" 3.14159 }}"#, "03.14"),
        ok(r#"{{ printf "%-5s|" "ab" }}"#, "ab   |"),
        ok(r#"{{ printf "%5s|" "ab" }}"#, "   ab|"),
        ok(r#"{{ printf "%-40.40s" .path }}|"#, "/api/v1/push                            |"),
        ok(r#"{{ printf "%-5.5s" .method }}|"#, "GET  |"),
        ok(r#"{{ printf "%15.15s" "abcdefghijklmnopqrstuvwxyz" }}"#, "abcdefghijklmno"),
        ok(r#"{{ printf "%q" .app }}"#, "\"foo\""),
        ok(r#"{{ printf "%x" 255 }} {{ printf "%X" "hi" }} {{ printf "%#x" 255 }}"#, "ff 6869 0xff"),
        ok(r#"{{ printf "%v %v" true nil }}"#, "true <nil>"),
        ok(r#"{{ printf "%d" .app }}"#, "%!d(string=foo)"),
        ok(r#"{{ printf "%d %d" 1 }}"#, "1 %!d(MISSING)"),
        ok(r#"{{ printf "%d" 1 2 }}"#, "1%!(EXTRA int=2)"),
        ok(r#"{{ printf "%s" nil }}"#, "%!s(<nil>)"),
        ok(r#"{{ printf "%.2f" (float64 .f) }}"#, "3.75"),
        ok(r#"{{ printf "%.1f" 0.25 }}"#, "0.2"),
        ok(r#"{{ printf "%e" 123456.0 }}"#, "1.234560e+05"),
        ok(r#"{{ printf "%g" 0.000001 }}"#, "1e-06"),
        ok(r#"{{ printf "%T %T %T %T" 1 1.5 "s" (add 1 2) }}"#, "int float64 string int64"),
        ok(r#"{{ printf "%c" 65 }}{{ 'b' | printf "%c" }}"#, "Ab"),
        ok(r#"{{ printf "%+d" 5 }}"#, "+5"),
        ok(r#"{{ printf "%08.3f" -3.14159 }}"#, "-003.142"),
        ok(r#"{{ printf "%5d|%-5d|%05d" 42 42 42 }}"#, "   42|42   |00042"),
        ok(r#"{{ printf "%t" true }}"#, "true"),
        ok(r#"{{ printf "100%%" }}"#, "100%"),
        ok(r#"{{ printf "%5.1f%%" 99.5 }}"#, " 99.5%"),
        ok(r#"{{ printf "%s" __timestamp__ }}"#, "2023-01-01 00:00:00.123456789 +0000 UTC"),
        ok(r#"{{ printf "%[2]s %[1]s" "a" "b" }}"#, "b a"),
        ok(r#"{{ printf "%*d" 4 7 }}"#, "   7"),
        ok(r#"{{ printf "%v" (fromJson "[1,\"a\"]") }}"#, "[1 a]"),
        // Literals.
        ok("{{ 3 }} {{ 1.5 }} {{ 1e3 }} {{ 0x1F }} {{ 'a' }} {{ true }} {{ -7 }}", "3 1.5 1000 31 97 true -7"),
        ok(r#"{{ "s\t\u00e9" }}"#, "s\té"),
        ok("{{ `raw\\n` }}", "raw\\n"),
        ok("{{ .5 }}", "0.5"),
        err("{{ nil }}", "nil is not a command"),
        err(r#"{{ "a" "b" }}"#, "can't give argument to non-function \"a\""),
        err("{{ .app 1 }}", "app is not a method but has arguments"),
        err("{{ 0xFFFFFFFFFFFFFFFF }}", "0xFFFFFFFFFFFFFFFF overflows int"),
        err("{{ 99999999999999999999 }}", "integer overflow: \"99999999999999999999\""),
        // Parse errors.
        err("{{ foo }}", r#"template: line:1: function "foo" not defined"#),
        err("{{ .app ", "template: line:1: unclosed action"),
        err("{{ if .app }}x", "template: line:1: unexpected EOF"),
        err("{{ end }}", "unexpected {{end}}"),
        err("{{ else }}", "unexpected {{else}}"),
        err(r#"{{ "abc }}"#, "unterminated quoted string"),
        err("{{ 1x }}", r#"bad number syntax: "1x""#),
        err("{{ .a-b }}", "bad character U+002D '-'"),
        err(r#"{{ abbrev 5 "hello world" }}"#, r#"function "abbrev" not defined"#),
        err("{{ | lower }}", r#"unexpected "|" in command"#),
        err(r#"{{ .app | "x" }}"#, "non executable command in pipeline stage 2"),
        err("line1\n{{ foo }}", "template: line:2: function \"foo\" not defined"),
        err("{{/* unclosed }}", "unclosed comment"),
        err("{{ ) }}", "unexpected right paren"),
        err("{{ }}", "missing value for command"),
        err("{{ define \"x\" }}", "unexpected EOF"),
        // Execution errors (Go wording and position).
        err(
            "{{ lower }}",
            r#"template: line:1:3: executing "line" at <lower>: wrong number of args for lower: want 1 got 0"#,
        ),
        err("{{ lower 5 }}", r#"template: line:1:9: executing "line" at <5>: expected string; found 5"#),
        err("{{ .app | lower 5 }}", "wrong number of args for lower: want 1 got 2"),
        err("{{ trunc .n .app }}", "wrong type for value; expected int; got string"),
        err("{{ trunc (add 1 2) .app }}", "wrong type for value; expected int; got int64"),
        err("{{ unixEpoch .app }}", "wrong type for value; expected time.Time; got string"),
        err("{{ lower (fromJson \"x\") }}", "invalid value; expected string"),
        err(r#"{{ lower nil }}"#, "cannot assign nil to string"),
        ok(r#"{{ trunc (len .app) "hello" }}"#, "hel"),
        err(r#"{{ regexReplaceAll "(" .app "x" }}"#, "error calling regexReplaceAll: error parsing regexp"),
        err("{{ div 1 0 }}", "error calling div: runtime error: integer divide by zero"),
        err("{{ mod 1 0 }}", "error calling mod: runtime error: integer divide by zero"),
        err("{{ divf 1 0 }}", "error calling divf: decimal division by 0"),
        err(r#"{{ repeat 5000000 "ab" }}"#, "error calling repeat: result exceeds"),
        err(r#"{{ repeat -1 "a" }}"#, "strings: negative Repeat count"),
        err("{{ range 2000000 }}{{ end }}", "evaluation steps"),
        err(r#"{{ $x := repeat 1000000 "a" }}{{ print $x $x $x $x $x $x }}"#, "error calling print: result exceeds"),
        err(
            r#"{{ regexReplaceAll "a" (repeat 1000 "a") (repeat 10000 "$0") }}"#,
            "error calling regexReplaceAll: result exceeds",
        ),
        err(r#"{{ printf (repeat 10 "%1000000d") 1 1 1 1 1 1 1 1 1 1 }}"#, "error calling printf: result exceeds"),
        err(r#"{{ Replace (repeat 100000 "a") "a" (repeat 100 "b") -1 }}"#, "error calling Replace: result exceeds"),
        err(r#"{{ indent 100000 (repeat 100 "\n") }}"#, "error calling indent: result exceeds"),
        err(r#"{{ alignLeft 100000000 "x" }}"#, "error calling alignLeft: result exceeds"),
        err(r#"{{ range 3000 }}{{ repeat 2000 "a" }}{{ end }}"#, "output exceeds"),
        // Date and time.
        ok(r#"{{ date "2006-01-02" (toDate "2006-01-02" "2021-11-02") }}"#, "2021-11-02"),
        ok(r#"{{ toDate "2006-01-02" "2021-11-02" }}"#, "2021-11-02 00:00:00 +0000 UTC"),
        ok(r#"{{ .ts | toDate "2006-01-02T15:04:05.999999999Z" }}"#, "2021-11-02 10:00:00 +0000 UTC"),
        ok(r#"{{ toDateInZone "2006-01-02" "UTC" "2021-11-02" }}"#, "2021-11-02 00:00:00 +0000 UTC"),
        ok(r#"{{ .ts | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpoch }}"#, "1635847200"),
        ok(r#"{{ .ts | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC" | unixEpochMillis }}"#, "1635847200000"),
        ok(
            r#"{{ toDateInZone "2006-01-02 15:04" "Europe/Paris" "2021-07-01 12:00" }}"#,
            "2021-07-01 12:00:00 +0200 CEST",
        ),
        ok(r#"{{ toDateInZone "2006-01-02 15:04" "Europe/Paris" "2021-07-01 12:00" | unixEpoch }}"#, "1625133600"),
        ok(r#"{{ toDateInZone "2006-01-02" "Nowhere/Zone" "2021-11-02" | unixEpoch }}"#, "1635811200"),
        ok(
            r#"{{ date "2006-01-02T15:04:05Z07:00" (toDateInZone "2006-01-02 15:04" "Asia/Tokyo" "2021-11-02 09:00") }}"#,
            "2021-11-02T00:00:00Z",
        ),
        ok(r#"{{ toDate "2006-01-02" "garbage" }}"#, "0001-01-01 00:00:00 +0000 UTC"),
        ok(r#"{{ toDate "2006-01-02" "garbage" | unixEpoch }}"#, "-62135596800"),
        ok(
            r#"{{ toDate "2006-01-02T15:04:05Z07:00" "2021-11-02T10:00:00+02:00" }}"#,
            "2021-11-02 10:00:00 +0200 +0200",
        ),
        ok(r#"{{unixEpoch (toDate "2006-01-02" .createDate)}}"#, "1635811200"),
        ok("{{sub .nowEpoch .createDateEpoch}}", "64188800"),
        ok(r#"from="{{date "2006-01-02" (unixToTime .from)}}""#, r#"from="2023-03-23""#),
        ok(r#"{{ unixToTime "19373" | date "2006-01-02" }}"#, "2023-01-16"),
        ok(r#"{{ unixToTime "1673798889" | unixEpoch }}"#, "1673798889"),
        ok(r#"{{ unixToTime "1673798889902" | unixEpochMillis }}"#, "1673798889902"),
        ok(r#"{{ unixToTime "1673798889902000" | unixEpochNanos }}"#, "1673798889902000000"),
        ok(r#"{{ unixToTime "1673798889902000001" | unixEpochNanos }}"#, "1673798889902000001"),
        err(r#"{{ unixToTime "123" }}"#, "unable to parse time '123'"),
        err(
            r#"{{ unixToTime "abc" }}"#,
            r#"unable to parse time 'abc': strconv.ParseInt: parsing "abc": invalid syntax"#,
        ),
        ok(r#"{{ date "2006" 0 }}"#, "1970"),
        ok(
            r#"{{ date "Mon Jan _2 15:04:05 2006" (toDate "2006-01-02 15:04" "2021-11-02 09:05") }}"#,
            "Tue Nov  2 09:05:00 2021",
        ),
        ok(r#"{{ date "03:04 PM" (toDate "15:04" "21:30") }}"#, "09:30 PM"),
        ok(r#"{{ toDate "Jan 2 2006 3:04PM" "Feb 29 2024 1:05AM" | unixEpoch }}"#, "1709168700"),
        ok(r#"{{ toDate "2006-01-02" "2021-02-30" | unixEpoch }}"#, "-62135596800"),
        ok(r#"{{ now | unixEpoch | len }}"#, "10"),
        ok(r#"{{ date "2006-01-02" now | len }}"#, "10"),
        ok(r#"{{ .dur | duration }}"#, "90"),
        ok(r#"{{ duration_seconds "1.5h" }}"#, "5400"),
        ok(r#"{{ duration "100ms" }}"#, "0.1"),
        ok(r#"{{ duration "-1m" }}"#, "-60"),
        err(r#"{{ duration "x" }}"#, r#"error calling duration: time: invalid duration "x""#),
        err(r#"{{ duration "1" }}"#, r#"time: missing unit in duration "1""#),
        // String functions.
        ok(r#"{{ alignLeft 5 "hello world"}}"#, "hello"),
        ok(r#"{{ alignLeft 5 "hi"}}"#, "hi   "),
        ok(r#"{{ alignRight 5 "hello world"}}"#, "world"),
        ok(r#"{{ alignRight 5 "hi"}}"#, "   hi"),
        ok(r#"{{ "hello" | b64enc }}"#, "aGVsbG8="),
        ok("{{ .b64 | b64dec }}", "hello"),
        ok(r#"{{ b64dec "!!" }}"#, "illegal base64 data at input byte 0"),
        ok("{{ .size | bytes }}", "1536"),
        ok(r#"{{ bytes "1.5GB" }}"#, "1.5e+09"),
        ok(r#"{{ bytes "42" }}"#, "42"),
        err(r#"{{ bytes "x" }}"#, r#"error calling bytes: strconv.ParseFloat: parsing "": invalid syntax"#),
        ok(r#"{{ default "-" "" }}"#, "-"),
        ok(r#"{{ default "-" "foo" }}"#, "foo"),
        ok(r#"{{.x_forwarded_for | default "-"}}"#, "-"),
        ok(r#"{{ .missing | default "-" }}"#, "-"),
        ok(r#"{{ default "-" 0 }}"#, "-"),
        ok(r#"{{ default "d" }}"#, "d"),
        ok("{{ .request_method | lower }}", "get"),
        ok(r#"{{ lower "HELLO"}}"#, "hello"),
        ok(r#"{{ indent 4 "a\nb" }}"#, "    a\n    b"),
        ok(r#"{{ nindent 4 "a\nb" }}"#, "\n    a\n    b"),
        ok(r#"{{ repeat 3 "hello" }}"#, "hellohellohello"),
        ok(r#"{{ .cluster | replace "-cluster" "" }}"#, "us-east"),
        ok(r#"{{ replace "hello" "world" "hello world" }}"#, "world world"),
        ok(r#"{{ substr 0 5 "hello world"}}"#, "hello"),
        ok(r#"{{ substr 6 11 "hello world"}}"#, "world"),
        ok("{{ .path | substr 2 5 }}", "pi/"),
        ok(r#"{{ substr -1 3 "hello" }}|{{ substr 2 -1 "hello" }}|{{ substr 3 100 "hello" }}"#, "hel|llo|lo"),
        ok("{{.request_method | title}}", "Get"),
        ok(r#"{{ title "hello world"}}"#, "Hello World"),
        ok(r#"{{ trim "   hello    " }}"#, "hello"),
        ok("{{ .spaces | trim }}", "hi"),
        ok(r#"{{ .path | trimAll "/" }}"#, "api/v1/push"),
        ok(r#"{{ trimAll "$" "$5.00" }}"#, "5.00"),
        ok(r#"{{ trimPrefix "-" "-hello" }}"#, "hello"),
        ok(r#"{{ .path | trimPrefix "/" }}"#, "api/v1/push"),
        ok(r#"{{ trimSuffix "-" "hello-" }}"#, "hello"),
        ok(r#"{{ trunc 5 "hello world"}}"#, "hello"),
        ok(r#"{{ trunc -5 "hello world"}}"#, "world"),
        ok("{{ .path | trunc 2 }}", "/a"),
        ok(r#"{{ trunc 2 "héllo" }}"#, "hé"),
        ok(r#"{{ upper "hello"}}"#, "HELLO"),
        ok(r#"{{ urlencode "a b/c?d=é" }}"#, "a+b%2Fc%3Fd%3D%C3%A9"),
        ok("{{ .url | urldecode }}", "a b c"),
        err(r#"{{ urldecode "%zz" }}"#, r#"invalid URL escape "%zz""#),
        ok(
            r#"{{ contains "he" "hello" }} {{ hasPrefix "lo" "hello" }} {{ hasSuffix "lo" "hello" }}"#,
            "true false true",
        ),
        // Loki's deprecated Go strings functions (Go argument order).
        ok(r#"{{ ToUpper "abc" }}{{ ToLower .method }}"#, "ABCget"),
        ok(r#"{{ Replace "aaaa" "a" "b" 2 }} {{ Replace "aaaa" "a" "b" -1 }}"#, "bbaa bbbb"),
        ok(r#"{{ Trim "xxhixx" "x" }} {{ TrimLeft "xxhixx" "x" }} {{ TrimRight "xxhixx" "x" }}"#, "hi hixx xxhi"),
        ok(
            r#"{{ TrimPrefix "prefix-x" "prefix-" }} {{ TrimSuffix "x.log" ".log" }} [{{ TrimSpace "  a  " }}]"#,
            "x x [a]",
        ),
        // Math.
        ok("{{ add 3 2 5 }}", "10"),
        ok("{{ add }}", "0"),
        ok("{{ add .n 1 }}", "43"),
        ok(r#"{{ add "1" 2.9 }}"#, "3"),
        ok("{{ addf 3.5 2 5 }}", "10.5"),
        ok("{{ addf 0.1 0.2 }}", "0.3"),
        ok("{{ ceil 123.001 }}", "124"),
        ok(r#"{{ ceil "1.2" }}"#, "2"),
        ok("{{ div 10 2}}", "5"),
        ok("{{ divf 10 2 4}}", "1.25"),
        ok("{{ divf 2 3 }}", "0.6666666666666667"),
        ok(r#"{{ "3.5" | float64 }}"#, "3.5"),
        ok(r#"{{ float64 "1e6" }}"#, "1e+06"),
        ok("{{ floor 123.9999 }}", "123"),
        ok(r#"{{ "3" | int }}"#, "3"),
        ok(r#"{{ int "0x1F" }} {{ int "3.0" }} {{ int "abc" }} {{ int 3.9 }}"#, "31 3 0 3"),
        ok("{{ max 1 2 3 }}", "3"),
        ok(r#"{{ max "10" 2 }}"#, "10"),
        ok("{{ maxf 1 2.5 3 }}", "3"),
        ok("{{ min 1 2 3 }}", "1"),
        ok("{{ minf 1 2.5 3 }}", "1"),
        ok("{{ mul 5 2 3}}", "30"),
        ok("{{ mulf 5.5 2 2.5 }}", "27.5"),
        ok("{{ mulf 1.1 3 }}", "3.3"),
        ok("{{ mod 10 3}}", "1"),
        ok("{{ round 123.555555 3 }}", "123.556"),
        ok("{{ round 123.88571428571 5 .2 }}", "123.88572"),
        ok("{{ round 123.88571428571 5 }}", "123.88571"),
        ok("{{ sub 5 2 }}", "3"),
        ok("{{ subf 5.5 2 1.5 }}", "2"),
        ok(r#"{{ .f | float64 | mulf 2 }}"#, "7.5"),
        // Regular expressions.
        ok(r#"{{ count "a|b" "abab" }}"#, "4"),
        ok(r#"{{ count "o" "foo" }}"#, "2"),
        ok(r#"{{ __line__ | count "XYZ"}}"#, "2"),
        ok(r#"{{ regexReplaceAll "(a*)bc" .some_label "${1}a" }}"#, "aaa"),
        ok(r#"{{ regexReplaceAllLiteral "(ts=)" .timestamp "timestamp=" }}"#, "timestamp=123"),
        ok(r#"{{ regexReplaceAllLiteral "a" "banana" "$1" }}"#, "b$1n$1n$1"),
        ok(r#"{{ regexReplaceAll ".*\\s+(\\S*Exception):.*$" .message "${1}" }}"#, "java.lang.NullPointerException"),
        ok(r#"{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "$1W" }}"#, "---"),
        ok(r#"{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}"#, "-W-xxW-"),
        ok(r#"{{ $re := "o+" }}{{ regexReplaceAll $re "foo boo" "0" }}"#, "f0 b0"),
        // define / template / block.
        ok(r#"{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" .app }}"#, "[foo]"),
        ok(r#"{{ block "b" .level }}<{{ . }}>{{ end }}"#, "<info>"),
        err(r#"{{ template "nope" }}"#, r#"template "nope" not defined"#),
        err(r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#, "exceeded maximum template depth"),
        // Whole label map needs a listing context.
        err("{{ . }}", "the labels cannot be listed"),
        // Delimiters inside strings and text.
        ok(r#"{{ "}}" }}"#, "}}"),
        ok("{{ .app }}}}", "foo}}"),
        ok(r#"{{ printf "%.2v" "abc" }}"#, "ab"),
        ok(r#"{{ title "héllo wörld-x_y" }}"#, "Héllo Wörld-X_y"),
        ok(r#"{{ len (fromJson "{\"a\":1}") }}"#, "1"),
        ok(r#"{{ index (fromJson "{\"a\":{\"b\":2}}") "a" "b" }}"#, "2"),
        ok("{{ not .app }}", "false"),
        ok("{{ html 1 2 }}", "1 2"),
        ok("{{ eq __timestamp__ __timestamp__ }}", "true"),
        err(r#"{{ eq (fromJson "[1]") (fromJson "[1]") }}"#, "non-comparable type [1]: []interface {}"),
        err("{{ .app | .level }}", "level is not a method but has arguments"),
        ok("{{ with .app }}{{ . }}{{ else with .level }}x{{ end }}", "foo"),
        // Labels containing template-like text are data, not code.
        ok("{{ .app }}", "{{ .x }}").labels(&[("app", "{{ .x }}")]),
        ok("{{ __line__ }}", "").line(""),
    ]
}

#[test]
fn table() {
    let cases = cases();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let failures: Vec<String> = cases.iter().filter_map(check).collect();
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn whole_label_map_with_listing_context() {
    let labels = [("b", "2"), ("a", "1")];
    let ctx = Ctx { labels: &labels, line: "", ts: 0, listable: true };
    let render = |src: &str| Template::parse(src).and_then(|t| t.render_to_string(&ctx));
    assert_eq!(render("{{ . }}").unwrap(), "map[a:1 b:2]");
    assert_eq!(render("{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ end }}").unwrap(), "a=1;b=2;");
    assert_eq!(render("{{ len . }}").unwrap(), "2");
    assert_eq!(render(r#"{{ printf "%v" . }}"#).unwrap(), "map[a:1 b:2]");
}

#[test]
fn error_leaves_output_untouched() {
    let ctx = Ctx { labels: LABELS, line: LINE, ts: TS, listable: false };
    let t = Template::parse("partial {{ .app }} {{ lower 5 }}").unwrap();
    let mut out = String::from("before");
    assert!(t.render(&ctx, &mut out).is_err());
    assert_eq!(out, "before");
}

#[test]
fn label_template_name_in_errors() {
    let e = Template::parse_named("label", "{{ nope }}").unwrap_err();
    assert_eq!(e.to_string(), r#"template: label:1: function "nope" not defined"#);
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep_if = format!("{}x{}", "{{ if true }}".repeat(5000), "{{ end }}".repeat(5000));
    assert!(Template::parse(&deep_if).unwrap_err().to_string().contains("max nesting depth exceeded"));
    let deep_paren = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(Template::parse(&deep_paren).unwrap_err().to_string().contains("max nesting depth exceeded"));
    // Just inside the limit parses and renders on a small stack.
    let ok_if = format!("{}x{}", "{{ if true }}".repeat(90), "{{ end }}".repeat(90));
    let t = Template::parse(&ok_if).unwrap();
    let ctx = Ctx { labels: &[], line: "", ts: 0, listable: false };
    let h = std::thread::Builder::new().stack_size(256 * 1024).spawn(move || t.render_to_string(&ctx_static()));
    assert_eq!(h.unwrap().join().unwrap().unwrap(), "x");
    let _ = ctx;
}

fn ctx_static() -> Ctx<'static> {
    Ctx { labels: &[], line: "", ts: 0, listable: false }
}

#[test]
fn template_recursion_is_bounded_on_a_small_stack() {
    let t =
        Template::parse(r#"{{ define "r" }}{{ if true }}{{ template "r" . }}{{ end }}{{ end }}{{ template "r" . }}"#)
            .unwrap();
    let h = std::thread::Builder::new().stack_size(512 * 1024).spawn(move || t.render_to_string(&ctx_static()));
    let e = h.unwrap().join().unwrap().unwrap_err();
    assert!(e.to_string().contains("exceeded maximum template depth"), "{e}");
}

#[test]
fn template_is_reusable_across_threads() {
    let t = Template::parse("{{ .app | upper }}").unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let t = t.clone();
            std::thread::spawn(move || {
                let v = format!("v{i}");
                let labels = [("app", v.as_str())];
                let ctx = Ctx { labels: &labels, line: "", ts: 0, listable: false };
                t.render_to_string(&ctx).unwrap()
            })
        })
        .collect();
    let got: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(got, vec!["V0", "V1", "V2", "V3"]);
}
