//! What a front is told: its origins in priority order, its mode, its probes.
//! Everything is checked here, before the front listens or probes.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use mirrorcast_core::Error;
use url::Url;

use crate::health::Thresholds;

/// Where the front sends a viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The front fetches from the origin and streams the answer through.
    Proxy,
    /// The front answers 302 to the origin (as a DNS-style router would).
    Redirect,
}

impl Mode {
    /// The name `--mode` takes and the status document shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Proxy => "proxy",
            Mode::Redirect => "redirect",
        }
    }
}

impl FromStr for Mode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "proxy" => Ok(Mode::Proxy),
            "redirect" => Ok(Mode::Redirect),
            other => Err(Error::invalid_input(format!("mode '{other}' is neither proxy nor redirect"))),
        }
    }
}

/// One origin: a short name and its base URL (`http(s)://host[:port][/path]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginSpec {
    /// 1 to 32 letters, digits, `-` or `_`: how logs, the status page and `x-mirrorcast-origin` name it.
    pub name: String,
    /// Without a trailing `/`: a request path is appended as is.
    pub base: String,
}

impl OriginSpec {
    /// `NAME=URL`, e.g. `a=http://127.0.0.1:8081`.
    pub fn parse(spec: &str) -> Result<OriginSpec, Error> {
        // Only the name is quoted back: a URL may carry a password or a token.
        let Some((name, url)) = spec.split_once('=') else {
            return Err(Error::invalid_input("--origin: expected NAME=URL, e.g. a=http://127.0.0.1:8081"));
        };
        let name = name.trim();
        let bad = |why: &str| {
            let shown: String = name.chars().take(32).filter(|c| !c.is_control()).collect();
            Error::invalid_input(format!("--origin '{shown}': {why}"))
        };
        if name.is_empty()
            || name.len() > 32
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(bad("a name is 1 to 32 letters, digits, '-' or '_'"));
        }
        let parsed = Url::parse(url.trim()).map_err(|e| bad(&format!("not a URL ({e})")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(bad("the URL must be http:// or https:// with a host"));
        }
        // The front prints and serves its origins' URLs: they must carry no secret.
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(bad("the URL must not carry a user or password"));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("the URL must not carry a query or fragment (request paths are appended to it)"));
        }
        Ok(OriginSpec { name: name.to_owned(), base: parsed.as_str().trim_end_matches('/').to_owned() })
    }
}

/// How each origin is probed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Path probed on every origin (Front Door / Traffic Manager use the same).
    pub path: String,
    /// Time from one probe of an origin to the next.
    pub interval: Duration,
    /// A probe not answered by then failed.
    pub timeout: Duration,
    /// How many failed or good probes in a row change an origin's health.
    pub thresholds: Thresholds,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            path: "/healthz".to_owned(),
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            thresholds: Thresholds::default(),
        }
    }
}

/// Everything a front is told; [`FrontConfig::check`] refuses what cannot work.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    /// In priority order: the first usable one gets the viewers.
    pub origins: Vec<OriginSpec>,
    /// Whether viewers are proxied or redirected.
    pub mode: Mode,
    /// How the origins are probed.
    pub probe: ProbeConfig,
    /// Whether a recovered higher-priority origin takes the viewers back.
    pub failback: bool,
    /// One attempt on one origin: connecting and getting the response head.
    pub upstream_timeout: Duration,
    /// A request whose response has not started by then (all attempts) gets 504.
    pub request_timeout: Duration,
    /// A client that has not sent its request head by then is cut off.
    pub header_read_timeout: Duration,
    /// A folder holding `hls.js/dist/hls.min.js` and `dashjs/dist/dash.all.min.js`
    /// (tools/players/node_modules): the status page's player.
    pub players: Option<PathBuf>,
}

impl FrontConfig {
    /// A proxy over `origins` (highest priority first) with failback on and the default timeouts and probes.
    pub fn new(origins: Vec<OriginSpec>) -> FrontConfig {
        FrontConfig {
            origins,
            mode: Mode::Proxy,
            probe: ProbeConfig::default(),
            failback: true,
            upstream_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            header_read_timeout: Duration::from_secs(10),
            players: None,
        }
    }

    /// Refuses what cannot work, naming the setting.
    pub fn check(&self) -> Result<(), Error> {
        if self.origins.is_empty() {
            return Err(Error::invalid_input("no origin: give at least one --origin NAME=URL"));
        }
        for (i, o) in self.origins.iter().enumerate() {
            if self.origins[..i].iter().any(|p| p.name == o.name) {
                return Err(Error::invalid_input(format!("--origin: the name '{}' is given twice", o.name)));
            }
        }
        let bounded = |flag: &str, d: Duration, max: Duration| {
            if d < Duration::from_millis(10) || d > max {
                Err(Error::invalid_input(format!("{flag} must be from 10ms to {}s", max.as_secs())))
            } else {
                Ok(())
            }
        };
        bounded("--probe-interval", self.probe.interval, Duration::from_secs(3600))?;
        bounded("--probe-timeout", self.probe.timeout, Duration::from_secs(600))?;
        bounded("--upstream-timeout", self.upstream_timeout, Duration::from_secs(600))?;
        let count = |flag: &str, n: u32| {
            if (1..=100).contains(&n) {
                Ok(())
            } else {
                Err(Error::invalid_input(format!("{flag} must be from 1 to 100")))
            }
        };
        count("--fail-after", self.probe.thresholds.fail_after)?;
        count("--recover-after", self.probe.thresholds.recover_after)?;
        if !self.probe.path.starts_with('/') {
            return Err(Error::invalid_input("the probe path must start with '/'"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_a_name_and_a_base_url() {
        let o = OriginSpec::parse("a=http://127.0.0.1:8081/").unwrap();
        assert_eq!((o.name.as_str(), o.base.as_str()), ("a", "http://127.0.0.1:8081"));
        let o = OriginSpec::parse("west-eu=https://media.example.com/live/").unwrap();
        assert_eq!(o.base, "https://media.example.com/live");
    }

    #[test]
    fn origins_that_cannot_work_or_would_leak_are_refused() {
        for bad in [
            "http://127.0.0.1:8081",
            "http://user:secret@x",
            "=http://x",
            "a b=http://x",
            "a=",
            "a=ftp://x",
            "a=http://user:secret@x",
            "a=http://x/?sig=abc",
            "a=http://x/#f",
            "a=/relative",
        ] {
            let e = OriginSpec::parse(bad).unwrap_err();
            assert_eq!(e.kind(), mirrorcast_core::ErrorKind::InvalidInput, "{bad}");
            assert!(!e.to_string().contains("secret") && !e.to_string().contains("sig="), "{e}");
        }
    }

    #[test]
    fn a_config_is_checked_before_use() {
        let a = OriginSpec::parse("a=http://x").unwrap();
        assert!(FrontConfig::new(vec![]).check().is_err());
        assert!(FrontConfig::new(vec![a.clone(), a.clone()]).check().unwrap_err().to_string().contains("twice"));
        let mut c = FrontConfig::new(vec![a]);
        assert!(c.check().is_ok());
        c.probe.thresholds.fail_after = 0;
        assert!(c.check().unwrap_err().to_string().contains("--fail-after"));
        c.probe.thresholds.fail_after = 3;
        c.probe.interval = Duration::ZERO;
        assert!(c.check().unwrap_err().to_string().contains("--probe-interval"));
        assert_eq!("Redirect".parse::<Mode>().unwrap(), Mode::Redirect);
        assert!("dns".parse::<Mode>().is_err());
    }
}
