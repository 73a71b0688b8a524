//! Fuzz-style test: thousands of random and mutated queries must never
//! panic, and every accepted query must print to a canonical form that
//! parses back to the same canonical form.

use balsa_logql::{parse_expr, parse_unvalidated};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    r#"{namespace="argocd"} |= "level=error""#,
    r#"count_over_time({namespace="argocd"} |= "level=error" [5m]) > 9"#,
    "vector(1)+vector(1)",
    r#"sum by (level, detected_level) (count_over_time({a="b"} | drop __error__[1m]))"#,
    r#"{a="b"} | logfmt --strict | level="error" and duration > 5s or size >= 20MB | line_format "{{.x}}""#,
    r#"quantile_over_time(0.99, {a="b"} | json x="y.z" | unwrap bytes(size) | __error__="" [1m] offset 5m) by (x)"#,
    r#"topk(5, sum without (app) (rate({a=~"b.*"}[5m]))) / on (x) group_left (y) rate({c!="d", e="f"}[1m])"#,
    r#"label_replace(sum(rate({a="b"} |~ "(?i)x" or "y" != ip("::1") [1h])), "dst", "$1", "src", "(.*)")"#,
    r#"{a="b"} | pattern "<ip> <_>" | drop a, b="v" | keep c | label_format d=e, f="{{.g}}" | decolorize | unpack"#,
    r#"vector(1) + 2 * 3 ^ 2 % 5 - -1 > bool 0 or vector(1) and vector(2) unless vector(3)"#,
    r#"({a="b"} | regexp "(?P<x>\\d+)" |> "<_> x" !> "y")"#,
];

const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "[5m]",
    "|",
    "|=",
    "!=",
    "|~",
    "!~",
    "|>",
    "!>",
    "=",
    "==",
    "=~",
    ",",
    " or ",
    " and ",
    " unless ",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    ">",
    ">=",
    "<",
    "<=",
    "\"",
    "`",
    "'",
    "#",
    "\n",
    " ",
    "a",
    "x=\"y\"",
    "5",
    "1.5",
    "5s",
    "-5m",
    "20MB",
    "--strict",
    "--keep-empty",
    "sum",
    "rate(",
    "by (",
    "without ()",
    "bool",
    "on (a)",
    "ignoring",
    "group_left",
    "offset 1h",
    "| json",
    "| logfmt",
    "| unwrap x",
    "duration(",
    "bytes(",
    "ip(\"1.2.3.4\")",
    "vector(",
    "label_replace(",
    "topk(3,",
    "count_over_time(",
    "\\",
    "\\u00e9",
    "é",
    "\u{0}",
    "/*",
    "*/",
    "<_>",
    "0x1F",
    "1e3",
    ".5",
    "9999999999999999999999",
    "_",
    "$",
];

fn mutate(rng: &mut Rng, s: &str) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    for _ in 0..=rng.below(4) {
        let len = chars.len();
        match rng.below(6) {
            0 if len > 0 => {
                let at = rng.below(len);
                let n = 1 + rng.below(5);
                chars.drain(at..(at + n).min(len));
            }
            1 | 2 => {
                let at = rng.below(len + 1);
                let piece: Vec<char> = PIECES[rng.below(PIECES.len())].chars().collect();
                chars.splice(at..at, piece);
            }
            3 if len > 0 => {
                let at = rng.below(len);
                chars[at] = PIECES[rng.below(PIECES.len())].chars().next().unwrap_or('x');
            }
            4 if len > 0 => {
                chars.truncate(rng.below(len));
            }
            _ if len > 1 => {
                let a = rng.below(len);
                let b = rng.below(len);
                let (a, b) = (a.min(b), a.max(b));
                let dup: Vec<char> = chars[a..b].to_vec();
                chars.splice(b..b, dup);
            }
            _ => {}
        }
    }
    chars.into_iter().collect()
}

fn random_query(rng: &mut Rng) -> String {
    let n = rng.below(20);
    (0..n).map(|_| PIECES[rng.below(PIECES.len())]).collect()
}

fn check_one(q: &str, accepted: &mut usize) {
    let _ = parse_unvalidated(q);
    if let Ok(e) = parse_expr(q) {
        *accepted += 1;
        let printed = e.to_string();
        if printed.contains("NaN") || printed.contains("Inf") {
            return;
        }
        let again =
            parse_expr(&printed).unwrap_or_else(|err| panic!("{q:?} printed as {printed:?}, which fails: {err}"));
        assert_eq!(again.to_string(), printed, "unstable canonical form for {q:?}");
    }
}

#[test]
fn mutated_and_random_queries_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for seed in SEEDS {
        check_one(seed, &mut accepted);
    }
    assert_eq!(accepted, SEEDS.len(), "all seeds must parse");
    for i in 0..20_000 {
        let q = if i % 4 == 0 {
            random_query(&mut rng)
        } else {
            let seed = SEEDS[rng.below(SEEDS.len())];
            mutate(&mut rng, seed)
        };
        check_one(&q, &mut accepted);
    }
    assert!(accepted > 500, "mutations should often stay valid ({accepted})");
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let n = rng.below(64);
        let bytes: Vec<u8> = (0..n).map(|_| (rng.next() & 0xff) as u8).collect();
        let s = String::from_utf8_lossy(&bytes);
        let _ = parse_expr(&s);
    }
}
