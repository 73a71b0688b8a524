//! The function table: Go's text/template builtins plus Loki's `functionMap` (its own
//! functions and the sprig subset it registers), with Go-typed signatures.

use std::borrow::Cow;
use std::collections::HashMap;
use std::rc::Rc;

use regex::Regex;

use crate::fmt::{sprint, sprintf, sprintln};
use crate::gotime::{self, GoTime, Loc};
use crate::value::{self, IntTy, Value, to_float64, to_int64};
use crate::{Context, MAX_STRING_BYTES};

/// Go parameter types a function declares. `Any` is `interface{}` / `reflect.Value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PT {
    Str,
    Int,
    Float,
    Time,
    /// `time.Duration` (an integer constant, or a `*time.Duration` from `toDuration`).
    Duration,
    /// Prometheus' `template.queryResult` (a slice; only nil reaches it here).
    QueryResult,
    /// Prometheus' `*template.sample` (only nil reaches it here).
    Sample,
    Any,
}

impl PT {
    pub(crate) fn go_name(self) -> &'static str {
        match self {
            PT::Str => "string",
            PT::Int => "int",
            PT::Float => "float64",
            PT::Time => "time.Time",
            PT::Duration => "time.Duration",
            PT::QueryResult => "template.queryResult",
            PT::Sample => "*template.sample",
            PT::Any => "interface {}",
        }
    }

    /// Go's `canBeNil` for the parameter type.
    pub(crate) fn can_be_nil(self) -> bool {
        matches!(self, PT::Any | PT::QueryResult | PT::Sample)
    }
}

pub(crate) struct Sig {
    pub fixed: &'static [PT],
    pub variadic: Option<PT>,
}

macro_rules! funcs {
    ($($group:ident { $($variant:ident = $name:literal : [$($p:ident),*] $(, ...$v:ident)?;)* })*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Func { $($($variant,)*)* }

        impl Func {
            pub(crate) fn name(self) -> &'static str {
                match self { $($(Func::$variant => $name,)*)* }
            }

            pub(crate) fn sig(self) -> Sig {
                match self {
                    $($(Func::$variant => Sig { fixed: &[$(PT::$p),*], variadic: funcs!(@v $($v)?) },)*)*
                }
            }

            fn group(self) -> Group {
                match self { $($(Func::$variant => Group::$group,)*)* }
            }
        }

        /// Every function and method.
        const ALL: &[Func] = &[$($(Func::$variant,)*)*];
    };
    (@v) => { None };
    (@v $v:ident) => { Some(PT::$v) };
}

/// Where a function is reachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// Go's builtins, in every template.
    Builtin,
    /// Loki's `functionMap` (line_format, label_format).
    Loki,
    /// Prometheus' template functions (alert templates).
    Prom,
    /// Methods of `time.Time`.
    TimeMethod,
    /// Methods of `time.Duration`.
    DurationMethod,
}

/// The function map a template is parsed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Loki's `line_format` / `label_format`.
    Loki,
    /// Prometheus' alert templates (`NewTemplateExpander`).
    Prometheus,
}

funcs! {
    Builtin {
        And = "and": [Any], ...Any;
        Or = "or": [Any], ...Any;
        Not = "not": [Any];
        Len = "len": [Any];
        Index = "index": [Any], ...Any;
        Slice = "slice": [Any], ...Any;
        Print = "print": [], ...Any;
        Printf = "printf": [Str], ...Any;
        Println = "println": [], ...Any;
        Html = "html": [], ...Any;
        Js = "js": [], ...Any;
        Urlquery = "urlquery": [], ...Any;
        Eq = "eq": [Any], ...Any;
        Ne = "ne": [Any, Any];
        Lt = "lt": [Any, Any];
        Le = "le": [Any, Any];
        Gt = "gt": [Any, Any];
        Ge = "ge": [Any, Any];
        Call = "call": [Any], ...Any;
    }
    // Loki's own functions, then the sprig functions Loki registers.
    Loki {
        Line = "__line__": [];
        Timestamp = "__timestamp__": [];
        GoToLower = "ToLower": [Str];
        GoToUpper = "ToUpper": [Str];
        GoReplace = "Replace": [Str, Str, Str, Int];
        GoTrim = "Trim": [Str, Str];
        GoTrimLeft = "TrimLeft": [Str, Str];
        GoTrimRight = "TrimRight": [Str, Str];
        GoTrimPrefix = "TrimPrefix": [Str, Str];
        GoTrimSuffix = "TrimSuffix": [Str, Str];
        GoTrimSpace = "TrimSpace": [Str];
        RegexReplaceAll = "regexReplaceAll": [Str, Str, Str];
        RegexReplaceAllLiteral = "regexReplaceAllLiteral": [Str, Str, Str];
        Count = "count": [Str, Str];
        Urldecode = "urldecode": [Str];
        Urlencode = "urlencode": [Str];
        Bytes = "bytes": [Str];
        Duration = "duration": [Str];
        DurationSeconds = "duration_seconds": [Str];
        UnixEpochMillis = "unixEpochMillis": [Time];
        UnixEpochNanos = "unixEpochNanos": [Time];
        ToDateInZone = "toDateInZone": [Str, Str, Str];
        UnixToTime = "unixToTime": [Str];
        AlignLeft = "alignLeft": [Int, Str];
        AlignRight = "alignRight": [Int, Str];
        // The sprig functions Loki registers.
        B64enc = "b64enc": [Str];
        B64dec = "b64dec": [Str];
        Lower = "lower": [Str];
        Upper = "upper": [Str];
        Title = "title": [Str];
        Trunc = "trunc": [Int, Str];
        Substr = "substr": [Int, Int, Str];
        Contains = "contains": [Str, Str];
        HasPrefix = "hasPrefix": [Str, Str];
        HasSuffix = "hasSuffix": [Str, Str];
        Indent = "indent": [Int, Str];
        Nindent = "nindent": [Int, Str];
        SReplace = "replace": [Str, Str, Str];
        Repeat = "repeat": [Int, Str];
        STrim = "trim": [Str];
        TrimAll = "trimAll": [Str, Str];
        STrimSuffix = "trimSuffix": [Str, Str];
        STrimPrefix = "trimPrefix": [Str, Str];
        ToInt = "int": [Any];
        ToFloat64 = "float64": [Any];
        Add = "add": [], ...Any;
        Sub = "sub": [Any, Any];
        Mul = "mul": [Any], ...Any;
        Div = "div": [Any, Any];
        Mod = "mod": [Any, Any];
        Addf = "addf": [], ...Any;
        Subf = "subf": [Any], ...Any;
        Mulf = "mulf": [Any], ...Any;
        Divf = "divf": [Any], ...Any;
        Max = "max": [Any], ...Any;
        Min = "min": [Any], ...Any;
        Maxf = "maxf": [Any], ...Any;
        Minf = "minf": [Any], ...Any;
        Ceil = "ceil": [Any];
        Floor = "floor": [Any];
        Round = "round": [Any, Int], ...Float;
        FromJson = "fromJson": [Str];
        Date = "date": [Str, Any];
        ToDate = "toDate": [Str, Str];
        Now = "now": [];
        UnixEpoch = "unixEpoch": [Time];
        Default = "default": [Any], ...Any;
    }
    // Prometheus' template functions (template/template.go, text mode: no `tmpl`).
    Prom {
        PQuery = "query": [Str];
        PFirst = "first": [QueryResult];
        PLabel = "label": [Str, Sample];
        PValue = "value": [Sample];
        PStrvalue = "strvalue": [Sample];
        PArgs = "args": [], ...Any;
        PReReplaceAll = "reReplaceAll": [Str, Str, Str];
        PSafeHtml = "safeHtml": [Str];
        PMatch = "match": [Str, Str];
        PTitle = "title": [Str];
        PToUpper = "toUpper": [Str];
        PToLower = "toLower": [Str];
        PGraphLink = "graphLink": [Str];
        PTableLink = "tableLink": [Str];
        PSortByLabel = "sortByLabel": [Str, QueryResult];
        PStripPort = "stripPort": [Str];
        PStripDomain = "stripDomain": [Str];
        PHumanize = "humanize": [Any];
        PHumanize1024 = "humanize1024": [Any];
        PHumanizeDuration = "humanizeDuration": [Any];
        PHumanizePercentage = "humanizePercentage": [Any];
        PHumanizeTimestamp = "humanizeTimestamp": [Any];
        PToTime = "toTime": [Any];
        PToDuration = "toDuration": [Any];
        PNow = "now": [];
        PPathPrefix = "pathPrefix": [];
        PExternalUrl = "externalURL": [];
        PParseDuration = "parseDuration": [Str];
        PUrlQueryEscape = "urlQueryEscape": [Str];
    }
    // Methods (reached as `.Method` on a value; the receiver is the first parameter).
    TimeMethod {
        TUnix = "Unix": [Time];
        TUnixMilli = "UnixMilli": [Time];
        TUnixMicro = "UnixMicro": [Time];
        TUnixNano = "UnixNano": [Time];
        TYear = "Year": [Time];
        TMonth = "Month": [Time];
        TDay = "Day": [Time];
        THour = "Hour": [Time];
        TMinute = "Minute": [Time];
        TSecond = "Second": [Time];
        TNanosecond = "Nanosecond": [Time];
        TYearDay = "YearDay": [Time];
        TWeekday = "Weekday": [Time];
        TFormat = "Format": [Time, Str];
        TUtc = "UTC": [Time];
        TLocal = "Local": [Time];
        TString = "String": [Time];
        TIsZero = "IsZero": [Time];
        TAdd = "Add": [Time, Duration];
    }
    DurationMethod {
        DString = "String": [Duration];
        DHours = "Hours": [Duration];
        DMinutes = "Minutes": [Duration];
        DSeconds = "Seconds": [Duration];
        DMilliseconds = "Milliseconds": [Duration];
        DMicroseconds = "Microseconds": [Duration];
        DNanoseconds = "Nanoseconds": [Duration];
    }
}

impl Func {
    /// Whether the first argument is a regular expression (precompiled when literal).
    pub(crate) fn takes_regex(self) -> bool {
        matches!(
            self,
            Func::RegexReplaceAll | Func::RegexReplaceAllLiteral | Func::Count | Func::PReReplaceAll | Func::PMatch
        )
    }
}

/// Looks up a template function by name in a dialect's function map.
pub(crate) fn lookup(name: &str, dialect: Dialect) -> Option<Func> {
    ALL.iter().copied().find(|f| {
        f.name() == name
            && match f.group() {
                Group::Builtin => true,
                Group::Loki => dialect == Dialect::Loki,
                Group::Prom => dialect == Dialect::Prometheus,
                Group::TimeMethod | Group::DurationMethod => false,
            }
    })
}

/// Looks up a method of `time.Time`.
pub(crate) fn lookup_time_method(name: &str) -> Option<Func> {
    ALL.iter().copied().find(|f| f.group() == Group::TimeMethod && f.name() == name)
}

/// Looks up a method of `time.Duration`.
pub(crate) fn lookup_duration_method(name: &str) -> Option<Func> {
    ALL.iter().copied().find(|f| f.group() == Group::DurationMethod && f.name() == name)
}

/// Compiles a Go regular expression (RE2 syntax) with bounded size.
pub(crate) fn compile_regex(pattern: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(pattern).size_limit(1 << 21).dfa_size_limit(1 << 21).build().map_err(|e| {
        let msg = e.to_string();
        let last = msg.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid pattern").trim().to_string();
        format!("error parsing regexp: {}: `{}`", last.trim_start_matches("error: "), pattern)
    })
}

pub(crate) struct CallEnv<'a, 'r> {
    pub ctx: &'a dyn Context,
    pub regexes: &'r HashMap<String, Regex>,
    /// What Prometheus' functions read besides their arguments (alert templates only).
    pub alert: Option<&'r AlertEnv<'a>>,
}

/// The expander's inputs that Prometheus' template functions read: the external URL
/// (`externalURL`, `pathPrefix`) and the evaluation time (`now`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct AlertEnv<'a> {
    pub external_url: &'a str,
    pub eval_time_ms: i64,
}

fn s<'b>(v: &'b Value<'_>) -> &'b str {
    match v {
        Value::Str(s) => s,
        _ => "",
    }
}

fn i(v: &Value<'_>) -> i64 {
    match v {
        Value::Int(i, _) => *i,
        _ => 0,
    }
}

fn t(v: &Value<'_>) -> GoTime {
    match v {
        Value::Time(t) => t.clone(),
        _ => GoTime::zero(),
    }
}

fn owned<'a>(s: String) -> Value<'a> {
    Value::Str(Cow::Owned(s))
}

fn check_len(n: usize) -> Result<(), String> {
    if n > MAX_STRING_BYTES { Err(format!("result exceeds {MAX_STRING_BYTES} bytes")) } else { Ok(()) }
}

/// Go's `isTrue`; `None` when the value has no truth (never for our value kinds).
pub(crate) fn truth(v: &Value<'_>, ctx: &dyn Context) -> bool {
    match v {
        Value::Nil => false,
        Value::Bool(b) => *b,
        Value::Int(i, _) => *i != 0,
        Value::Float(f) => *f != 0.0,
        Value::Str(s) => !s.is_empty(),
        Value::Time(_) => true,
        Value::List(l) => !l.is_empty(),
        Value::Map(m) => !m.is_empty(),
        Value::Data => ctx.labels().is_none_or(|l| !l.is_empty()),
        Value::StrMap(m) => !m.is_empty(),
        // A struct, and a non-nil pointer.
        Value::Struct(_) | Value::Duration(_) => true,
    }
}

impl<'a> CallEnv<'a, '_> {
    pub(crate) fn regex(&self, pattern: &str) -> Result<Cow<'_, Regex>, String> {
        match self.regexes.get(pattern) {
            Some(r) => Ok(Cow::Borrowed(r)),
            None => compile_regex(pattern).map(Cow::Owned),
        }
    }

    /// Calls `f` with arguments already converted to its parameter types.
    pub(crate) fn call(&self, f: Func, a: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        let ctx = self.ctx;
        Ok(match f {
            Func::And | Func::Or => a.into_iter().last().unwrap_or(Value::Nil),
            Func::Not => Value::Bool(!truth(&a[0], ctx)),
            Func::Len => Value::int(length(&a[0], ctx)? as i64),
            Func::Index => index(&a[0], &a[1..], ctx)?,
            Func::Slice => slice(&a[0], &a[1..])?,
            Func::Print => owned(sprint(&a, ctx)),
            Func::Println => owned(sprintln(&a, ctx)),
            Func::Printf => owned(sprintf(s(&a[0]), &a[1..], ctx)),
            Func::Html => owned(html_escape(&eval_args(&a, ctx))),
            Func::Js => owned(js_escape(&eval_args(&a, ctx))),
            Func::Urlquery => owned(query_escape(&eval_args(&a, ctx))),
            Func::Eq => Value::Bool(eq(&a[0], &a[1..], ctx)?),
            Func::Ne => Value::Bool(!eq(&a[0], &a[1..], ctx)?),
            Func::Lt => Value::Bool(lt(&a[0], &a[1])?),
            Func::Le => Value::Bool(lt(&a[0], &a[1])? || eq(&a[0], &a[1..], ctx)?),
            Func::Gt => Value::Bool(!(lt(&a[0], &a[1])? || eq(&a[0], &a[1..], ctx)?)),
            Func::Ge => Value::Bool(!lt(&a[0], &a[1])?),
            Func::Call => {
                return Err(match &a[0] {
                    Value::Nil => "call of nil".to_string(),
                    v => format!("non-function of type {}", v.type_name()),
                });
            }
            Func::Line => Value::Str(Cow::Borrowed(ctx.line())),
            Func::Timestamp => Value::Time(GoTime::from_unix_nanos(ctx.timestamp_ns())),
            Func::GoToLower | Func::Lower => owned(to_lower(s(&a[0]))),
            Func::GoToUpper | Func::Upper => owned(to_upper(s(&a[0]))),
            Func::GoReplace => owned(replace_n(s(&a[0]), s(&a[1]), s(&a[2]), i(&a[3]))?),
            Func::GoTrim => owned(go_trim(s(&a[0]), s(&a[1]), true, true)),
            Func::GoTrimLeft => owned(go_trim(s(&a[0]), s(&a[1]), true, false)),
            Func::GoTrimRight => owned(go_trim(s(&a[0]), s(&a[1]), false, true)),
            Func::GoTrimPrefix => owned(s(&a[0]).strip_prefix(s(&a[1])).unwrap_or(s(&a[0])).to_string()),
            Func::GoTrimSuffix => owned(s(&a[0]).strip_suffix(s(&a[1])).unwrap_or(s(&a[0])).to_string()),
            Func::GoTrimSpace | Func::STrim => owned(s(&a[0]).trim().to_string()),
            Func::RegexReplaceAll | Func::RegexReplaceAllLiteral => {
                let re = self.regex(s(&a[0]))?;
                let src = s(&a[1]);
                let repl = s(&a[2]);
                let out = if f == Func::RegexReplaceAll {
                    bounded_replace(&re, src, repl, false)?
                } else {
                    bounded_replace(&re, src, repl, true)?
                };
                owned(out)
            }
            Func::Count => {
                let re = self.regex(s(&a[0]))?;
                Value::int(re.find_iter(s(&a[1])).count() as i64)
            }
            Func::Urldecode => owned(query_unescape(s(&a[0]))?),
            Func::Urlencode => owned(query_escape(s(&a[0]))),
            Func::Bytes => Value::Float(parse_bytes(s(&a[0]))?),
            Func::Duration | Func::DurationSeconds => {
                let d = gotime::parse_duration(s(&a[0]))?;
                Value::Float((d / 1_000_000_000) as f64 + (d % 1_000_000_000) as f64 / 1e9)
            }
            Func::UnixEpochMillis => owned(t(&a[0]).unix_milli().to_string()),
            Func::UnixEpochNanos => owned(t(&a[0]).unix_nano().to_string()),
            Func::ToDateInZone => {
                let loc = Loc::load(s(&a[1])).unwrap_or(Loc::Utc);
                Value::Time(gotime::parse_in_location(s(&a[0]), s(&a[2]), &loc).unwrap_or_else(GoTime::zero))
            }
            Func::UnixToTime => Value::Time(unix_to_time(s(&a[0]))?),
            Func::AlignLeft | Func::AlignRight => owned(align(i(&a[0]), s(&a[1]), f == Func::AlignLeft)?),
            Func::B64enc => owned(b64_encode(s(&a[0]).as_bytes())),
            Func::B64dec => owned(match b64_decode(s(&a[0])) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => e,
            }),
            Func::Title => owned(title(s(&a[0]))),
            Func::Trunc => owned(trunc(i(&a[0]), s(&a[1]))),
            Func::Substr => owned(substring(i(&a[0]), i(&a[1]), s(&a[2]))),
            Func::Contains => Value::Bool(s(&a[1]).contains(s(&a[0]))),
            Func::HasPrefix => Value::Bool(s(&a[1]).starts_with(s(&a[0]))),
            Func::HasSuffix => Value::Bool(s(&a[1]).ends_with(s(&a[0]))),
            Func::Indent => owned(indent(i(&a[0]), s(&a[1]))?),
            Func::Nindent => owned(format!("\n{}", indent(i(&a[0]), s(&a[1]))?)),
            Func::SReplace => owned(replace_n(s(&a[2]), s(&a[0]), s(&a[1]), -1)?),
            Func::Repeat => owned(repeat(i(&a[0]), s(&a[1]))?),
            Func::TrimAll => owned(go_trim(s(&a[1]), s(&a[0]), true, true)),
            Func::STrimSuffix => owned(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1])).to_string()),
            Func::STrimPrefix => owned(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1])).to_string()),
            Func::ToInt => Value::int(to_int64(&a[0])),
            Func::ToFloat64 => Value::Float(to_float64(&a[0])),
            Func::Add => Value::int64(a.iter().fold(0i64, |acc, v| acc.wrapping_add(to_int64(v)))),
            Func::Sub => Value::int64(to_int64(&a[0]).wrapping_sub(to_int64(&a[1]))),
            Func::Mul => Value::int64(a[1..].iter().fold(to_int64(&a[0]), |acc, v| acc.wrapping_mul(to_int64(v)))),
            Func::Div | Func::Mod => {
                let (x, y) = (to_int64(&a[0]), to_int64(&a[1]));
                if y == 0 {
                    return Err("runtime error: integer divide by zero".to_string());
                }
                Value::int64(if f == Func::Div { x.wrapping_div(y) } else { x.wrapping_rem(y) })
            }
            Func::Addf => Value::Float(decimal_fold(0.0, &a, DecOp::Add)?),
            Func::Subf => Value::Float(decimal_fold(to_float64(&a[0]), &a[1..], DecOp::Sub)?),
            Func::Mulf => Value::Float(decimal_fold(to_float64(&a[0]), &a[1..], DecOp::Mul)?),
            Func::Divf => Value::Float(decimal_fold(to_float64(&a[0]), &a[1..], DecOp::Div)?),
            Func::Max => Value::int64(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::max)),
            Func::Min => Value::int64(a[1..].iter().map(to_int64).fold(to_int64(&a[0]), i64::min)),
            Func::Maxf => Value::Float(a[1..].iter().map(to_float64).fold(to_float64(&a[0]), go_max)),
            Func::Minf => Value::Float(a[1..].iter().map(to_float64).fold(to_float64(&a[0]), go_min)),
            Func::Ceil => Value::Float(to_float64(&a[0]).ceil()),
            Func::Floor => Value::Float(to_float64(&a[0]).floor()),
            Func::Round => {
                let round_on = match a.get(2) {
                    Some(Value::Float(r)) => *r,
                    _ => 0.5,
                };
                Value::Float(round(to_float64(&a[0]), i(&a[1]), round_on))
            }
            Func::FromJson => match serde_json::from_str::<serde_json::Value>(s(&a[0])) {
                Ok(v) => value::from_json(v),
                Err(_) => Value::Nil,
            },
            Func::Date => {
                let when = match &a[1] {
                    Value::Time(t) => t.clone(),
                    Value::Int(n, IntTy::Int | IntTy::Int64) => GoTime::from_unix(*n, 0),
                    _ => GoTime::now(),
                };
                owned(when.in_loc(Loc::Utc).format(s(&a[0])))
            }
            Func::ToDate => {
                Value::Time(gotime::parse_in_location(s(&a[0]), s(&a[1]), &Loc::Utc).unwrap_or_else(GoTime::zero))
            }
            Func::Now => Value::Time(GoTime::now()),
            Func::UnixEpoch => owned(t(&a[0]).secs.to_string()),
            Func::Default => {
                let given = a.get(1).cloned();
                match given {
                    Some(g) if !value::is_empty(&g, ctx.labels().map(|l| l.len())) => g,
                    _ => a.into_iter().next().unwrap_or(Value::Nil),
                }
            }
            Func::TUnix => Value::int64(t(&a[0]).secs),
            Func::TUnixMilli => Value::int64(t(&a[0]).unix_milli()),
            Func::TUnixMicro => Value::int64(t(&a[0]).unix_micro()),
            Func::TUnixNano => Value::int64(t(&a[0]).unix_nano()),
            Func::TYear => Value::int(t(&a[0]).civil().year),
            Func::TMonth => Value::str(t(&a[0]).month_name()),
            Func::TDay => Value::int(t(&a[0]).civil().day as i64),
            Func::THour => Value::int(t(&a[0]).civil().hour as i64),
            Func::TMinute => Value::int(t(&a[0]).civil().min as i64),
            Func::TSecond => Value::int(t(&a[0]).civil().sec as i64),
            Func::TNanosecond => Value::int(t(&a[0]).nsec as i64),
            Func::TYearDay => Value::int(t(&a[0]).civil().yday as i64),
            Func::TWeekday => Value::str(t(&a[0]).weekday_name()),
            Func::TFormat => owned(t(&a[0]).format(s(&a[1]))),
            Func::TUtc | Func::TLocal => Value::Time(t(&a[0]).in_loc(Loc::Utc)),
            Func::TString => owned(t(&a[0]).go_string()),
            Func::TIsZero => Value::Bool(t(&a[0]).is_zero()),
            Func::TAdd => Value::Time(t(&a[0]).add_nanos(match a[1] {
                Value::Duration(d) => d,
                _ => 0,
            })),
            Func::PQuery
            | Func::PFirst
            | Func::PLabel
            | Func::PValue
            | Func::PStrvalue
            | Func::PArgs
            | Func::PReReplaceAll
            | Func::PSafeHtml
            | Func::PMatch
            | Func::PTitle
            | Func::PToUpper
            | Func::PToLower
            | Func::PGraphLink
            | Func::PTableLink
            | Func::PSortByLabel
            | Func::PStripPort
            | Func::PStripDomain
            | Func::PHumanize
            | Func::PHumanize1024
            | Func::PHumanizeDuration
            | Func::PHumanizePercentage
            | Func::PHumanizeTimestamp
            | Func::PToTime
            | Func::PToDuration
            | Func::PNow
            | Func::PPathPrefix
            | Func::PExternalUrl
            | Func::PParseDuration
            | Func::PUrlQueryEscape
            | Func::DString
            | Func::DHours
            | Func::DMinutes
            | Func::DSeconds
            | Func::DMilliseconds
            | Func::DMicroseconds
            | Func::DNanoseconds => return crate::prom::call(self, f, a),
        })
    }
}

/// Go's `evalArgs` for html/js/urlquery.
fn eval_args(a: &[Value<'_>], ctx: &dyn Context) -> String {
    if let [Value::Str(s)] = a {
        return s.to_string();
    }
    let printable: Vec<Value<'_>> =
        a.iter().map(|v| if v.is_nil() { Value::str("<no value>") } else { v.clone() }).collect();
    sprint(&printable, ctx)
}

fn length(v: &Value<'_>, ctx: &dyn Context) -> Result<usize, String> {
    match v {
        Value::Str(s) => Ok(s.len()),
        Value::List(l) => Ok(l.len()),
        Value::Map(m) => Ok(m.len()),
        Value::StrMap(m) => Ok(m.len()),
        Value::Data => ctx.labels().map(|l| l.len()).ok_or_else(|| crate::NOT_LISTABLE.to_string()),
        Value::Nil => Err("reflect: call of reflect.Value.Type on zero Value".to_string()),
        v => Err(format!("len of type {}", v.type_name())),
    }
}

fn index_arg(v: &Value<'_>, cap: usize) -> Result<usize, String> {
    let x = match v {
        Value::Int(x, _) => *x,
        Value::Nil => return Err("cannot index slice/array with nil".to_string()),
        v => return Err(format!("cannot index slice/array with type {}", v.type_name())),
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index<'a>(item: &Value<'a>, idx: &[Value<'a>], ctx: &'a dyn Context) -> Result<Value<'a>, String> {
    if item.is_nil() {
        return Err("index of untyped nil".to_string());
    }
    let mut item = item.clone();
    for ix in idx {
        item = match &item {
            Value::Str(s) => {
                let x = index_arg(ix, s.len())?;
                match s.as_bytes().get(x) {
                    Some(b) => Value::Int(*b as i64, IntTy::Uint8),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::List(l) => {
                let x = index_arg(ix, l.len())?;
                match l.get(x) {
                    Some(v) => v.clone(),
                    None => return Err(format!("index out of range: {x}")),
                }
            }
            Value::Map(m) => match ix {
                Value::Str(k) => m.get(k.as_ref()).cloned().unwrap_or(Value::Nil),
                Value::Nil => Value::Nil,
                v => return Err(format!("value has type {}; should be string", v.type_name())),
            },
            Value::Data => match ix {
                Value::Str(k) => Value::Str(Cow::Borrowed(ctx.label(k).unwrap_or(""))),
                v => return Err(format!("value has type {}; should be string", v.type_name())),
            },
            Value::StrMap(m) => match ix {
                Value::Str(k) => Value::Str(Cow::Borrowed(m.get(k.as_ref()).copied().unwrap_or(""))),
                Value::Nil => return Err("value is nil; should be of type string".to_string()),
                v => return Err(format!("value has type {}; should be string", v.type_name())),
            },
            Value::Nil => return Err("index of nil pointer".to_string()),
            v => return Err(format!("can't index item of type {}", v.type_name())),
        };
    }
    Ok(item)
}

fn slice<'a>(item: &Value<'a>, idx: &[Value<'a>]) -> Result<Value<'a>, String> {
    if item.is_nil() {
        return Err("slice of untyped nil".to_string());
    }
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let len = match item {
        Value::Str(s) => {
            if idx.len() == 3 {
                return Err("cannot 3-index slice a string".to_string());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        v => return Err(format!("can't slice item of type {}", v.type_name())),
    };
    let mut ix = [0, len, len];
    for (k, v) in idx.iter().enumerate() {
        ix[k] = index_arg(v, len)?;
    }
    if ix[0] > ix[1] {
        return Err(format!("invalid slice index: {} > {}", ix[0], ix[1]));
    }
    if idx.len() == 3 && ix[1] > ix[2] {
        return Err(format!("invalid slice index: {} > {}", ix[1], ix[2]));
    }
    Ok(match item {
        Value::Str(s) => owned(String::from_utf8_lossy(&s.as_bytes()[ix[0]..ix[1]]).into_owned()),
        Value::List(l) => Value::List(Rc::new(l[ix[0]..ix[1]].to_vec())),
        _ => Value::Nil,
    })
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum Kind {
    Bool,
    Int,
    Uint,
    Float,
    Str,
    Other,
    Invalid,
}

fn basic_kind(v: &Value<'_>) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_, IntTy::Uint8) => Kind::Uint,
        Value::Int(..) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        Value::Nil => Kind::Invalid,
        _ => Kind::Other,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

/// Go's `eq`: true when the first argument equals any of the others.
fn eq(a1: &Value<'_>, rest: &[Value<'_>], ctx: &dyn Context) -> Result<bool, String> {
    if rest.is_empty() {
        return Err("missing argument for comparison".to_string());
    }
    let k1 = basic_kind(a1);
    for a in rest {
        let k2 = basic_kind(a);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => i(a1) == i(a),
                _ => {
                    if k1 != Kind::Invalid && k2 != Kind::Invalid {
                        return Err(BAD_COMPARISON.to_string());
                    }
                    false
                }
            }
        } else {
            match (a1, a) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x, _), Value::Int(y, _)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::Str(x), Value::Str(y)) => x == y,
                (Value::Nil, Value::Nil) => true,
                (Value::Time(x), Value::Time(y)) => x == y,
                (x, y) if std::mem::discriminant(x) == std::mem::discriminant(y) => {
                    return Err(format!("non-comparable type {}: {}", crate::fmt::to_v(y, ctx), y.type_name()));
                }
                (x, y) => {
                    return Err(format!(
                        "non-comparable types {}: {}, {}: {}",
                        crate::fmt::to_v(x, ctx),
                        x.type_name(),
                        y.type_name(),
                        crate::fmt::to_v(y, ctx)
                    ));
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Go's `lt`.
fn lt(a1: &Value<'_>, a2: &Value<'_>) -> Result<bool, String> {
    let k1 = basic_kind(a1);
    let k2 = basic_kind(a2);
    for k in [k1, k2] {
        if matches!(k, Kind::Other | Kind::Invalid) {
            return Err(BAD_COMPARISON_TYPE.to_string());
        }
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => Ok(i(a1) < i(a2)),
            _ => Err(BAD_COMPARISON.to_string()),
        };
    }
    match (a1, a2) {
        (Value::Int(x, _), Value::Int(y, _)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Str(x), Value::Str(y)) => Ok(x < y),
        _ => Err(BAD_COMPARISON_TYPE.to_string()),
    }
}

/// Go's `unicode.ToLower` rune by rune (simple case mapping).
pub(crate) fn to_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

pub(crate) fn to_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

/// Go's `strings.Title`.
fn title(s: &str) -> String {
    let is_sep = |r: char| -> bool {
        if r.is_ascii() {
            return !(r.is_ascii_alphanumeric() || r == '_');
        }
        if r.is_alphabetic() || r.is_numeric() {
            return false;
        }
        r.is_whitespace()
    };
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let out = if is_sep(prev) {
                let mut u = c.to_uppercase();
                match (u.next(), u.next()) {
                    (Some(x), None) => x,
                    _ => c,
                }
            } else {
                c
            };
            prev = c;
            out
        })
        .collect()
}

fn go_trim(s: &str, cutset: &str, left: bool, right: bool) -> String {
    if s.is_empty() || cutset.is_empty() {
        return s.to_string();
    }
    let in_set = |c: char| cutset.contains(c);
    let mut r = s;
    if left {
        r = r.trim_start_matches(in_set);
    }
    if right {
        r = r.trim_end_matches(in_set);
    }
    r.to_string()
}

/// Go's `strings.Replace(s, old, new, n)` with a bound on the result size.
fn replace_n(s: &str, old: &str, new: &str, n: i64) -> Result<String, String> {
    if old == new || n == 0 {
        return Ok(s.to_string());
    }
    let matches = if old.is_empty() { s.chars().count() + 1 } else { s.matches(old).count() };
    let m = if n < 0 { matches } else { matches.min(n as usize) };
    let size = (s.len() as u128) + (m as u128) * (new.len() as u128);
    if size > MAX_STRING_BYTES as u128 {
        return Err(format!("result exceeds {MAX_STRING_BYTES} bytes"));
    }
    Ok(if n < 0 { s.replace(old, new) } else { s.replacen(old, new, n as usize) })
}

fn repeat(count: i64, s: &str) -> Result<String, String> {
    if count < 0 {
        return Err("strings: negative Repeat count".to_string());
    }
    let size = (s.len() as u128) * (count as u128);
    if size > MAX_STRING_BYTES as u128 {
        return Err(format!("result exceeds {MAX_STRING_BYTES} bytes"));
    }
    Ok(s.repeat(count as usize))
}

fn indent(spaces: i64, v: &str) -> Result<String, String> {
    if spaces < 0 {
        return Err("strings: negative Repeat count".to_string());
    }
    let lines = v.matches('\n').count() as u128 + 1;
    let size = v.len() as u128 + lines * spaces as u128;
    if size > MAX_STRING_BYTES as u128 {
        return Err(format!("result exceeds {MAX_STRING_BYTES} bytes"));
    }
    let pad = " ".repeat(spaces as usize);
    Ok(format!("{pad}{}", v.replace('\n', &format!("\n{pad}"))))
}

/// Loki's `trunc` (counting runes): a negative count keeps the end of the string.
fn trunc(c: i64, s: &str) -> String {
    let n = s.chars().count() as i64;
    if c < 0 && n + c > 0 {
        return s.chars().skip((n + c) as usize).collect();
    }
    if c >= 0 && n > c {
        return s.chars().take(c as usize).collect();
    }
    s.to_string()
}

/// Loki's `substring` (counting runes, clamped).
fn substring(start: i64, end: i64, s: &str) -> String {
    let runes: Vec<char> = s.chars().collect();
    let l = runes.len() as i64;
    let end = end.min(l);
    let start = start.min(l);
    if start < 0 {
        if end < 0 {
            return String::new();
        }
        return runes[..end as usize].iter().collect();
    }
    if end < 0 {
        return runes[start as usize..].iter().collect();
    }
    if start > end {
        return String::new();
    }
    runes[start as usize..end as usize].iter().collect()
}

fn align(count: i64, src: &str, left: bool) -> Result<String, String> {
    let l = src.chars().count() as i64;
    if count < 0 || count == l {
        return Ok(src.to_string());
    }
    let pad = count - l;
    if pad > 0 {
        check_len(src.len().saturating_add(pad as usize))?;
        let p = " ".repeat(pad as usize);
        return Ok(if left { format!("{src}{p}") } else { format!("{p}{src}") });
    }
    Ok(if left { src.chars().take(count as usize).collect() } else { src.chars().skip((l - count) as usize).collect() })
}

/// Regex replacement with Go's `Expand` syntax (`$1`, `${name}`) or literally, bounded in size.
pub(crate) fn bounded_replace(re: &Regex, src: &str, repl: &str, literal: bool) -> Result<String, String> {
    let mut out = String::with_capacity(src.len());
    let mut last = 0;
    let dollars = if literal { 0 } else { repl.matches('$').count() };
    for caps in re.captures_iter(src) {
        let Some(m) = caps.get(0) else { continue };
        // Every group lies inside the match, so this bounds the expansion.
        let bound = (out.len() + m.start() - last) as u128 + repl.len() as u128 + dollars as u128 * m.len() as u128;
        if bound > MAX_STRING_BYTES as u128 {
            check_len(usize::MAX)?;
        }
        out.push_str(&src[last..m.start()]);
        if literal {
            out.push_str(repl);
        } else {
            caps.expand(repl, &mut out);
        }
        last = m.end();
        check_len(out.len())?;
    }
    out.push_str(&src[last..]);
    check_len(out.len())?;
    Ok(out)
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

/// sprig's `round`.
fn round(val: f64, places: i64, round_on: f64) -> f64 {
    let pow = 10f64.powf(places as f64);
    let digit = pow * val;
    let div = digit.fract();
    let r = if div >= round_on { digit.ceil() } else { digit.floor() };
    r / pow
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum DecOp {
    Add,
    Sub,
    Mul,
    Div,
}

/// A float's shortest decimal form as mantissa * 10^exp.
fn to_dec(f: f64) -> Option<(i128, i32)> {
    if !f.is_finite() {
        return None;
    }
    let s = format!("{:e}", f);
    let (mant, exp) = s.split_once('e')?;
    let exp: i32 = exp.parse().ok()?;
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let m: i128 = digits.parse().ok()?;
    let e = exp - (digits.len() as i32 - 1);
    Some((if neg { -m } else { m }, e))
}

fn dec_to_f64(m: i128, e: i32) -> f64 {
    format!("{m}e{e}").parse().unwrap_or(f64::NAN)
}

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

/// One step of shopspring/decimal arithmetic as sprig's addf/subf/mulf/divf use it; falls back
/// to float arithmetic when the exact result does not fit.
fn dec_op(a: f64, b: f64, op: DecOp) -> Result<f64, String> {
    if op == DecOp::Div && b == 0.0 {
        return Err("decimal division by 0".to_string());
    }
    let float = match op {
        DecOp::Add => a + b,
        DecOp::Sub => a - b,
        DecOp::Mul => a * b,
        DecOp::Div => a / b,
    };
    let (Some((m1, e1)), Some((m2, e2))) = (to_dec(a), to_dec(b)) else { return Ok(float) };
    let exact = match op {
        DecOp::Add | DecOp::Sub => {
            let m2 = if op == DecOp::Sub { -m2 } else { m2 };
            let e = e1.min(e2);
            let x = pow10((e1 - e).unsigned_abs()).and_then(|p| m1.checked_mul(p));
            let y = pow10((e2 - e).unsigned_abs()).and_then(|p| m2.checked_mul(p));
            match (x, y) {
                (Some(x), Some(y)) => x.checked_add(y).map(|m| (m, e)),
                _ => None,
            }
        }
        DecOp::Mul => m1.checked_mul(m2).map(|m| (m, e1 + e2)),
        DecOp::Div => {
            // Rounded to 16 decimal places, half away from zero.
            let t = e1 - e2 + 16;
            let (num, den) = if t >= 0 {
                (pow10(t as u32).and_then(|p| m1.checked_mul(p)), Some(m2))
            } else {
                (Some(m1), pow10((-t) as u32).and_then(|p| m2.checked_mul(p)))
            };
            match (num, den) {
                (Some(n), Some(d)) if d != 0 => {
                    let q = n / d;
                    let r = n % d;
                    let q = if r.unsigned_abs() * 2 >= d.unsigned_abs() {
                        if (n < 0) != (d < 0) { q - 1 } else { q + 1 }
                    } else {
                        q
                    };
                    Some((q, -16))
                }
                _ => None,
            }
        }
    };
    Ok(match exact {
        Some((m, e)) => dec_to_f64(m, e),
        None => float,
    })
}

fn decimal_fold(init: f64, rest: &[Value<'_>], op: DecOp) -> Result<f64, String> {
    let mut acc = init;
    for v in rest {
        acc = dec_op(acc, to_float64(v), op)?;
    }
    Ok(acc)
}

/// go-humanize's `ParseBytes`.
fn parse_bytes(s: &str) -> Result<f64, String> {
    let mut last_digit = 0;
    let mut has_comma = false;
    for c in s.chars() {
        if !(c.is_numeric() || c == '.' || c == ',') {
            break;
        }
        if c == ',' {
            has_comma = true;
        }
        last_digit += c.len_utf8();
    }
    let mut num = s[..last_digit].to_string();
    if has_comma {
        num = num.replace(',', "");
    }
    let f = value::parse_go_float(&num)
        .ok_or_else(|| format!("strconv.ParseFloat: parsing {}: invalid syntax", crate::fmt::quote(&num)))?;
    let extra = s[last_digit..].trim().to_lowercase();
    let mult: f64 = match extra.as_str() {
        "" | "b" => 1.0,
        "kib" | "ki" => 1024.0,
        "kb" | "k" => 1e3,
        "mib" | "mi" => 1024f64.powi(2),
        "mb" | "m" => 1e6,
        "gib" | "gi" => 1024f64.powi(3),
        "gb" | "g" => 1e9,
        "tib" | "ti" => 1024f64.powi(4),
        "tb" | "t" => 1e12,
        "pib" | "pi" => 1024f64.powi(5),
        "pb" | "p" => 1e15,
        "eib" | "ei" => 1024f64.powi(6),
        "eb" | "e" => 1e18,
        _ => return Err(format!("unhandled size name: {extra}")),
    };
    let v = f * mult;
    if v >= u64::MAX as f64 {
        return Err(format!("too large: {s}"));
    }
    // The result is a uint64 converted back to float64.
    Ok(if v < 0.0 { 0.0 } else { (v as u64) as f64 })
}

/// Loki's `unixToTime`: the unit follows from the number of digits.
fn unix_to_time(epoch: &str) -> Result<GoTime, String> {
    let n = match epoch.parse::<i64>() {
        Ok(n) => n,
        Err(e) => {
            let why = match e.kind() {
                std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow => "value out of range",
                _ => "invalid syntax",
            };
            return Err(format!(
                "unable to parse time '{epoch}': strconv.ParseInt: parsing {}: {why}",
                crate::fmt::quote(epoch)
            ));
        }
    };
    Ok(match epoch.len() {
        5 => GoTime::from_unix(n.wrapping_mul(86_400), 0),
        10 => GoTime::from_unix(n, 0),
        13 => GoTime::from_unix(0, n.wrapping_mul(1_000_000)),
        16 => GoTime::from_unix(0, n.wrapping_mul(1000)),
        19 => GoTime::from_unix(0, n),
        _ => return Err(format!("unable to parse time '{epoch}': %!w(<nil>)")),
    })
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn b64_encode(src: &[u8]) -> String {
    let mut out = String::with_capacity(src.len().div_ceil(3) * 4);
    for chunk in src.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = ((b[0] as u32) << 16) | ((b[1] as u32) << 8) | b[2] as u32;
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 { B64[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if chunk.len() > 2 { B64[n as usize & 63] as char } else { '=' });
    }
    out
}

/// Go's `base64.StdEncoding.DecodeString`; the error is "illegal base64 data at input byte N".
pub(crate) fn b64_decode(s: &str) -> Result<Vec<u8>, String> {
    let src = s.as_bytes();
    let corrupt = |n: usize| format!("illegal base64 data at input byte {n}");
    let decode = |c: u8| B64.iter().position(|&x| x == c).map(|p| p as u8);
    let mut out = Vec::with_capacity(src.len() / 4 * 3);
    let mut si = 0;
    while si < src.len() {
        let mut dbuf = [0u8; 4];
        let mut dlen = 4;
        let mut j = 0;
        let mut end = false;
        while j < 4 {
            if si == src.len() {
                if j == 0 {
                    return Ok(out);
                }
                return Err(corrupt(si - j));
            }
            let c = src[si];
            si += 1;
            if let Some(d) = decode(c) {
                dbuf[j] = d;
                j += 1;
                continue;
            }
            if c == b'\n' || c == b'\r' {
                continue;
            }
            if c != b'=' {
                return Err(corrupt(si - 1));
            }
            match j {
                0 | 1 => return Err(corrupt(si - 1)),
                2 => {
                    while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                        si += 1;
                    }
                    if si == src.len() {
                        return Err(corrupt(src.len()));
                    }
                    if src[si] != b'=' {
                        return Err(corrupt(si - 1));
                    }
                    si += 1;
                }
                _ => {}
            }
            while si < src.len() && (src[si] == b'\n' || src[si] == b'\r') {
                si += 1;
            }
            if si < src.len() {
                return Err(corrupt(si));
            }
            dlen = j;
            end = true;
            break;
        }
        let n = ((dbuf[0] as u32) << 18) | ((dbuf[1] as u32) << 12) | ((dbuf[2] as u32) << 6) | dbuf[3] as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..dlen - 1]);
        if end {
            break;
        }
    }
    Ok(out)
}

fn should_escape_query(c: u8) -> bool {
    !(c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~'))
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b == b' ' {
            out.push('+');
        } else if should_escape_query(b) {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789ABCDEF"[(b & 15) as usize]));
        } else {
            out.push(b as char);
        }
    }
    out
}

/// Go's `url.QueryUnescape`.
pub(crate) fn query_unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len() || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit() {
                    let bad = &b[i..b.len().min(i + 3)];
                    return Err(format!("invalid URL escape {}", crate::fmt::quote(&String::from_utf8_lossy(bad))));
                }
                let hex = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
                out.push(hex(b[i + 1]) << 4 | hex(b[i + 2]));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if c.is_ascii() => out.push(c),
            c if c.is_control() || c.is_whitespace() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(dec_op(0.1, 0.2, DecOp::Add), Ok(0.3));
        assert_eq!(dec_op(2.0, 3.0, DecOp::Div).map(crate::fmt::float_v), Ok("0.6666666666666667".to_string()));
        assert_eq!(dec_op(5.5, 2.0, DecOp::Mul), Ok(11.0));
        assert!(dec_op(1.0, 0.0, DecOp::Div).is_err());
    }

    #[test]
    fn base64_roundtrip() {
        assert_eq!(b64_encode(b"hello"), "aGVsbG8=");
        assert_eq!(b64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(b64_decode("aGVsbG8").unwrap_err(), "illegal base64 data at input byte 4");
        assert_eq!(b64_decode("a$").unwrap_err(), "illegal base64 data at input byte 1");
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("1 KiB"), Ok(1024.0));
        assert_eq!(parse_bytes("1.5GB"), Ok(1.5e9));
        assert_eq!(parse_bytes("10"), Ok(10.0));
        assert!(parse_bytes("1 XB").is_err());
    }
}
