//! Memory measured in a child process: the test binary runs one of its own tests again, alone,
//! so that what it measures is not disturbed by the other tests of the binary.
#![allow(dead_code)]

/// Resident memory of this process, in KiB.
pub fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

/// Runs the test `name` of this binary in a child process with `env` set to `value`, and returns
/// the line of its output that starts with `report` (from there on).
pub fn run_child(name: &str, env: &str, value: &str, report: &str) -> String {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, value)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}");
    stdout
        .lines()
        .find_map(|l| l.find(report).map(|at| l[at..].to_owned()))
        .unwrap_or_else(|| panic!("no report: {stdout}"))
}

/// The number after `name=` in a report line.
pub fn field(line: &str, name: &str) -> f64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {line}"))
        .parse()
        .unwrap()
}
