//! POSIX shell quoting and the command lines built around user commands (`sh -c`, sudo).

/// Quotes `s` as one POSIX shell word: `'…'` with each `'` written as `'\''`.
pub fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:,+@%".contains(&b))
    {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Line printed on stderr by the shell sudo starts, just before the user's command: tells the
/// exec loop that sudo is done (password accepted or not needed) and the command runs.
pub(crate) const SUDO_STARTED: &str = "__kubewiz_sudo_started_5f3c__";
/// Prompt sudo prints (with `-S`, on stderr) when it wants the password.
pub(crate) const SUDO_PROMPT: &str = "[kubewiz-sudo-password-7a1d]";

/// How a command is wrapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SudoMode {
    /// `sh -c '<cmd>'`.
    None,
    /// `sudo -n`: never prompts; fails fast when a password would be needed.
    NoPassword,
    /// `sudo -S -p PROMPT`: the password goes on stdin, only when sudo prompts for it.
    WithPassword,
}

/// The full command line sent in the SSH exec request.
pub(crate) fn wrap_command(command: &str, mode: SudoMode) -> String {
    match mode {
        SudoMode::None => format!("sh -c {}", quote(command)),
        SudoMode::NoPassword | SudoMode::WithPassword => {
            let inner = format!("printf '%s\\n' {SUDO_STARTED} >&2\n{command}");
            let flags = if mode == SudoMode::NoPassword {
                "-n".to_owned()
            } else {
                format!("-S -p {}", quote(SUDO_PROMPT))
            };
            format!("sudo {flags} -- sh -c {}", quote(&inner))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> String {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn quoting_round_trips_through_sh() {
        for s in [
            "",
            "plain",
            "it's",
            "a b",
            "$HOME `id` $(id) \"q\" \\ ; | & * ?",
            "''",
            "line1\nline2",
            "ünïcode",
        ] {
            let got = sh(&format!("printf '%s' {}", quote(s)));
            assert_eq!(got, s, "quoting {s:?}");
        }
        assert_eq!(quote("/etc/kubernetes/a.conf"), "/etc/kubernetes/a.conf");
        assert_eq!(quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn wrapped_commands_run_the_command_verbatim() {
        let cmd = "echo \"$((1+2))\" 'x'; echo done";
        assert_eq!(sh(&wrap_command(cmd, SudoMode::None)), "3 x\ndone\n");
        let w = wrap_command(cmd, SudoMode::NoPassword);
        assert!(w.starts_with("sudo -n -- sh -c '"), "{w}");
        let w = wrap_command(cmd, SudoMode::WithPassword);
        assert!(
            w.starts_with(&format!("sudo -S -p '{SUDO_PROMPT}' -- sh -c ")),
            "{w}"
        );
        // Without the sudo prefix the inner script prints the marker then runs the command.
        let inner = w.split_once(" -- ").unwrap().1;
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(inner)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "3 x\ndone\n");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            format!("{SUDO_STARTED}\n")
        );
    }
}
