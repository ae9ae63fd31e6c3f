//! `serve` resolved: the origin's limits checked before the data center is
//! opened or the address bound.

use std::time::Duration;

use mirrorcast_core::Error;

use super::ServeArgs;

pub(crate) struct Serve {
    pub dc: String,
    /// The flag; else the data center's `serve` address, else 127.0.0.1:8080.
    pub listen: Option<String>,
    pub index_cache_bytes: u64,
    pub upstream_timeout: Duration,
    pub max_connections: usize,
    pub cache_bytes: u64,
    /// `--tls-cert` and `--tls-key`.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// `--require-header`, its value read from the environment.
    pub required_header: Option<mirrorcast_origin::RequiredHeader>,
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// `--require-header NAME=env:VAR`: the header's name checked, its value read from VAR (never
/// taken from the command line, where `ps` shows it).
fn required_header(spec: &str) -> anyhow::Result<mirrorcast_origin::RequiredHeader> {
    // The part after '=' is never echoed: given by mistake, it is the secret itself.
    let shown = spec.split_once('=').map_or(spec, |(name, _)| name);
    let bad = |why: &str| {
        Error::invalid_input(format!(
            "--require-header '{shown}=…': {why} (give NAME=env:VAR, e.g. X-Azure-FDID=env:FRONT_DOOR_ID)"
        ))
    };
    let (name, source) = spec.split_once('=').ok_or_else(|| bad("no '='"))?;
    let name = axum::http::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| bad("not a header name"))?;
    let var = source.strip_prefix("env:").ok_or_else(|| bad("the value must come from an environment variable"))?;
    let value = std::env::var(var).map_err(|_| {
        Error::invalid_input(format!("--require-header: the environment variable {var} is not set (or not UTF-8)"))
    })?;
    if value.len() < 8 || axum::http::HeaderValue::from_str(&value).is_err() {
        return Err(Error::invalid_input(format!(
            "--require-header: {var} must hold at least 8 characters that a header may carry"
        ))
        .into());
    }
    Ok(mirrorcast_origin::RequiredHeader { name, value: value.into_bytes() })
}

impl ServeArgs {
    pub(crate) fn resolve(self) -> anyhow::Result<Serve> {
        if self.index_cache_mib == 0 {
            return Err(Error::invalid_input("--index-cache-mib must be at least 1").into());
        }
        let upstream_timeout = self.upstream_timeout_secs.map_or(self.upstream_timeout, Duration::from_secs);
        if upstream_timeout < Duration::from_secs(1) {
            let flag =
                if self.upstream_timeout_secs.is_some() { "--upstream-timeout-secs" } else { "--upstream-timeout" };
            return Err(Error::invalid_input(format!("{flag} must be at least 1s")).into());
        }
        if self.max_connections == 0 {
            return Err(Error::invalid_input("--max-connections must be at least 1").into());
        }
        let cache_bytes = match self.cache_size.as_deref() {
            Some(size) => parse_size(size).ok_or_else(|| {
                Error::invalid_input(format!(
                    "--cache-size '{size}' is not a size: use e.g. 256MiB, 1GiB or 500MB (at most 1TiB), or 0 to turn the cache off"
                ))
            })?,
            None => mirrorcast_origin::default_cache_bytes(),
        };
        Ok(Serve {
            dc: self.dc.dc,
            listen: self.listen,
            index_cache_bytes: self.index_cache_mib * 1024 * 1024,
            upstream_timeout,
            max_connections: self.max_connections,
            cache_bytes,
            tls: self.tls_cert.zip(self.tls_key),
            required_header: self.require_header.as_deref().map(required_header).transpose()?,
            metrics_listen: self.metrics_listen,
        })
    }
}

/// `256MiB`, `1GiB`, `500MB`, `1048576` (bytes), `0`: at most 1 TiB.
fn parse_size(s: &str) -> Option<u64> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    number.parse::<u64>().ok()?.checked_mul(factor).filter(|b| *b <= 1 << 40)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::args::{Cli, Command};

    fn resolve(flags: &[&str]) -> anyhow::Result<super::Serve> {
        let cli = Cli::try_parse_from(["mirrorcast", "serve", "--dc", "a"].iter().chain(flags)).unwrap();
        let Command::Serve(args) = cli.command else { unreachable!("parsed as serve") };
        args.resolve()
    }

    #[test]
    fn serve_limits_of_zero_are_refused_by_name_before_anything_is_bound() {
        for (flag, message) in [
            ("--index-cache-mib", "--index-cache-mib must be at least 1"),
            ("--upstream-timeout-secs", "--upstream-timeout-secs must be at least 1s"),
            ("--upstream-timeout", "--upstream-timeout must be at least 1s"),
            ("--max-connections", "--max-connections must be at least 1"),
        ] {
            let zero = if flag == "--upstream-timeout" { "0s" } else { "0" };
            let error = resolve(&[flag, zero]).err().map(|e| e.to_string());
            assert_eq!(error.as_deref(), Some(message));
        }
        let serve = resolve(&["--index-cache-mib", "2", "--upstream-timeout-secs", "3"]).unwrap();
        assert_eq!((serve.index_cache_bytes, serve.upstream_timeout.as_secs()), (2 * 1024 * 1024, 3));
        assert_eq!(resolve(&["--upstream-timeout", "1500ms"]).unwrap().upstream_timeout.as_millis(), 1500);
        assert_eq!(resolve(&[]).unwrap().upstream_timeout.as_secs(), 10, "the default");
    }

    #[test]
    fn cache_size_takes_units_and_zero_and_refuses_the_rest_by_name() {
        for (flag, bytes) in
            [("256MiB", 256 << 20), ("1GiB", 1 << 30), ("500MB", 500_000_000), ("4096", 4096), ("0", 0)]
        {
            assert_eq!(resolve(&["--cache-size", flag]).unwrap().cache_bytes, bytes, "{flag}");
        }
        assert!(resolve(&[]).unwrap().cache_bytes > 0, "on by default");
        for bad in ["-1", "1.5GiB", "lots", "256 MiB/s", "2048GiB", "99999999999999999999", ""] {
            let error = resolve(&[&format!("--cache-size={bad}")]).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(error.starts_with(&format!("--cache-size '{bad}' is not a size")), "{bad}: {error}");
        }
    }
}
