//! The request timeout: a response not started within the limit is an empty 408, as
//! tower-http's `TimeoutLayer` answers; but the timer is armed only once the routes make the
//! request wait. A cached segment is answered at the first poll and never touches tokio's
//! timer wheel (a registration and a removal under its lock per request, in the serve profile).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::{Response, StatusCode};
use tokio::time::{Instant, Sleep};

/// Wraps a service in [`Deadline`].
#[derive(Clone, Copy)]
pub(crate) struct DeadlineLayer {
    pub(crate) limit: Duration,
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline { inner, limit: self.limit }
    }
}

/// Answers 408 for a request `inner` has not answered within `limit` of its call.
#[derive(Clone)]
pub(crate) struct Deadline<S> {
    inner: S,
    limit: Duration,
}

impl<S, R, B> tower::Service<R> for Deadline<S>
where
    S: tower::Service<R, Response = Response<B>>,
    B: Default,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = DeadlineFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        // Out of range (a limit of centuries): no deadline.
        let deadline = Instant::now().checked_add(self.limit);
        DeadlineFuture { inner: self.inner.call(request), deadline, timer: None }
    }
}

pin_project_lite::pin_project! {
    /// The inner response, or 408 once the deadline passes (its timer made at the first wait).
    pub(crate) struct DeadlineFuture<F> {
        #[pin]
        inner: F,
        deadline: Option<Instant>,
        #[pin]
        timer: Option<Sleep>,
    }
}

impl<F, B, E> Future for DeadlineFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Default,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(answered) = this.inner.poll(cx) {
            return Poll::Ready(answered);
        }
        let Some(deadline) = *this.deadline else { return Poll::Pending };
        if this.timer.is_none() {
            this.timer.set(Some(tokio::time::sleep_until(deadline)));
        }
        if let Some(timer) = this.timer.as_pin_mut() {
            std::task::ready!(timer.poll(cx));
        }
        let mut late = Response::new(B::default());
        *late.status_mut() = StatusCode::REQUEST_TIMEOUT;
        Poll::Ready(Ok(late))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use axum::body::Body;
    use tower::{Layer, ServiceExt};

    use super::*;

    /// A service answering after `wait` (on tokio's clock).
    fn answering_after(wait: Duration) -> impl tower::Service<(), Response = Response<Body>, Error = Infallible> {
        tower::service_fn(move |()| async move {
            tokio::time::sleep(wait).await;
            Ok(Response::new(Body::from("made")))
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_response_not_made_within_the_limit_is_an_empty_408_at_the_limit() {
        let layer = DeadlineLayer { limit: Duration::from_secs(30) };
        let start = Instant::now();
        let late = layer.layer(answering_after(Duration::from_secs(31))).oneshot(()).await.unwrap();
        assert_eq!((late.status(), start.elapsed()), (StatusCode::REQUEST_TIMEOUT, Duration::from_secs(30)));
        assert!(axum::body::to_bytes(late.into_body(), 64).await.unwrap().is_empty());
        let start = Instant::now();
        let in_time = layer.layer(answering_after(Duration::from_secs(29))).oneshot(()).await.unwrap();
        assert_eq!((in_time.status(), start.elapsed()), (StatusCode::OK, Duration::from_secs(29)));
        let at_once = layer.layer(answering_after(Duration::ZERO)).oneshot(()).await.unwrap();
        assert_eq!(at_once.status(), StatusCode::OK);
    }
}
