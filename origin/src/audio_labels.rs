//! What a player is told of each audio rendition when the `.ism` says less than the MP4
//! (pure): the language (the `.ism`'s `systemLanguage`, else the track's `elng`/`mdhd`), the
//! HLS `NAME` (the `trackName`, else the language; unique within the group) and the role
//! (the track's `udta/kind`). Renditions of one language and role stay switchable among
//! themselves only: packaging groups DASH sets and Smooth streams by what is said here.

use mirrorcast_media::fragment::TrackIndex;

use crate::packaging::Rendition;

/// The stream key of an audio track the `.ism` gives no `trackName`: it names nothing.
const UNNAMED_AUDIO: &str = "audio";

/// The language a rendition is served with: the `.ism`'s, else its MP4 track's.
pub(crate) fn language<'a>(ism_language: Option<&'a str>, track: &'a TrackIndex) -> Option<&'a str> {
    ism_language.or(track.info.labels.language.as_deref())
}

/// The role the rendition's MP4 states (a DASH role value), if any.
pub(crate) fn role(r: &Rendition<'_>) -> Option<&'static str> {
    r.track.info.labels.role()
}

/// The HLS `NAME` of each audio rendition, in order: its `trackName`, else its language, else
/// `audio`; a name already taken in the group gets ` (2)`, ` (3)`… (HLS: every `EXT-X-MEDIA` of
/// a group has a NAME of its own).
pub(crate) fn hls_names(audio: &[&Rendition<'_>]) -> Vec<String> {
    let mut names: Vec<String> = Vec::with_capacity(audio.len());
    for r in audio {
        let named = !r.stream.eq_ignore_ascii_case(UNNAMED_AUDIO);
        let base = if named { r.stream } else { r.language.unwrap_or(r.stream) };
        let base: String = base.chars().filter(|c| *c != '"' && !c.is_control()).collect();
        let mut name = base.clone();
        let mut n = 1;
        while names.contains(&name) {
            n += 1;
            name = format!("{base} ({n})");
        }
        names.push(name);
    }
    names
}

/// Which audio rendition is the HLS default: the first whose MP4 says it is the main one, else the first.
pub(crate) fn hls_default(audio: &[&Rendition<'_>]) -> usize {
    audio.iter().position(|r| role(r) == Some("main")).unwrap_or(0)
}

/// HLS `CHARACTERISTICS` for a rendition's role (an audio description of the video).
pub(crate) fn hls_characteristics(r: &Rendition<'_>) -> Option<&'static str> {
    (role(r) == Some("description")).then_some("public.accessibility.describes-video")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packaging::{dash, hls_master};
    use crate::request::Format;
    use mirrorcast_media::ism::TrackKind;

    /// The clip's audio track as an MP4 stating `language` and `roles`.
    fn labelled(audio: &TrackIndex, language: Option<&str>, roles: &[&'static str]) -> TrackIndex {
        let mut t = audio.clone();
        t.info.labels.language = language.map(str::to_owned);
        t.info.labels.roles = roles.to_vec();
        t
    }

    fn audio<'a>(stream: &'a str, bitrate: u64, ism_language: Option<&'a str>, t: &'a TrackIndex) -> Rendition<'a> {
        Rendition { kind: TrackKind::Audio, stream, bitrate, language: language(ism_language, t), track: t }
    }

    /// An `.ism` without languages, names or roles over MP4s that state them: HLS LANGUAGE and a
    /// NAME from the language (unique), DASH `lang` and `Role` with a set per language and role,
    /// Smooth `Language` per language.
    #[test]
    fn the_mp4s_languages_and_roles_serve_when_the_ism_says_nothing() {
        let index = crate::test_clip::small_clip();
        let (v, a) = (index.by_handler("vide").unwrap(), index.by_handler("soun").unwrap());
        let eng = labelled(a, Some("eng"), &[]);
        let eng_low = labelled(a, Some("eng"), &[]);
        let spa = labelled(a, Some("spa"), &["main"]);
        let commentary = labelled(a, Some("eng"), &["commentary"]);
        let renditions = [
            Rendition { kind: TrackKind::Video, stream: "video", bitrate: 600_000, language: None, track: v },
            audio("audio", 128_000, None, &eng),
            audio("audio", 64_000, None, &eng_low),
            audio("audio", 128_001, None, &spa),
            audio("audio", 96_000, None, &commentary),
        ];
        let master = hls_master(&renditions, Format::HlsCmaf);
        let media: Vec<&str> = master.lines().filter(|l| l.starts_with("#EXT-X-MEDIA:TYPE=AUDIO")).collect();
        assert_eq!(media.len(), 4, "{master}");
        assert!(media[0].contains("NAME=\"eng\",LANGUAGE=\"eng\",DEFAULT=NO"), "{master}");
        assert!(media[1].contains("NAME=\"eng (2)\",LANGUAGE=\"eng\""), "names unique in the group: {master}");
        assert!(media[2].contains("NAME=\"spa\",LANGUAGE=\"spa\",DEFAULT=YES"), "the MP4's main: {master}");
        assert!(media[3].contains("NAME=\"eng (3)\",LANGUAGE=\"eng\",DEFAULT=NO"), "{master}");

        let mpd = dash(&renditions, Format::DashCsf);
        let sets: Vec<&str> = mpd.split("<AdaptationSet ").skip(1).collect();
        assert_eq!(sets.len(), 4, "video, English, Spanish, English commentary: {mpd}");
        assert!(sets[1].contains("lang=\"eng\"") && sets[1].matches("<Representation ").count() == 2, "{mpd}");
        assert!(sets[1].contains("value=\"alternate\""), "Spanish is the main one, not the first: {mpd}");
        assert!(sets[2].contains("lang=\"spa\"") && sets[2].contains("value=\"main\""), "{mpd}");
        assert!(sets[3].contains("lang=\"eng\"") && sets[3].contains("value=\"commentary\""), "{mpd}");
        assert_eq!(sets[3].matches("<Representation ").count(), 1, "commentary never a bitrate of the main mix");

        let smooth = crate::smooth::client_manifest(&renditions);
        let languages: Vec<Option<&str>> =
            smooth.streams.iter().filter(|s| s.kind == "audio").map(|s| s.language.as_deref()).collect();
        assert_eq!(languages, [Some("eng"), Some("spa"), Some("eng")], "one stream per language and role");

        // The .ism's word wins over the MP4's.
        let told = audio("aac_en", 128_000, Some("en"), &spa);
        assert_eq!(told.language, Some("en"));
        assert_eq!(hls_names(&[&told]), ["aac_en"]);
        // Neither says anything: as before, no LANGUAGE, no lang, no Role.
        let plain = [renditions[0], audio("audio", 128_000, None, a)];
        let master = hls_master(&plain, Format::HlsCmaf);
        assert!(master.contains("NAME=\"audio\",DEFAULT=YES") && !master.contains("LANGUAGE="), "{master}");
        let mpd = dash(&plain, Format::DashCsf);
        assert!(!mpd.contains("lang=") && !mpd.contains("<Role"), "{mpd}");
    }
}
