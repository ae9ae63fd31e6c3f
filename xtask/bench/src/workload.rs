//! The benchmark workloads, seeded straight into data center A.

use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use mirrorcast_core::catalog::Catalog;
use mirrorcast_core::model::{Asset, AssetOptions};
use mirrorcast_core::store::{upload_reader, BlobStore, UploadOptions};

#[derive(Debug, Clone)]
pub(crate) struct Workload {
    pub name: &'static str,
    assets: usize,
    /// (name, size) per blob; `.ism`/`.ismc` get real manifests, the rest MP4 boxes.
    blobs: Vec<(String, u64)>,
}

impl Workload {
    pub(crate) fn all() -> Vec<Workload> {
        let mut w1 = Vec::new();
        for (w, h, kbps) in [
            (1920, 1080, 6000),
            (1280, 720, 3400),
            (960, 540, 2250),
            (960, 540, 1500),
            (640, 360, 1000),
            (320, 180, 400),
        ] {
            w1.push((format!("Movie_{w}x{h}_{kbps}.mp4"), 4 * 1024 * 1024));
        }
        w1.push(("Movie_audio_128.mp4".into(), 256 * 1024));
        w1.push(("Movie_thumb.jpg".into(), 256 * 1024));
        for m in ["Movie.ism", "Movie.ismc", "Movie_manifest.xml"] {
            w1.push((m.into(), 0));
        }
        let w2 = (0..500).map(|i| (format!("segments/seg_{i:05}.m4s"), 32 * 1024)).collect();
        let w3 = vec![
            ("Feature_3840x2160_20000.mp4".into(), 512 * 1024 * 1024),
            ("Feature_1920x1080_8000.mp4".into(), 512 * 1024 * 1024),
        ];
        let one_large = vec![("Feature_3840x2160_40000.mp4".into(), 512 * 1024 * 1024)];
        vec![
            Workload { name: "W1", assets: 20, blobs: w1 },
            Workload { name: "W2", assets: 10, blobs: w2 },
            Workload { name: "W3", assets: 1, blobs: w3 },
            Workload { name: "one-512MiB", assets: 1, blobs: one_large },
        ]
    }

    /// Real manifests for `.ism`/`.ismc`/`_manifest.xml` (verify parses them), MP4 boxes otherwise.
    fn content(&self, name: &str, size: u64, seed: u64) -> Bytes {
        let renditions: Vec<(String, u32)> = self
            .blobs
            .iter()
            .filter(|(n, _)| n.ends_with(".mp4"))
            .map(|(n, _)| {
                (n.clone(), n.rsplit('_').next().and_then(|k| k.trim_end_matches(".mp4").parse().ok()).unwrap_or(128))
            })
            .collect();
        if let Some(base) = name.strip_suffix(".ism") {
            Bytes::from(mirrorcast_core::sample::server_manifest(base, &renditions))
        } else if name.ends_with(".ismc") {
            Bytes::from(mirrorcast_core::sample::client_manifest())
        } else if name.ends_with("_manifest.xml") {
            let list: String =
                self.blobs.iter().map(|(n, s)| format!("<AssetFile Name=\"{n}\" Size=\"{s}\"/>")).collect();
            Bytes::from(format!("<?xml version=\"1.0\"?><AssetFiles>{list}</AssetFiles>"))
        } else {
            Bytes::from(mirrorcast_core::sample::mp4(size, seed))
        }
    }

    /// Only worth running on the streamed topology (it measures the client's pipeline).
    pub(crate) fn streamed_only(&self) -> bool {
        self.name == "one-512MiB"
    }

    /// Total bytes of blob data.
    pub(crate) fn bytes(&self) -> u64 {
        self.blobs.iter().map(|b| b.1).sum::<u64>() * self.assets as u64
    }

    pub(crate) fn describe(&self) -> String {
        let bytes: u64 = self.blobs.iter().map(|b| b.1).sum::<u64>() * self.assets as u64;
        format!("{} assets x {} blobs, {} MiB", self.assets, self.blobs.len(), bytes >> 20)
    }

    /// Creates the assets with their records and blobs in `store`.
    pub(crate) async fn seed(&self, store: &(impl BlobStore + Clone)) -> Result<()> {
        let catalog = Catalog::new(Arc::new(store.clone()));
        for i in 0..self.assets {
            let asset = Asset::new(format!("{} asset {i}", self.name), AssetOptions::None);
            catalog.create_asset(&asset).await?;
            stream::iter(self.blobs.iter().enumerate())
                .map(|(j, (name, size))| {
                    let container = asset.container.clone();
                    async move {
                        let data = self.content(name, *size, (i * 1000 + j) as u64);
                        let options = UploadOptions { block_size: 8 * 1024 * 1024, ..Default::default() };
                        upload_reader(store, &container, name, std::io::Cursor::new(data), &options).await
                    }
                })
                .buffer_unordered(16)
                .try_collect::<Vec<_>>()
                .await?;
            catalog.regenerate_files(&asset.id).await?;
        }
        Ok(())
    }
}
