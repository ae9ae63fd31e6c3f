//! Running one encode job: source → ffmpeg → renditions and manifests → a
//! new asset in the same data center. A failed or canceled job removes the
//! asset it was making: it never leaves half an output behind.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::{StreamExt, TryStreamExt};
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::id::AssetId;
use mirrorcast_core::mime::mime_type_for;
use mirrorcast_core::model::{Asset, AssetOptions};
use mirrorcast_core::secret::redact_sas;
use mirrorcast_core::store::{upload_reader, BlobProperties, BlobStoreExt, PutOptions, UploadOptions};
use mirrorcast_core::{Error, ErrorKind, Result};
use mirrorcast_media::mp4::Mp4;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::command::{self, Output, OutputKind};
use crate::ffmpeg::Ffmpeg;
use crate::job::{JobId, JobRecord, JobState, Jobs};
use crate::ladder::Preset;
use crate::manifests;
use crate::relay::SourceRelay;

/// Output files uploaded at once.
const UPLOADS_IN_FLIGHT: usize = 4;

/// How often the encoder writes its progress and looks for a cancel.
const POLL: Duration = Duration::from_millis(1000);

/// One data center's encoder.
#[derive(Debug, Clone)]
pub struct Encoder {
    /// The binaries it runs.
    pub ffmpeg: Ffmpeg,
    /// The data center's catalog: where it reads input assets and makes output ones.
    pub catalog: Catalog,
    /// The job records, in the same data center.
    pub jobs: Jobs,
}

/// What a job ended as.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The final record.
    pub job: JobRecord,
    /// The asset made; `None` unless the job finished.
    pub output: Option<AssetId>,
    /// Why a job in state `error` failed (bad input is the user's to fix).
    pub failure: Option<ErrorKind>,
}

/// Why a job stopped: a failure, or someone asked it to.
enum Stop {
    Canceled,
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

impl From<mirrorcast_core::store::Error> for Stop {
    fn from(e: mirrorcast_core::store::Error) -> Self {
        Stop::Failed(e.into())
    }
}

impl Encoder {
    /// An encoder for `catalog`'s data center, its jobs kept in the same store.
    pub fn new(ffmpeg: Ffmpeg, catalog: Catalog) -> Self {
        let jobs = Jobs::new(catalog.store().clone());
        Encoder { ffmpeg, catalog, jobs }
    }

    /// Queues a job encoding `input` (checked to exist) with `preset`.
    pub async fn submit(&self, input: &AssetId, name: &str, preset: &Preset) -> Result<JobRecord> {
        self.catalog.get_asset(input).await?;
        let job = JobRecord::new(name, preset.name(), *input);
        self.jobs.create(&job).await?;
        Ok(job)
    }

    /// Runs job `id` to its end; `progress` sees the record at every update.
    /// Returns the final record whatever the outcome (check its `state`).
    pub async fn run(
        &self,
        id: &JobId,
        preset: &Preset,
        mut progress: impl FnMut(&JobRecord) + Send,
    ) -> Result<Finished> {
        let job = self
            .jobs
            .update(id, |j| {
                if j.state == JobState::Queued {
                    j.state = JobState::Processing;
                    j.started = Some(Utc::now());
                }
            })
            .await?;
        if job.state != JobState::Processing {
            return Ok(Finished { output: job.output_asset, job, failure: None });
        }
        progress(&job);
        // The heartbeat: the record is written at least every HEARTBEAT while
        // this process runs the job, so others can tell a job whose encoder
        // is gone (`stale`) from a slow one.
        let heartbeat = {
            let jobs = self.jobs.clone();
            let id = *id;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(crate::job::HEARTBEAT);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    if let Err(e) = jobs.update(&id, |_| {}).await {
                        tracing::warn!(target: "mirrorcast_encode", "job {id}: heartbeat not written: {e}");
                    }
                }
            })
        };
        let _stop_heartbeat = AbortOnDrop(heartbeat);
        let mut log = Log::default();
        log.line(format!("job {id} '{}' with preset {}", job.name, preset.name()));
        let dir = tempfile::Builder::new().prefix("mirrorcast-encode-").tempdir()?;
        let mut output: Option<AssetId> = None;
        let outcome = self.work(&job, preset, dir.path(), &mut output, &mut log, &mut progress).await;
        let (state, error) = match &outcome {
            Ok(()) => (JobState::Finished, None),
            Err(Stop::Canceled) => (JobState::Canceled, None),
            Err(Stop::Failed(e)) => (JobState::Error, Some(e.to_string())),
        };
        if state != JobState::Finished {
            if let Some(out) = output {
                // Never leave half an output: the asset goes, with its container.
                match self.catalog.delete_asset(&out).await {
                    Ok(()) => log.line(format!("removed the unfinished output asset {out}")),
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => log.line(format!("could not remove the unfinished output asset {out}: {e}")),
                }
            }
        }
        log.line(format!("job {state}{}", error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()));
        let files = if state == JobState::Finished {
            self.catalog.get_asset(&output.expect("a finished job made its asset")).await?.value.files
        } else {
            Vec::new()
        };
        let job = self
            .jobs
            .update(id, |j| {
                j.state = state;
                j.ended = Some(Utc::now());
                j.error = error.clone();
                if state == JobState::Finished {
                    j.progress = 100.0;
                    j.outputs = files.iter().map(|f| f.name.clone()).collect();
                } else {
                    j.output_asset = None;
                }
            })
            .await?;
        self.jobs.put_log(id, &log.text).await?;
        progress(&job);
        let output = (state == JobState::Finished).then_some(output).flatten();
        let failure = match &outcome {
            Err(Stop::Failed(e)) => Some(e.kind()),
            _ => None,
        };
        Ok(Finished { job, output, failure })
    }

    async fn work(
        &self,
        job: &JobRecord,
        preset: &Preset,
        dir: &Path,
        output: &mut Option<AssetId>,
        log: &mut Log,
        progress: &mut (impl FnMut(&JobRecord) + Send),
    ) -> std::result::Result<(), Stop> {
        let store = self.catalog.store().clone();
        let input = self.catalog.get_asset(&job.input_asset).await?.value;
        let blobs = store.list_all(&input.asset.container, "").await?;
        let mezzanine = match input.files.iter().find(|f| f.is_primary) {
            Some(f) => f.name.clone(),
            None => match blobs.as_slice() {
                [one] => one.name.clone(),
                [] => {
                    return Err(Error::invalid_input(format!("asset {} holds no file to encode", input.asset.id)).into())
                }
                many => {
                    return Err(Error::invalid_input(format!(
                        "asset {} holds {} files and no primary: which one is the mezzanine?",
                        input.asset.id,
                        many.len()
                    ))
                    .into())
                }
            },
        };
        // ffmpeg reads the source from storage through a loopback relay: no
        // storage credential in its argv, which every local user can read.
        let relay = SourceRelay::start(store.clone(), &input.asset.container, &mezzanine).await?;
        let input_url = relay.url().to_owned();
        let source = self.ffmpeg.probe(&input_url).await?;
        log.line(format!(
            "source '{mezzanine}': {}x{} at {:.3} fps, {:.1} s, video {} kbps, audio: {}",
            source.width,
            source.height,
            source.fps,
            source.duration_seconds,
            source.video_kbps.map_or("unknown".into(), |k| k.to_string()),
            if source.has_audio { "yes" } else { "no" }
        ));
        let ladder = preset.ladder(&source)?;
        // HEVC without libx265 is refused here, before the output asset exists.
        self.ffmpeg.check_encoders(&ladder)?;
        let languages = |streams: &[crate::ffmpeg::SourceStream]| {
            streams.iter().map(|s| s.language.as_deref().unwrap_or("und")).collect::<Vec<_>>().join(", ")
        };
        log.line(format!(
            "audio streams: {}; text subtitles: {}",
            if source.audio.is_empty() { "none".to_owned() } else { languages(&source.audio) },
            if source.subtitles.is_empty() { "none".to_owned() } else { languages(&source.subtitles) }
        ));
        if !source.skipped_subtitles.is_empty() {
            log.line(format!(
                "subtitles left out (bitmaps, which WebVTT cannot hold): {}",
                source.skipped_subtitles.join(", ")
            ));
        }
        let base = base_name(&mezzanine);
        let outputs = command::outputs(&base, &ladder, &source, dir);
        log.line(format!("ladder: {}", outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(", ")));

        let asset = Asset::new(job.name.clone(), AssetOptions::None);
        self.catalog.create_asset(&asset).await?;
        *output = Some(asset.id);
        let job = self.jobs.update(&job.id, |j| j.output_asset = Some(asset.id)).await?;
        if job.cancel_requested {
            return Err(Stop::Canceled);
        }

        let args = command::arguments(&input_url, &ladder, &source, &outputs);
        let shown: Vec<String> =
            args.iter().map(|a| if *a == input_url { "<source>".into() } else { a.clone() }).collect();
        log.line(format!("ffmpeg {}", shown.join(" ")));
        let started = Instant::now();
        self.transcode(&job, &args, source.duration_seconds, &input_url, log, progress).await?;
        drop(relay);
        log.line(format!("ffmpeg done in {:.1} s", started.elapsed().as_secs_f64()));

        let mut renditions: Vec<(Output, Mp4)> = Vec::new();
        let mut texts: Vec<Output> = Vec::new();
        for out in outputs {
            if out.kind == OutputKind::Text {
                // The origin must be able to offer it: read back as it will be.
                let bytes = tokio::fs::read(&out.path).await.map_err(Error::from)?;
                mirrorcast_media::webvtt::WebVtt::parse(&bytes)
                    .map_err(|e| Error::new(ErrorKind::Corrupt, format!("ffmpeg's '{}': {e}", out.name)))?;
                texts.push(out);
                continue;
            }
            let mp4 = Mp4::open(&out.path)
                .map_err(|e| Error::new(ErrorKind::Corrupt, format!("ffmpeg's '{}': {e}", out.name)))?;
            if !mp4.moov_first() {
                return Err(Error::new(ErrorKind::Corrupt, format!("'{}' has its moov after mdat", out.name)).into());
            }
            renditions.push((out, mp4));
        }
        let made = manifests::build(&base, &mezzanine, ladder.gop_seconds, &renditions, &texts)?;
        for (name, text) in &made.files {
            tokio::fs::write(dir.join(name), text).await.map_err(Error::from)?;
        }
        let job = self.jobs.update(&job.id, |j| j.progress = j.progress.max(95.0)).await?;
        progress(&job);
        if job.cancel_requested {
            return Err(Stop::Canceled);
        }
        let mut names: Vec<&str> = renditions.iter().map(|(o, _)| o.name.as_str()).collect();
        names.extend(texts.iter().map(|o| o.name.as_str()));
        names.extend(made.files.iter().map(|(n, _)| n.as_str()));
        // The files go up side by side: after ffmpeg, this is the encode's only wait.
        let upload = |name: &str| {
            let (store, container, path) = (store.clone(), asset.container.clone(), dir.join(name));
            let options = UploadOptions {
                put: PutOptions {
                    properties: BlobProperties { content_type: Some(mime_type_for(name)), ..Default::default() },
                    ..Default::default()
                },
                ..Default::default()
            };
            let name = name.to_owned();
            async move {
                let file = tokio::fs::File::open(path).await.map_err(Error::from)?;
                upload_reader(store.as_ref(), &container, &name, file, &options).await.map(|_| ())
            }
        };
        futures::stream::iter(names.iter().map(|n| upload(n)))
            .buffer_unordered(UPLOADS_IN_FLIGHT)
            .try_collect::<Vec<()>>()
            .await?;
        let record = self.catalog.regenerate_files(&asset.id).await?;
        log.line(format!("uploaded {} files to {}", record.files.len(), asset.id));
        Ok(())
    }

    /// Runs ffmpeg, writing progress to the job record every [`POLL`] and
    /// killing ffmpeg when the record asks for a cancel.
    async fn transcode(
        &self,
        job: &JobRecord,
        args: &[String],
        duration: f64,
        input_url: &str,
        log: &mut Log,
        progress: &mut (impl FnMut(&JobRecord) + Send),
    ) -> std::result::Result<(), Stop> {
        let mut child = Command::new(&self.ffmpeg.ffmpeg)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start ffmpeg: {e}")))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut stderr = child.stderr.take().expect("piped");
        let errors = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut done_us: u64 = 0;
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut stdout_open = true;
        let status = loop {
            tokio::select! {
                line = stdout.next_line(), if stdout_open => match line {
                    Ok(Some(l)) => {
                        if let Some(v) = l.strip_prefix("out_time_us=").or(l.strip_prefix("out_time_ms=")) {
                            done_us = v.trim().parse().unwrap_or(done_us);
                        }
                    }
                    _ => stdout_open = false,
                },
                status = child.wait(), if !stdout_open => break status,
                _ = tick.tick() => {
                    let percent = if duration > 0.0 { (done_us as f64 / 1e6 / duration * 95.0).clamp(0.0, 95.0) } else { 0.0 };
                    let now = self.jobs.update(&job.id, |j| j.progress = j.progress.max(percent)).await?;
                    progress(&now);
                    if now.cancel_requested {
                        let _ = child.kill().await;
                        log.line("canceled: ffmpeg stopped".to_owned());
                        return Err(Stop::Canceled);
                    }
                }
            }
        };
        let status = status.map_err(|e| Error::new(ErrorKind::Io, format!("ffmpeg: {e}")))?;
        let text = errors.await.unwrap_or_default();
        let text = redact_sas(&text.replace(input_url, "<source>"));
        if !text.trim().is_empty() {
            log.line(format!("ffmpeg said:\n{}", text.trim_end()));
        }
        if !status.success() {
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            return Err(Error::new(ErrorKind::Other, format!("ffmpeg failed ({status}): {last}")).into());
        }
        Ok(())
    }
}

/// `job cancel`: asks the job's encoder to stop (it removes its unfinished
/// output itself); a job whose encoder is gone (stale) is canceled at once and
/// its unfinished output asset removed here, since no encoder will do it.
pub async fn cancel(catalog: &Catalog, jobs: &Jobs, id: &JobId) -> Result<JobRecord> {
    let record = jobs.request_cancel(id).await?;
    let Some(out) = record.output_asset.filter(|_| record.state == JobState::Canceled) else { return Ok(record) };
    match catalog.delete_asset(&out).await {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e.context(format!("job {id}: removing its unfinished output asset {out}"))),
    }
    jobs.update(id, |j| j.output_asset = None).await
}

/// Stops a background task when the scope that started it ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The base of the output names: the mezzanine's file name without its
/// extension (and without folders), as Media Encoder Standard named outputs.
pub fn base_name(mezzanine: &str) -> String {
    let file = mezzanine.rsplit('/').next().unwrap_or(mezzanine);
    let stem = match file.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => file,
    };
    let clean: String = stem.chars().map(|c| if c.is_control() || c == '\\' { '_' } else { c }).collect();
    if clean.trim().is_empty() {
        "output".into()
    } else {
        clean
    }
}

/// The job's log, timestamped lines.
#[derive(Debug, Default)]
struct Log {
    text: String,
}

impl Log {
    fn line(&mut self, line: String) {
        tracing::info!(target: "mirrorcast_encode", "{line}");
        self.text.push_str(&format!("{} {line}\n", Utc::now().format("%H:%M:%S%.3f")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_named_after_the_mezzanine() {
        assert_eq!(base_name("Big Buck Bunny.mp4"), "Big Buck Bunny");
        assert_eq!(base_name("in/a.b.mov"), "a.b");
        assert_eq!(base_name(".hidden"), ".hidden");
        assert_eq!(base_name("tab\there"), "tab_here");
    }
}
