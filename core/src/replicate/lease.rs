//! The pass lease: one replicate pass at a time against one target. A small
//! record in B's journal container names its holder and an expiry; it is taken
//! and renewed with conditional writes (create-if-absent, replace-if-unchanged),
//! so of two instances racing for it exactly one wins, and a holder that died
//! stops holding it at its expiry. Nothing is written to A.

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::JOURNAL_CONTAINER;
use crate::error::{Error, ErrorKind, Result};
use crate::store::{BlobStore, BlobStoreExt, Condition, PutOptions};

/// The lease record's name in B's journal container.
pub const LEASE_BLOB: &str = "leases/replicate.json";

/// What the lease record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseRecord {
    /// Who holds it: a random id per process, with the host and pid for people.
    pub holder: String,
    /// The data center the holder replicates from.
    pub source: String,
    /// Until when it holds, unless renewed.
    pub expires: DateTime<Utc>,
}

/// The outcome of an attempt to take the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    /// Taken (or renewed): the pass may run.
    Held,
    /// Another holder has it until its expiry.
    HeldBy(LeaseRecord),
}

/// One process's claim on the target's pass lease.
#[derive(Debug)]
pub struct PassLease<'a> {
    target: &'a dyn BlobStore,
    holder: String,
    source: String,
    ttl: Duration,
    /// The record's ETag after this holder's last write: a renewal or release
    /// goes through only if nobody wrote the record since.
    etag: Option<String>,
}

impl<'a> PassLease<'a> {
    /// A claim by `holder` (unique per process) for passes from `source`, each write holding for `ttl`.
    pub fn new(target: &'a dyn BlobStore, holder: impl Into<String>, source: impl Into<String>, ttl: Duration) -> Self {
        PassLease { target, holder: holder.into(), source: source.into(), ttl, etag: None }
    }

    /// Takes the lease if it is free, expired or already this holder's; otherwise says who has it.
    /// A store without conditional writes cannot keep two instances apart: an error.
    pub async fn acquire(&mut self) -> Result<Acquired> {
        if !self.target.capability().conditional_writes {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{} has no conditional writes: a pass lease cannot keep two instances apart there",
                    self.target.describe()
                ),
            ));
        }
        let current = match self.target.get_bytes(JOURNAL_CONTAINER, LEASE_BLOB).await {
            Ok((meta, body)) => Some((meta.etag, serde_json::from_slice::<LeaseRecord>(&body).ok())),
            Err(e) if e.kind() == ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        let condition = match current {
            None => Condition::IfNotExists,
            Some((_, Some(record))) if record.holder != self.holder && record.expires > Utc::now() => {
                return Ok(Acquired::HeldBy(record));
            }
            // Expired, ours, or unreadable (a record nobody can honour): replaced if unchanged.
            Some((etag, _)) => Condition::IfMatch(etag),
        };
        self.write(condition).await
    }

    /// Extends the lease; `HeldBy` when another instance took it (this one let it expire): the pass must stop.
    pub async fn renew(&mut self) -> Result<Acquired> {
        match self.etag.clone() {
            Some(etag) => self.write(Condition::IfMatch(etag)).await,
            None => self.acquire().await,
        }
    }

    /// Gives the lease up (only if it is still this holder's record).
    pub async fn release(&mut self) -> Result<()> {
        if let Some(etag) = self.etag.take() {
            self.target.delete_blob(JOURNAL_CONTAINER, LEASE_BLOB, &Condition::IfMatch(etag)).await.or_else(
                |e| match e.kind() {
                    ErrorKind::PreconditionFailed | ErrorKind::NotFound => Ok(false),
                    _ => Err(e),
                },
            )?;
        }
        Ok(())
    }

    async fn write(&mut self, condition: Condition) -> Result<Acquired> {
        let record =
            LeaseRecord { holder: self.holder.clone(), source: self.source.clone(), expires: Utc::now() + self.ttl };
        let body = Bytes::from(serde_json::to_vec(&record).map_err(|e| Error::invalid_input(e.to_string()))?);
        let options = PutOptions { condition, ..Default::default() };
        let mut put = self.target.put_blob(JOURNAL_CONTAINER, LEASE_BLOB, body.clone(), &options).await;
        if matches!(&put, Err(e) if e.kind() == ErrorKind::NotFound) {
            // A new target: its journal container first.
            self.target.create_container(JOURNAL_CONTAINER).await?;
            put = self.target.put_blob(JOURNAL_CONTAINER, LEASE_BLOB, body, &options).await;
        }
        match put {
            Ok(etag) => {
                self.etag = Some(etag);
                Ok(Acquired::Held)
            }
            Err(e) if matches!(e.kind(), ErrorKind::PreconditionFailed | ErrorKind::AlreadyExists) => {
                self.etag = None;
                // Someone wrote it first: say who, as far as the record tells.
                let holder = match self.target.get_bytes(JOURNAL_CONTAINER, LEASE_BLOB).await {
                    Ok((_, body)) => serde_json::from_slice::<LeaseRecord>(&body).ok(),
                    Err(_) => None,
                };
                Ok(Acquired::HeldBy(holder.unwrap_or(LeaseRecord {
                    holder: "another instance".to_owned(),
                    source: String::new(),
                    expires: Utc::now() + self.ttl,
                })))
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::InMemoryStore;

    #[tokio::test]
    async fn of_two_instances_one_holds_the_lease_until_it_releases_or_it_expires() {
        let store = InMemoryStore::new();
        let mut first = PassLease::new(&store, "first", "a", Duration::minutes(5));
        let mut second = PassLease::new(&store, "second", "a", Duration::minutes(5));
        assert_eq!(first.acquire().await.unwrap(), Acquired::Held);
        match second.acquire().await.unwrap() {
            Acquired::HeldBy(r) => assert_eq!(r.holder, "first"),
            other => panic!("both hold the lease: {other:?}"),
        }
        assert_eq!(first.renew().await.unwrap(), Acquired::Held);
        first.release().await.unwrap();
        assert_eq!(second.acquire().await.unwrap(), Acquired::Held);
        // The first comes back while the second holds it: refused, and its renewal too.
        assert!(matches!(first.acquire().await.unwrap(), Acquired::HeldBy(_)));
        assert!(matches!(first.renew().await.unwrap(), Acquired::HeldBy(_)));
    }

    #[tokio::test]
    async fn an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew_it() {
        let store = InMemoryStore::new();
        let mut dead = PassLease::new(&store, "dead", "a", Duration::seconds(-1));
        assert_eq!(dead.acquire().await.unwrap(), Acquired::Held);
        let mut next = PassLease::new(&store, "next", "a", Duration::minutes(5));
        assert_eq!(next.acquire().await.unwrap(), Acquired::Held, "an expired lease is free");
        assert!(matches!(dead.renew().await.unwrap(), Acquired::HeldBy(r) if r.holder == "next"));
        // Its release leaves the new holder's record alone.
        dead.release().await.unwrap();
        assert!(store.head_opt(JOURNAL_CONTAINER, LEASE_BLOB).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn racing_instances_never_both_hold_the_lease() {
        let store = std::sync::Arc::new(InMemoryStore::new());
        for round in 0..20 {
            let tasks: Vec<_> = (0..4)
                .map(|i| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let mut lease =
                            PassLease::new(store.as_ref(), format!("{round}-{i}"), "a", Duration::minutes(5));
                        lease.acquire().await.unwrap() == Acquired::Held
                    })
                })
                .collect();
            let mut held = 0;
            for t in tasks {
                held += usize::from(t.await.unwrap());
            }
            assert_eq!(held, 1, "round {round}: {held} instances hold the lease");
            store.delete_blob(JOURNAL_CONTAINER, LEASE_BLOB, &Condition::None).await.unwrap();
        }
    }
}
