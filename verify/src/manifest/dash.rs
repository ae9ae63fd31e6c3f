//! DASH MPDs: the initialization and media segments every Representation needs.

use roxmltree::Node;

pub fn references(text: &str) -> Result<Vec<String>, String> {
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("not an XML document: {e}"))?;
    let mpd = doc.root_element();
    if mpd.tag_name().name() != "MPD" {
        return Err(format!("root element is <{}>, not <MPD>", mpd.tag_name().name()));
    }
    let total = mpd.attribute("mediaPresentationDuration").map(iso_duration).transpose()?;
    let mpd_base = base_url("", mpd);
    let mut out = Vec::new();
    for period in children(mpd, "Period") {
        let period_base = base_url(&mpd_base, period);
        let period_duration = period.attribute("duration").map(iso_duration).transpose()?.or(total);
        for set in children(period, "AdaptationSet") {
            let set_base = base_url(&period_base, set);
            for rep in children(set, "Representation") {
                let base = base_url(&set_base, rep);
                let id = rep.attribute("id").unwrap_or("");
                let bandwidth = rep.attribute("bandwidth").unwrap_or("");
                let vars = Vars { id, bandwidth };
                if let Some(list) = child(rep, "SegmentList").or_else(|| child(set, "SegmentList")) {
                    if let Some(init) = child(list, "Initialization").and_then(|i| i.attribute("sourceURL")) {
                        out.push(join(&base, init));
                    }
                    for s in children(list, "SegmentURL") {
                        if let Some(m) = s.attribute("media") {
                            out.push(join(&base, m));
                        }
                    }
                } else if let Some(t) = Template::of(rep, set, period) {
                    if let Some(init) = t.attr("initialization") {
                        out.push(join(&base, &vars.fill(init, None, None)?));
                    }
                    if let Some(media) = t.attr("media") {
                        for (number, time) in t.segments(period_duration)? {
                            out.push(join(&base, &vars.fill(media, Some(number), Some(time))?));
                        }
                    }
                } else if !base.is_empty() && !base.ends_with('/') {
                    // SegmentBase or a plain BaseURL: the representation is one file.
                    out.push(base.clone());
                }
            }
        }
    }
    Ok(out)
}

fn children<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    children(node, name).next()
}

/// The base URL in force inside `node`: its first `<BaseURL>` joined to the parent's.
fn base_url(parent: &str, node: Node) -> String {
    match child(node, "BaseURL").and_then(|b| b.text()) {
        Some(t) => join(parent, t.trim()),
        None => parent.to_owned(),
    }
}

fn join(base: &str, reference: &str) -> String {
    if reference.contains("://") || base.is_empty() || reference.starts_with('/') {
        return reference.to_owned();
    }
    match base.rfind('/') {
        Some(i) => format!("{}{reference}", &base[..=i]),
        None => reference.to_owned(),
    }
}

/// A SegmentTemplate, with Representation attributes over AdaptationSet's over Period's.
struct Template<'a, 'i> {
    levels: Vec<Node<'a, 'i>>,
}

impl<'a, 'i> Template<'a, 'i> {
    fn of(rep: Node<'a, 'i>, set: Node<'a, 'i>, period: Node<'a, 'i>) -> Option<Self> {
        let levels: Vec<Node> = [rep, set, period].into_iter().filter_map(|n| child(n, "SegmentTemplate")).collect();
        (!levels.is_empty()).then_some(Template { levels })
    }

    fn attr(&self, name: &str) -> Option<&'a str> {
        self.levels.iter().find_map(|n| n.attribute(name))
    }

    fn num(&self, name: &str, default: u64) -> Result<u64, String> {
        self.attr(name)
            .map(|v| v.parse().map_err(|_| format!("SegmentTemplate@{name}='{v}' is not a number")))
            .unwrap_or(Ok(default))
    }

    /// (number, time) of every segment.
    fn segments(&self, period_seconds: Option<f64>) -> Result<Vec<(u64, u64)>, String> {
        let start = self.num("startNumber", 1)?;
        let timescale = self.num("timescale", 1)?.max(1);
        let end_time = period_seconds.map(|s| (s * timescale as f64).round() as u64);
        if let Some(timeline) = self.levels.iter().find_map(|n| child(*n, "SegmentTimeline")) {
            let mut out = Vec::new();
            let mut t = 0u64;
            for s in children(timeline, "S") {
                let get = |k: &str| {
                    s.attribute(k).map(|v| v.parse::<i64>().map_err(|_| format!("S@{k}='{v}' is not a number")))
                };
                if let Some(explicit) = get("t").transpose()? {
                    t = explicit.max(0) as u64;
                }
                let d = get("d").transpose()?.ok_or("S without @d")?.max(1) as u64;
                let r = get("r").transpose()?.unwrap_or(0);
                let repeats = if r < 0 {
                    let end = end_time.ok_or("S@r=-1 needs a known period duration")?;
                    end.saturating_sub(t).div_ceil(d).saturating_sub(1)
                } else {
                    r as u64
                };
                for _ in 0..=repeats {
                    if out.len() > 1_000_000 {
                        return Err("more than a million segments".into());
                    }
                    out.push((start + out.len() as u64, t));
                    t += d;
                }
            }
            return Ok(out);
        }
        let duration = self.num("duration", 0)?;
        if duration == 0 {
            return Err("SegmentTemplate has neither SegmentTimeline nor @duration".into());
        }
        let end = end_time.ok_or("SegmentTemplate@duration needs MPD@mediaPresentationDuration or Period@duration")?;
        let count = end.div_ceil(duration);
        if count > 1_000_000 {
            return Err("more than a million segments".into());
        }
        Ok((0..count).map(|i| (start + i, i * duration)).collect())
    }
}

struct Vars<'a> {
    id: &'a str,
    bandwidth: &'a str,
}

impl Vars<'_> {
    /// Substitutes `$RepresentationID$`, `$Bandwidth$`, `$Number$`, `$Time$`
    /// (each with an optional `%0Nd` width) and `$$`.
    fn fill(&self, template: &str, number: Option<u64>, time: Option<u64>) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let j = after.find('$').ok_or_else(|| format!("unclosed '$' in template '{template}'"))?;
            let token = &after[..j];
            rest = &after[j + 1..];
            if token.is_empty() {
                out.push('$');
                continue;
            }
            let (name, width) = match token.split_once('%') {
                Some((n, f)) => {
                    let w = f.trim_start_matches('0').trim_end_matches('d');
                    (
                        n,
                        if w.is_empty() {
                            1
                        } else {
                            w.parse::<usize>().map_err(|_| format!("bad width '%{f}' in '{template}'"))?
                        },
                    )
                }
                None => (token, 1),
            };
            let value = match name {
                "RepresentationID" => self.id.to_owned(),
                "Bandwidth" => format!("{:0width$}", self.bandwidth.parse::<u64>().unwrap_or(0)),
                "Number" => format!("{:0width$}", number.ok_or("$Number$ outside a media template")?),
                "Time" => format!("{:0width$}", time.ok_or("$Time$ outside a media template")?),
                other => return Err(format!("unknown template identifier '${other}$'")),
            };
            out.push_str(&value);
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// `PT1H2M3.5S`, `P1DT2H` → seconds.
fn iso_duration(s: &str) -> Result<f64, String> {
    let bad = || format!("'{s}' is not an ISO 8601 duration");
    let body = s.trim().strip_prefix('P').ok_or_else(bad)?;
    let (date, time) = body.split_once('T').unwrap_or((body, ""));
    let mut total = 0.0;
    for (part, units) in [
        (date, &[('Y', 31_536_000.0), ('M', 2_592_000.0), ('W', 604_800.0), ('D', 86_400.0)][..]),
        (time, &[('H', 3600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut num = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
            } else {
                let factor = units.iter().find(|(u, _)| *u == c).ok_or_else(bad)?.1;
                total += num.parse::<f64>().map_err(|_| bad())? * factor;
                num.clear();
            }
        }
        if !num.is_empty() {
            return Err(bad());
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_numbers_times_widths_and_ids() {
        let v = Vars { id: "v1", bandwidth: "800000" };
        assert_eq!(v.fill("$RepresentationID$/seg_$Number%05d$.m4s", Some(7), None).unwrap(), "v1/seg_00007.m4s");
        assert_eq!(v.fill("a/$Bandwidth$/t_$Time$.m4s", None, Some(2048)).unwrap(), "a/800000/t_2048.m4s");
        assert_eq!(v.fill("cost$$.mp4", None, None).unwrap(), "cost$.mp4");
        assert!(v.fill("$Nope$", None, None).is_err());
    }

    #[test]
    fn durations_and_duration_based_templates() {
        assert_eq!(iso_duration("PT1M30.5S").unwrap(), 90.5);
        assert_eq!(iso_duration("P1DT1H").unwrap(), 90_000.0);
        let mpd = r#"<MPD mediaPresentationDuration="PT10S"><BaseURL>media/</BaseURL><Period><AdaptationSet>
            <Representation id="r" bandwidth="1"><SegmentTemplate media="$Number$.m4s" duration="4" timescale="1" startNumber="0"/></Representation>
            <Representation id="single"><BaseURL>whole.mp4</BaseURL><SegmentBase/></Representation>
            </AdaptationSet></Period></MPD>"#;
        assert_eq!(references(mpd).unwrap(), ["media/0.m4s", "media/1.m4s", "media/2.m4s", "media/whole.mp4"]);
    }
}
