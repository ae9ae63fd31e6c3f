//! A rendition's `--save` file, never left half-written under its name: the bytes go to
//! `<name>.part`, renamed to `<name>` once the player is done; a drill stopped first, or a
//! write that failed, removes the part file instead.

use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt as _;

/// One `--save` file being written.
#[derive(Debug)]
pub(crate) struct SaveFile {
    path: PathBuf,
    part: PathBuf,
    /// `None` once finished, or after a failed write.
    file: Option<tokio::fs::File>,
    /// The first failure, worded for the report.
    error: Option<String>,
}

impl SaveFile {
    /// Starts `path` (as its part file), replacing a part file a killed drill left.
    pub(crate) async fn create(path: PathBuf) -> SaveFile {
        let mut part = path.clone().into_os_string();
        part.push(".part");
        let part = PathBuf::from(part);
        let (file, error) = match tokio::fs::File::create(&part).await {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(format!("cannot create {}: {e}", part.display()))),
        };
        SaveFile { path, part, file, error }
    }

    /// Appends `bytes`; after a failure nothing more is written and the part file goes.
    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        let Some(file) = self.file.as_mut() else { return };
        if let Err(e) = file.write_all(bytes).await {
            self.fail(format!("cannot write {}: {e}", self.part.display()));
        }
    }

    /// Flushes and renames the part file to its name: the saved path, or why there is none.
    pub(crate) async fn finish(mut self) -> Result<PathBuf, String> {
        let Some(mut file) = self.file.take() else {
            return Err(self.error.take().unwrap_or_else(|| "not written".to_owned()));
        };
        let done = async {
            file.flush().await?;
            drop(file);
            tokio::fs::rename(&self.part, &self.path).await
        };
        match done.await {
            Ok(()) => Ok(std::mem::take(&mut self.path)),
            Err(e) => {
                let why = format!("cannot finish {}: {e}", self.path.display());
                self.fail(why.clone());
                Err(why)
            }
        }
    }

    fn fail(&mut self, why: String) {
        self.file = None;
        self.error.get_or_insert(why);
        remove(&self.part);
    }
}

/// Not finished (the drill stopped, or a player ended early): the part file goes.
impl Drop for SaveFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            remove(&self.part);
        }
    }
}

fn remove(part: &Path) {
    // Already gone is the goal; anything else leaves a file named `.part`, never a whole-looking one.
    let _ = std::fs::remove_file(part);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_save_file_appears_under_its_name_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hls-video.mp4");
        let mut save = SaveFile::create(path.clone()).await;
        save.write(b"init").await;
        save.write(b"segment").await;
        assert!(!path.exists() && dir.path().join("hls-video.mp4.part").exists());
        assert_eq!(save.finish().await.unwrap(), path);
        assert_eq!(std::fs::read(&path).unwrap(), b"initsegment");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no part file left");
    }

    #[tokio::test]
    async fn a_save_file_dropped_unfinished_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut save = SaveFile::create(dir.path().join("dash-audio.mp4")).await;
        save.write(b"half a rendition").await;
        drop(save);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_save_file_that_cannot_be_created_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let mut save = SaveFile::create(dir.path().join("missing").join("x.mp4")).await;
        save.write(b"bytes").await;
        let why = save.finish().await.unwrap_err();
        assert!(why.contains("cannot create") && why.contains("x.mp4.part"), "{why}");
    }
}
