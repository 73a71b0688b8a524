//! JSON comparison shared by the answer tests (`api/tests/logql_corpus.rs`,
//! and `node/tests/loki_golden.rs`, which includes this file by path).

use serde_json::Value;

/// Structural equality. Numbers are equal when equal as floats (`1` and
/// `1.0`); two strings that both parse as finite numbers are equal within a
/// relative 1e-9: Loki aggregates series in map order, so the last bits of a
/// float result (a sample value, always a string) are not part of its contract.
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same(v, w)),
        (Value::String(x), Value::String(y)) => x == y || close(x, y),
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) => p == q,
            _ => x == y,
        },
        _ => a == b,
    }
}

fn close(x: &str, y: &str) -> bool {
    match (x.parse::<f64>(), y.parse::<f64>()) {
        (Ok(a), Ok(b)) if a.is_finite() && b.is_finite() => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()),
        _ => false,
    }
}

/// At most `n` bytes of `s`, cut at a character boundary, with `…` if cut.
pub fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// A structural diff: the paths where `got` differs from `want`, naming the
/// two sides `want_name` and `got_name` ("expected"/"got", "Loki"/"Balsa").
pub fn diff(want: &Value, got: &Value, names: (&str, &str), path: &str, out: &mut Vec<String>) {
    let (w, g) = names;
    match (want, got) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, va) in a {
                match b.get(k) {
                    Some(vb) => diff(va, vb, names, &format!("{path}.{k}"), out),
                    None => out.push(format!("{path}.{k}: missing ({w}: {})", truncate(&va.to_string(), 300))),
                }
            }
            for (k, vb) in b {
                if !a.contains_key(k) {
                    out.push(format!("{path}.{k}: unexpected {}", truncate(&vb.to_string(), 300)));
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                out.push(format!("{path}: {w} has {} elements, {g} {}", a.len(), b.len()));
            }
            for (i, (va, vb)) in a.iter().zip(b.iter()).enumerate() {
                diff(va, vb, names, &format!("{path}[{i}]"), out);
            }
        }
        _ if !same(want, got) => out.push(format!(
            "{path}: {w} {}, {g} {}",
            truncate(&want.to_string(), 300),
            truncate(&got.to_string(), 300)
        )),
        _ => {}
    }
}
