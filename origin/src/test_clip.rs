//! A real clip for the packagers' unit tests: ffmpeg makes it, its moov is indexed.

use mirrorcast_media::bmff::{TopLevelWalk, WalkStep};
use mirrorcast_media::fragment::Index;

/// [`clip`] at 320x180 in a directory of its own.
pub(crate) fn small_clip() -> Index {
    let dir = tempfile::tempdir().unwrap();
    clip(dir.path(), "clip.mp4", "320x180")
}

/// A 5 s clip of `size` (key frames every 2 s, stereo AAC) written to
/// `dir/name`, indexed from its moov.
pub(crate) fn clip(dir: &std::path::Path, name: &str, size: &str) -> Index {
    let path = dir.join(name);
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=25")])
        .args(["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "5", "-c:v", "libx264"])
        .args(["-preset", "ultrafast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0"])
        .args(["-c:a", "aac", "-ac", "2", "-movflags", "+faststart", "-y"])
        .arg(&path)
        .status()
        .expect("ffmpeg is needed for this test: apt-get install ffmpeg");
    assert!(status.success());
    let file = std::fs::read(&path).unwrap();
    let WalkStep::Done(layout) = TopLevelWalk::until_moov(file.len() as u64).feed(0, &file).unwrap() else {
        panic!("the whole file was fed to the walk");
    };
    let moov = layout.moov().expect("ffmpeg wrote a moov").range();
    Index::from_moov(&file[moov.start as usize..moov.end as usize]).unwrap()
}
