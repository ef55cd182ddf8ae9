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

/// Printed on stderr, with the command's process group id, by the shell that runs the
/// command, just before the command: tells the exec loop that the command runs (sudo is done,
/// password accepted or not needed) and which process group to kill on timeout.
pub(crate) const STARTED: &str = "__kubewiz_started_5f3c__";
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

/// The full command line sent in the SSH exec request: `sh -c` (through sudo when asked) of a
/// script that announces [`STARTED`] and the process group on stderr, then runs `command` in
/// the same shell.
pub(crate) fn wrap_command(command: &str, mode: SudoMode) -> String {
    let script = format!(
        "read -r _ _ _ _ kw_pg _ < /proc/$$/stat 2>/dev/null; printf '%s %s\\n' {STARTED} \"${{kw_pg:-$$}}\" >&2; unset kw_pg\n{command}"
    );
    match mode {
        SudoMode::None => format!("sh -c {}", quote(&script)),
        SudoMode::NoPassword => format!("sudo -n -- sh -c {}", quote(&script)),
        SudoMode::WithPassword => format!(
            "sudo -S -p {} -- sh -c {}",
            quote(SUDO_PROMPT),
            quote(&script)
        ),
    }
}

/// Stops a process group: TERM, then KILL for what is left.
pub(crate) fn kill_group_command(pgid: u32) -> String {
    format!(
        "kill -s TERM -- -{pgid} 2>/dev/null || exit 0; for _ in 1 2 3 4 5 6 7 8 9 10; do kill -s 0 -- -{pgid} 2>/dev/null || exit 0; sleep 0.1; done; kill -s KILL -- -{pgid} 2>/dev/null; true"
    )
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
        let cmd = "echo \"$((1+2))\" 'x'; echo done >&2";
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(wrap_command(cmd, SudoMode::None))
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "3 x\n");
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let (first, rest) = err.split_once('\n').unwrap();
        let pg = first.strip_prefix(&format!("{STARTED} ")).unwrap();
        assert!(pg.parse::<u32>().unwrap() > 1, "{first}");
        assert_eq!(rest, "done\n");

        let w = wrap_command(cmd, SudoMode::NoPassword);
        assert!(w.starts_with("sudo -n -- sh -c '"), "{w}");
        let w = wrap_command(cmd, SudoMode::WithPassword);
        assert!(
            w.starts_with(&format!("sudo -S -p '{SUDO_PROMPT}' -- sh -c ")),
            "{w}"
        );
        // Without the sudo prefix, the same script.
        assert_eq!(
            w.split_once(" -- ").unwrap().1,
            wrap_command(cmd, SudoMode::None)
        );
    }
}
