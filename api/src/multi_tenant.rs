//! Queries over several tenants at once (`X-Scope-OrgID: a|b`, behind
//! `querier.multi_tenant_queries_enabled`), as Loki's multi-tenant querier
//! answers them: every stream carries `__tenant_id__`, selectors and
//! `by (__tenant_id__)` see it, and a matcher on it picks the tenants read.
//! A [`MultiTenant`] reader does this under the query engine, which needs
//! to know nothing of it: a tenant argument without `|` passes straight
//! through.

use std::collections::HashMap;
use std::sync::Mutex;

use balsa_model::read::ChunkStats;
use balsa_model::{Direction, Entry, Labels, LineHint, ReadError, Skipped, StreamId, StreamReader, StreamRef};

/// The label every stream of a multi-tenant query carries (Loki's
/// `defaultTenantLabel`).
pub const TENANT_LABEL: &str = "__tenant_id__";

/// The tenants of a multi-tenant id, `a|b`; `None` for a single tenant.
fn tenants_of(tenant: &str) -> Option<impl Iterator<Item = &str>> {
    tenant.contains('|').then(|| tenant.split('|'))
}

/// A reader that serves `a|b` from the tenants' own streams, each with
/// `__tenant_id__` added. Stream ids are fingerprints of tenant and labels,
/// so those of different tenants do not collide; the tenant of each id
/// handed out is remembered for the reads that follow.
pub struct MultiTenant<'a> {
    pub inner: &'a dyn StreamReader,
    owners: Mutex<HashMap<StreamId, String>>,
}

impl<'a> MultiTenant<'a> {
    pub fn new(inner: &'a dyn StreamReader) -> Self {
        Self { inner, owners: Mutex::new(HashMap::new()) }
    }

    fn owner(&self, tenant: &str, stream: StreamId) -> Result<String, ReadError> {
        if !tenant.contains('|') {
            return Ok(tenant.to_string());
        }
        self.owners
            .lock()
            .expect("owners lock")
            .get(&stream)
            .cloned()
            .ok_or_else(|| ReadError::new(format!("stream {stream:?} was not listed for tenants {tenant}")))
    }
}

impl<'a> StreamReader for MultiTenant<'a> {
    fn streams(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<StreamRef>, ReadError> {
        self.streams_with(tenant, start_ns, end_ns, &[], select)
    }

    fn streams_with(
        &self,
        tenant: &str,
        start_ns: i64,
        end_ns: i64,
        required: &[(&str, &str)],
        select: &mut dyn FnMut(&Labels) -> bool,
    ) -> Result<Vec<StreamRef>, ReadError> {
        let Some(tenants) = tenants_of(tenant) else {
            return self.inner.streams_with(tenant, start_ns, end_ns, required, select);
        };
        // `__tenant_id__="x"` narrows the tenants read; storage never sees it.
        let wanted = required.iter().find(|(n, _)| *n == TENANT_LABEL).map(|(_, v)| *v);
        let required: Vec<(&str, &str)> = required.iter().copied().filter(|(n, _)| *n != TENANT_LABEL).collect();
        let mut out = Vec::new();
        for t in tenants {
            if wanted.is_some_and(|w| w != t) {
                continue;
            }
            let mut with_tenant = |labels: &Labels| {
                let mut l = labels.clone();
                l.set(TENANT_LABEL, t);
                select(&l)
            };
            for mut s in self.inner.streams_with(t, start_ns, end_ns, &required, &mut with_tenant)? {
                s.labels.set(TENANT_LABEL, t);
                self.owners.lock().expect("owners lock").insert(s.id, t.to_string());
                out.push(s);
            }
        }
        Ok(out)
    }

    fn entries_hinted(
        &self,
        tenant: &str,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        hint: &LineHint,
        visit: &mut dyn FnMut(&Entry) -> bool,
    ) -> Result<Skipped, ReadError> {
        let owner = self.owner(tenant, stream)?;
        self.inner.entries_hinted(&owner, stream, start_ns, end_ns, direction, hint, visit)
    }

    fn chunk_stats(
        &self,
        tenant: &str,
        stream: StreamId,
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<ChunkStats>, ReadError> {
        let owner = self.owner(tenant, stream)?;
        self.inner.chunk_stats(&owner, stream, start_ns, end_ns)
    }
}
