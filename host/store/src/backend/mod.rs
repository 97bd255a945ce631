//! Where metadata lives. The [`Store`](crate::Store) API is written once over a small ordered
//! key-value contract; two implementations hold it: sled in the data directory (the embedded
//! default) and PostgreSQL (a cluster, where many API nodes and workers share one ledger).
//!
//! Keys are UTF-8 strings (`<tenant>/<id…>`) compared byte-wise, so prefix and range scans mean
//! the same on both. Values are the records' JSON. Every write is durable when it returns.

pub(crate) mod postgres;
pub(crate) mod sled;

use crate::StoreError;

/// A lease record as both backends store it (PostgreSQL builds the same JSON in SQL).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Lease {
    /// The holder.
    pub node: String,
    /// When it lapses, by the clock that judges expiry.
    pub expires_at_ms: i64,
}

/// One key and its value, as a scan returns them.
pub(crate) type Entry = (String, Vec<u8>);

/// The ordered key-value contract the store is written against.
pub(crate) trait Backend: Send + Sync + 'static {
    /// The value under `key`.
    fn get(&self, tree: &'static str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Store `value` under `key` (replacing), durably.
    fn put(&self, tree: &'static str, key: &str, value: Vec<u8>) -> Result<(), StoreError>;
    /// Store `value` under `key` unless a value is there already, as one atomic step: `None`
    /// when this call stored it, else the value that stands (left unchanged).
    fn insert_new(
        &self,
        tree: &'static str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<Option<Vec<u8>>, StoreError>;
    /// Remove `key`; `false` when it was not there.
    fn remove(&self, tree: &'static str, key: &str) -> Result<bool, StoreError>;
    /// Every entry whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, tree: &'static str, prefix: &str) -> Result<Vec<Entry>, StoreError>;
    /// Entries with `start <= key < end`, in key order.
    fn range(&self, tree: &'static str, start: &str, end: &str) -> Result<Vec<Entry>, StoreError>;
    /// How many keys start with `prefix` (nothing decoded).
    fn count_prefix(&self, tree: &'static str, prefix: &str) -> Result<usize, StoreError>;
    /// Remove every key starting with `prefix`; returns how many went.
    fn remove_prefix(&self, tree: &'static str, prefix: &str) -> Result<usize, StoreError>;
    /// Append a JSON object under `<prefix><seq:020>`, with its `seq` field set to a number
    /// larger than that of every entry appended under the same prefix before it. An appender
    /// that reads `range(prefix + seq+1 ..)` never misses a later append: the number is taken
    /// and the entry made visible as one step per prefix.
    fn append(
        &self,
        tree: &'static str,
        prefix: &str,
        record: serde_json::Value,
    ) -> Result<u64, StoreError>;
    /// Add one to the counter under `key` (absent counts as 0) and return the new count, as one
    /// atomic step.
    fn increment(&self, tree: &'static str, key: &str) -> Result<u32, StoreError>;
    /// Remove the counter under `key`.
    fn clear_counter(&self, tree: &'static str, key: &str) -> Result<(), StoreError>;
    /// Take or renew the lease under `key` for `owner` for `ttl_ms`: succeeds when there is no
    /// lease, when `owner` holds it, or when it has expired, as one atomic step. Expiry is
    /// judged by one clock for every node (the database's, in a cluster).
    fn claim(
        &self,
        tree: &'static str,
        key: &str,
        owner: &str,
        ttl_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Give the lease up, if `owner` still holds it.
    fn release(&self, tree: &'static str, key: &str, owner: &str) -> Result<(), StoreError>;
    /// Hold a lock named `key` across every process sharing the metadata, until the returned
    /// guard drops; `None` when no other process can share it (the caller's own locks do).
    fn lock(&self, key: &str) -> Result<Option<Box<dyn Send>>, StoreError>;
    /// Whether metadata is shared with other processes (a cluster), so work needs leases.
    fn shared(&self) -> bool;
    /// Flush what is buffered (writes are already durable; this is for a clean close).
    fn flush(&self) -> Result<(), StoreError>;
    /// Where the metadata lives, for messages (never a password).
    fn describe(&self) -> String;
}

/// The smallest string above every string that starts with `prefix` — the exclusive end of a
/// prefix scan — or `None` when there is none (an empty prefix or one of all `\u{10FFFF}`).
pub(crate) fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(c) = chars.pop() {
        // The next scalar value; surrogates are not chars, so step over them.
        let next = match c as u32 {
            0xD7FF => Some('\u{E000}'),
            n => char::from_u32(n + 1),
        };
        if let Some(n) = next {
            chars.push(n);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn a_prefix_end_bounds_exactly_the_keys_with_that_prefix() {
        assert_eq!(prefix_end("acme/").as_deref(), Some("acme0"));
        assert_eq!(prefix_end("a").as_deref(), Some("b"));
        assert_eq!(prefix_end(""), None);
        let end = prefix_end("acme/").unwrap_or_default();
        assert!("acme/zzz" < end.as_str());
        assert!("acme0" >= end.as_str());
        assert!("acme-2/x" < "acme/", "a neighbour sorts outside the range");
    }
}
