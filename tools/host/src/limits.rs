//! What one request may use, as `wasmtime serve` bounds it: linear memory (a [`ResourceLimiter`]
//! on each request's store, like `spin up --max-instance-memory`) and time (epoch interruption
//! of the component's code, and a wall-clock deadline for its answer while it waits on I/O).

use std::time::Duration;

use wasmtime::{Engine, ResourceLimiter};

/// How often the engine's epoch advances: the resolution of [`Limits::deadline_ticks`].
pub const TICK: Duration = Duration::from_millis(10);

/// One request's limits, kept in its store.
#[derive(Debug, Clone)]
pub struct Limits {
    max_memory: usize,
    /// The size a memory tried to grow to past the limit, if it did.
    pub exceeded: Option<usize>,
}

impl Limits {
    /// At most `max_memory` bytes of linear memory per memory of the instance.
    pub fn new(max_memory: usize) -> Limits {
        Limits {
            max_memory,
            exceeded: None,
        }
    }

    /// No limit (pre-initialisation at build time).
    pub fn unlimited() -> Limits {
        Limits::new(usize::MAX)
    }
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.exceeded = Some(desired);
            // An error traps the instance at once (returning false would let the guest's
            // allocator see a failed grow and abort less clearly).
            return Err(wasmtime::Error::msg(format!(
                "linear memory of {desired} bytes exceeds the instance limit of {} bytes",
                self.max_memory
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

/// The epoch ticks of `timeout` (at least one).
pub fn deadline_ticks(timeout: Duration) -> u64 {
    (timeout.as_nanos() / TICK.as_nanos()).max(1) as u64
}

/// Advances `engine`'s epoch every [`TICK`], for the life of the process.
pub fn start_ticker(engine: Engine) {
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || loop {
            std::thread::sleep(TICK);
            engine.increment_epoch();
        })
        .expect("spawning the epoch ticker");
}

/// A duration as `spin up --request-timeout` takes it: a number of seconds, or a number with a
/// suffix `s`, `ms`, `us` (or `μs`) or `ns`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration (e.g. 30s, 500ms)"))?;
    let secs = match unit {
        "s" => n,
        "ms" => n / 1e3,
        "us" | "μs" => n / 1e6,
        "ns" => n / 1e9,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (s, ms, us, ns)"
            ))
        }
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("{text:?} must be more than zero"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_spins() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        for bad in ["", "fast", "10 parsecs", "0", "-1s", "10m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn memory_past_the_limit_is_refused_and_remembered() {
        let mut l = Limits::new(1 << 20);
        assert!(l.memory_growing(0, 1 << 20, None).unwrap());
        assert!(l.exceeded.is_none());
        assert!(l.memory_growing(1 << 20, 2 << 20, None).is_err());
        assert_eq!(l.exceeded, Some(2 << 20));
        assert!(Limits::unlimited()
            .memory_growing(0, 1 << 40, None)
            .unwrap());
        assert_eq!(deadline_ticks(Duration::from_secs(1)), 100);
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 1);
    }
}
