//! Encode jobs as records in the data center's catalog container
//! (`jobs/<guid>.json`, log in `jobs/<guid>.log`), written with ETag
//! conditions like every catalog record, so `job list|show|cancel` work from
//! any shell and a cancel reaches the running encoder, which polls its record.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use mirrorcast_core::catalog::{Versioned, CATALOG_CONTAINER};
use mirrorcast_core::id::AssetId;
use mirrorcast_core::store::{BlobStore, BlobStoreExt, Condition, PutOptions};
use mirrorcast_core::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

const JOBS: &str = "jobs/";

/// How often a running encoder writes its job record, at the least (progress
/// is written more often while ffmpeg runs): its heartbeat.
pub const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(15);

/// A job not yet ended whose record has not been written for this long lost
/// its encoder (killed, machine gone): it is shown as `stale`.
pub const LEASE: std::time::Duration = std::time::Duration::from_secs(90);
const PREFIX: &str = "nb:jid:UUID:";

/// A job id, shown as `nb:jid:UUID:<guid>` like the old Media Services ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(Uuid);

impl JobId {
    /// A fresh random id.
    pub fn new() -> Self {
        JobId(Uuid::new_v4())
    }

    /// `nb:jid:UUID:<guid>` or a bare GUID.
    pub fn parse(text: &str) -> Result<JobId> {
        let t = text.trim();
        let guid = t.strip_prefix(PREFIX).unwrap_or(t);
        Uuid::parse_str(guid)
            .map(JobId)
            .map_err(|_| Error::invalid_input(format!("'{text}' is not a job id (nb:jid:UUID:<guid> or a GUID)")))
    }

    /// The bare GUID, lowercase and hyphenated: the name of the job's record in the catalog.
    pub fn guid(&self) -> String {
        self.0.hyphenated().to_string()
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.guid())
    }
}

impl Serialize for JobId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        JobId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a job is in its life; the last three are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Submitted; no encoder has taken it yet.
    Queued,
    /// An encoder is running it (unless the record has gone stale).
    Processing,
    /// Done: the output asset is complete.
    Finished,
    /// Failed; the record's `error` says why, and any output asset was removed.
    Error,
    /// Stopped by `job cancel`; any output asset was removed.
    Canceled,
}

impl JobState {
    /// Whether the job has ended and will not change again.
    pub fn is_final(self) -> bool {
        matches!(self, JobState::Finished | JobState::Error | JobState::Canceled)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            JobState::Queued => "queued",
            JobState::Processing => "processing",
            JobState::Finished => "finished",
            JobState::Error => "error",
            JobState::Canceled => "canceled",
        };
        f.write_str(s)
    }
}

/// One encode: what it reads, what it makes, how far it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    /// Its id, also the record's name in the catalog.
    pub id: JobId,
    /// A label for people: `--name`, else the input asset's name without its extension.
    pub name: String,
    /// Where it is in its life.
    pub state: JobState,
    /// 0 to 100.
    pub progress: f64,
    /// The preset's name, or the path of its ladder file.
    pub preset: String,
    /// The asset it encodes; only read.
    pub input_asset: AssetId,
    /// The asset being made; removed again if the job fails or is canceled.
    pub output_asset: Option<AssetId>,
    /// Files of the output asset, once it is finished.
    #[serde(default)]
    pub outputs: Vec<String>,
    /// When it was submitted; `job list` sorts by it.
    pub created: DateTime<Utc>,
    /// Last write by the encoder: a job stuck in `processing` with an old
    /// `updated` lost its encoder.
    pub updated: DateTime<Utc>,
    /// When an encoder took it; `None` while queued.
    pub started: Option<DateTime<Utc>>,
    /// When it reached a final state.
    pub ended: Option<DateTime<Utc>>,
    /// Set by `job cancel`; the encoder stops when it sees it.
    #[serde(default)]
    pub cancel_requested: bool,
    /// Why it failed, or why a stale job was canceled; for people.
    pub error: Option<String>,
}

impl JobRecord {
    /// Whether the job's encoder stopped writing before the job ended (see [`LEASE`]).
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        !self.state.is_final() && now.signed_duration_since(self.updated).to_std().is_ok_and(|quiet| quiet > LEASE)
    }

    /// The state as a user should read it: `stale` for a job whose encoder is gone.
    pub fn shown_state(&self, now: DateTime<Utc>) -> String {
        if self.is_stale(now) {
            format!("stale ({} since {})", self.state, self.updated.format("%Y-%m-%d %H:%M:%S"))
        } else {
            self.state.to_string()
        }
    }

    /// A queued job with a fresh id, not yet written anywhere (see [`Jobs::create`]).
    pub fn new(name: impl Into<String>, preset: impl Into<String>, input_asset: AssetId) -> Self {
        let now = Utc::now();
        JobRecord {
            id: JobId::new(),
            name: name.into(),
            state: JobState::Queued,
            progress: 0.0,
            preset: preset.into(),
            input_asset,
            output_asset: None,
            outputs: Vec::new(),
            created: now,
            updated: now,
            started: None,
            ended: None,
            cancel_requested: false,
            error: None,
        }
    }
}

/// The job records of one data center.
#[derive(Debug, Clone)]
pub struct Jobs {
    store: Arc<dyn BlobStore>,
}

impl Jobs {
    /// The jobs kept in `store`'s catalog container.
    pub fn new(store: Arc<dyn BlobStore>) -> Self {
        Jobs { store }
    }

    fn path(id: &JobId) -> String {
        format!("{JOBS}{}.json", id.guid())
    }

    fn log_path(id: &JobId) -> String {
        format!("{JOBS}{}.log", id.guid())
    }

    async fn put(&self, path: &str, body: Vec<u8>, content_type: &str, condition: Condition) -> Result<String> {
        let mut options = PutOptions { condition, ..Default::default() };
        options.properties.content_type = Some(content_type.into());
        Ok(self.store.put_blob(CATALOG_CONTAINER, path, Bytes::from(body), &options).await?)
    }

    /// Writes a new record, creating the catalog container if needed; `PreconditionFailed`
    /// if a job with that id exists already.
    pub async fn create(&self, job: &JobRecord) -> Result<()> {
        self.store.create_container(CATALOG_CONTAINER).await?;
        self.put(&Self::path(&job.id), serde_json::to_vec_pretty(job)?, "application/json", Condition::IfNotExists)
            .await
            .map(|_| ())
    }

    /// The record with its ETag, for a conditional write; `NotFound` naming the job and the store.
    pub async fn get(&self, id: &JobId) -> Result<Versioned<JobRecord>> {
        let (meta, bytes) =
            self.store.get_bytes(CATALOG_CONTAINER, &Self::path(id)).await.map_err(|e| match e.kind() {
                ErrorKind::NotFound => Error::not_found(format!("job {id} not found in {}", self.store.describe())),
                _ => e.into(),
            })?;
        let value = serde_json::from_slice(&bytes).map_err(|e| Error::from(e).context(format!("job {id}")))?;
        Ok(Versioned { value, etag: meta.etag })
    }

    /// Every job, oldest first.
    pub async fn list(&self) -> Result<Vec<JobRecord>> {
        let listed = match self.store.list_all(CATALOG_CONTAINER, JOBS).await {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            other => other?,
        };
        let mut out = Vec::new();
        for b in listed.iter().filter(|b| b.name.ends_with(".json")) {
            let Some(id) = b.name.strip_prefix(JOBS).and_then(|n| n.strip_suffix(".json")) else { continue };
            match self.get(&JobId::parse(id)?).await {
                Ok(v) => out.push(v.value),
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by_key(|j| j.created);
        Ok(out)
    }

    /// Reads, changes and writes the record, again if someone wrote meanwhile.
    pub async fn update(&self, id: &JobId, mut change: impl FnMut(&mut JobRecord) + Send) -> Result<JobRecord> {
        loop {
            let current = self.get(id).await?;
            let mut job = current.value;
            change(&mut job);
            job.updated = Utc::now();
            let body = serde_json::to_vec_pretty(&job)?;
            match self.put(&Self::path(id), body, "application/json", Condition::IfMatch(current.etag)).await {
                Ok(_) => return Ok(job),
                Err(e) if e.kind() == ErrorKind::PreconditionFailed => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Asks the job to stop. A queued job is canceled at once; a running one
    /// when its encoder next looks; a stale one (its encoder is gone) at once,
    /// the caller removing its output asset; a finished one cannot be.
    pub async fn request_cancel(&self, id: &JobId) -> Result<JobRecord> {
        let current = self.get(id).await?.value;
        if current.state.is_final() {
            return Err(Error::invalid_input(format!("job {id} is already {}: nothing to cancel", current.state)));
        }
        self.update(id, |j| {
            if j.state.is_final() {
                return;
            }
            let stale = j.is_stale(Utc::now());
            j.cancel_requested = true;
            if j.state == JobState::Queued || stale {
                if stale {
                    j.error = Some(format!(
                        "its encoder stopped writing at {} (killed or lost) and the job was canceled",
                        j.updated.to_rfc3339()
                    ));
                }
                j.state = JobState::Canceled;
                j.ended = Some(Utc::now());
            }
        })
        .await
    }

    /// The job's log (the old `JobDetails`), replaced whole.
    pub async fn put_log(&self, id: &JobId, text: &str) -> Result<()> {
        self.put(&Self::log_path(id), text.as_bytes().to_vec(), "text/plain; charset=utf-8", Condition::None)
            .await
            .map(|_| ())
    }

    /// The job's log, `None` if it has none yet.
    pub async fn log(&self, id: &JobId) -> Result<Option<String>> {
        match self.store.get_bytes(CATALOG_CONTAINER, &Self::log_path(id)).await {
            Ok((_, b)) => Ok(Some(String::from_utf8_lossy(&b).into_owned())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mirrorcast_core::store::InMemoryStore;

    #[tokio::test]
    async fn a_cancel_reaches_the_record_and_a_finished_job_cannot_be_canceled() {
        let jobs = Jobs::new(Arc::new(InMemoryStore::new()));
        let job = JobRecord::new("clip", "adaptive-streaming", AssetId::new());
        jobs.create(&job).await.unwrap();
        assert_eq!(jobs.create(&job).await.unwrap_err().kind(), ErrorKind::PreconditionFailed);
        jobs.update(&job.id, |j| j.state = JobState::Processing).await.unwrap();
        let asked = jobs.request_cancel(&job.id).await.unwrap();
        assert!(asked.cancel_requested);
        assert_eq!(asked.state, JobState::Processing, "the encoder itself says when it stopped");
        jobs.update(&job.id, |j| j.state = JobState::Canceled).await.unwrap();
        assert_eq!(jobs.request_cancel(&job.id).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        let queued = JobRecord::new("other", "adaptive-streaming", AssetId::new());
        jobs.create(&queued).await.unwrap();
        assert_eq!(jobs.request_cancel(&queued.id).await.unwrap().state, JobState::Canceled);
        assert_eq!(jobs.list().await.unwrap().len(), 2);
        assert_eq!(JobId::parse(&job.id.to_string()).unwrap(), job.id);
        assert_eq!(jobs.get(&JobId::new()).await.unwrap_err().kind(), ErrorKind::NotFound);
    }

    #[tokio::test]
    async fn a_job_whose_encoder_stopped_writing_is_stale_and_a_cancel_ends_it_at_once() {
        let store: Arc<dyn BlobStore> = Arc::new(InMemoryStore::new());
        let jobs = Jobs::new(store.clone());
        let mut job = JobRecord::new("clip", "adaptive-streaming", AssetId::new());
        job.state = JobState::Processing;
        let now = Utc::now();
        job.updated = now - chrono::Duration::seconds(30);
        assert!(!job.is_stale(now), "within its lease");
        assert_eq!(job.shown_state(now), "processing");
        job.updated = now - chrono::Duration::seconds(LEASE.as_secs() as i64 + 1);
        assert!(job.is_stale(now));
        assert!(job.shown_state(now).starts_with("stale (processing since "), "{}", job.shown_state(now));
        // A killed encoder leaves exactly this record behind; write it as it would be.
        let body = serde_json::to_vec(&job).unwrap();
        store.create_container(CATALOG_CONTAINER).await.unwrap();
        store.put_blob(CATALOG_CONTAINER, &Jobs::path(&job.id), body.into(), &PutOptions::default()).await.unwrap();
        let canceled = jobs.request_cancel(&job.id).await.unwrap();
        assert_eq!(canceled.state, JobState::Canceled, "no encoder will ever act on the request");
        assert!(canceled.error.as_deref().is_some_and(|e| e.contains("stopped writing")), "{canceled:?}");
        let mut done = canceled.clone();
        done.updated = now - chrono::Duration::days(1);
        assert!(!done.is_stale(now), "an ended job is never stale");
    }
}
