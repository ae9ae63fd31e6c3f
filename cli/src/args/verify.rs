//! `verify` resolved: the report format, the parallelism and the assets checked
//! before either data center is opened.

use mirrorcast_core::id::AssetId;
use mirrorcast_core::Error;
use mirrorcast_verify::VerifyOptions;

use super::VerifyArgs;

pub(crate) struct Verify {
    pub from: String,
    pub to: String,
    /// The assets named; `None`: every asset.
    pub selected: Option<Vec<AssetId>>,
    /// `--http` with its base URLs (else the data centers' configured origins).
    pub http: Option<HttpBases>,
    pub options: VerifyOptions,
    pub format: ReportFormat,
}

pub(crate) struct HttpBases {
    pub from_url: Option<String>,
    pub to_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReportFormat {
    Text,
    Json,
    Junit,
}

impl VerifyArgs {
    /// `json`: the global `--json` (`--format json`).
    pub(crate) fn resolve(self, json: bool) -> anyhow::Result<Verify> {
        let format = match (json, self.format.as_deref()) {
            (true, Some(f)) if f != "json" => {
                return Err(Error::invalid_input(format!("--json and --format {f} conflict: give one of them")).into())
            }
            (true, _) => ReportFormat::Json,
            (false, None | Some("text")) => ReportFormat::Text,
            (false, Some("json")) => ReportFormat::Json,
            (false, Some("junit")) => ReportFormat::Junit,
            (false, Some(f)) => {
                return Err(Error::invalid_input(format!("unknown format '{f}': use text, json or junit")).into())
            }
        };
        if self.parallel == 0 {
            return Err(Error::invalid_input("--parallel must be at least 1").into());
        }
        let ids = self.pair.assets.iter().map(|a| AssetId::parse_any(a)).collect::<Result<Vec<_>, _>>()?;
        let selected = (!self.pair.all && !ids.is_empty()).then_some(ids);
        let http = self.http.then_some(HttpBases { from_url: self.from_url, to_url: self.to_url });
        let options = VerifyOptions {
            deep: self.deep,
            audit_source: self.audit_source,
            parallel: self.parallel,
            range_size: self.deep_range_mib.map_or(0, |mib| mib << 20),
            ..Default::default()
        };
        Ok(Verify { from: self.pair.from, to: self.pair.to, selected, http, options, format })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::ReportFormat;
    use crate::args::{Cli, Command};

    fn resolve(flags: &[&str]) -> anyhow::Result<super::Verify> {
        let cli =
            Cli::try_parse_from(["mirrorcast", "verify", "--from", "a", "--to", "b"].iter().chain(flags)).unwrap();
        let Command::Verify(args) = cli.command else { unreachable!("parsed as verify") };
        args.resolve(cli.json)
    }

    #[test]
    fn verify_format_comes_from_json_or_format_and_a_conflict_is_refused() {
        let format = |flags: &[&str]| resolve(flags).map(|v| v.format).map_err(|e| e.to_string());
        assert_eq!(format(&["--all"]), Ok(ReportFormat::Text));
        assert_eq!(format(&["--all", "--json"]), Ok(ReportFormat::Json));
        assert_eq!(format(&["--all", "--json", "--format", "json"]), Ok(ReportFormat::Json));
        assert_eq!(format(&["--all", "--format", "junit"]), Ok(ReportFormat::Junit));
        assert_eq!(
            format(&["--all", "--json", "--format", "junit"]),
            Err("--json and --format junit conflict: give one of them".to_owned())
        );
    }

    #[test]
    fn verify_selects_the_named_assets_and_every_asset_with_all() {
        let named = resolve(&["--asset", "3fa85f64-5717-4562-b3fc-2c963f66afa6"]).unwrap();
        assert_eq!(named.selected.map(|ids| ids.len()), Some(1));
        assert!(resolve(&["--all"]).unwrap().selected.is_none());
        assert!(resolve(&["--asset", "not-an-id"]).is_err());
    }
}
