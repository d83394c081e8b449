//! CPU time of a process (all its threads, user + system) from `/proc/<pid>/stat`, so a run can
//! say how many microseconds of CPU the server spent per request. On two shared cores that figure
//! moves far less than throughput does, since it does not depend on who else had the cores.

use std::time::Duration;

/// `utime + stime` of the process; `None` where `/proc` cannot tell (not Linux, process gone).
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    cpu_time_from_stat(&stat, clock_ticks_per_second())
}

/// Fields 14 and 15 of `/proc/<pid>/stat`, counted after the command name, which is in
/// parentheses and may itself contain spaces.
fn cpu_time_from_stat(stat: &str, ticks_per_second: u64) -> Option<Duration> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_ascii_whitespace();
    // After the name come field 3 (state) onwards: utime is field 14, the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_micros(
        ticks * 1_000_000 / ticks_per_second.max(1),
    ))
}

/// The CPU time of each process named `name` (`comm` in `/proc/<pid>/stat`), by pid: for a server
/// of many processes, such as PostgreSQL's one per connection.
pub fn processes_cpu_time(name: &str) -> std::collections::HashMap<u32, Duration> {
    let ticks = clock_ticks_per_second();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Default::default();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let comm = &stat[stat.find('(')? + 1..stat.rfind(')')?];
            (comm == name)
                .then(|| cpu_time_from_stat(&stat, ticks))
                .flatten()
                .map(|spent| (pid, spent))
        })
        .collect()
}

/// What processes spent between two readings of `processes_cpu_time`: those that started in
/// between count whole; those that ended in between are lost (their last share unknown).
pub fn spent_between(
    before: &std::collections::HashMap<u32, Duration>,
    after: &std::collections::HashMap<u32, Duration>,
) -> Duration {
    after
        .iter()
        .map(|(pid, now)| now.saturating_sub(before.get(pid).copied().unwrap_or_default()))
        .sum()
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a constant of the running system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_user_and_system_ticks_past_a_name_with_spaces() {
        let stat = "4242 (grantor serve x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9";
        assert_eq!(
            cpu_time_from_stat(stat, 100),
            Some(Duration::from_millis(3000))
        );
        assert_eq!(cpu_time_from_stat("garbage", 100), None);
    }

    #[test]
    fn processes_are_summed_by_pid_across_readings() {
        let ms = Duration::from_millis;
        let before = [(1, ms(10)), (2, ms(20)), (3, ms(5))].into_iter().collect();
        let after = [(1, ms(15)), (2, ms(20)), (4, ms(7))].into_iter().collect();
        assert_eq!(spent_between(&before, &after), ms(12));
        // This test runs in a process of its own name: found, and nothing else is.
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(processes_cpu_time(me.trim()).contains_key(&std::process::id()));
    }

    #[test]
    fn this_process_has_spent_some_cpu() {
        assert!(process_cpu_time(std::process::id()).is_some());
    }
}
