//! SIGINT (Ctrl-C), SIGTERM (what Kubernetes and systemd send) and SIGHUP (a
//! closed terminal) as one orderly stop, watched once for every command that
//! stops cleanly. The first signal asks for the stop; a later one is told
//! apart ([`Notice::again`]) so the command can say it is still cleaning up
//! instead of cutting the cleanup short: once watched, a signal never kills
//! the process.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// A signal that asks for the stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT: Ctrl-C at the terminal.
    Interrupt,
    /// SIGTERM: what Kubernetes and systemd send to stop a service.
    Terminate,
    /// SIGHUP: the terminal was closed.
    Hangup,
}

impl Signal {
    /// How a message to the user names it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Interrupt => "interrupted",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        }
    }
}

/// One signal as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    /// The signal that came (the later one when several came close together).
    pub signal: Signal,
    /// A stop was asked for already.
    pub again: bool,
}

/// The process could not start catching one of the stop signals, so [`Shutdown::watch`] failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch for {signal}: {source}")]
pub struct ShutdownError {
    signal: &'static str,
    source: std::io::Error,
}

/// The signals received so far: how many, and the last.
#[derive(Debug, Clone, Copy, Default)]
struct Received {
    count: u64,
    last: Option<Signal>,
}

/// The stop signals of this process, watched from [`Shutdown::watch`] on. Clones see the same signals.
#[derive(Debug, Clone)]
pub struct Shutdown {
    received: watch::Receiver<Received>,
    /// How many signals this handle has reported through [`Shutdown::next`].
    seen: u64,
}

impl Shutdown {
    /// Starts watching (inside a Tokio runtime). From now on the three signals no longer
    /// end the process: the caller stops when [`Shutdown::requested`] completes.
    pub fn watch() -> Result<Shutdown, ShutdownError> {
        Self::watching(true)
    }

    /// [`Shutdown::watch`] without SIGHUP, which the caller gives another meaning (a server
    /// reloading its TLS certificate).
    pub fn watch_stops_only() -> Result<Shutdown, ShutdownError> {
        Self::watching(false)
    }

    fn watching(hangup_stops: bool) -> Result<Shutdown, ShutdownError> {
        let listen = |kind: SignalKind, name: &'static str| {
            signal(kind).map_err(|source| ShutdownError { signal: name, source })
        };
        let mut interrupt = listen(SignalKind::interrupt(), "Ctrl-C")?;
        let mut terminate = listen(SignalKind::terminate(), "SIGTERM")?;
        let mut hangup = match hangup_stops {
            true => Some(listen(SignalKind::hangup(), "SIGHUP")?),
            false => None,
        };
        let (tell, received) = watch::channel(Received::default());
        tokio::spawn(async move {
            loop {
                let signal = tokio::select! {
                    Some(()) = interrupt.recv() => Signal::Interrupt,
                    Some(()) = terminate.recv() => Signal::Terminate,
                    Some(()) = async { match hangup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    } } => Signal::Hangup,
                    // Every handle is gone: nobody is left to stop (the signals stay caught).
                    () = tell.closed() => return,
                    else => return,
                };
                tell.send_modify(|r| *r = Received { count: r.count + 1, last: Some(signal) });
            }
        });
        Ok(Shutdown { received, seen: 0 })
    }

    /// Completes at the first signal (at once if one came already), with the latest signal
    /// received by then.
    pub async fn requested(&self) -> Signal {
        let mut received = self.received.clone();
        let first = received.wait_for(|r| r.count > 0).await.map(|r| *r);
        match first {
            Ok(r) => r.last.unwrap_or(Signal::Interrupt),
            // The watcher ended, so no signal will come.
            Err(_) => std::future::pending().await,
        }
    }

    /// The next signal this handle has not reported yet (signals close together may be
    /// reported as one, the later one).
    pub async fn next(&mut self) -> Notice {
        let seen = self.seen;
        let next = self.received.wait_for(|r| r.count > seen).await.map(|r| *r);
        let Ok(received) = next else { return std::future::pending().await };
        self.seen = received.count;
        Notice { signal: received.last.unwrap_or(Signal::Interrupt), again: seen > 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test process signals itself; this is the one test here that does, so no other is hit.
    #[tokio::test]
    async fn a_signal_asks_for_the_stop_and_a_second_is_told_apart() {
        let mut shutdown = Shutdown::watch().unwrap();
        let pid = std::process::id().to_string();
        let kill =
            |sig: &str| assert!(std::process::Command::new("kill").args([sig, &pid]).status().unwrap().success());
        kill("-TERM");
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), shutdown.next()).await.unwrap();
        assert_eq!(first, Notice { signal: Signal::Terminate, again: false });
        assert_eq!(shutdown.requested().await, Signal::Terminate);
        kill("-HUP");
        let second = tokio::time::timeout(std::time::Duration::from_secs(5), shutdown.next()).await.unwrap();
        assert_eq!(second, Notice { signal: Signal::Hangup, again: true });
    }
}
