//! `drill` resolved: the front's URL, the locator and its primary file, the
//! formats and renditions, into the drill's configuration.

use mirrorcast_core::id::LocatorId;
use mirrorcast_core::Error;
use mirrorcast_drill::token::{BearerToken, MAX_TOKEN_BYTES, TOKEN_ENV};
use mirrorcast_drill::{DrillConfig, Selection, StreamFormat, Url};

use super::DrillArgs;

impl DrillArgs {
    pub(crate) fn resolve(self) -> anyhow::Result<DrillConfig> {
        let base = Url::parse(&self.front).map_err(|e| {
            Error::invalid_input(format!("--front '{}' is not a URL ({e}): use e.g. http://127.0.0.1:8000", self.front))
        })?;
        let (id, ism_in_locator) = match self.locator.split_once('/') {
            Some((id, ism)) => (id, Some(ism.to_owned())),
            None => (self.locator.as_str(), None),
        };
        let locator = LocatorId::parse(id).map_err(|_| {
            Error::invalid_input(format!("--locator '{id}' is not a locator id (a GUID or nb:lid:UUID:<guid>)"))
        })?;
        let ism = match (self.ism, ism_in_locator) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::invalid_input(format!("--ism '{a}' and --locator …/{b} name different files")).into())
            }
            (Some(name), _) | (None, Some(name)) => name,
            (None, None) => return Err(Error::invalid_input(
                "name the primary file: --ism 'Name.ism' (or --locator <guid>/Name.ism), as `locator urls` shows it",
            )
            .into()),
        };
        let formats = match self.format.as_str() {
            "hls" => vec![StreamFormat::Hls],
            "dash" => vec![StreamFormat::Dash],
            _ => vec![StreamFormat::Hls, StreamFormat::Dash],
        };
        let request_timeout = self.request_timeout_secs.map_or(self.request_timeout, std::time::Duration::from_secs);
        if !(std::time::Duration::from_secs(1)..=std::time::Duration::from_secs(600)).contains(&request_timeout) {
            return Err(Error::invalid_input("--request-timeout must be from 1s to 10m").into());
        }
        let token = match &self.token_file {
            Some(path) => {
                let from = format!("--token-file {}", path.display());
                let meta = std::fs::metadata(path)
                    .map_err(|e| Error::invalid_input(format!("{from}: cannot read it ({e})")))?;
                if meta.len() > MAX_TOKEN_BYTES as u64 + 64 {
                    return Err(Error::invalid_input(format!("{from} is larger than a token can be")).into());
                }
                let text = std::fs::read_to_string(path)
                    .map_err(|e| Error::invalid_input(format!("{from}: cannot read it as text ({e})")))?;
                Some(BearerToken::parse(&text, &from)?)
            }
            None => match std::env::var(TOKEN_ENV) {
                Ok(text) => Some(BearerToken::parse(&text, TOKEN_ENV)?),
                Err(std::env::VarError::NotPresent) => None,
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(Error::invalid_input(format!("{TOKEN_ENV} is not text: not a token")).into())
                }
            },
        };
        Ok(DrillConfig {
            base,
            locator,
            ism,
            formats,
            selection: if self.renditions == "all" { Selection::All } else { Selection::Top },
            kill: self.kill,
            kill_at: self.kill_at,
            kill_after: self.kill_after,
            duration: self.duration,
            start_buffer: self.start_buffer,
            buffer: self.buffer,
            max_stall: self.max_stall,
            retries: self.retries,
            request_timeout,
            save: self.save,
            token,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::args::{Cli, Command};

    fn resolve(flags: &[&str]) -> anyhow::Result<mirrorcast_drill::DrillConfig> {
        let base = [
            "mirrorcast",
            "drill",
            "--front",
            "http://127.0.0.1:8000",
            "--locator",
            "0b0e6d5c-8a1f-4f5e-9f1a-2c3d4e5f6a7b",
        ];
        let cli = Cli::try_parse_from(base.iter().chain(&["--ism", "A.ism"]).chain(flags)).unwrap();
        let Command::Drill(args) = cli.command else { unreachable!("parsed as drill") };
        args.resolve()
    }

    #[test]
    fn the_request_timeout_is_a_duration_and_the_old_seconds_flag_still_works() {
        let timeout = |flags: &[&str]| resolve(flags).map(|c| c.request_timeout.as_millis()).map_err(|e| e.to_string());
        assert_eq!(timeout(&[]), Ok(10_000), "the default");
        assert_eq!(timeout(&["--request-timeout", "2500ms"]), Ok(2_500));
        assert_eq!(timeout(&["--request-timeout-secs", "3"]), Ok(3_000));
        assert_eq!(timeout(&["--request-timeout", "11m"]), Err("--request-timeout must be from 1s to 10m".to_owned()));
    }

    #[test]
    fn media_spans_take_durations_and_the_bare_seconds_they_took_before() {
        let config =
            resolve(&["--kill-at", "1m", "--duration", "90", "--buffer", "2500ms", "--max-stall", "1.5"]).unwrap();
        assert_eq!((config.kill_at, config.duration), (Some(60.0), Some(90.0)));
        assert_eq!((config.buffer, config.max_stall, config.start_buffer), (2.5, 1.5, 2.0));
        let defaults = resolve(&[]).unwrap();
        assert_eq!((defaults.buffer, defaults.max_stall), (4.0, 0.0));
    }
}
