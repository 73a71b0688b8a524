//! Label and series queries: names, values and label sets of the streams
//! with data in `[start_ns, end_ns]`, sorted and de-duplicated.

use std::collections::BTreeSet;

use balsa_logql::Matcher;
use balsa_model::{Labels, StreamReader};

use crate::error::QueryError;
use crate::logs::{required_pairs, selects};

fn for_each_stream(
    readers: &[&dyn StreamReader],
    tenant: &str,
    start_ns: i64,
    end_ns: i64,
    required: &[(&str, &str)],
    select: &dyn Fn(&Labels) -> bool,
    mut f: impl FnMut(Labels),
) -> Result<(), QueryError> {
    for reader in readers {
        for s in reader.streams_with(tenant, start_ns, end_ns, required, &mut |l: &Labels| select(l))? {
            if select(&s.labels) {
                f(s.labels);
            }
        }
    }
    Ok(())
}

/// Label names of the streams matching `matchers` (all streams when empty).
pub fn label_names(
    readers: &[&dyn StreamReader],
    tenant: &str,
    start_ns: i64,
    end_ns: i64,
    matchers: &[Matcher],
) -> Result<Vec<String>, QueryError> {
    let mut names = BTreeSet::new();
    for_each_stream(readers, tenant, start_ns, end_ns, &required_pairs(matchers), &|l| selects(matchers, l), |l| {
        names.extend(l.into_pairs().into_iter().map(|p| p.name));
    })?;
    Ok(names.into_iter().collect())
}

/// Values of label `name` on the streams matching `matchers` (all streams
/// when empty). Streams without the label contribute nothing.
pub fn label_values(
    readers: &[&dyn StreamReader],
    tenant: &str,
    name: &str,
    start_ns: i64,
    end_ns: i64,
    matchers: &[Matcher],
) -> Result<Vec<String>, QueryError> {
    let mut values = BTreeSet::new();
    for_each_stream(
        readers,
        tenant,
        start_ns,
        end_ns,
        &required_pairs(matchers),
        &|l| l.get(name).is_some() && selects(matchers, l),
        |l| {
            if let Some(v) = l.get(name)
                && !v.is_empty()
            {
                values.insert(v.to_string());
            }
        },
    )?;
    Ok(values.into_iter().collect())
}

/// Label sets of the streams matching any of the matcher groups (each group
/// is one `match[]` selector; all streams when there are no groups).
pub fn series(
    readers: &[&dyn StreamReader],
    tenant: &str,
    start_ns: i64,
    end_ns: i64,
    groups: &[Vec<Matcher>],
) -> Result<Vec<Labels>, QueryError> {
    let mut out = BTreeSet::new();
    let select = |l: &Labels| groups.is_empty() || groups.iter().any(|g| selects(g, l));
    let required = if groups.len() == 1 { required_pairs(&groups[0]) } else { Vec::new() };
    for_each_stream(readers, tenant, start_ns, end_ns, &required, &select, |l| {
        out.insert(l);
    })?;
    Ok(out.into_iter().collect())
}
