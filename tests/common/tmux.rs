//! A tmux session driving the real binary: keys in, screens out, waits with deadlines.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub struct Tmux {
    name: String,
    cwd: PathBuf,
    /// Where the last screen is written when a wait fails.
    dump: PathBuf,
}

impl Tmux {
    /// A detached session `kwtest-<tag>-<pid>` of `width`×`height` running `command` in `cwd`.
    pub fn start(cwd: &Path, command: &str, tag: &str, width: u16, height: u16) -> Tmux {
        let name = format!("kwtest-{tag}-{}", std::process::id());
        let (w, h) = (width.to_string(), height.to_string());
        let st = Command::new("tmux")
            .args(["new-session", "-d", "-s", &name, "-x", &w, "-y", &h, "-c"])
            .arg(cwd)
            .arg(command)
            .status()
            .expect("tmux runs");
        assert!(st.success(), "tmux new-session failed");
        Tmux {
            dump: cwd.join("last-screen.txt"),
            cwd: cwd.to_path_buf(),
            name,
        }
    }

    /// Run another command in the session's pane (the previous one is killed).
    pub fn respawn(&self, command: &str) {
        let st = Command::new("tmux")
            .args(["respawn-pane", "-k", "-t", &self.name, "-c"])
            .arg(&self.cwd)
            .arg(command)
            .status()
            .unwrap();
        assert!(st.success());
    }

    pub fn keys(&self, keys: &[&str]) {
        for k in keys {
            let st = Command::new("tmux")
                .args(["send-keys", "-t", &self.name, k])
                .status()
                .unwrap();
            assert!(st.success());
        }
    }

    pub fn text(&self, s: &str) {
        let st = Command::new("tmux")
            .args(["send-keys", "-t", &self.name, "-l", s])
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Paste `text` as a terminal does: tmux's paste-buffer turns each LF into CR, and `-p`
    /// wraps it in bracketed-paste marks when the program asked for them.
    pub fn paste(&self, text: &str) {
        use std::io::Write;
        let buffer = format!("{}-paste", self.name);
        let mut load = Command::new("tmux")
            .args(["load-buffer", "-b", &buffer, "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("tmux runs");
        load.stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .unwrap();
        assert!(load.wait().unwrap().success(), "tmux load-buffer failed");
        let st = Command::new("tmux")
            .args(["paste-buffer", "-p", "-d", "-b", &buffer, "-t", &self.name])
            .status()
            .unwrap();
        assert!(st.success(), "tmux paste-buffer failed");
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Poll the screen until `pred` holds; panics with the screen after `timeout`.
    pub fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            if Instant::now() > deadline {
                let _ = std::fs::write(&self.dump, &s);
                panic!("timed out waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for(&self, text: &str, timeout: Duration) -> String {
        self.wait(&format!("{text:?}"), timeout, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .status();
    }
}

/// The troubleshooting pane of the lab's air-gapped end: a whole install on the lab gets every
/// node Ready, then stops in the addons stage because CoreDNS's image is neither in the bundle
/// nor pullable (catalog entry C3; no registry is reachable from the lab).
pub fn stopped_on_air_gapped_coredns(screen: &str) -> bool {
    screen.contains("stopped on a failure")
        && screen.contains("addons/coredns-wait failed on node1")
        && screen.contains("C3")
        && screen.contains("neither in the bundle nor pullable")
}
