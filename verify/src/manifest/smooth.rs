//! Smooth Streaming manifests, read with mirrorcast-media's models.

use mirrorcast_media::ism::ServerManifest;
use mirrorcast_media::ismc::ClientManifest;

pub(crate) fn server_manifest(text: &str) -> Result<Vec<String>, String> {
    ServerManifest::parse(text).map(|m| m.references()).map_err(|e| format!("not a SMIL server manifest: {e}"))
}

/// The client manifest names no files (fragments are served by the origin
/// from the renditions); it must still parse.
pub(crate) fn client_manifest(text: &str) -> Result<Vec<String>, String> {
    ClientManifest::parse(text).map(|_| Vec::new()).map_err(|e| format!("not a Smooth client manifest: {e}"))
}
