use super::FileArg;
use crate::config;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(args: &FileArg) -> Result<ExitCode> {
    match config::load(&args.file) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("{w}");
            }
            println!(
                "{}: valid ({} hosts{})",
                args.file.display(),
                loaded.spec.hosts.len(),
                match loaded.warnings.len() {
                    0 => String::new(),
                    n => format!(", {n} warning(s)"),
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}
