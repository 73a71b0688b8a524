//! Parsing and rendering never panic, whatever the input.

use balsa_template::alert::{AlertData, AlertTemplate};
use balsa_template::{Context, Template};
use proptest::prelude::*;

struct Ctx {
    listable: bool,
}

const LABELS: &[(&str, &str)] = &[
    ("app", "foo"),
    ("n", "42"),
    ("f", "-3.5e2"),
    ("json", r#"{"a":[1,"x",{"b":null}],"c":"é"}"#),
    ("ts", "2021-11-02T10:00:00Z"),
    ("u", "\u{1F600}é\u{0}"),
];

impl Context for Ctx {
    fn label(&self, name: &str) -> Option<&str> {
        LABELS.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
    fn line(&self) -> &str {
        "line with é and {{ braces }}"
    }
    fn timestamp_ns(&self) -> i64 {
        i64::MIN + 7
    }
    fn labels(&self) -> Option<Vec<(&str, &str)>> {
        if self.listable { Some(LABELS.to_vec()) } else { None }
    }
}

const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    " ",
    "\n",
    "if ",
    "else ",
    "end",
    "range ",
    "with ",
    "define ",
    "template ",
    "block ",
    "break",
    "continue",
    ".",
    ".app",
    ".json",
    ".n",
    ".missing",
    ".a.b",
    "$",
    "$x",
    "$i, $e",
    " := ",
    " = ",
    " | ",
    "(",
    ")",
    "\"",
    "\"a\"",
    "`r`",
    "'c'",
    "'\\n'",
    "1",
    "-1",
    "0",
    "3.5",
    "0x10",
    "1e3",
    "-0",
    "99999999999999999999",
    "nil",
    "true",
    "false",
    ",",
    "{{/*",
    "*/}}",
    "é",
    "\\",
    "%",
    "\"%d %s %v %5.2f %q %x %!\"",
    "\"%*d\"",
    "\"2006-01-02T15:04:05.000Z07:00 MST Jan _2 PM\"",
    "\"[1,2]\"",
    "\"{\\\"a\\\":1}\"",
    "\"\\u00e9\"",
    "__line__",
    "__timestamp__",
    ".Unix",
    ".Format",
    "\"(a*)\"",
    "\"${1}\"",
    "\"1h30m\"",
    "\"1.5 KiB\"",
    "\"aGk=\"",
    "\"%zz\"",
    "\"Europe/Paris\"",
    "\"123\"",
    "\"1673798889902\"",
    "-",
    "*",
    "..",
];

fn fragment_template() -> impl Strategy<Value = String> {
    let frag = prop_oneof![
        8 => prop::sample::select(FRAGMENTS).prop_map(str::to_string),
        3 => prop::sample::select(FUNCS).prop_map(|f| format!("{f} ")),
        1 => any::<char>().prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(frag, 0..40).prop_map(|v| v.concat())
}

/// An action wrapping a function call with random arguments, to reach function bodies.
fn call_template() -> impl Strategy<Value = String> {
    let arg = prop_oneof![
        prop::sample::select(FRAGMENTS[38..].to_vec()).prop_map(str::to_string),
        prop::sample::select(vec![".app", ".n", ".f", ".json", ".ts", ".u", "__timestamp__", "(fromJson .json)"])
            .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[ -~]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    (prop::sample::select(FUNCS), prop::collection::vec(arg, 0..4), any::<bool>()).prop_map(|(f, args, piped)| {
        if piped && !args.is_empty() {
            format!("{{{{ {} | {f} {} }}}}", args[0], args[1..].join(" "))
        } else {
            format!("{{{{ {f} {} }}}}", args.join(" "))
        }
    })
}

/// Templates from a small grammar of valid actions, to reach deep execution paths.
fn grammar_template() -> impl Strategy<Value = String> {
    let operand = prop_oneof![
        prop::sample::select(vec![
            ".app",
            ".n",
            ".f",
            ".json",
            ".missing",
            ".",
            "$",
            "$x",
            "1",
            "-2",
            "2.5",
            "0",
            "\"abc\"",
            "\"\"",
            "true",
            "nil",
            "__line__",
            "__timestamp__",
            "(fromJson .json)",
            "(fromJson .json).a",
            "3",
            "\"%v-%d\"",
            "\"2006-01-02 15:04\"",
            "\"[1,2,3]\"",
        ])
        .prop_map(str::to_string),
    ];
    let cmd = (prop::sample::select(FUNCS), prop::collection::vec(operand.clone(), 0..3))
        .prop_map(|(f, args)| format!("{f} {}", args.join(" ")));
    let pipeline = (prop_oneof![operand.clone(), cmd.clone()], prop::collection::vec(cmd, 0..3))
        .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect::<Vec<_>>().join(" | "));
    let leaf = prop_oneof![
        "[a-z \n]{0,5}".prop_map(|s| s),
        pipeline.clone().prop_map(|p| format!("{{{{ {p} }}}}")),
        pipeline.clone().prop_map(|p| format!("{{{{ $x = {p} }}}}")),
    ];
    let body = leaf.prop_recursive(4, 40, 4, move |inner| {
        let block = prop::collection::vec(inner, 0..4).prop_map(|v| v.concat());
        (
            prop::sample::select(vec!["if", "with", "range", "range $i, $e :=", "if not"]),
            pipeline.clone(),
            block.clone(),
            prop::option::of(block),
        )
            .prop_map(|(kw, p, b, e)| match e {
                Some(e) => format!("{{{{ {kw} {p} }}}}{b}{{{{ else }}}}{e}{{{{ end }}}}"),
                None => format!("{{{{- {kw} {p} -}}}}{b}{{{{ break }}}}{{{{ end }}}}"),
            })
    });
    prop::collection::vec(body, 0..4).prop_map(|v| format!("{{{{ $x := 1 }}}}{}", v.concat()))
}

const FUNCS: &[&str] = &[
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "call",
    "ToLower",
    "ToUpper",
    "Replace",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "TrimPrefix",
    "TrimSuffix",
    "TrimSpace",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "count",
    "urldecode",
    "urlencode",
    "bytes",
    "duration",
    "duration_seconds",
    "unixEpochMillis",
    "unixEpochNanos",
    "toDateInZone",
    "unixToTime",
    "alignLeft",
    "alignRight",
    "b64enc",
    "b64dec",
    "lower",
    "upper",
    "title",
    "trunc",
    "substr",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "indent",
    "nindent",
    "replace",
    "repeat",
    "trim",
    "trimAll",
    "trimSuffix",
    "trimPrefix",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "addf",
    "subf",
    "mulf",
    "divf",
    "max",
    "min",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "fromJson",
    "date",
    "toDate",
    "now",
    "unixEpoch",
    "default",
];

fn exercise(src: &str) {
    if let Ok(t) = Template::parse(src) {
        for listable in [false, true] {
            let mut out = String::new();
            let _ = t.render(&Ctx { listable }, &mut out);
            assert!(out.len() <= balsa_template::MAX_OUTPUT_BYTES);
        }
    }
}

/// Prometheus' function map plus a few builtins, for alert templates.
const PROM_FUNCS: &[&str] = &[
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "args",
    "reReplaceAll",
    "safeHtml",
    "match",
    "title",
    "toUpper",
    "toLower",
    "graphLink",
    "tableLink",
    "stripPort",
    "stripDomain",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "now",
    "pathPrefix",
    "externalURL",
    "parseDuration",
    "urlQueryEscape",
    "index",
    "len",
    "printf",
    "eq",
    "lt",
];

/// An alert template calling a Prometheus function with random arguments, possibly a method after it.
fn alert_call_template() -> impl Strategy<Value = String> {
    let arg = prop_oneof![
        prop::sample::select(vec![
            "$labels",
            "$labels.instance",
            "$externalLabels",
            "$externalURL",
            "$value",
            ".",
            ".Labels",
            ".Value",
            "nil",
            "true",
            "(toDuration $value)",
            "(toTime $value)",
            "(args 1 \"a\")",
            "\"[::1]:80\"",
            "\"1h30m\"",
            "\"-1y2w\"",
            "\"(a)|b\"",
            "\"$1${x}\"",
            "\"ǆß ﬁ a.b''c\"",
        ])
        .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| format!("{f:?}")),
        "[ -~]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    let method = prop::sample::select(vec![
        "",
        ".String",
        ".Hours",
        ".Minutes",
        ".Seconds",
        ".Milliseconds",
        ".Unix",
        ".Add 5",
        ".Format \"2006\"",
        ".x",
    ]);
    (prop::sample::select(PROM_FUNCS), prop::collection::vec(arg, 0..4), method)
        .prop_map(|(f, args, m)| format!("{{{{ ({f} {}){m} }}}}", args.join(" ")))
}

fn exercise_alert(src: &str, value: f64) {
    let labels =
        vec![("instance".to_string(), "host.example.com:9100".to_string()), ("a".to_string(), "é".to_string())];
    let data = AlertData { labels: &labels, external_labels: &[], external_url: "http://h:9090/p%20x", value };
    if let Ok(t) = AlertTemplate::parse("__alert_x", src) {
        for now in [0, i64::MIN, i64::MAX] {
            if let Ok(out) = t.render_at(&data, now) {
                assert!(out.len() <= balsa_template::MAX_OUTPUT_BYTES);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(src in any::<String>()) {
        exercise(&src);
    }

    #[test]
    fn template_fragments_never_panic(src in fragment_template()) {
        exercise(&src);
    }

    #[test]
    fn wrapped_fragments_never_panic(src in fragment_template()) {
        exercise(&format!("{{{{ {src} }}}}"));
    }

    #[test]
    fn grammar_templates_never_panic(src in grammar_template()) {
        exercise(&src);
    }

    #[test]
    fn function_calls_never_panic(src in call_template()) {
        exercise(&src);
    }

    #[test]
    fn printf_formats_never_panic(f in "[%-+# 0-9.*\\[\\]a-zA-Z]{0,16}", a in any::<i64>(), b in "[ -~]{0,8}") {
        exercise(&format!("{{{{ printf {f:?} {a} {b:?} 1.5 nil (fromJson .json) __timestamp__ }}}}"));
    }

    #[test]
    fn alert_function_calls_never_panic(src in alert_call_template(), value in any::<f64>()) {
        exercise_alert(&src, value);
    }

    #[test]
    fn alert_fragments_never_panic(src in fragment_template(), value in any::<f64>()) {
        exercise_alert(&src, value);
    }

    #[test]
    fn time_layouts_never_panic(layout in "[0-9A-Za-z_:.,\\- é]{0,24}", value in "[0-9A-Za-z_:.,+\\- é]{0,24}") {
        exercise(&format!("{{{{ toDate {layout:?} {value:?} }}}}{{{{ date {layout:?} __timestamp__ }}}}"));
        exercise(&format!("{{{{ toDateInZone {layout:?} \"Asia/Kolkata\" {value:?} | unixEpoch }}}}"));
    }
}
