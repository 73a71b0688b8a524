//! The syntax of patterns used by `| pattern "..."` and the `|>` / `!>`
//! line filters: literal text and captures `<name>` (`<_>` is unnamed).

/// One element of a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PatternNode {
    Literal(String),
    /// A capture; `"_"` is the unnamed capture `<_>`.
    Capture(String),
}

/// Splits a pattern into literals and captures (adjacent literal text is
/// merged). Never fails: anything that is not `<identifier>` is literal.
pub fn parse_pattern(s: &str) -> Vec<PatternNode> {
    let mut out: Vec<PatternNode> = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(name) = capture_at(rest) {
            if !lit.is_empty() {
                out.push(PatternNode::Literal(std::mem::take(&mut lit)));
            }
            out.push(PatternNode::Capture(name.to_string()));
            rest = &rest[name.len() + 2..];
            continue;
        }
        let c = rest.chars().next().unwrap_or_default();
        lit.push(c);
        rest = &rest[c.len_utf8()..];
    }
    if !lit.is_empty() {
        out.push(PatternNode::Literal(lit));
    }
    out
}

/// `<identifier>` at the start of `s`: returns the identifier.
fn capture_at(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('<')?;
    let end = inner.find('>')?;
    let name = &inner[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    if !(first.is_ascii_alphabetic() || first == '_') || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some(name)
}

fn check_consecutive(nodes: &[PatternNode]) -> Result<(), String> {
    for w in nodes.windows(2) {
        if let (PatternNode::Capture(a), PatternNode::Capture(b)) = (&w[0], &w[1]) {
            return Err(format!("found consecutive capture '<{a}><{b}>': invalid expression"));
        }
    }
    Ok(())
}

/// Validates a `| pattern` expression: at least one named capture, no
/// consecutive captures, no duplicate names.
pub fn validate_parser_pattern(nodes: &[PatternNode]) -> Result<(), String> {
    let names: Vec<&str> = nodes
        .iter()
        .filter_map(|n| match n {
            PatternNode::Capture(c) if c != "_" => Some(c.as_str()),
            _ => None,
        })
        .collect();
    if names.is_empty() {
        return Err("at least one capture is required".into());
    }
    check_consecutive(nodes)?;
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(format!("duplicate capture name ({n}): invalid expression"));
        }
    }
    Ok(())
}

/// Validates a `|>` / `!>` line filter pattern: only `<_>` captures, never
/// two in a row.
pub fn validate_filter_pattern(nodes: &[PatternNode]) -> Result<(), String> {
    check_consecutive(nodes)?;
    if nodes.iter().any(|n| matches!(n, PatternNode::Capture(c) if c != "_")) {
        return Err("named captures are not allowed".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        use PatternNode::*;
        assert_eq!(
            parse_pattern("<_> level=<lvl> <x"),
            vec![Capture("_".into()), Literal(" level=".into()), Capture("lvl".into()), Literal(" <x".into())]
        );
        assert!(validate_parser_pattern(&parse_pattern("<a><b>")).is_err());
        assert!(validate_parser_pattern(&parse_pattern("<_> x")).is_err());
        assert!(validate_parser_pattern(&parse_pattern("<a> <a>")).is_err());
        assert!(validate_parser_pattern(&parse_pattern("<a> <b>")).is_ok());
        assert!(validate_filter_pattern(&parse_pattern("<_> x <_>")).is_ok());
        assert!(validate_filter_pattern(&parse_pattern("<a> x")).is_err());
    }
}
