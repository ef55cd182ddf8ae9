use super::FileArg;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(args: &FileArg) -> Result<ExitCode> {
    let loaded = match super::load_or_exit(&args.file) {
        Ok(l) => l,
        Err(code) => return Ok(code),
    };
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
