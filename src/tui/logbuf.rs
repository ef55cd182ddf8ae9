//! Bounded log storage: a ring of lines per (stage, step, host), so a flood of output keeps
//! memory flat. Lines carry an absolute sequence number, so a paused or scrolled view stays on
//! the same lines while new ones arrive and old ones are dropped.

use std::collections::VecDeque;

/// Lines kept per step and host; older ones are dropped (the log file keeps everything).
pub const LINES_PER_STEP: usize = 5000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stderr: bool,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Ring {
    lines: VecDeque<LogLine>,
    cap: usize,
    /// Sequence number of `lines[0]`; equals the number of lines dropped so far.
    first_seq: u64,
}

impl Default for Ring {
    fn default() -> Self {
        Ring::new(LINES_PER_STEP)
    }
}

impl Ring {
    pub fn new(cap: usize) -> Ring {
        Ring {
            lines: VecDeque::new(),
            cap: cap.max(1),
            first_seq: 0,
        }
    }

    pub fn push(&mut self, line: LogLine) {
        if self.lines.len() == self.cap {
            self.lines.pop_front();
            self.first_seq += 1;
        }
        self.lines.push_back(line);
    }

    /// Sequence number one past the newest line.
    pub fn end_seq(&self) -> u64 {
        self.first_seq + self.lines.len() as u64
    }

    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    pub fn dropped(&self) -> u64 {
        self.first_seq
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn get(&self, seq: u64) -> Option<&LogLine> {
        seq.checked_sub(self.first_seq)
            .and_then(|i| self.lines.get(i as usize))
    }

    /// Up to `n` lines ending just before `end` (clamped to what is kept), with their seqs.
    pub fn window(&self, end: u64, n: usize) -> impl Iterator<Item = (u64, &LogLine)> {
        let end = end.clamp(self.first_seq, self.end_seq());
        let start = end.saturating_sub(n as u64).max(self.first_seq);
        (start..end).filter_map(move |s| self.get(s).map(|l| (s, l)))
    }

    /// The last `n` lines' text.
    pub fn tail(&self, n: usize) -> Vec<String> {
        self.window(self.end_seq(), n)
            .map(|(_, l)| l.text.clone())
            .collect()
    }

    /// Sequence numbers of lines containing `needle` (lowercase), oldest first.
    pub fn find(&self, needle_lower: &str) -> Vec<u64> {
        self.lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.text.to_lowercase().contains(needle_lower))
            .map(|(i, _)| self.first_seq + i as u64)
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &LogLine)> {
        self.lines
            .iter()
            .enumerate()
            .map(|(i, l)| (self.first_seq + i as u64, l))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str) -> LogLine {
        LogLine {
            stderr: false,
            text: s.into(),
        }
    }

    #[test]
    fn bounded_and_windowed() {
        let mut r = Ring::new(3);
        for i in 0..5 {
            r.push(line(&i.to_string()));
        }
        assert_eq!(r.len(), 3);
        assert_eq!(r.first_seq(), 2);
        assert_eq!(r.end_seq(), 5);
        let w: Vec<_> = r.window(5, 2).map(|(s, l)| (s, l.text.clone())).collect();
        assert_eq!(w, vec![(3, "3".into()), (4, "4".into())]);
        // A window anchored on dropped lines shows what is left.
        assert_eq!(r.window(1, 2).count(), 0);
        assert_eq!(r.window(3, 5).count(), 1);
        assert_eq!(r.find("4"), vec![4]);
        assert_eq!(r.tail(10), vec!["2", "3", "4"]);
    }
}
