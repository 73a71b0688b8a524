//! The key-value engine trait that storage is written against. RocksDB
//! implements it in `raft/`; [`MemKv`] implements it in memory for tests.
//! Every implementation runs [`crate::testing::kv_conformance`].

use std::collections::BTreeMap;
use std::sync::RwLock;

use crate::error::Result;

/// Read access to one ordered key space.
pub trait KvRead: Send + Sync {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Visits pairs with `lower <= key < upper`, ascending (or descending when
    /// `reverse`), until `visit` returns `false`.
    fn scan(
        &self,
        lower: &[u8],
        upper: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()>;
}

/// Visits the values with `lower <= key < upper`, ascending, decoded as `M`,
/// until `visit` returns `false`; a value that does not decode ends the scan
/// with its error.
pub fn scan_messages<M: prost::Message + Default>(
    kv: &dyn KvRead,
    lower: &[u8],
    upper: &[u8],
    visit: &mut dyn FnMut(&[u8], M) -> bool,
) -> Result<()> {
    let mut err = None;
    kv.scan(lower, upper, false, &mut |k, v| match M::decode(v) {
        Ok(m) => visit(k, m),
        Err(e) => {
            err = Some(crate::error::StorageError::from(e));
            false
        }
    })?;
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Applies a batch atomically.
pub trait KvWrite: KvRead {
    fn write(&self, batch: WriteBatch) -> Result<()>;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    /// Deletes `lower <= key < upper`.
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// Writes that must land together.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteBatch {
    pub ops: Vec<Op>,
}

impl WriteBatch {
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.ops.push(Op::Put(key, value));
    }
    pub fn delete(&mut self, key: Vec<u8>) {
        self.ops.push(Op::Delete(key));
    }
    pub fn delete_range(&mut self, lower: Vec<u8>, upper: Vec<u8>) {
        self.ops.push(Op::DeleteRange(lower, upper));
    }
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
    pub fn len(&self) -> usize {
        self.ops.len()
    }
}

/// An ordered map in memory: the reference implementation of the engine.
#[derive(Default, Debug)]
pub struct MemKv {
    map: RwLock<BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl MemKv {
    pub fn new() -> Self {
        Self::default()
    }
}

impl KvRead for MemKv {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.map.read().expect("memkv lock").get(key).cloned())
    }

    fn scan(
        &self,
        lower: &[u8],
        upper: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        if lower >= upper {
            return Ok(());
        }
        let map = self.map.read().expect("memkv lock");
        let range = map.range(lower.to_vec()..upper.to_vec());
        if reverse {
            for (k, v) in range.rev() {
                if !visit(k, v) {
                    break;
                }
            }
        } else {
            for (k, v) in range {
                if !visit(k, v) {
                    break;
                }
            }
        }
        Ok(())
    }
}

impl KvWrite for MemKv {
    fn write(&self, batch: WriteBatch) -> Result<()> {
        let mut map = self.map.write().expect("memkv lock");
        for op in batch.ops {
            match op {
                Op::Put(k, v) => {
                    map.insert(k, v);
                }
                Op::Delete(k) => {
                    map.remove(&k);
                }
                Op::DeleteRange(lo, hi) => {
                    if lo < hi {
                        let doomed: Vec<_> = map.range(lo..hi).map(|(k, _)| k.clone()).collect();
                        for k in doomed {
                            map.remove(&k);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Reads through pending writes: what a batch under construction would look
/// like once written. Apply uses it so that later commands in one batch see
/// the effects of earlier ones. Range deletes are not supported here.
pub struct Overlay<'a> {
    base: &'a dyn KvRead,
    pending: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

impl<'a> Overlay<'a> {
    pub fn new(base: &'a dyn KvRead) -> Self {
        Self { base, pending: BTreeMap::new() }
    }

    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.pending.insert(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.pending.insert(key, None);
    }

    pub fn into_batch(self) -> WriteBatch {
        let mut batch = WriteBatch::default();
        for (k, v) in self.pending {
            match v {
                Some(v) => batch.put(k, v),
                None => batch.delete(k),
            }
        }
        batch
    }
}

impl KvRead for Overlay<'_> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.pending.get(key) {
            Some(v) => Ok(v.clone()),
            None => self.base.get(key),
        }
    }

    fn scan(
        &self,
        lower: &[u8],
        upper: &[u8],
        reverse: bool,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<()> {
        if lower >= upper {
            return Ok(());
        }
        // Merge the base range with the pending range. Both are small in
        // practice (a head chunk), so materialising is acceptable.
        let mut merged: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
        self.base.scan(lower, upper, false, &mut |k, v| {
            merged.insert(k.to_vec(), Some(v.to_vec()));
            true
        })?;
        for (k, v) in self.pending.range(lower.to_vec()..upper.to_vec()) {
            merged.insert(k.clone(), v.clone());
        }
        let mut live = merged.into_iter().filter_map(|(k, v)| v.map(|v| (k, v)));
        if reverse {
            for (k, v) in live.collect::<Vec<_>>().into_iter().rev() {
                if !visit(&k, &v) {
                    break;
                }
            }
        } else {
            for (k, v) in &mut live {
                if !visit(&k, &v) {
                    break;
                }
            }
        }
        Ok(())
    }
}
