//! The embedded default: one sled database in the data directory (`meta.sled`), one tree per
//! record kind. The on-disk format is the one MicroLearn has always written, so an existing
//! data directory opens unchanged.

use super::{Backend, Entry, Lease};
use crate::StoreError;

pub(crate) struct SledBackend {
    db: sled::Db,
    path: std::path::PathBuf,
}

impl SledBackend {
    pub(crate) fn new(db: sled::Db, path: std::path::PathBuf) -> Self {
        SledBackend { db, path }
    }

    fn tree(&self, name: &str) -> Result<sled::Tree, StoreError> {
        Ok(self.db.open_tree(name)?)
    }
}

fn entry(kv: sled::Result<(sled::IVec, sled::IVec)>) -> Result<Entry, StoreError> {
    let (k, v) = kv?;
    Ok((String::from_utf8_lossy(&k).into_owned(), v.to_vec()))
}

impl Backend for SledBackend {
    fn get(&self, tree: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tree(tree)?.get(key.as_bytes())?.map(|v| v.to_vec()))
    }

    fn put(&self, tree: &'static str, key: &str, value: Vec<u8>) -> Result<(), StoreError> {
        let t = self.tree(tree)?;
        t.insert(key.as_bytes(), value)?;
        // Acknowledged means durable: flush before returning.
        t.flush()?;
        Ok(())
    }

    fn insert_new(
        &self,
        tree: &'static str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let t = self.tree(tree)?;
        let standing = match t.compare_and_swap(key.as_bytes(), None::<&[u8]>, Some(value))? {
            Ok(()) => None,
            Err(e) => e.current.map(|v| v.to_vec()),
        };
        t.flush()?;
        Ok(standing)
    }

    fn remove(&self, tree: &'static str, key: &str) -> Result<bool, StoreError> {
        let t = self.tree(tree)?;
        let old = t.remove(key.as_bytes())?;
        t.flush()?;
        Ok(old.is_some())
    }

    fn scan_prefix(&self, tree: &'static str, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        self.tree(tree)?
            .scan_prefix(prefix.as_bytes())
            .map(entry)
            .collect()
    }

    fn range(&self, tree: &'static str, start: &str, end: &str) -> Result<Vec<Entry>, StoreError> {
        self.tree(tree)?
            .range(start.as_bytes()..end.as_bytes())
            .map(entry)
            .collect()
    }

    fn count_prefix(&self, tree: &'static str, prefix: &str) -> Result<usize, StoreError> {
        let mut n = 0;
        for k in self.tree(tree)?.scan_prefix(prefix.as_bytes()).keys() {
            k?;
            n += 1;
        }
        Ok(n)
    }

    fn remove_prefix(&self, tree: &'static str, prefix: &str) -> Result<usize, StoreError> {
        let t = self.tree(tree)?;
        let keys: Vec<sled::IVec> = t
            .scan_prefix(prefix.as_bytes())
            .keys()
            .collect::<Result<_, _>>()?;
        for k in &keys {
            t.remove(k)?;
        }
        t.flush()?;
        Ok(keys.len())
    }

    fn append(
        &self,
        tree: &'static str,
        prefix: &str,
        mut record: serde_json::Value,
    ) -> Result<u64, StoreError> {
        // sled's ids are unique and increasing across the database, and one process owns it,
        // so a reader polling by number sees appends in order.
        let seq = self.db.generate_id()?;
        if let Some(o) = record.as_object_mut() {
            o.insert("seq".into(), seq.into());
        }
        let bytes = serde_json::to_vec(&record).map_err(|e| StoreError::Encode {
            what: tree.into(),
            message: e.to_string(),
        })?;
        self.put(tree, &format!("{prefix}{seq:020}"), bytes)?;
        Ok(seq)
    }

    fn increment(&self, tree: &'static str, key: &str) -> Result<u32, StoreError> {
        let t = self.tree(tree)?;
        // A big-endian u32, the format the data directory has always used.
        let n = t
            .update_and_fetch(key.as_bytes(), |old| {
                let n = old
                    .and_then(|v| <[u8; 4]>::try_from(v).ok())
                    .map_or(0, u32::from_be_bytes)
                    .saturating_add(1);
                Some(n.to_be_bytes().to_vec())
            })?
            .and_then(|v| <[u8; 4]>::try_from(v.as_ref()).ok())
            .map_or(1, u32::from_be_bytes);
        t.flush()?;
        Ok(n)
    }

    fn clear_counter(&self, tree: &'static str, key: &str) -> Result<(), StoreError> {
        self.remove(tree, key).map(|_| ())
    }

    fn claim(
        &self,
        tree: &'static str,
        key: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError> {
        let t = self.tree(tree)?;
        loop {
            let old = t.get(key.as_bytes())?;
            let now = crate::now_ms();
            if let Some(v) = &old
                && let Ok(lease) = serde_json::from_slice::<Lease>(v)
                && lease.node != owner
                && lease.expires_at_ms >= now
            {
                return Ok(false);
            }
            let new = Lease {
                node: owner.to_string(),
                expires_at_ms: now + ttl_ms,
            };
            let bytes = serde_json::to_vec(&new).map_err(|e| StoreError::Encode {
                what: tree.into(),
                message: e.to_string(),
            })?;
            if t.compare_and_swap(key.as_bytes(), old, Some(bytes))?
                .is_ok()
            {
                t.flush()?;
                return Ok(true);
            }
        }
    }

    fn release(&self, tree: &'static str, key: &str, owner: &str) -> Result<(), StoreError> {
        let t = self.tree(tree)?;
        if let Some(v) = t.get(key.as_bytes())?
            && serde_json::from_slice::<Lease>(&v).is_ok_and(|l| l.node == owner)
        {
            let _ = t.compare_and_swap(key.as_bytes(), Some(v), None::<Vec<u8>>)?;
            t.flush()?;
        }
        Ok(())
    }

    fn lock(&self, _key: &str) -> Result<Option<Box<dyn Send>>, StoreError> {
        Ok(None)
    }

    fn shared(&self) -> bool {
        // sled locks its directory: no other process can open it.
        false
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}
