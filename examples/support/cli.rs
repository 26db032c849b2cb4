//! The command-line scanning the examples share: `--flag value` and `--flag=value`, `-h` /
//! `--help`, and whole numbers checked against a range. std only, no CLI dependency.

/// Walks the arguments flag by flag.
pub struct Flags<I: Iterator<Item = String>> {
    args: I,
}

impl<I: Iterator<Item = String>> Flags<I> {
    pub fn new(args: impl IntoIterator<Item = String, IntoIter = I>) -> Self {
        Flags {
            args: args.into_iter(),
        }
    }

    /// The next flag and the value written after its `=`, if any (`--help` for `-h`).
    pub fn next_flag(&mut self) -> Option<(String, Option<String>)> {
        let arg = self.args.next()?;
        Some(match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.into(), Some(value.into())),
            _ if arg == "-h" => ("--help".into(), None),
            _ => (arg, None),
        })
    }

    /// The value of `flag`: the inline one, or the next argument.
    pub fn value(&mut self, flag: &str, inline: Option<String>) -> Result<String, String> {
        inline
            .or_else(|| self.args.next())
            .ok_or_else(|| format!("{flag} needs a value"))
    }

    /// The value of `flag` as a whole number in `min..=max`.
    pub fn number(
        &mut self,
        flag: &str,
        inline: Option<String>,
        min: u64,
        max: u64,
    ) -> Result<u64, String> {
        let text = self.value(flag, inline)?;
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            Ok(_) => Err(format!(
                "{flag} must be between {min} and {max}, got {text}"
            )),
            Err(_) => Err(format!("{flag} expects a whole number, got {text:?}")),
        }
    }
}

/// A duration in the unit that shows it: `850 µs`, `12.4 ms`, `3.02 s` (never `0.000 s`).
#[allow(dead_code)] // not every example prints a duration
pub fn human(d: std::time::Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

/// The end of a demo's self-check: `ok` on stdout and success if nothing went wrong, else
/// each problem on stderr, prefixed `failed`, and failure.
#[allow(dead_code)] // not every example checks itself
pub fn verdict(problems: Vec<String>, ok: &str, failed: &str) -> std::process::ExitCode {
    if problems.is_empty() {
        println!("{ok}");
        return std::process::ExitCode::SUCCESS;
    }
    for problem in problems {
        eprintln!("{failed}{problem}");
    }
    std::process::ExitCode::FAILURE
}
