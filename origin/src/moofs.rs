//! A fragmented rendition's index (samples in `moof`s: `.ismv`, `.isma`, fragmented MP4, CMAF
//! tracks): media's sans-I/O indexer says which ranges it needs (the `mfra`, the `moof`s and
//! the headers after them), this reads them from storage, all of the version the `moov` was.

use mirrorcast_core::ErrorKind;
use mirrorcast_media::fragment::Index;
use mirrorcast_media::fragmented_index::{FragmentStep, FragmentedIndexer, MAX_MOOFS};
use tracing::debug;

use crate::fail::Fail;
use crate::moov::FoundMoov;
use crate::upstream::Upstream;

/// Reads per rendition at most: the indexer asks for one per `moof` at most, and the `mfra`'s two.
const MAX_READS: usize = MAX_MOOFS + 8;

/// The index of the fragmented rendition `container`/`name`, whose `moov` is `found`.
pub(crate) async fn index_fragmented(
    upstream: &Upstream,
    container: &str,
    name: &str,
    found: &FoundMoov,
) -> Result<Index, Fail> {
    let refused = |e: mirrorcast_media::FormatError| {
        debug!(target: "mirrorcast_origin", "index of the fragmented rendition {name}: {e}");
        Fail::Media
    };
    let mut indexer = FragmentedIndexer::new(&found.moov, found.range.clone(), found.file_len).map_err(refused)?;
    // The head read to find the moov may already hold what the indexer needs first.
    let mut step = indexer.feed(0, &found.head).map_err(refused)?;
    for _ in 0..MAX_READS {
        match step {
            FragmentStep::Done(index) => return Ok(*index),
            FragmentStep::Need(range) => {
                let (version, bytes) = upstream.get_range(container, name, Some(range.clone())).await?;
                if version.etag != found.version.etag {
                    // Replaced while being indexed: the next request reads the new one whole.
                    debug!(target: "mirrorcast_origin", "{name} changed while its moofs were read");
                    return Err(Fail::Storage(ErrorKind::Transient));
                }
                step = indexer.feed(range.start, &bytes).map_err(refused)?;
            }
        }
    }
    debug!(target: "mirrorcast_origin", "{name}: more than {MAX_READS} reads to index its moofs");
    Err(Fail::Media)
}
