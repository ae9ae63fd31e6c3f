//! A media segment's HTTP body without copying its samples: the packager's
//! `moof` and `mdat` header, then slices of the bytes read from storage (the
//! samples of one track that follow each other in the file are one slice; in
//! an interleaved file the other track's chunks between them are skipped).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use mirrorcast_media::fragment::SegmentParts;

/// Past this many slices the samples are copied into one buffer: in an
/// interleaved file a fragment's samples are dozens of chunk-sized slices, and
/// as many writes cost more than one copy (the serve bench: 0.26x nginx sliced,
/// 0.33x copied). Samples contiguous in the file go out as one slice.
pub const MAX_SLICES: usize = 1;

/// A body of a few `Bytes` sent one after the other, with its exact length
/// known up front (so hyper sets Content-Length).
#[derive(Debug)]
pub struct ChainBody {
    parts: VecDeque<Bytes>,
    remaining: u64,
}

impl ChainBody {
    /// The segment `parts` describe, its samples sliced from `data` (the
    /// fragment's byte range as read), or copied when they are in more than [`MAX_SLICES`] pieces.
    pub fn segment(parts: SegmentParts, data: &Bytes) -> ChainBody {
        let remaining = parts.len() as u64;
        let mut chain = VecDeque::with_capacity(parts.ranges.len().min(MAX_SLICES) + 1);
        if parts.ranges.len() > MAX_SLICES {
            let mut buf = BytesMut::with_capacity(parts.len());
            buf.extend_from_slice(&parts.head);
            parts.ranges.iter().for_each(|r| buf.extend_from_slice(&data[r.clone()]));
            chain.push_back(buf.freeze());
        } else {
            chain.push_back(Bytes::from(parts.head));
            chain.extend(parts.ranges.into_iter().filter(|r| !r.is_empty()).map(|r| data.slice(r)));
        }
        ChainBody { parts: chain, remaining }
    }
}

impl Body for ChainBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.parts.pop_front();
        if let Some(b) = &next {
            self.remaining -= b.len() as u64;
        }
        Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    async fn collect(body: ChainBody) -> Vec<u8> {
        body.collect().await.expect("infallible").to_bytes().to_vec()
    }

    #[tokio::test]
    async fn sliced_and_copied_bodies_are_the_assembled_segment() {
        let data = Bytes::from((0..=255u8).cycle().take(10_000).collect::<Vec<u8>>());
        let contiguous = SegmentParts { head: b"head".to_vec(), ranges: std::iter::once(100..9_400).collect() };
        let body = ChainBody::segment(contiguous.clone(), &data);
        assert_eq!(body.parts.len(), 2, "the header, then one slice");
        assert_eq!(body.size_hint().exact(), Some(contiguous.len() as u64));
        assert_eq!(collect(body).await, contiguous.assemble(&data));

        let many = SegmentParts {
            head: b"head".to_vec(),
            ranges: (0..MAX_SLICES + 5).map(|i| i * 100..i * 100 + 7).collect(),
        };
        let body = ChainBody::segment(many.clone(), &data);
        assert_eq!(body.parts.len(), 1, "copied into one buffer");
        assert_eq!(collect(body).await, many.assemble(&data));
    }
}
