//! Parser and printers: no input may panic, and for every input that parses,
//! both the canonical form (`Display`) and the pretty form (`pretty`, at the
//! default width and at 20 columns) must parse back to the same tree.
//! Trees holding a NaN or infinite number are skipped (NaN != NaN, and Loki
//! prints infinities as `+Inf`, which does not read back).

#![no_main]

use balsa_logql::{
    Expr, LabelFilter, MAX_INPUT_SIZE, SampleExpr, Stage, parse_expr, parse_unvalidated, pretty, pretty_with_width,
};
use libfuzzer_sys::fuzz_target;

fn finite_filter(f: &LabelFilter) -> bool {
    match f {
        LabelFilter::Number { value, .. } => value.is_finite(),
        LabelFilter::And(a, b) | LabelFilter::Or(a, b) => finite_filter(a) && finite_filter(b),
        _ => true,
    }
}

fn finite_stages(stages: &[Stage]) -> bool {
    stages.iter().all(|s| match s {
        Stage::LabelFilter(f) => finite_filter(f),
        _ => true,
    })
}

fn finite_sample(s: &SampleExpr) -> bool {
    match s {
        SampleExpr::Literal(v) | SampleExpr::Vector(v) => v.is_finite(),
        SampleExpr::RangeAggregation(r) => {
            r.param.is_none_or(f64::is_finite)
                && finite_stages(&r.range.selector.stages)
                && r.range.unwrap.as_ref().is_none_or(|u| u.post_filters.iter().all(finite_filter))
        }
        SampleExpr::VectorAggregation(v) => finite_sample(&v.inner),
        SampleExpr::BinOp(b) => finite_sample(&b.lhs) && finite_sample(&b.rhs),
        SampleExpr::LabelReplace(l) => finite_sample(&l.inner),
    }
}

fn finite(e: &Expr) -> bool {
    match e {
        Expr::Log(l) => finite_stages(&l.stages),
        Expr::Sample(s) => finite_sample(s),
    }
}

fn reparses_to(e: &Expr, text: &str, what: &str, input: &str) {
    if text.len() >= MAX_INPUT_SIZE {
        return;
    }
    match parse_expr(text) {
        Ok(again) => assert_eq!(&again, e, "{what} of {input:?} parses differently:\n{text}"),
        Err(err) => panic!("{what} of {input:?} does not parse: {err}\n{text}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_unvalidated(input);
    let Ok(e) = parse_expr(input) else {
        return;
    };
    if !finite(&e) {
        return;
    }
    reparses_to(&e, &e.to_string(), "canonical form", input);
    reparses_to(&e, &pretty(&e), "pretty form", input);
    reparses_to(&e, &pretty_with_width(&e, 20), "pretty form (20 columns)", input);
});
