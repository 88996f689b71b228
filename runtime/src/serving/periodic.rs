//! Background work the process does on a clock (metrics upkeep, the load watcher): one named
//! thread per job, sleeping between runs, so that no job needs a runtime to be running.

use std::time::Duration;

/// Runs `work` every `period` on a thread named `name`, for the life of the process; the
/// error says the thread could not be started.
pub(crate) fn every(
    name: &str,
    period: Duration,
    mut work: impl FnMut() + Send + 'static,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || loop {
            std::thread::sleep(period);
            work();
        })
        .map(drop)
}
