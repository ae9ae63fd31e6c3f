//! A real clip for the packagers' unit tests: ffmpeg makes it, its moov is indexed.

use mirrorcast_media::fragment::{box_header, Index};

/// A 5 s clip of `size` (key frames every 2 s, stereo AAC) written to
/// `dir/name`, indexed from its moov.
pub fn clip(dir: &std::path::Path, name: &str, size: &str) -> Index {
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
    let mut at = 0;
    loop {
        let h = box_header(&file[at..]).unwrap();
        let size = h.size.unwrap() as usize;
        if &h.kind == b"moov" {
            return Index::from_moov(&file[at..at + size]).unwrap();
        }
        at += size;
    }
}
