//! The run's per-asset reports kept in a temporary file, not in memory: at 100,000
//! assets the reports (every blob's outcome, streaming URLs) were most of the run's
//! heap. Each report is appended as one JSON line when its asset is done; only where
//! it lies (offset, length) stays in memory, and `--json` reads them back one at a time.
//!
//! The file is anonymous (unlinked from the start where the system allows it): it goes
//! with the process however that ends, Ctrl-C or a kill, and no other process finds it
//! by name. It holds exactly what `--json` prints of each asset, nothing more.
//!
//! Generic over what it holds: `verify` spools each asset's entries the same way.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};

/// Where one report lies in the spool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spooled {
    offset: u64,
    len: u32,
}

/// Append-only JSON lines of `T`s (a run's per-asset reports) in an anonymous temporary file.
#[derive(Debug)]
pub struct Spool<T> {
    file: Mutex<Written>,
    /// Where the file is, for messages.
    place: PathBuf,
    of: std::marker::PhantomData<fn(T) -> T>,
}

#[derive(Debug)]
struct Written {
    file: File,
    end: u64,
}

/// Serializes `count` items read back from a spool as one sequence, one item in memory at a
/// time; an item that cannot be read back is the serializer's error.
pub fn serialize_read_back<S, T>(
    serializer: S,
    count: usize,
    items: impl Iterator<Item = Result<T>>,
) -> std::result::Result<S::Ok, S::Error>
where
    S: serde::Serializer,
    T: Serialize,
{
    use serde::ser::{Error as _, SerializeSeq};
    let mut seq = serializer.serialize_seq(Some(count))?;
    for item in items {
        seq.serialize_element(&item.map_err(S::Error::custom)?)?;
    }
    seq.end()
}

impl<T: Serialize + DeserializeOwned> Spool<T> {
    /// A new spool in the system's temporary directory (`TMPDIR`).
    pub fn new() -> Result<Self> {
        Spool::new_in(std::env::temp_dir())
    }

    /// A new spool in directory `place`.
    pub fn new_in(place: PathBuf) -> Result<Self> {
        let file = tempfile::tempfile_in(&place).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "could not create the run's report file in {}: {e}; set TMPDIR to a writable directory",
                    place.display()
                ),
            )
        })?;
        Ok(Spool::in_file(file, place))
    }

    /// A spool in `file` (open for reading and writing, empty); `place` names it in messages.
    pub fn in_file(file: File, place: PathBuf) -> Self {
        Spool { file: Mutex::new(Written { file, end: 0 }), place, of: std::marker::PhantomData }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Written> {
        // A panic while holding the lock cannot leave the file half-known: `end` moves after a whole write.
        self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends `report`; where it lies. A failed write (a full disk) is an error naming the directory.
    pub fn append(&self, report: &T) -> Result<Spooled> {
        let mut line = serde_json::to_vec(report)?;
        line.push(b'\n');
        let len = u32::try_from(line.len())
            .map_err(|_| Error::new(ErrorKind::Other, "one asset's report is larger than 4 GiB"))?;
        let mut w = self.lock();
        let offset = w.end;
        let written = w.file.seek(SeekFrom::Start(offset)).and_then(|_| w.file.write_all(&line));
        if let Err(e) = written {
            return Err(Error::new(
                ErrorKind::Io,
                format!(
                    "could not write the run's per-asset report to a temporary file in {}: {e}; free space there or set TMPDIR to another directory",
                    self.place.display()
                ),
            ));
        }
        w.end += u64::from(len);
        Ok(Spooled { offset, len })
    }

    /// The report at `at`, read back.
    pub fn read(&self, at: Spooled) -> Result<T> {
        let mut line = vec![0; at.len as usize];
        let mut w = self.lock();
        w.file.seek(SeekFrom::Start(at.offset)).and_then(|_| w.file.read_exact(&mut line)).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "could not read the run's per-asset report back from its temporary file in {}: {e}",
                    self.place.display()
                ),
            )
        })?;
        drop(w);
        serde_json::from_slice(&line).map_err(|e| {
            Error::new(
                ErrorKind::Corrupt,
                format!("the run's per-asset report file in {} was changed: {e}", self.place.display()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replicate::report::{AssetReport, AssetStatus};

    fn report(name: &str, blobs: usize) -> AssetReport {
        crate::replicate::report::tests::report(name, AssetStatus::Replicated, blobs)
    }

    #[test]
    fn reports_come_back_as_written_wherever_they_lie() {
        let spool = Spool::<AssetReport>::new().unwrap();
        let written: Vec<(AssetReport, Spooled)> = (0..50)
            .map(|i| {
                let r = report(&format!("asset {i}"), i % 7);
                let at = spool.append(&r).unwrap();
                (r, at)
            })
            .collect();
        // Read back out of order: each from where it lies, whole.
        for (r, at) in written.iter().rev() {
            let back = spool.read(*at).unwrap();
            assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(r).unwrap());
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_disk_is_an_error_naming_where_and_what_to_do() {
        let full = std::fs::OpenOptions::new().read(true).write(true).open("/dev/full").unwrap();
        let spool = Spool::<AssetReport>::in_file(full, PathBuf::from("/full/tmp"));
        let e = spool.append(&report("one", 3)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        let m = e.to_string();
        assert!(m.contains("/full/tmp") && m.contains("TMPDIR") && m.contains("space"), "{m}");
    }

    #[cfg(unix)]
    #[test]
    fn the_spool_file_has_no_name_left_behind() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::<AssetReport>::new_in(dir.path().to_owned()).unwrap();
        spool.append(&report("kept out of sight", 2)).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing named in the directory while it runs");
        drop(spool);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
