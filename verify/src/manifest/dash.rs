//! DASH MPDs: the initialization and media segments every Representation needs, read through
//! media's MPD model and joined to their BaseURLs as blob names.

use mirrorcast_media::dash::{fill, Addressing, Mpd};

pub(crate) fn references(text: &str) -> Result<Vec<String>, String> {
    let mpd = Mpd::parse(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for period in &mpd.periods {
        let period_duration = mpd.period_duration(period);
        for set in &period.adaptation_sets {
            for rep in &set.representations {
                let base = mpd.base_urls(period, set, rep).fold(String::new(), |base, b| join(&base, b));
                let fill = |template: &str, number, time| fill(template, rep, number, time).map_err(|e| e.to_string());
                match rep.addressing(set, period) {
                    Addressing::List(list) => {
                        out.extend(list.initialization.iter().map(|init| join(&base, init)));
                        out.extend(list.media.iter().map(|m| join(&base, m)));
                    }
                    Addressing::Template(t) => {
                        if let Some(init) = t.initialization() {
                            out.push(join(&base, &fill(init, None, None)?));
                        }
                        if let Some(media) = t.media() {
                            for s in t.segments(period_duration).map_err(|e| e.to_string())? {
                                out.push(join(&base, &fill(media, Some(s.number), Some(s.time))?));
                            }
                        }
                    }
                    // SegmentBase or a plain BaseURL: the representation is one file.
                    Addressing::Single if !base.is_empty() && !base.ends_with('/') => out.push(base.clone()),
                    Addressing::Single => {}
                }
            }
        }
    }
    Ok(out)
}

/// A reference joined to the base in force (blob-name paths: the manifest's folder is joined later).
fn join(base: &str, reference: &str) -> String {
    if reference.contains("://") || base.is_empty() || reference.starts_with('/') {
        return reference.to_owned();
    }
    match base.rfind('/') {
        Some(i) => format!("{}{reference}", &base[..=i]),
        None => reference.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_based_templates_and_single_files_are_referenced() {
        let mpd = r#"<MPD mediaPresentationDuration="PT10S"><BaseURL>media/</BaseURL><Period><AdaptationSet>
            <Representation id="r" bandwidth="1"><SegmentTemplate media="$Number$.m4s" duration="4" timescale="1" startNumber="0"/></Representation>
            <Representation id="single"><BaseURL>whole.mp4</BaseURL><SegmentBase/></Representation>
            </AdaptationSet></Period></MPD>"#;
        assert_eq!(references(mpd).unwrap(), ["media/0.m4s", "media/1.m4s", "media/2.m4s", "media/whole.mp4"]);
    }
}
