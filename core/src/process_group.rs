//! A child process's process group, killed whole: a command's own children (a
//! pipeline, `sh -c`, a `curl` it waits on) die with it instead of running on,
//! orphaned, when the command times out or its caller is stopped.

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// The process group a command leads (spawned with `process_group(0)`), killed
/// whole on drop unless disarmed once the leader has been reaped.
///
/// Declare it after the `Child`, so it is dropped first: the group dies while
/// its leader is still unreaped, and its id cannot have been reused.
#[derive(Debug)]
pub struct ProcessGroup {
    leader: Option<Pid>,
}

impl ProcessGroup {
    /// The group of `child`, which must have been spawned with `process_group(0)`.
    pub fn led_by(child: &tokio::process::Child) -> Self {
        let leader = child.id().and_then(|id| i32::try_from(id).ok()).map(Pid::from_raw);
        ProcessGroup { leader }
    }

    /// SIGKILL to every process of the group: the command and whatever it started.
    pub fn kill(&mut self) {
        if let Some(leader) = self.leader.take() {
            // ESRCH: nothing of the group is left, which is the goal.
            let _ = killpg(leader, Signal::SIGKILL);
        }
    }

    /// The leader has been reaped: its id is free again, so the group is no longer ours to kill.
    pub fn disarm(&mut self) {
        self.leader = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
