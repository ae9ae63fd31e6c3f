//! `verify` resolved: the report format, the parallelism and the assets checked
//! before either data center is opened.

use mirrorcast_core::id::AssetId;
use mirrorcast_core::Error;
use mirrorcast_verify::VerifyOptions;

use super::VerifyArgs;

pub struct Verify {
    pub from: String,
    pub to: String,
    /// The assets named; `None`: every asset.
    pub selected: Option<Vec<AssetId>>,
    /// `--http` with its base URLs (else the data centers' configured origins).
    pub http: Option<HttpBases>,
    pub options: VerifyOptions,
    pub format: ReportFormat,
}

pub struct HttpBases {
    pub from_url: Option<String>,
    pub to_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Text,
    Json,
    Junit,
}

impl VerifyArgs {
    /// `json`: the global `--json` (`--format json`).
    pub fn resolve(self, json: bool) -> anyhow::Result<Verify> {
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
        let options = VerifyOptions { deep: self.deep, audit_source: self.audit_source, parallel: self.parallel };
        Ok(Verify { from: self.pair.from, to: self.pair.to, selected, http, options, format })
    }
}
